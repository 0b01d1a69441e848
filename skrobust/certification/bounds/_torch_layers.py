"""Bound rules of torch's standard layers (registered on import)."""

from ..._torch import torch
from ._layers import (
    AffineBound,
    ConvBound,
    LayerBound,
    LinearBound,
    MonotoneBound,
    ReshapeBound,
    ScaleShiftBound,
    bound_layer,
)


@bound_layer.register(torch.nn.Linear)
def _linear(layer):
    return LinearBound(layer)


@bound_layer.register(torch.nn.Conv1d)
@bound_layer.register(torch.nn.Conv2d)
def _conv(layer):
    if layer.padding_mode != "zeros" or isinstance(layer.padding, str):
        if layer.padding_mode != "zeros" or layer.padding != "valid":
            raise TypeError(
                f"bound propagation supports {type(layer).__name__} with explicit "
                f"zero padding; got padding={layer.padding!r}, padding_mode="
                f"{layer.padding_mode!r} in {layer!r}."
            )
    return ConvBound(layer)


@bound_layer.register(torch.nn.BatchNorm1d)
@bound_layer.register(torch.nn.BatchNorm2d)
def _batch_norm(layer):
    if layer.running_var is None:
        raise TypeError(
            f"{layer!r} keeps no running statistics (track_running_stats=False), "
            "so its evaluation output depends on the batch: bound propagation "
            "cannot use it."
        )

    def scale_shift(x):  # per channel, on dim 1 of (N, C, ...)
        shape = (-1,) + (1,) * (x.dim() - 2)
        scale = torch.rsqrt(layer.running_var + layer.eps)
        if layer.weight is not None:
            scale = scale * layer.weight
        shift = -layer.running_mean * scale
        if layer.bias is not None:
            shift = shift + layer.bias
        return scale.reshape(shape), shift.reshape(shape)

    class _BatchNorm(ScaleShiftBound):
        def func(self, x):
            scale, shift = scale_shift(x)
            return x * scale + shift

        def abs_linear(self, r):
            return r * scale_shift(r)[0].abs()

        def bias(self, A, in_shape):
            shift = scale_shift(A[0])[1]
            return (A * shift).flatten(2).sum(-1)

        def transpose(self, A, in_shape):
            return A * scale_shift(A[0])[0]

    return _BatchNorm()


@bound_layer.register(torch.nn.Flatten)
@bound_layer.register(torch.nn.Unflatten)
def _reshape(layer):
    if getattr(layer, "start_dim", 1) == 0 or getattr(layer, "dim", 1) == 0:
        raise TypeError(f"{layer!r} reshapes the batch dimension.")
    return ReshapeBound(layer)


@bound_layer.register(torch.nn.Identity)
@bound_layer.register(torch.nn.Dropout)
@bound_layer.register(torch.nn.Dropout1d)
@bound_layer.register(torch.nn.Dropout2d)
@bound_layer.register(torch.nn.AlphaDropout)
def _identity(layer):
    return ReshapeBound(lambda x: x)  # evaluation behaviour: the identity


@bound_layer.register(torch.nn.AvgPool1d)
@bound_layer.register(torch.nn.AvgPool2d)
@bound_layer.register(torch.nn.AdaptiveAvgPool1d)
@bound_layer.register(torch.nn.AdaptiveAvgPool2d)
def _avg_pool(layer):
    return AffineBound(layer, layer)  # non-negative weights: |L| = L


@bound_layer.register(torch.nn.MaxPool1d)
@bound_layer.register(torch.nn.MaxPool2d)
@bound_layer.register(torch.nn.AdaptiveMaxPool1d)
@bound_layer.register(torch.nn.AdaptiveMaxPool2d)
def _max_pool(layer):
    if layer.return_indices:
        raise TypeError(f"{layer!r} returns indices; bounds need values only.")
    return MonotoneBound(layer)


@bound_layer.register(torch.nn.Softmax)
@bound_layer.register(torch.nn.LogSoftmax)
def _softmax(layer):
    log = isinstance(layer, torch.nn.LogSoftmax)
    if layer.dim not in (1, -1):
        raise TypeError(f"bounds support {layer!r} over the class dimension only.")

    def interval(lower, upper):
        # class i at its lower bound, the others at their upper bounds (and
        # the reverse): log p_i = own_i - logsumexp(own_i, others_{j != i})
        eye = torch.eye(lower.shape[1], dtype=torch.bool, device=lower.device)

        def log_p(own, others):
            rest = others.unsqueeze(1).expand(-1, own.shape[1], -1)
            rest = torch.logsumexp(rest.masked_fill(eye, -torch.inf), dim=2)
            return own - torch.logaddexp(own, rest)

        low, high = log_p(lower, upper), log_p(upper, lower)
        return (low, high) if log else (low.exp(), high.exp())

    rule = LayerBound()
    rule.interval = interval
    return rule
