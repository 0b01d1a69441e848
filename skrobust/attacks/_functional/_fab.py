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
from ._halfspace import hyperplane_projection
from ._losses import reached
from ._norms import _flat, finite_gradient, get_norm
from ._projected_gradient import _Batch

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
        return diff.detach(), _flat(finite_gradient(grad))[:, None]
    # one backward pass for the whole Jacobian: K copies of the batch, copy k
    # differentiating logit k
    ones = [1] * (u.dim() - 1)
    rep = u.detach().repeat(n_classes, *ones).requires_grad_(True)
    logits = model(torch.addcmul(x0.repeat(n_classes, *ones), scale, rep))
    k = torch.arange(n_classes, device=u.device).repeat_interleave(n)
    (grad,) = torch.autograd.grad(logits.gather(1, k[:, None]).sum(), rep)
    jac = _flat(finite_gradient(grad)).reshape(n_classes, n, -1).transpose(0, 1)
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
    n_classes,
    norm,
    scale,
    u_low,
    u_high,
    targets,
    reach_target,
    n_iter,
    alpha_max,
    eta,
    beta,
    start=None,
    budget=None,
    groups=None,
):
    """One run of FAB; the smallest adversarial perturbation found per sample.

    Parameters
    ----------
    model : callable
        Tensor of inputs -> logits.
    x0, labels : Tensor
        Clean inputs (correctly classified as ``labels``).
    n_classes : int
    norm : Norm
    scale, u_low, u_high : Tensor
        As for :func:`.apgd` (``delta = scale * u``).
    targets : Tensor or None
        FAB-T: follow the boundary between ``labels`` and ``targets`` only.
    reach_target : bool
        With ``targets``: success is predicting the target (else: any
        misclassification, as in AutoAttack's FAB-T).
    n_iter, alpha_max, eta, beta : int, float, float, float
        Steps, the largest weight of the clean point's projection, the
        overshoot and the backward step.
    start : Tensor, optional
        Starting point in ``u`` (a random restart); ``None``: the clean input.
    budget : float, optional
        Stop refining a sample once its example is within this size (it
        counts as broken; AutoAttack's FAB-T); ``None``: all ``n_iter`` steps.
    groups : Tensor of int, optional
        With ``budget``: per sample, the point it attacks (several targets of
        one point in one batch); all samples of a point stop together.

    Returns
    -------
    u : Tensor
        Smallest adversarial perturbation found (0 where none).
    size : Tensor
        Its norm in ``u`` (``inf`` where none was found).
    """
    name, dual = norm.name, get_norm(_DUAL[norm.name])
    n, shape = len(x0), x0.shape
    u = torch.zeros_like(_flat(x0)) if start is None else _flat(start).clone()
    out_best = torch.zeros_like(u)
    out_size = torch.full((n,), float("inf"), device=x0.device, dtype=x0.dtype)
    b = _Batch(
        index=torch.arange(n, device=x0.device),
        x0=x0,
        labels=labels,
        low=_flat(u_low),
        high=_flat(u_high),
        u=u,
        best=torch.zeros_like(u),
        size=out_size.clone(),
    )
    if targets is not None:
        b.targets = targets
    if groups is not None:
        b.group = groups
        n_groups = int(groups.max()) + 1 if n else 0
    for _ in range(n_iter):
        u, rows = b.u, torch.arange(len(b.u), device=x0.device)
        targets = getattr(b, "targets", None)
        diff, jac = _boundary(
            model,
            b.x0,
            scale,
            u.reshape(-1, *shape[1:]),
            b.labels,
            targets,
            n_classes,
            reach_target,
        )
        if diff.shape[1] == 1:  # FAB-T: one boundary
            w, f = jac[:, 0], diff[:, 0]
        else:  # the closest linearised boundary
            slope = dual.size(jac.reshape(-1, jac.shape[-1])).reshape(diff.shape)
            k = (diff.abs() / (slope + 1e-12)).argmin(dim=1)
            w, f = jac[rows, k], diff[rows, k]
        d1 = hyperplane_projection(name, w, -f, b.low - u, b.high - u)
        d2 = hyperplane_projection(name, w, (w * u).sum(dim=1) - f, b.low, b.high)
        a1 = norm.size(d1).clamp_min(1e-8)
        a2 = norm.size(d2).clamp_min(1e-8)
        alpha = (a1 / (a1 + a2)).clamp(0.0, alpha_max)[:, None]
        u = ((u + eta * d1) * (1 - alpha) + eta * d2 * alpha).clamp(b.low, b.high)
        with torch.no_grad():
            x = torch.addcmul(b.x0, scale, u.reshape(-1, *shape[1:]))
            pred = model(x).argmax(dim=1)
        if targets is not None and reach_target:
            hit = reached(pred, targets, True)
        else:
            hit = reached(pred, b.labels, False)
        t = norm.size(u)
        better = hit & (t < b.size)
        b.best = torch.where(better[:, None], u, b.best)
        b.size = torch.where(better, t, b.size)
        b.u = torch.where(hit[:, None], u * beta, u)
        if budget is None:
            continue
        # within the budget a point is done: drop its samples (in bulk)
        stop = b.size <= budget
        if groups is not None and bool(stop.any()):
            broken = torch.zeros(n_groups, dtype=torch.bool, device=x0.device)
            stop = broken.index_fill_(0, b.group[stop], True)[b.group]
        if 8 * int(stop.sum()) >= len(stop) and bool(stop.any()):
            out_best[b.index[stop]] = b.best[stop]
            out_size[b.index[stop]] = b.size[stop]
            b.keep(~stop)
            if len(b.index) == 0:
                break
    out_best[b.index], out_size[b.index] = b.best, b.size
    return out_best.reshape(shape), out_size
