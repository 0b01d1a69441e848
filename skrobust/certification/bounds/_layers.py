"""How bounds pass through one layer: the layer registry of bound propagation.

Each supported layer maps to a :class:`LayerBound` (through the
:func:`bound_layer` registry): an interval rule for interval bound
propagation (IBP) and, for CROWN, either an exact transpose (affine layers)
or a pair of linear relaxations (elementwise activations). Layers always use
their evaluation behaviour here (dropout off, batch norm running statistics),
whatever their training flag.
"""

import functools

from ..._torch import torch

F = torch.nn.functional


class LayerBound:
    """Base class of the bound rules of one layer.

    Subclasses implement :meth:`interval`; :class:`AffineBound` and
    :class:`ActivationBound` add what CROWN needs. A layer whose rule has
    neither (a :class:`MonotoneBound`, say) is crossed by CROWN with its
    interval bounds: CROWN stays sound, only less tight.

    Examples
    --------
    >>> import torch
    >>> from skrobust.certification import LayerBound
    >>> class Square(LayerBound):  # x -> x ** 2, elementwise
    ...     def interval(self, lower, upper):
    ...         low = torch.where((lower < 0) & (upper > 0), 0.0,
    ...                           torch.minimum(lower**2, upper**2))
    ...         return low, torch.maximum(lower**2, upper**2)
    >>> Square().interval(torch.tensor([-1.0]), torch.tensor([2.0]))
    (tensor([0.]), tensor([4.]))
    """

    affine = False

    def interval(self, lower, upper):
        """Bounds of the layer's output given elementwise input bounds.

        Parameters
        ----------
        lower, upper : torch.Tensor of shape (n_samples, ...)

        Returns
        -------
        lower, upper : torch.Tensor
            Bounds on the output, for every input between ``lower`` and
            ``upper``.
        """
        raise NotImplementedError

    def relaxation(self, lower, upper):
        """Linear bounds ``a_l x + b_l <= f(x) <= a_u x + b_u`` on the box, or None."""
        return None


class MonotoneBound(LayerBound):
    """A layer non-decreasing in each input: output bounds are ``f(lower), f(upper)``.

    Parameters
    ----------
    func : callable
        The layer (max pooling, a clamp, ``log``, ...).

    Examples
    --------
    >>> import torch
    >>> from skrobust.certification import MonotoneBound
    >>> MonotoneBound(torch.exp).interval(torch.zeros(1), torch.ones(1))
    (tensor([1.]), tensor([2.7183]))
    """

    def __init__(self, func):
        self.func = func

    def interval(self, lower, upper):
        return self.func(lower), self.func(upper)


class AffineBound(LayerBound):
    """An affine layer ``f(x) = L(x) + f(0)`` (``L`` linear).

    Intervals go through in centre-radius form (``f(mu)``, ``|L|(r)``), which
    is exact for one layer; CROWN multiplies its linear bounds by the
    transpose of ``L``.

    Parameters
    ----------
    func : callable
        The layer.
    abs_linear : callable
        ``r -> |L| r`` for a non-negative ``r``: the linear part with the
        absolute values of its coefficients.
    elementwise : bool, default=False
        Whether each output depends on at most one input (then IBP through
        it is exact even after another affine layer).

    Examples
    --------
    >>> import torch
    >>> from skrobust.certification import AffineBound
    >>> double = AffineBound(lambda x: 2 * x + 1, lambda r: 2 * r, elementwise=True)
    >>> double.interval(torch.zeros(1), torch.ones(1))
    (tensor([1.]), tensor([3.]))
    """

    affine = True

    def __init__(self, func, abs_linear, *, elementwise=False):
        self.func = func
        self.abs_linear = abs_linear
        self.elementwise = elementwise

    def interval(self, lower, upper):
        # mid +- |L| (u - l) / 2, in few passes over large batches
        mid = self.func(torch.lerp(lower, upper, 0.5))
        width = self.abs_linear(upper - lower)
        return torch.sub(mid, width, alpha=0.5), torch.add(mid, width, alpha=0.5)

    def offset(self, in_shape, like):
        """``f(0)`` for one sample, shape ``(1, *out_shape)``."""
        return self.func(like.new_zeros((1, *in_shape)))

    def bias(self, A, in_shape):
        """``A . f(0)``: shape ``(n, n_spec)`` for ``A`` of ``(n, n_spec, *out)``."""
        offset = self.offset(in_shape, A).unsqueeze(1)
        return (A * offset).flatten(2).sum(-1)

    def transpose(self, A, in_shape):
        """``A L``: ``A`` of ``(n, n_spec, *out_shape)`` -> ``(n, n_spec, *in_shape)``.

        The default differentiates ``L`` (a vector-Jacobian product);
        subclasses give closed forms.
        """
        n, n_spec = A.shape[:2]
        x = A.new_zeros((n * n_spec, *in_shape)).requires_grad_(True)
        with torch.enable_grad():
            out = self.func(x)
            (grad,) = torch.autograd.grad(
                out, x, A.reshape(out.shape), create_graph=A.requires_grad
            )
        return grad.reshape(n, n_spec, *in_shape)


class LinearBound(AffineBound):
    """``torch.nn.Linear`` (weights used by reference: bounds are differentiable)."""

    def __init__(self, layer):
        self.layer = layer
        self.elementwise = False

    def func(self, x):
        return self.layer(x)

    def abs_linear(self, r):
        return F.linear(r, self.layer.weight.abs())

    def bias(self, A, in_shape):
        b = self.layer.bias
        return A.new_zeros(A.shape[:2]) if b is None else A @ b

    def transpose(self, A, in_shape):
        return A @ self.layer.weight


class ConvBound(AffineBound):
    """``Conv1d`` / ``Conv2d`` with zero padding."""

    def __init__(self, layer):
        self.layer = layer
        self.elementwise = False
        self.dims = layer.weight.dim() - 2
        self._conv = (F.conv1d, F.conv2d)[self.dims - 1]
        self._conv_t = (F.conv_transpose1d, F.conv_transpose2d)[self.dims - 1]

    def func(self, x):
        return self.layer(x)

    def abs_linear(self, r):
        c = self.layer
        return self._conv(
            r, c.weight.abs(), None, c.stride, c.padding, c.dilation, c.groups
        )

    def bias(self, A, in_shape):
        b = self.layer.bias
        if b is None:
            return A.new_zeros(A.shape[:2])
        return A.flatten(3).sum(-1) @ b

    def transpose(self, A, in_shape):
        c = self.layer
        n, n_spec, *out_shape = A.shape
        size = [
            (o - 1) * s - 2 * p + d * (k - 1) + 1
            for o, s, p, d, k in zip(
                out_shape[1:], c.stride, c.padding, c.dilation, c.kernel_size
            )
        ]
        extra = [i - s for i, s in zip(in_shape[1:], size)]
        out = self._conv_t(
            A.reshape(n * n_spec, *out_shape),
            c.weight,
            None,
            c.stride,
            c.padding,
            extra,
            c.groups,
            c.dilation,
        )
        return out.reshape(n, n_spec, *in_shape)


class ScaleShiftBound(AffineBound):
    """Elementwise ``x * scale + shift`` (scalers, batch norm in eval mode).

    ``scale`` and ``shift`` broadcast against one sample (``None``: 1 and 0).
    """

    def __init__(self, scale=None, shift=None):
        self.scale, self.shift = scale, shift
        self.elementwise = True

    def func(self, x):
        x = x if self.scale is None else x * self.scale
        return x if self.shift is None else x + self.shift

    def abs_linear(self, r):
        return r if self.scale is None else r * self.scale.abs()

    def bias(self, A, in_shape):
        if self.shift is None:
            return A.new_zeros(A.shape[:2])
        return (A * self.shift).flatten(2).sum(-1)

    def transpose(self, A, in_shape):
        A = A if self.scale is None else A * self.scale
        return A.expand(*A.shape[:2], *in_shape)


class CopyBound(AffineBound):
    """Outputs that copy inputs: ``func`` is its own ``|L|``, no bias."""

    def __init__(self, func):
        self.func = func
        self.abs_linear = func
        self.elementwise = True

    def interval(self, lower, upper):
        return self.func(lower), self.func(upper)

    def bias(self, A, in_shape):
        return A.new_zeros(A.shape[:2])


class ReshapeBound(CopyBound):
    """A layer that only moves values around within a sample (``Flatten``, casts)."""

    def transpose(self, A, in_shape):
        return A.reshape(*A.shape[:2], *in_shape)


class CastBound(ReshapeBound):
    """skrobust's ``Cast``: the identity up to the dtype."""

    def __init__(self, dtype):
        self.dtype = dtype
        self.elementwise = True

    def func(self, x):
        return x.to(self.dtype)

    def abs_linear(self, r):
        return r.to(self.dtype)

    def transpose(self, A, in_shape):
        return A  # the caller casts A to the dtype of the earlier layers


class ActivationBound(MonotoneBound):
    """An elementwise activation with linear relaxations (for CROWN).

    A :class:`MonotoneBound` (its interval maps the ends) that also gives
    :meth:`relaxation`.

    Parameters
    ----------
    func : callable
        The activation; non-decreasing (intervals are ``func(lower),
        func(upper)``).
    relax : callable
        ``(lower, upper) -> (a_l, b_l, a_u, b_u)`` with
        ``a_l x + b_l <= func(x) <= a_u x + b_u`` for ``lower <= x <= upper``
        (tensors shaped like the bounds).
    unstable : callable, default=None
        ``(lower, upper) -> bool mask`` of the units whose relaxation is not
        exact (full CROWN tightens only their inputs); ``None``: all units.

    Examples
    --------
    >>> import torch
    >>> from skrobust.certification import ActivationBound
    >>> def relax(low, up):  # below: 0; above: the identity (loose, but sound)
    ...     return 0 * low, 0 * low, 0 * low + 1, 0 * low
    >>> relu = ActivationBound(torch.relu, relax)
    >>> relu.interval(torch.tensor([-1.0]), torch.tensor([2.0]))
    (tensor([0.]), tensor([2.]))
    """

    def __init__(self, func, relax, unstable=None):
        super().__init__(func)
        self._relax = relax
        self._unstable = unstable

    def relaxation(self, lower, upper):
        return self._relax(lower, upper)

    def unstable(self, lower, upper):
        """Units whose relaxation is not exact."""
        if self._unstable is None:
            return upper > lower
        return self._unstable(lower, upper)


@functools.singledispatch
def bound_layer(layer):
    """The bound rule of one layer (an extensible registry).

    Interval bound propagation and CROWN walk through a model as a chain of
    layers: ``nn.Sequential`` containers (whose ``forward`` is
    ``nn.Sequential``'s) are opened, and each other layer goes through this
    :func:`functools.singledispatch` function. Register your own layers with
    ``@bound_layer.register(YourLayer)``, returning a :class:`LayerBound`
    (:class:`AffineBound`, :class:`MonotoneBound`,
    :class:`ActivationBound`, or your subclass) or a list of them (applied
    in order).

    Parameters
    ----------
    layer : torch.nn.Module
        One layer.

    Returns
    -------
    rule : LayerBound or list of LayerBound

    Raises
    ------
    TypeError
        For a layer without a registered rule (the message names it).

    Examples
    --------
    >>> import torch
    >>> from skrobust.certification import MonotoneBound, bound_layer
    >>> class Exp(torch.nn.Module):
    ...     def forward(self, x):
    ...         return torch.exp(x)
    >>> @bound_layer.register(Exp)
    ... def _(layer):
    ...     return MonotoneBound(layer)
    >>> bound_layer(Exp()).interval(torch.zeros(1), torch.zeros(1))
    (tensor([1.]), tensor([1.]))
    """
    raise TypeError(
        f"bound propagation does not support the layer {type(layer).__name__} "
        f"({layer!r}). Supported: Linear, Conv1d, Conv2d, ReLU, LeakyReLU, Tanh, "
        "Sigmoid, Flatten, BatchNorm1d/2d, AvgPool, MaxPool, Dropout, Identity "
        "and nn.Sequential of them, and skrobust's converted scikit-learn "
        "models. Build the network from these layers, or register a rule with "
        f"`@skrobust.certification.bound_layer.register({type(layer).__name__})`."
    )


def _is_container(module):
    return isinstance(module, torch.nn.Sequential) and (
        type(module).forward is torch.nn.Sequential.forward
    )


def leaf_layers(module):
    """The chain of leaf layers of a module, containers opened."""
    module = getattr(module, "_orig_mod", module)  # torch.compile wrapper
    if _is_container(module):
        return [leaf for child in module for leaf in leaf_layers(child)]
    return [module]


def layer_rules(module):
    """The chain of ``(layer, rule)`` pairs of a module, containers opened."""
    pairs = []
    for layer in leaf_layers(module):
        rules = bound_layer(layer)
        rules = rules if isinstance(rules, (list, tuple)) else [rules]
        pairs += [(layer, rule) for rule in rules]
    return pairs
