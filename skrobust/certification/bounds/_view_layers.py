"""Bound rules of the modules skrobust's converters build (scalers, casts, logits)."""

from ..._models import (
    BinaryLogits,
    Cast,
    FirstOutput,
    LogProbability,
    ProbabilityLogit,
    Rescale,
    Standardize,
)
from ..._torch import torch
from ._layers import (
    AffineBound,
    CastBound,
    MonotoneBound,
    ReshapeBound,
    ScaleShiftBound,
    bound_layer,
)


@bound_layer.register(FirstOutput)
def _first_output(layer):
    return ReshapeBound(lambda x: x)  # bounds are single tensors


@bound_layer.register(Cast)
def _cast(layer):
    return CastBound(layer.dtype)


@bound_layer.register(Standardize)
def _standardize(layer):
    # (x - center) / scale = x * (1 / scale) - center / scale
    scale = None if layer.scale is None else 1 / layer.scale
    shift = None if layer.center is None else -layer.center
    if shift is not None and scale is not None:
        shift = shift * scale
    return ScaleShiftBound(scale, shift)


@bound_layer.register(Rescale)
def _rescale(layer):
    affine = ScaleShiftBound(layer.scale, layer.shift)
    if layer.clip is None:
        return affine
    low, high = layer.clip
    return [affine, MonotoneBound(lambda x: x.clamp(low, high))]


@bound_layer.register(LogProbability)
@bound_layer.register(ProbabilityLogit)
def _increasing(layer):
    return MonotoneBound(layer)  # both are increasing elementwise


class BinaryLogitsBound(AffineBound):
    """``z -> [-z/2, z/2]`` from the first column of ``z``."""

    elementwise = True

    def __init__(self, layer):
        self.layer = layer

    def func(self, z):
        return self.layer(z)

    def abs_linear(self, r):
        r = r.reshape(len(r), -1)[:, :1]
        return torch.cat([0.5 * r, 0.5 * r], dim=1)

    def bias(self, A, in_shape):
        return A.new_zeros(A.shape[:2])

    def transpose(self, A, in_shape):
        n, n_spec = A.shape[:2]
        out = A.new_zeros((n, n_spec, max(1, int(torch.Size(in_shape).numel()))))
        out[..., 0] = 0.5 * (A[..., 1] - A[..., 0])
        return out.reshape(n, n_spec, *in_shape)


@bound_layer.register(BinaryLogits)
def _binary_logits(layer):
    return BinaryLogitsBound(layer)
