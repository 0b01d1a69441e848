"""Discrete constraints (integers, categories, one-hot groups), restored after
an attack's search; the loops also apply them at every step."""

import math
import warnings

import numpy as np

from ..._repair import Repair
from ..._torch import torch
from ._norms import get_norm, weighted_size


def repair(x_adv, x0, constraints, norm):
    """Make outputs satisfy the discrete constraints of the threat model.

    Integer features move by whole steps (the nearest that stays in the
    ball and the box, else toward the clean value), categorical columns take
    one allowed category, one-hot groups stay valid (reverted to clean when
    a switch leaves the budget or the bounds), pinned entries keep their
    clean value, and at most ``max_changes`` discrete features change (see
    :class:`skrobust._repair.Repair`).
    """
    if not constraints.needs_repair:
        return x_adv
    return Repair(constraints, x0, norm)(x_adv)


def inside(x_adv, x0, constraints, norm):
    """Per-sample check of the budget and the bounds."""
    low, high = constraints.bounds_for(x0)
    in_box = ((x_adv >= low) & (x_adv <= high)).reshape(len(x0), -1).all(dim=1)
    delta = (x_adv - x0).reshape(len(x0), -1)
    scale = torch.as_tensor(constraints.scale.ravel(), device=x0.device, dtype=x0.dtype)
    frozen_ok = ~((delta != 0) & (scale == 0)).any(dim=1)
    u = delta / torch.where(scale > 0, scale, torch.ones_like(scale))
    return frozen_ok & in_box & (get_norm(norm).size(u) <= 1 + 1e-9)


_NUMPY = {
    t: np.dtype(str(t).split(".")[1])
    for t in (torch.float16, torch.float32, torch.float64)
}


def _rounded(value, dtype, up):
    """``value`` (float64 array) in numpy ``dtype``, rounded up (``up``) or
    down: never past ``value`` in that direction."""
    with np.errstate(over="ignore"):
        out = np.array(value, dtype=dtype)
    wrong = out < value if up else out > value
    out[wrong] = np.nextafter(out[wrong], np.inf if up else -np.inf, dtype=dtype)
    return out


class BallBox(tuple):
    """The ``(low, high)`` of :func:`exact_box` for l-infinity: inside the
    ball too, so a loop clamps into it alone (no intersection with the ball)."""

    __slots__ = ()


def exact_box(clean, constraints, norm, extremes=None):
    """``(low, high)`` in ``clean``'s dtype: every number of that dtype
    between them lies in the box (and, a :class:`BallBox`, in the l-inf
    ball) measured exactly.

    ``clean`` must be exact in its dtype. The bounds are rounded inward.
    Continuous features take ``clean -/+ eps`` computed in the dtype, with
    ``eps`` less one step of the dtype at the largest ``|clean| + eps``
    (a step more than any rounding of the difference), so the box costs a
    few tensor operations; discrete constraints (integers, one-hot groups,
    categories, pinned entries) keep every exact edge (``clean + 2``, say):
    each edge is computed, measured in float64 and moved one step inward
    where it is outside. ``extremes``: ``(min, max)`` of ``clean`` if known.
    """
    pair = BallBox if norm == "linf" else tuple
    dtype = _NUMPY[clean.dtype]
    cache = constraints.__dict__.setdefault("_tensors", {})
    if ("reach", norm) not in cache:  # the largest finite budget, if shrunk
        scale = np.asarray(constraints.scale, dtype=np.float64)
        mobile = np.isfinite(scale) & (scale > 0)
        shrunk = norm == "linf" and not constraints.needs_repair and mobile.any()
        cache["reach", norm] = float(scale[mobile].max()) if shrunk else None
    step, overflow = 0.0, False
    if cache["reach", norm] is not None:
        largest = cache["reach", norm]
        if clean.numel():
            if extremes is None:
                extremes = tuple(map(float, torch.aminmax(clean)))
            largest += max(-extremes[0], extremes[1])
        last = cache.get("step")  # the last call's: the same data again
        if last is not None and last[:2] == (dtype, largest):
            step, overflow = last[2:]
        else:
            top = np.finfo(dtype).max
            overflow = not largest < float(top)  # clean -/+ eps may be inf
            if overflow:  # a step in the top binade
                step = float(top) - float(np.nextafter(top, dtype.type(0)))
            else:
                step = float(np.spacing(dtype.type(largest)))
            cache["step"] = (dtype, largest, step, overflow)
    key = ("exact", clean.device, clean.dtype, norm, step)
    if key not in cache:
        cache[key] = _per_feature_box(constraints, norm, dtype, step, clean.device)
    low, high, below, above, eps = cache[key]
    if constraints.lenient:
        low, high = torch.minimum(low, clean), torch.maximum(high, clean)
    if eps is None:  # continuous: every edge inside by construction
        edges = clean - below, clean + above
        if overflow:
            big = float(np.finfo(dtype).max)
            edges = tuple(e.clamp(-big, big) for e in edges)
        return pair((torch.maximum(low, edges[0]), torch.minimum(high, edges[1])))
    edges = []
    for edge, inward in ((clean - below, np.inf), (clean + above, -np.inf)):
        out = (edge.double() - clean.double()).abs() > eps
        way = torch.tensor(inward, dtype=clean.dtype, device=clean.device)
        edges.append(torch.where(out, torch.nextafter(edge, way), edge))
    low, high = torch.maximum(low, edges[0]), torch.minimum(high, edges[1])
    # the clean point, within check_inside's tolerance of a bound
    return pair((torch.minimum(low, clean), torch.maximum(high, clean)))


def _per_feature_box(constraints, norm, dtype, step, device):
    """The per-feature pieces of :func:`exact_box`: the bounds rounded
    inward, the reach below and above ``clean`` (0 where a feature may not
    move that way, ``inf`` where only the bounds limit it), and the exact
    budget (float64) where edges are measured, else None."""
    scale = np.asarray(constraints.scale, dtype=np.float64)
    shape = np.shape(constraints.low)
    if norm == "linf":
        reach = _rounded(np.maximum(scale - step, 0.0), dtype, up=False)
    else:  # the ball is no box: only the bounds limit a coordinate
        reach = np.where(scale > 0, np.inf, 0.0).astype(dtype)
    reach = np.broadcast_to(reach, shape)
    below = above = reach
    if constraints.direction is not None:
        d = np.asarray(constraints.direction)
        below, above = np.where(d > 0, 0, reach), np.where(d < 0, 0, reach)
    eps = None
    if norm == "linf" and constraints.needs_repair:
        eps = torch.as_tensor(np.broadcast_to(scale, shape).copy(), device=device)
    pieces = (
        _rounded(np.asarray(constraints.low, dtype=np.float64), dtype, up=True),
        _rounded(np.asarray(constraints.high, dtype=np.float64), dtype, up=False),
        np.asarray(below, dtype=dtype),
        np.asarray(above, dtype=dtype),
    )
    return (*(torch.as_tensor(p.copy(), device=device) for p in pieces), eps)


def cast_inside(x_adv, x0, constraints, norm, dtype, extremes=None):
    """``x_adv`` in ``dtype``, inside the box and the ball measured exactly.

    Rounding to ``dtype`` (or a loop's own rounding in a low precision) can
    leave the bounds or the budget by part of a step of ``dtype`` (a float16
    ``0.15 + x0`` lies 2e-5 past the budget 0.15). The entries are clamped
    into :func:`exact_box` (NaN entries take their clean values, with a
    warning); a sample still outside an l2 / l1 ball is shrunk toward
    ``x0`` until inside. ``x0`` must be exact in ``dtype`` (it comes from
    the caller's array). l2 / l1 sizes are compared in float64, where a
    float16 / float32 difference is exact. ``extremes``: ``(min, max)`` of
    ``x0`` if known.
    """
    clean = x0.to(dtype)
    y = x_adv.to(dtype)
    if math.isnan(float(y.sum())):  # a NaN entry makes the sum NaN
        nan = torch.isnan(y)
        n_nan = int(nan.reshape(len(y), -1).any(dim=1).sum())
        if n_nan:  # loud: clean rows make the robust accuracy look higher
            warnings.warn(
                f"{n_nan} adversarial examples had NaN entries (the model or the "
                "attack produced NaN); those entries take their clean values.",
                RuntimeWarning,
                stacklevel=2,
            )
            y = torch.where(nan, clean, y)
    y = torch.clamp(y, *exact_box(clean, constraints, norm, extremes))
    if norm == "linf":
        return y
    x0d = clean.double()
    scale = constraints.box(x0d, torch.float64, shared=True)[0]
    step = torch.finfo(dtype).eps
    for attempt in range(4):
        size = weighted_size(y.double() - x0d, scale, norm)
        out = size > 1
        if not bool(out.any()):
            return y
        # shrink (in float64), then round toward x0: |y - x0| never grows
        shrink = (size * (1 + 4 ** (attempt + 1) * step)).reshape(
            -1, *[1] * (x0.dim() - 1)
        )
        target = x0d + (y.double() - x0d) / shrink
        z = target.to(dtype)
        z = torch.where(
            (z.double() - x0d).abs() > (target - x0d).abs(),
            torch.nextafter(z, clean),
            z,
        )
        y = torch.where(out.reshape(shrink.shape), z, y)
    size = weighted_size(y.double() - x0d, scale, norm)
    return torch.where((size > 1).reshape(-1, *[1] * (x0.dim() - 1)), clean, y)
