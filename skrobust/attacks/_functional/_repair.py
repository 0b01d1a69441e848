"""Discrete constraints (integers, categories, one-hot groups), restored after
an attack's search; the loops also apply them at every step."""

from ..._repair import Repair
from ..._torch import torch
from ._norms import get_norm


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
