"""The FAB loop (Croce & Hein 2020): minimal-norm adversarial examples.

Works in the unit coordinates ``u`` of :mod:`._norms` (``delta = scale *
u``), so the norm it minimises is the scaled norm ``||delta / scale||_p``
and immutable features (``scale = 0``) never move. Each step linearises the
decision boundary of the closest class, projects both the current iterate
and the clean point onto that hyperplane inside the box, and moves to a
convex combination of the two projections (with overshoot ``eta``); found
adversarial points are pulled back towards the clean point by ``beta``.
"""

from ..._torch import torch
from ._norms import _flat


def hyperplane_projection(norm, w, g, low, high):
    """Smallest ``d`` with ``w . d = g`` and ``low <= d <= high`` (per row).

    ``low <= 0 <= high`` (the box around the point being projected; infinite
    sides allowed). Where the hyperplane does not meet the box, ``d`` is the
    box corner that gets closest to it. Exact for the l-infinity, l2 and l1
    norms: each is a one-dimensional search over sorted breakpoints.

    Parameters
    ----------
    norm : {"linf", "l2", "l1"}
    w : Tensor of shape (n, d)
    g : Tensor of shape (n,)
    low, high : Tensor of shape (n, d)

    Returns
    -------
    d : Tensor of shape (n, d)
    """
    flip = torch.where(g < 0, -1.0, 1.0).to(w.dtype)[:, None]
    w, g = w * flip, g * flip[:, 0]
    sign = torch.sign(w)
    # room in the useful direction of each coordinate (0 where w = 0)
    cap = torch.where(w > 0, high, torch.where(w < 0, -low, torch.zeros_like(w)))
    cap = cap.clamp_min(0.0)
    aw = w.abs()
    if norm == "l1":  # fill the coordinates of largest |w| first
        order = aw.argsort(dim=1, descending=True)
        a, c = aw.gather(1, order), cap.gather(1, order)
        gain = torch.where(a > 0, a * c, torch.zeros_like(a))
        before = torch.cat([torch.zeros_like(gain[:, :1]), gain.cumsum(1)[:, :-1]], 1)
        part = ((g[:, None] - before) / a.clamp_min(1e-30)).clamp(min=0.0)
        size = torch.minimum(part, c)
        size = torch.zeros_like(size).scatter(1, order, size)
        return (sign * size).clamp(low, high)
    if norm == "linf":  # phi(t) = sum |w_i| min(t, cap_i)
        weight, knot, factor = aw, cap, torch.ones_like(aw)
    else:  # l2: d_i = clip(lambda w_i); phi(t) = sum w_i^2 min(t, cap_i / |w_i|)
        weight = aw * aw
        knot = torch.where(aw > 0, cap / aw.clamp_min(1e-30), torch.zeros_like(aw))
        factor = aw
    knots, order = knot.sort(dim=1)
    weights = weight.gather(1, order)
    gain = torch.where(weights > 0, weights * knots, torch.zeros_like(knots))
    below = gain.cumsum(dim=1)  # sum_{i <= j} a_i k_i
    rest = weights.sum(dim=1, keepdim=True) - weights.cumsum(dim=1)
    phi = below + torch.where(rest > 0, knots * rest, torch.zeros_like(rest))
    j = (phi < g[:, None]).sum(dim=1, keepdim=True)  # knots passed
    full = j == knots.shape[1]
    j = j.clamp_max(knots.shape[1] - 1)
    below_j = torch.where(j > 0, below.gather(1, (j - 1).clamp_min(0)), 0.0)
    rest_j = torch.where(
        j > 0, rest.gather(1, (j - 1).clamp_min(0)), weights.sum(1, keepdim=True)
    )
    t = (g[:, None] - below_j) / rest_j.clamp_min(1e-30)
    t = torch.where(full, torch.full_like(t, float("inf")), t)
    return (sign * factor * torch.minimum(t, knot)).clamp(low, high)  # rounding


def _size(norm, d):
    flat = _flat(d)
    if norm == "linf":
        return flat.abs().amax(dim=1)
    if norm == "l2":
        return flat.norm(dim=1)
    return flat.abs().sum(dim=1)


_DUAL = {"linf": "l1", "l2": "l2", "l1": "linf"}


def _boundary(model, x0, scale, u, labels, targets, n_classes, reach_target):
    """Logit differences to the other classes and their gradients in ``u``.

    Untargeted (``targets`` None): ``f_k - f_y`` for every class (``inf``
    for ``k = y``), shape (n, K) and (n, K, d). Targeted: ``f_t - f_y``
    (FAB-T), or ``f_t - max_{k != t} f_k`` to reach the target, shape (n, 1)
    and (n, 1, d).
    """
    n = len(u)
    if targets is not None:
        u = u.detach().requires_grad_(True)
        logits = model(torch.addcmul(x0, scale, u))
        if reach_target:
            masked = logits.detach().scatter(1, targets[:, None], float("-inf"))
            labels = masked.argmax(dim=1)
        diff = logits.gather(1, targets[:, None]) - logits.gather(1, labels[:, None])
        (grad,) = torch.autograd.grad(diff.sum(), u)
        return diff.detach(), _flat(grad)[:, None]
    # one backward pass for the whole Jacobian: K copies of the batch, copy k
    # differentiating logit k
    ones = [1] * (u.dim() - 1)
    rep = u.detach().repeat(n_classes, *ones).requires_grad_(True)
    logits = model(torch.addcmul(x0.repeat(n_classes, *ones), scale, rep))
    k = torch.arange(n_classes, device=u.device).repeat_interleave(n)
    (grad,) = torch.autograd.grad(logits.gather(1, k[:, None]).sum(), rep)
    jac = _flat(grad).reshape(n_classes, n, -1).transpose(0, 1)
    f = logits.detach()[:n]
    rows = torch.arange(n, device=u.device)
    diff = f - f[rows, labels][:, None]
    jac = jac - jac[rows, labels][:, None]
    diff[rows, labels] = float("inf")
    return diff, jac


def fab(
    model,
    x0,
    labels,
    *,
    norm,
    scale,
    u_low,
    u_high,
    n_classes,
    targets=None,
    reach_target=False,
    n_iter=100,
    alpha_max=0.1,
    eta=1.05,
    beta=0.9,
    start=None,
):
    """One run of FAB; the smallest adversarial perturbation found per sample.

    Parameters
    ----------
    model : callable
        Tensor of inputs -> logits.
    x0, labels : Tensor
        Clean inputs (correctly classified as ``labels``).
    norm : Norm
    scale, u_low, u_high : Tensor
        As for :func:`._core.projected_gradient`.
    n_classes : int
    targets : Tensor, optional
        FAB-T: follow the boundary between ``labels`` and ``targets`` only.
    reach_target : bool
        With ``targets``: success is predicting the target (else: any
        misclassification, as in AutoAttack's FAB-T).
    n_iter, alpha_max, eta, beta : int, float, float, float
        Steps, the largest weight of the clean point's projection, the
        overshoot and the backward step.
    start : Tensor, optional
        Starting point in ``u`` (a random restart); ``None``: the clean input.

    Returns
    -------
    u : Tensor
        Smallest adversarial perturbation found (0 where none).
    size : Tensor
        Its norm in ``u`` (``inf`` where none was found).
    """
    name = norm.name
    n, shape = len(x0), x0.shape
    low, high = _flat(u_low), _flat(u_high)
    u = torch.zeros_like(_flat(x0)) if start is None else _flat(start).clone()
    best = torch.zeros_like(u)
    size = torch.full((n,), float("inf"), device=x0.device, dtype=x0.dtype)
    rows = torch.arange(n, device=x0.device)
    for _ in range(n_iter):
        diff, jac = _boundary(
            model, x0, scale, u.reshape(shape), labels, targets, n_classes, reach_target
        )
        dual = _size(_DUAL[name], jac.reshape(-1, jac.shape[-1])).reshape(diff.shape)
        k = (diff.abs() / (dual + 1e-12)).argmin(dim=1)
        w, f = jac[rows, k], diff[rows, k]
        d1 = hyperplane_projection(name, w, -f, low - u, high - u)
        d2 = hyperplane_projection(name, w, (w * u).sum(dim=1) - f, low, high)
        a1 = _size(name, d1).clamp_min(1e-8)
        a2 = _size(name, d2).clamp_min(1e-8)
        alpha = (a1 / (a1 + a2)).clamp(0.0, alpha_max)[:, None]
        u = ((u + eta * d1) * (1 - alpha) + eta * d2 * alpha).clamp(low, high)
        with torch.no_grad():
            pred = model(torch.addcmul(x0, scale, u.reshape(shape))).argmax(dim=1)
        if targets is not None and reach_target:
            hit = pred == targets
        else:
            hit = pred != labels
        t = _size(name, u)
        better = hit & (t < size)
        best = torch.where(better[:, None], u, best)
        size = torch.where(better, t, size)
        u = torch.where(hit[:, None], u * beta, u)
    return best.reshape(shape), size
