"""Exact minimal perturbations: of affine logits, and into a tree's leaf boxes.

Both find the infimum of ``||delta / w||_p`` over adversarial ``x0 +
delta`` inside the input box, then place the example just across the
boundary (nudges), checking each candidate with the model.
"""

from ..._torch import torch
from ._halfspace import smallest_step
from ._losses import reached
from ._norms import weighted_size

_LINEAR_NUDGES = (1e-9, 1e-7, 1e-5, 1e-3)  # relative overshoots
_LEAF_NUDGES = (0.0, 1e-7, 1e-5, 1e-3, 0.5)  # fractions of the leaf box's width


def affine_map(model, x0):
    """``(A, b)`` with ``model(x) = x A^T + b`` (flattened), checked on ``x0``.

    Raises ``TypeError`` when the logits are not affine in the input.
    """
    shape, d = x0.shape[1:], x0[0].numel()
    basis = torch.cat([torch.zeros(1, d), torch.eye(d)]).to(x0)
    out = model(basis.reshape(-1, *shape)).to(x0.dtype)
    b = out[0]
    A = (out[1:] - b).T
    flat = x0.reshape(len(x0), -1)
    pred = model(x0).to(x0.dtype)
    tol = 1e-6 if x0.dtype == torch.float64 else 1e-3
    scale = flat.abs() @ A.abs().T + b.abs() + 1.0
    if not bool(((pred - (flat @ A.T + b)).abs() <= tol * scale).all()):
        raise TypeError(
            "LinearExactAttack needs a model whose logits are affine in its "
            "inputs (a linear classifier, possibly after affine preprocessing "
            "such as StandardScaler or PCA); this one is not. Use "
            "CarliniWagnerL2, PGD or HopSkipJump."
        )
    return A, b


def linear_minimal(model, x0, labels, *, w, u_low, u_high, box, norm, targeted):
    """The exact minimal adversarial example of a model with affine logits.

    Some class ``k`` beats ``y`` on the half-space ``(g_k - g_y)(x0 + w u) >=
    0``: the smallest ``u`` per class inside the box (one
    :func:`~._halfspace.smallest_step`), the best class. Targeted (binary
    models only): the target's half-space.

    Parameters
    ----------
    model : callable
        Tensor of inputs -> logits, affine (checked by :func:`affine_map`).
    x0, labels : Tensor
    w : Tensor of the shape of one sample
        The unit of measure per feature (0 for immutable ones).
    u_low, u_high : Tensor shaped like ``x0``
        The box in unit coordinates ``u = (x - x0) / w``.
    box : (Tensor, Tensor)
        The input box, for the nudged examples.
    norm : {"linf", "l2", "l1"}
    targeted : bool

    Returns
    -------
    x_adv : Tensor
        Just across the boundary (``x0`` where no example exists).
    size : Tensor
        The exact minimal size (``inf`` where none exists).
    """
    n, flat = len(x0), x0.reshape(len(x0), -1)
    A, b = affine_map(model, x0)
    n_classes = A.shape[0]
    if targeted and n_classes > 2:
        raise ValueError(
            "LinearExactAttack supports targeted attacks on binary models "
            "only (a multiclass target must beat every class: an "
            "intersection of half-spaces); use CarliniWagnerL2 instead."
        )
    w = w.reshape(1, -1)
    u_low, u_high = u_low.reshape(n, -1), u_high.reshape(n, -1)
    g = flat @ A.T + b
    if targeted:  # the target t beats the other class k: g_t - g_k >= 0
        other = 1 - labels
        c = (A[labels] - A[other]) * w
        gap = (g.gather(1, other[:, None]) - g.gather(1, labels[:, None]))[:, 0]
        u, size = smallest_step(c, gap, u_low, u_high, norm)
    else:  # some class k beats y: (g_k - g_y)(x + w u) >= 0
        c = (A[None] - A[labels][:, None]) * w[:, None]  # (n, K, d)
        gap = g.gather(1, labels[:, None]) - g  # (n, K)
        own = torch.nn.functional.one_hot(labels, n_classes).bool()
        gap = gap.masked_fill(own, torch.inf)
        u, size = smallest_step(c, gap, u_low[:, None], u_high[:, None], norm)
        size = size.masked_fill(own, torch.inf)
        k = size.argmin(dim=1)
        u, size = u[torch.arange(n), k], size[torch.arange(n), k]
    delta = (w * u).reshape(x0.shape)
    found = torch.isfinite(size)
    out = torch.where(found.reshape(-1, *[1] * (x0.dim() - 1)), x0 + delta, x0)
    todo = found & (size > 0)
    for nu in _LINEAR_NUDGES:  # x0 + (1 + nu) delta, just across
        if not bool(todo.any()):
            break
        cand = (x0[todo] + (1 + nu) * delta[todo]).clamp(box[0][todo], box[1][todo])
        hit = reached(model(cand).argmax(dim=1), labels[todo], targeted)
        index = torch.nonzero(todo)[:, 0]
        out[index[hit]] = cand[hit]
        todo[index[hit]] = False
    return out, size


def nearest_leaf(model, x0, labels, *, w, box, leaves, norm, targeted):
    """The exact minimal adversarial example of a decision tree.

    The nearest point of a box is the point clipped into it: the distance
    to each leaf predicting another class (the target), its box cut by the
    input box, the nearest; the example is moved just inside that leaf.

    Parameters
    ----------
    model : callable
        Tensor of inputs -> scores of the tree (the argmax is its label).
    x0, labels, w, box, norm, targeted
        As for :func:`linear_minimal`.
    leaves : (low, high, class, a, b)
        Per leaf ``low < x <= high`` in the attack's space (tensors of shape
        (L, d)) and its class (L,); the tree compares ``a * x + b`` with its
        float32 thresholds (per-feature tensors).

    Returns
    -------
    x_adv : Tensor
        Inside the nearest leaf (``x0`` where none is reachable).
    size : Tensor
        The distance to it, the infimum (``inf`` where none is reachable).
    """
    leaf_low, leaf_high, cls, a, b = leaves
    n = len(x0)
    flat = x0.reshape(n, -1)
    low, high = (t.reshape(n, -1) for t in box)
    w = w.reshape(1, -1)
    best = torch.full((n,), torch.inf, dtype=x0.dtype, device=x0.device)
    best_leaf = torch.zeros(n, dtype=torch.long, device=x0.device)
    chunk = max(1, (1 << 22) // max(flat.shape[1] * n, 1))
    for start in range(0, len(cls), chunk):
        lo, hi = leaf_low[start : start + chunk], leaf_high[start : start + chunk]
        top = torch.minimum(hi[None], high[:, None])  # (n, L, d)
        bottom = torch.maximum(lo[None], low[:, None])
        empty = ((lo[None] >= top) | (low[:, None] > top)).any(dim=2)
        target = torch.minimum(torch.maximum(flat[:, None], bottom), top)
        delta = (target - flat[:, None]).flatten(0, 1)
        dist = weighted_size(delta, w, norm).reshape(n, -1)
        c = cls[start : start + chunk][None]
        wrong = reached(c, labels[:, None], targeted)
        dist = dist.masked_fill(empty | ~wrong, torch.inf)
        d_min, arg = dist.min(dim=1)
        better = d_min < best
        best = torch.where(better, d_min, best)
        best_leaf = torch.where(better, arg + start, best_leaf)
    found = torch.isfinite(best)
    lo, hi = leaf_low[best_leaf], leaf_high[best_leaf]
    top, bottom = torch.minimum(hi, high), torch.maximum(lo, low)
    out = flat.clone()
    todo = found.clone()
    for frac in _LEAF_NUDGES:  # into the leaf, past its open lower side
        if not bool(todo.any()):
            break
        width = torch.where(torch.isfinite(top - bottom), top - bottom, 1.0)
        inner_lo = _above(bottom, lo, a, b) + frac * width
        inner_hi = torch.maximum(_below(top, hi, a, b) - frac * width, inner_lo)
        cand = torch.minimum(torch.maximum(flat, inner_lo), inner_hi)[todo]
        pred = model(cand.reshape(-1, *x0.shape[1:])).argmax(dim=1)
        hit = reached(pred, labels[todo], targeted)
        index = torch.nonzero(todo)[:, 0]
        out[index[hit]] = cand[hit]
        todo[index[hit]] = False
    return out.reshape(x0.shape), best


def _above(bottom, leaf_low, a, b):
    """Where the leaf's open lower side binds, the smallest value the tree
    (float32 comparisons) sends to its right: one float32 step up."""
    thr = leaf_low * a + b
    z = thr.to(torch.float32)
    z = torch.where(z.double() <= thr.double(), torch.nextafter(z, z + 1), z)
    lifted = (z.to(bottom.dtype) - b) / a
    return torch.where((bottom == leaf_low) & torch.isfinite(leaf_low), lifted, bottom)


def _below(top, leaf_high, a, b):
    """Where the leaf's closed upper side binds, the largest float32 the
    tree still sends to its left."""
    thr = leaf_high * a + b
    z = thr.to(torch.float32)
    z = torch.where(z.double() > thr.double(), torch.nextafter(z, z - 1), z)
    lowered = (z.to(top.dtype) - b) / a
    return torch.where((top == leaf_high) & torch.isfinite(leaf_high), lowered, top)
