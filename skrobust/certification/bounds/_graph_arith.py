"""Bound rules of arithmetic in a traced forward: + - * / and negation.

A sum or difference of two input-dependent tensors is a :class:`SumBound`;
an operation with a constant is an elementwise scale and shift
(:class:`ScaleShiftBound`); a product or quotient of two input-dependent
tensors is not bounded. Handlers take ``(ctx, *args)`` and return ``(rule,
perturbed inputs)``, as in :mod:`._graph_ops`.
"""

from ..._torch import torch
from ._graph_rules import SumBound, Unsupported, Var
from ._layers import ScaleShiftBound


def to_sample(ctx, value):
    """A constant operand as a tensor broadcasting against one sample."""
    if not torch.is_tensor(value):
        return value
    rank = len(ctx.out_shape)
    if value.dim() > rank:
        if value.shape[0] != 1 or value.dim() > rank + 1:
            raise Unsupported(
                f"a constant of shape {tuple(value.shape)} spans the batch "
                "dimension; bounds need one constant for every sample"
            )
        value = value[0]
    return value.to(ctx.dtype)


def scale_shift(ctx, x, scale=None, shift=None):
    scale, shift = to_sample(ctx, scale), to_sample(ctx, shift)
    if not torch.is_tensor(scale) and scale is not None:
        scale = torch.tensor(float(scale), dtype=ctx.dtype, device=ctx.device)
    if not torch.is_tensor(shift) and shift is not None:
        shift = torch.tensor(float(shift), dtype=ctx.dtype, device=ctx.device)
    rule = ScaleShiftBound(scale, shift)
    rule.out_shape = ctx.out_shape
    if tuple(x.shape) != tuple(ctx.out_shape):
        raise Unsupported(
            f"a constant broadcasts the input from {x.shape} to {ctx.out_shape}"
        )
    return rule, (x,)


def add(ctx, a, b, *args, alpha=1, **kwargs):
    if isinstance(a, Var) and isinstance(b, Var):
        return SumBound((1.0, float(alpha))), (a, b)
    if isinstance(a, Var):
        return scale_shift(ctx, a, shift=b if alpha == 1 else alpha * b)
    return scale_shift(ctx, b, scale=alpha, shift=a)


def sub(ctx, a, b, *args, alpha=1, **kwargs):
    if isinstance(a, Var) and isinstance(b, Var):
        return SumBound((1.0, -float(alpha))), (a, b)
    if isinstance(a, Var):
        return scale_shift(ctx, a, shift=-alpha * b)
    return scale_shift(ctx, b, scale=-alpha, shift=a)


def mul(ctx, a, b):
    if isinstance(a, Var) and isinstance(b, Var):
        raise Unsupported(
            "a product of two input-dependent tensors (only products with "
            "constants are bounded)"
        )
    x, c = (a, b) if isinstance(a, Var) else (b, a)
    return scale_shift(ctx, x, scale=c)


def div(ctx, a, b, rounding_mode=None):
    if isinstance(b, Var) or rounding_mode is not None:
        raise Unsupported("division by an input-dependent tensor, or rounding")
    return scale_shift(ctx, a, scale=1 / b)


def neg(ctx, x):
    return scale_shift(ctx, x, scale=-1.0)
