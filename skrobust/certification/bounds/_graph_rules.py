"""Bound rules of a traced graph's operations on several perturbed tensors.

Sums and concatenations of several nodes, selections (permute, slice,
expand) and reductions over non-batch dimensions, and the weights of
functional ``F.linear`` / ``F.conv*d`` calls; :mod:`._graph_ops` maps each
traced call to one of these or to a rule of :mod:`._layers`.
"""

from ..._torch import torch
from ._layers import AffineBound, CopyBound, LayerBound


class Unsupported(TypeError):
    """An operation bound propagation cannot cross (the message says why)."""


class Spec:
    """A specification matrix ``C = rows[index]`` with few distinct rows.

    Margins use the ``n_classes ** 2`` rows ``e_i - e_k``; each sample picks
    the ``n_classes`` of its label. Carrying the rows (not every sample's
    matrix) through the affine nodes that end a network costs one small
    product per node instead of one per sample.

    Parameters
    ----------
    rows : torch.Tensor of shape (n_rows, n_outputs)
    index : torch.Tensor of int of shape (n_samples, n_spec)
    """

    def __init__(self, rows, index):
        self.rows, self.index = rows, index

    def dense(self):
        """``C`` as a ``(n_samples, n_spec, n_outputs)`` tensor."""
        return self.rows[self.index]


class Var:
    """A perturbed tensor argument: a graph node, its per-sample shape, dtype."""

    __slots__ = ("index", "shape", "dtype")

    def __init__(self, index, shape, dtype):
        self.index, self.shape, self.dtype = index, tuple(shape), dtype


def reduce_to(A, shape):
    """Sum ``A`` of shape ``(n, s, *out)`` down to ``(n, s, *shape)`` (broadcast)."""
    extra = A.dim() - 2 - len(shape)
    if extra:
        A = A.sum(dim=tuple(range(2, 2 + extra)))
    dims = [i + 2 for i, size in enumerate(shape) if size == 1 and A.shape[i + 2] != 1]
    return A.sum(dim=dims, keepdim=True) if dims else A


class SumBound(LayerBound):
    """``sum_i sign_i * x_i`` over several perturbed tensors (``+``, ``-``)."""

    affine = True
    multi = True

    def __init__(self, signs):
        self.signs = tuple(float(s) for s in signs)

    def func(self, *xs):
        return sum(s * x for s, x in zip(self.signs, xs))

    def interval(self, *boxes):
        lower = sum(s * (lo if s > 0 else up) for s, (lo, up) in zip(self.signs, boxes))
        upper = sum(s * (up if s > 0 else lo) for s, (lo, up) in zip(self.signs, boxes))
        return lower, upper

    def bias(self, A, in_shapes):
        return A.new_zeros(A.shape[:2])

    def transposes(self, A, in_shapes):
        return [reduce_to(s * A, shape) for s, shape in zip(self.signs, in_shapes)]


class CatBound(LayerBound):
    """``torch.cat`` of perturbed tensors along a non-batch dimension."""

    affine = True
    multi = True

    def __init__(self, dim, sizes):
        self.dim, self.sizes = dim, list(sizes)

    def func(self, *xs):
        return torch.cat(xs, dim=self.dim)

    def interval(self, *boxes):
        return (
            torch.cat([lo for lo, _ in boxes], self.dim),
            torch.cat([up for _, up in boxes], self.dim),
        )

    def bias(self, A, in_shapes):
        return A.new_zeros(A.shape[:2])

    def transposes(self, A, in_shapes):
        return list(A.split(self.sizes, dim=self.dim + 1))


class SelectionBound(CopyBound):
    """A linear map each of whose outputs copies one input (permute, slice, expand).

    Intervals go through both ends; CROWN transposes it by differentiation.
    """


class ReduceBound(AffineBound):
    """``x.sum(dims)`` or ``x.mean(dims)`` over non-batch dimensions."""

    def __init__(self, dims, keepdim, mean, in_shape):
        self.dims, self.keepdim, self.mean = tuple(dims), keepdim, mean
        self.count = 1
        for d in self.dims:
            self.count *= in_shape[d - 1]
        self.elementwise = False

    def func(self, x):
        out = x.sum(dim=self.dims, keepdim=self.keepdim)
        return out / self.count if self.mean else out

    abs_linear = func

    def bias(self, A, in_shape):
        return A.new_zeros(A.shape[:2])

    def transpose(self, A, in_shape):
        if not self.keepdim:
            for d in sorted(self.dims):
                A = A.unsqueeze(d + 1)
        A = A.expand(*A.shape[:2], *in_shape)
        return A / self.count if self.mean else A


class Weights:
    """The weights of a functional ``F.linear`` / ``F.conv*d`` call."""

    def __init__(self, func, weight, bias, **kwargs):
        self._func, self.weight, self.bias = func, weight, bias
        self.__dict__.update(kwargs)

    def __call__(self, x):
        return self._func(x)


def alpha_range(layer):
    """Range of valid lower-line slopes (through 0) of a piecewise-linear
    activation's unstable units, for alpha-CROWN; None for other layers."""
    if type(layer) is torch.nn.ReLU:
        return (0.0, 1.0)
    if type(layer) is torch.nn.LeakyReLU and 0 <= layer.negative_slope <= 1:
        return (float(layer.negative_slope), 1.0)
    return None


def tag_alpha(rule, layer):
    """Mark a rule whose lower slopes alpha-CROWN may optimise."""
    span = alpha_range(layer)
    if span is not None:
        rule.alpha_range = span
    return rule
