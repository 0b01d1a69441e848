"""Integer and one-hot constraints, restored after an attack's search."""

from ..._torch import torch
from ._norms import get_norm


def repair(x_adv, x0, constraints, norm):
    """Make outputs satisfy integer and one-hot constraints.

    Integer features move by whole steps, rounded toward the clean value
    (this keeps the point inside the ball, the bounds and the direction
    constraints). A one-hot group takes the category of its largest
    coordinate; a sample whose repaired groups leave the budget or the
    bounds gets its groups back from the clean input.
    """
    if not constraints.needs_repair:
        return x_adv
    x_adv = x_adv.detach().clone()
    if constraints.integer is not None and constraints.integer.any():
        ints = torch.as_tensor(constraints.integer, device=x0.device)
        x_adv = torch.where(ints, x0 + torch.trunc(x_adv - x0), x_adv)
    if constraints.one_hot:
        flat, clean = x_adv.reshape(len(x_adv), -1), x0.reshape(len(x0), -1)
        for group in constraints.one_hot:
            idx = torch.as_tensor(group, device=x0.device)
            part = flat[:, idx]
            part = torch.nn.functional.one_hot(part.argmax(dim=1), len(idx))
            flat[:, idx] = part.to(flat.dtype)
        ok = inside(flat.reshape(x0.shape), x0, constraints, norm)
        if not bool(ok.all()):
            for group in constraints.one_hot:
                idx = torch.as_tensor(group, device=x0.device)
                flat[~ok, idx[:, None]] = clean[~ok, idx[:, None]]
        x_adv = flat.reshape(x_adv.shape)
    return x_adv


def inside(x_adv, x0, constraints, norm):
    """Per-sample check of the budget and the bounds."""
    low, high = constraints.bounds_for(x0)
    in_box = ((x_adv >= low) & (x_adv <= high)).reshape(len(x0), -1).all(dim=1)
    delta = (x_adv - x0).reshape(len(x0), -1)
    scale = torch.as_tensor(constraints.scale.ravel(), device=x0.device, dtype=x0.dtype)
    frozen_ok = ~((delta != 0) & (scale == 0)).any(dim=1)
    u = delta / torch.where(scale > 0, scale, torch.ones_like(scale))
    return frozen_ok & in_box & (get_norm(norm).size(u) <= 1 + 1e-9)
