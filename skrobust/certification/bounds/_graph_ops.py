"""Bound rules of the tensor operations a traced network calls.

A traced graph calls functions (``F.relu``, ``torch.cat``, ``operator.add``,
``aten.conv2d``...) and tensor methods (``x.view``, ``x.mean``...). Each
supported one maps here to a rule of :mod:`._layers` (one perturbed input) or
of :mod:`._graph_rules` (sums, concatenations, selections, reductions).
Handlers see perturbed tensors as :class:`Var` and every other argument as
its value, and return the rule and its perturbed inputs (rule ``None``: the
node is an alias of its input).
"""

import operator

from ..._torch import torch
from ._graph_arith import add, div, mul, neg, sub
from ._graph_rules import (
    CatBound,
    ReduceBound,
    SelectionBound,
    Unsupported,
    Var,
    Weights,
    tag_alpha,
)
from ._layers import (
    AffineBound,
    CastBound,
    ConvBound,
    LinearBound,
    MonotoneBound,
    ReshapeBound,
    ScaleShiftBound,
    bound_layer,
)

F = torch.nn.functional
aten = torch.ops.aten


# -- handlers: (ctx, *args, **kwargs) -> (rule, perturbed inputs) ------------


def _constant(value, what):
    if isinstance(value, Var):
        raise Unsupported(
            f"{what} depends on the input; bound propagation supports it only "
            "with constant weights"
        )
    return value


def _activation(module):
    def handler(ctx, x, *args, **kwargs):
        return tag_alpha(bound_layer(module), module), (x,)

    return handler


def _leaky_relu(ctx, x, negative_slope=0.01, *args, **kwargs):
    layer = torch.nn.LeakyReLU(float(negative_slope))
    return tag_alpha(bound_layer(layer), layer), (x,)


def _identity(ctx, x, *args, **kwargs):
    return None, (x,)  # an alias of the input


def _cast(ctx, x, *args, **kwargs):
    if ctx.dtype == x.dtype:
        return _identity(ctx, x)
    return CastBound(ctx.dtype), (x,)


def _reshape(ctx, x, *args, **kwargs):
    shape = ctx.out_shape
    return ReshapeBound(lambda t: t.reshape(len(t), *shape)), (x,)


def _selection(method):
    """A selection op (permute, slice, expand, ...) on a perturbed tensor."""

    def handler(ctx, x, *args, **kwargs):
        shape = ctx.out_shape

        def func(t):
            out = method(t, *args, **kwargs)
            return out.reshape(len(t), *shape)

        return SelectionBound(func), (x,)

    return handler


def _expand(ctx, x, *args, **kwargs):
    shape = ctx.out_shape
    return SelectionBound(lambda t: t.expand(len(t), *shape)), (x,)


def _dims(ctx, dims, rank):
    dims = (dims,) if isinstance(dims, int) else tuple(dims)
    dims = tuple(d % rank for d in dims)
    if 0 in dims:
        raise Unsupported("the operation mixes the samples of the batch (dim 0)")
    return dims


def _permute(ctx, x, *dims):
    if len(dims) == 1 and not isinstance(dims[0], int):
        dims = tuple(dims[0])
    if dims[0] % len(dims) != 0:
        raise Unsupported("permute moves the batch dimension")
    return _selection(torch.permute)(ctx, x, tuple(dims))


def _transpose(ctx, x, dim0, dim1):
    _dims(ctx, (dim0, dim1), len(x.shape) + 1)
    return _selection(torch.transpose)(ctx, x, dim0, dim1)


def _slice(ctx, x, dim=0, start=None, end=None, step=1):
    _dims(ctx, dim, len(x.shape) + 1)
    return _selection(aten.slice.Tensor)(ctx, x, dim, start, end, step)


def _select(ctx, x, dim, index):
    _dims(ctx, dim, len(x.shape) + 1)
    return _selection(aten.select.int)(ctx, x, dim, index)


def _getitem(ctx, x, index):
    index = index if isinstance(index, tuple) else (index,)
    first = index[0] if index else Ellipsis
    ok = first is Ellipsis or first == slice(None)
    if not ok or any(isinstance(i, (Var, torch.Tensor)) for i in index):
        raise Unsupported(
            "indexing must keep every sample (``x[:, ...]``) with constant "
            "int / slice indices"
        )
    return _selection(operator.getitem)(ctx, x, index)


def _reduce(mean):
    def handler(ctx, x, dim=None, keepdim=False, *args, **kwargs):
        if dim is None or dim == []:
            raise Unsupported("a reduction over every dimension mixes the batch")
        dims = _dims(ctx, dim, len(x.shape) + 1)
        return ReduceBound(dims, bool(keepdim), mean, x.shape), (x,)

    return handler


def _flatten(ctx, x, start_dim=0, end_dim=-1):
    if start_dim % (len(x.shape) + 1) == 0:
        raise Unsupported("flatten from dim 0 mixes the samples of the batch")
    return _reshape(ctx, x)


def _linear(ctx, x, weight, bias=None):
    weight, bias = _constant(weight, "F.linear's weight"), _constant(bias, "bias")
    return LinearBound(Weights(lambda t: F.linear(t, weight, bias), weight, bias)), (x,)


def _conv(dims):
    conv = (F.conv1d, F.conv2d)[dims - 1]

    def handler(ctx, x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
        weight, bias = _constant(weight, "the conv weight"), _constant(bias, "bias")
        if isinstance(padding, str):
            raise Unsupported("string padding; give explicit zero padding")

        def tup(v):
            return tuple(v) if isinstance(v, (tuple, list)) else (v,) * dims

        stride, padding, dilation = tup(stride), tup(padding), tup(dilation)
        layer = Weights(
            lambda t: conv(t, weight, bias, stride, padding, dilation, groups),
            weight,
            bias,
            stride=stride,
            padding=padding,
            dilation=dilation,
            groups=groups,
            kernel_size=tuple(weight.shape[2:]),
        )
        return ConvBound(layer), (x,)

    return handler


def _scale_shift_rule(ctx, x, mean, var, weight, bias, training, eps):
    if training:
        raise Unsupported("batch norm in training mode (statistics of the batch)")
    if mean is None or var is None:
        raise Unsupported("batch norm without running statistics")
    scale = torch.rsqrt(var + eps)
    if weight is not None:
        scale = scale * weight
    shift = -mean * scale
    if bias is not None:
        shift = shift + bias
    shape = (-1,) + (1,) * (len(x.shape) - 1)
    return ScaleShiftBound(scale.reshape(shape), shift.reshape(shape)), (x,)


def _batch_norm(
    ctx, x, running_mean, running_var, weight=None, bias=None, training=False,
    momentum=0.1, eps=1e-5,
):  # fmt: skip
    return _scale_shift_rule(
        ctx, x, running_mean, running_var, weight, bias, training, eps
    )


def _aten_batch_norm(ctx, x, weight, bias, mean, var, training, momentum, eps, *_):
    return _scale_shift_rule(ctx, x, mean, var, weight, bias, training, eps)


def _pool(func, affine):
    def handler(ctx, x, *args, **kwargs):
        if kwargs.get("return_indices") or (len(args) > 5 and args[5] is True):
            raise Unsupported("max pooling that returns indices")
        f = lambda t: func(t, *args, **kwargs)  # noqa: E731
        return (AffineBound(f, f) if affine else MonotoneBound(f)), (x,)

    return handler


def _monotone(func):
    def handler(ctx, x, *args, **kwargs):
        return MonotoneBound(lambda t: func(t, *args, **kwargs)), (x,)

    return handler


def _softmax(log):
    def handler(ctx, x, dim=None, *args, **kwargs):
        if len(x.shape) != 1 or dim is None or dim % 2 != 1:
            raise Unsupported("softmax over anything but the classes of (n, C)")
        module = (torch.nn.LogSoftmax if log else torch.nn.Softmax)(1)
        return bound_layer(module), (x,)

    return handler


def _cat(ctx, tensors, dim=0):
    rank = len(ctx.out_shape) + 1
    (dim,) = _dims(ctx, dim, rank)
    sizes, inputs = [], []
    for t in tensors:
        if not isinstance(t, Var):
            raise Unsupported("concatenating the input with a constant")
        sizes.append(t.shape[dim - 1])
        inputs.append(t)
    return CatBound(dim, sizes), tuple(inputs)


def _table():
    relu = _activation(torch.nn.ReLU())
    sigmoid, tanh = _activation(torch.nn.Sigmoid()), _activation(torch.nn.Tanh())
    identity_fns = (F.dropout, F.dropout1d, F.dropout2d, F.alpha_dropout)
    entries = {
        relu: (F.relu, torch.relu, aten.relu, "relu"),
        sigmoid: (torch.sigmoid, F.sigmoid, aten.sigmoid, "sigmoid"),
        tanh: (torch.tanh, F.tanh, aten.tanh, "tanh"),
        _leaky_relu: (F.leaky_relu, aten.leaky_relu, "leaky_relu"),
        _identity: (
            *identity_fns,
            aten.dropout,
            aten.clone,
            aten.alias,
            aten.detach,
            "contiguous",
            "clone",
            "detach",
            torch.clone,
        ),
        _cast: ("to", "float", "double", "type", aten._to_copy, aten.to),
        _reshape: (
            "view",
            "reshape",
            torch.reshape,
            aten.view,
            aten.reshape,
            aten._unsafe_view,
            "squeeze",
            "unsqueeze",
            torch.squeeze,
            torch.unsqueeze,
            aten.squeeze,
            aten.unsqueeze,
            "view_as",
            "reshape_as",
        ),
        _flatten: (torch.flatten, "flatten", aten.flatten),
        _expand: ("expand", aten.expand, "expand_as"),
        _permute: (torch.permute, "permute", aten.permute),
        _transpose: (torch.transpose, "transpose", aten.transpose),
        _getitem: (operator.getitem,),
        _slice: (aten.slice,),
        _select: (aten.select,),
        _reduce(True): (torch.mean, "mean", aten.mean),
        _reduce(False): (torch.sum, "sum", aten.sum),
        _linear: (F.linear, aten.linear),
        _conv(1): (F.conv1d, aten.conv1d),
        _conv(2): (F.conv2d, aten.conv2d),
        _batch_norm: (F.batch_norm,),
        _aten_batch_norm: (aten.batch_norm,),
        add: (operator.add, operator.iadd, torch.add, "add", "add_", aten.add),
        sub: (operator.sub, operator.isub, torch.sub, "sub", aten.sub),
        mul: (operator.mul, operator.imul, torch.mul, "mul", aten.mul),
        div: (operator.truediv, torch.div, "div", aten.div),
        neg: (operator.neg, torch.neg, "neg", aten.neg),
        _cat: (torch.cat, torch.concat, torch.concatenate, aten.cat),
        _softmax(False): (F.softmax, torch.softmax, "softmax", aten._softmax),
        _softmax(True): (F.log_softmax, "log_softmax", aten._log_softmax),
        _monotone(torch.clamp): (torch.clamp, torch.clip, "clamp", "clip"),
    }
    pools = {
        (F.avg_pool1d, aten.avg_pool1d): (F.avg_pool1d, True),
        (F.avg_pool2d, aten.avg_pool2d): (F.avg_pool2d, True),
        (F.adaptive_avg_pool1d, aten.adaptive_avg_pool1d): (
            F.adaptive_avg_pool1d,
            True,
        ),
        (F.adaptive_avg_pool2d, aten.adaptive_avg_pool2d): (
            F.adaptive_avg_pool2d,
            True,
        ),
        (F.max_pool1d, aten.max_pool1d): (F.max_pool1d, False),
        (F.max_pool2d, aten.max_pool2d): (F.max_pool2d, False),
        (F.adaptive_max_pool2d,): (F.adaptive_max_pool2d, False),
    }
    for keys, (func, affine) in pools.items():
        entries[_pool(func, affine)] = keys
    table = {}
    for handler, keys in entries.items():
        for key in keys:
            table[key] = handler
    return table


HANDLERS = _table()


def handler_of(target, method):
    """The handler of a call target (a function, an aten op, a method name)."""
    if method:
        return HANDLERS.get(target)
    packet = getattr(target, "overloadpacket", None)
    found = HANDLERS.get(target) if _hashable(target) else None
    return found or (HANDLERS.get(packet) if packet is not None else None)


def _hashable(target):
    try:
        hash(target)
    except TypeError:
        return False
    return True
