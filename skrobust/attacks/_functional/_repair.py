"""Discrete constraints (integers, categories, one-hot groups), restored after
an attack's search; the loops also apply them at every step."""

import warnings

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


def cast_inside(x_adv, x0, constraints, norm, dtype):
    """``x_adv`` in ``dtype``, inside the box and the ball measured exactly.

    Rounding to ``dtype`` (or a loop's own rounding in a low precision) can
    leave the bounds or the budget by part of a step of ``dtype`` (a float16
    ``0.15 + x0`` lies 2e-5 past the budget 0.15). Each entry outside the box
    (or the l-inf ball) moves toward its clean value by one representable
    step, twice at most, else takes the clean value; a sample still outside
    an l2 / l1 ball is shrunk toward ``x0`` until inside. ``x0`` must be
    exact in ``dtype`` (it comes from the caller's array). Sizes and bounds
    are compared in float64, where a float16 / float32 difference is exact.
    """
    x0d = x0.double()
    scale, low, high = constraints.box(x0d, torch.float64, shared=True)
    clean = x0.to(dtype)
    y = x_adv.to(dtype)

    def entries_ok(y):
        yd = y.double()
        ok = (yd >= low) & (yd <= high)
        if norm == "linf":
            ok &= (yd - x0d).abs() <= scale
        return ok

    ok = entries_ok(y)  # False at NaN entries too
    if not bool(ok.all()):
        n_nan = int(torch.isnan(x_adv).reshape(len(x_adv), -1).any(dim=1).sum())
        if n_nan:  # loud: clean rows make the robust accuracy look higher
            warnings.warn(
                f"{n_nan} adversarial examples had NaN entries (the model or the "
                "attack produced NaN); those entries take their clean values.",
                RuntimeWarning,
                stacklevel=2,
            )
        for _ in range(2):  # one representable step toward x0, twice at most
            y = torch.where(ok, y, torch.nextafter(y, clean))
            ok = entries_ok(y)
            if bool(ok.all()):
                break
        y = torch.where(ok, y, clean)
    if norm == "linf":
        return y
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
