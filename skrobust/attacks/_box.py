"""The per-sample box of the threat model in input units (bounds, direction,
immutable features), for attacks that clamp their final outputs exactly."""

import numpy as np

from .._torch import torch


def input_box(constraints, x0):
    """``(low, high)`` tensors shaped like ``x0``: the bounds, tightened to
    ``x0`` by the direction constraints and for features that may not move.

    Clamping ``x0 + scale * u`` into this box makes the bounds hold exactly
    in the working dtype (unit-ball coordinates round).
    """
    low, high = constraints.bounds_for(x0)
    if constraints.direction is not None:
        d = torch.as_tensor(np.array(constraints.direction), device=x0.device)
        d = d.expand_as(x0)
        low = torch.where(d > 0, torch.maximum(low, x0), low)
        high = torch.where(d < 0, torch.minimum(high, x0), high)
    frozen = torch.as_tensor(np.array(constraints.scale), device=x0.device) <= 0
    frozen = frozen.expand_as(x0)
    return torch.where(frozen, x0, low), torch.where(frozen, x0, high)
