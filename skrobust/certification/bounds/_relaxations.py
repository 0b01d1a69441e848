"""Linear relaxations of elementwise activations (CROWN, Zhang et al. 2018).

Each function maps pre-activation bounds ``l <= x <= u`` to the slopes and
intercepts of two lines ``a_l x + b_l <= f(x) <= a_u x + b_u`` valid on the
whole interval.
"""

from ..._torch import torch
from ._layers import ActivationBound, bound_layer


def piecewise_linear_relaxation(lower, upper, slope):
    """Relaxation of ``x -> x if x >= 0 else slope * x`` (ReLU: ``slope=0``).

    Stable units get the exact line. On unstable ones (``l < 0 < u``) the
    chord through ``(l, f(l))`` and ``(u, f(u))`` bounds the convex side and a
    line through the origin with slope ``1`` or ``slope``, whichever leaves
    less area (CROWN's adaptive choice: 1 when ``u > -l``), the other.
    """
    if slope == 0:
        return _relu_lines(lower, upper)
    return _piecewise_lines(lower, upper, slope)


def _piecewise_lines(lower, upper, slope):
    one = lower.new_ones(())
    low_slope = lower.new_full((), slope)
    unstable = (lower < 0) & (upper > 0)
    stable_a = torch.where(lower >= 0, one, low_slope)
    width = (upper - lower).clamp_min_(torch.finfo(lower.dtype).tiny)
    rise = upper if slope == 0 else upper - slope * lower
    chord = torch.where(unstable, rise / width, stable_a)
    chord_b = torch.where(unstable, upper - chord * upper, 0.0)
    zero_a = torch.where(upper > -lower, one, low_slope)
    zero_a = torch.where(unstable, zero_a, stable_a)
    zero_b = torch.zeros_like(lower)
    if slope <= 1:  # convex: the chord is above
        return zero_a, zero_b, chord, chord_b
    return chord, chord_b, zero_a, zero_b


def _relu_lines(lower, upper):
    """The ReLU's lines of :func:`piecewise_linear_relaxation`, the same
    values from arithmetic and comparisons alone (``torch.where`` costs
    several times a multiply per element on a CPU): on a stable unit the
    chord's numerator and denominator are equal (active) or the numerator
    is 0 (inactive), so the chord is the unit's slope and its intercept 0."""
    tiny = torch.finfo(lower.dtype).tiny
    active = lower >= 0
    up = upper.clamp(min=0)
    rise = torch.maximum(upper, active.to(lower.dtype).mul_(tiny))
    chord = rise.div_((upper - lower.clamp(max=0)).clamp_min_(tiny))
    chord_b = up - chord * up
    low_a = torch.gt(upper, -lower).logical_or_(active).to(lower.dtype)
    return low_a, torch.zeros_like(lower), chord, chord_b


def s_shaped_relaxation(func, derivative):
    """Relaxation of a sigmoid-like function: convex below 0, concave above.

    Convex part (``u <= 0``): the chord above, the tangent at the midpoint
    below; concave part (``l >= 0``): the reverse. Across 0: two parallel
    lines with the smallest slope of the interval (the derivative at an
    end), through ``(l, f(l))`` below and ``(u, f(u))`` above; they are valid
    because ``f' >= slope`` on the interval.
    """

    def relax(lower, upper):
        f_l, f_u = func(lower), func(upper)
        mid = (lower + upper) / 2
        tangent = derivative(mid)
        tangent_b = func(mid) - tangent * mid
        width = upper - lower
        flat = width <= 1e-6 * (1 + lower.abs())
        chord = torch.where(
            flat, tangent, (f_u - f_l) / width.clamp_min(torch.finfo(width.dtype).tiny)
        )
        chord_b = torch.where(flat, tangent_b, f_l - chord * lower)
        slope = torch.minimum(derivative(lower), derivative(upper))
        low_b, up_b = f_l - slope * lower, f_u - slope * upper
        convex, concave = upper <= 0, lower >= 0
        a_l = torch.where(convex, tangent, torch.where(concave, chord, slope))
        b_l = torch.where(convex, tangent_b, torch.where(concave, chord_b, low_b))
        a_u = torch.where(convex, chord, torch.where(concave, tangent, slope))
        b_u = torch.where(convex, chord_b, torch.where(concave, tangent_b, up_b))
        return a_l, b_l, a_u, b_u

    return relax


def _unstable(lower, upper):
    return (lower < 0) & (upper > 0)


@bound_layer.register(torch.nn.ReLU)
def _relu(layer):
    return ActivationBound(
        torch.relu,
        lambda lower, upper: piecewise_linear_relaxation(lower, upper, 0.0),
        _unstable,
    )


@bound_layer.register(torch.nn.LeakyReLU)
def _leaky_relu(layer):
    slope = float(layer.negative_slope)
    if slope < 0:
        raise TypeError(f"{layer!r} is not monotone (negative slope).")
    return ActivationBound(
        layer,
        lambda lower, upper: piecewise_linear_relaxation(lower, upper, slope),
        _unstable,
    )


def _sigmoid_derivative(x):
    s = torch.sigmoid(x)
    return s * (1 - s)


def _tanh_derivative(x):
    return 1 - torch.tanh(x) ** 2


@bound_layer.register(torch.nn.Sigmoid)
def _sigmoid(layer):
    return ActivationBound(
        torch.sigmoid, s_shaped_relaxation(torch.sigmoid, _sigmoid_derivative)
    )


@bound_layer.register(torch.nn.Tanh)
def _tanh(layer):
    return ActivationBound(
        torch.tanh, s_shaped_relaxation(torch.tanh, _tanh_derivative)
    )
