"""The APGD loop (Croce & Hein 2020), on the shared norm geometry.

APGD needs what the plain projected-gradient loop of :mod:`._projected_gradient` has no
place for: momentum, a step size halved at checkpoints, restarts from the
best point, and a memory of each sample's loss history. It works in the same
unit-ball coordinates ``u`` (``delta = scale * u``) with the same
:class:`~._norms.Norm` objects and the same box ``[u_low, u_high]``.
"""

from ..._torch import torch
from ._norms import _per_sample, finite_gradient
from ._projected_gradient import _Batch

MOMENTUM = 0.75


def checkpoints(n_iter):
    """Iterations after which APGD checks its step size.

    ``p_0 = 0, p_1 = 0.22, p_{j+1} = p_j + max(p_j - p_{j-1} - 0.03, 0.06)``
    as fractions of ``n_iter``, in the reference code's integer form: the
    first interval is ``max(int(0.22 n), 1)`` iterations, each next one
    ``max(int(0.03 n), 1)`` shorter, down to ``max(int(0.06 n), 1)``.

    Examples
    --------
    >>> checkpoints(100)
    [22, 41, 57, 70, 80, 87, 93, 99]
    """
    length = max(int(0.22 * n_iter), 1)
    shrink = max(int(0.03 * n_iter), 1)
    shortest = max(int(0.06 * n_iter), 1)
    out, at = [], length
    while at <= n_iter:
        out.append(at)
        length = max(length - shrink, shortest)
        at += length
    return out


def halve_step(history, length, best, best_at_last, reduced_last, rho=0.75):
    """Which samples halve their step size (and restart from their best point).

    Parameters
    ----------
    history : Tensor of shape (n, length + 1)
        Loss at the last checkpoint and at each step since.
    length : int
        Steps since the last checkpoint.
    best, best_at_last : Tensor of shape (n,)
        Best loss now, and at the last checkpoint.
    reduced_last : Tensor of bool, shape (n,)
        Whether the step was halved at the last checkpoint (True before the
        first one, as in the reference code).
    rho : float

    Returns
    -------
    Tensor of bool, shape (n,)
        Condition 1: at most ``rho * length`` of the steps raised the loss;
        condition 2: the step was not halved last time and the best loss has
        not improved since.
    """
    raised = (history[:, 1:] > history[:, :-1]).sum(dim=1)
    oscillating = raised <= rho * length
    stalled = ~reduced_last & (best_at_last >= best)
    return oscillating | stalled


def _sparse_direction(grad, topk, n_mobile):
    """APGD-l1's step: ``sign(grad)`` on the ``topk`` fraction of the mobile
    coordinates of largest ``|grad|``, divided by their number."""
    flat = grad.reshape(len(grad), -1)
    d = flat.shape[1]
    keep = d - n_mobile + ((1 - topk) * n_mobile).floor()
    index = keep.clamp(0, d - 1).long()[:, None]
    threshold = flat.abs().sort(dim=1).values.gather(1, index)
    sparse = torch.where(flat.abs() >= threshold, flat.sign(), 0.0)
    count = sparse.abs().sum(dim=1, keepdim=True)
    return (sparse / (count + 1e-10)).reshape(grad.shape)


def apgd(
    model,
    x0,
    labels,
    *,
    norm,
    scale,
    u_low,
    u_high,
    loss_fn,
    targeted=False,
    true_labels=None,
    reach_target=True,
    n_iter=100,
    rho=0.75,
    eot_iter=1,
    early_stop=False,
    generator=None,
    repair=None,
    start=None,
    groups=None,
):
    """One run of APGD from a random point of the ball around each ``x0``.

    ``z = P(u + eta * dir(grad))``, ``u' = P(u + a (z - u) + (1 - a) (u -
    u_prev))`` with ``a = 0.75`` (1 on the first step) and ``eta_0 = 2`` (twice
    the budget); at each of :func:`checkpoints` the samples for which
    :func:`halve_step` holds halve ``eta`` and restart from their best point.
    ``P`` projects onto the ball and then the box, as the reference code does.

    For the l1 ball, the reference's APGD-l1 (Croce & Hein 2021): no
    momentum, ``eta_0 = 1``, a sparse step along the signs of the ``topk``
    largest gradient coordinates (20 % at first), the exact projection onto
    the ball intersected with the box, and a check every 4 % of the steps:
    a point whose best iterate got sparser (by 5 %) resets ``eta`` and
    restarts from it, the others divide ``eta`` by 1.5 (down to 0.1);
    ``topk`` follows the sparsity of the best iterate.

    Parameters
    ----------
    model : callable
        Tensor of inputs -> logits.
    x0, labels : Tensor
        Clean inputs, and the labels the loss reads (targets when
        ``targeted``).
    norm : Norm
    scale, u_low, u_high : Tensor
        As for :func:`._projected_gradient.projected_gradient`.
    loss_fn : callable
        ``(logits, labels, targeted, true_labels) -> (n,)``, maximised.
    targeted : bool
        Whether ``loss_fn`` is a targeted loss.
    true_labels : Tensor, optional
        True classes (targeted losses and ``reach_target=False`` need them).
    reach_target : bool
        With ``targeted``: success means predicting the target (True) or
        merely leaving the true class (False: APGD-T's use of targets).
    n_iter, rho, eot_iter : int, float, int
        Steps, the checkpoint threshold, and gradients averaged per step
        (expectation over transformation, for randomized models).
    early_stop : bool
        Drop samples from the batch once adversarial.
    generator : torch.Generator, optional
    repair : callable, optional
        ``repair(x, rows)``: discrete constraints enforced at every step, as
        in :func:`._projected_gradient.projected_gradient` (the loss, the
        gradient and success are those of the repaired point; the iterate
        stays relaxed). Categorical coordinates stay outside the ball.
    start : Tensor, optional
        The random draw the start is made of (``norm.random(x0)``; l1: a
        standard Gaussian draw), so that runs batched together start where
        they would alone; ``None``: drawn from ``generator``.
    groups : Tensor of int, optional
        With ``early_stop``: per sample, the point it attacks (several runs of
        one point in one batch, e.g. APGD-T's targets); all samples of a
        point stop once one of them is adversarial (the others are then
        returned as not found).

    Returns
    -------
    u : Tensor
        Per sample, the last adversarial iterate when one was found, else the
        iterate of highest loss.
    found : Tensor of bool
    best_loss : Tensor
    """
    n, device = len(x0), x0.device
    linf, l1 = norm.name == "linf", norm.name == "l1"
    if linf:
        u_low, u_high = u_low.clamp_min(-1.0), u_high.clamp_max(1.0)
    mobile = (scale > 0).to(x0.dtype)
    n_mobile = float(mobile.expand_as(x0[0]).sum())
    ball = None  # categories are no part of the ball: they only switch
    if repair is not None and repair.categorical and not linf:
        ball = repair.ball.reshape(x0.shape[1:])
    cats = None  # relaxed one-hot vectors in the capped simplex
    if repair is not None and bool(repair.category_coords.any()):
        cats = repair.category_coords.reshape(x0.shape[1:])

    def categories(u, b):
        """Switchable categories back into their relaxation (u = x - x0)."""
        if cats is None:
            return u
        x = repair.project_categories(torch.addcmul(b.x0, scale, u), rows=b.index)
        safe = torch.where(scale > 0, scale, torch.ones_like(scale))
        return torch.where(cats, (x - b.x0) / safe, u)

    def direction(grad):
        d = norm.direction(grad)
        return (
            d if cats is None else torch.where(cats, repair.category_direction(grad), d)
        )

    def project(u, low, high):
        if ball is not None:
            inner = torch.where(ball, u, 0.0)
            if l1:
                inner = norm.project_box(
                    inner, torch.where(ball, low, 0.0), torch.where(ball, high, 0.0)
                )
            else:
                inner = torch.clamp(norm.project(inner), low, high)
            return torch.where(ball, inner, torch.clamp(u, low, high))
        if l1:  # exact: the box's cut-off coordinates spend no budget
            return norm.project_box(u, low, high)
        if not linf:
            u = norm.project(u)
        return torch.clamp(u, low, high)

    def succeeded(logits, b):
        pred = logits.argmax(dim=1)
        if targeted and reach_target:
            return pred == b.labels
        return pred != (b.true if targeted else b.labels)

    def evaluate(u, b):
        grad = torch.zeros_like(u)
        for _ in range(eot_iter):
            if repair is None:
                u_ = u.detach().requires_grad_(True)
                logits = model(torch.addcmul(b.x0, scale, u_))
            else:  # at the repaired point; the step moves u (straight through)
                gain = getattr(b, "grad", None)
                if gain is not None:  # the gradient in input units
                    gain = gain / torch.where(scale > 0, scale, 1.0)
                u_ = repair(torch.addcmul(b.x0, scale, u.detach()), b.index, gain=gain)
                u_.requires_grad_(True)
                logits = model(u_)
            loss = loss_fn(logits, b.labels, targeted, getattr(b, "true", None))
            g = finite_gradient(torch.autograd.grad(loss.sum(), u_)[0])
            grad += g if repair is None else g * scale
        return logits.detach(), loss.detach(), grad / eot_iter

    out_u = torch.zeros_like(x0)
    out_loss = torch.full((n,), float("-inf"), device=device, dtype=x0.dtype)
    found = torch.zeros(n, dtype=torch.bool, device=device)
    b = _Batch(
        index=torch.arange(n, device=device),
        x0=x0,
        labels=labels,
        low=u_low,
        high=u_high,
    )
    if true_labels is not None:
        b.true = true_labels
    if groups is not None:
        b.group = groups
        n_groups = int(groups.max()) + 1 if n else 0

    # random start on the sphere (the reference normalises a uniform draw;
    # l1: a Gaussian draw projected onto the ball). The history starts with
    # this point's loss, so the first checkpoint compares the first step with
    # it (the reference compares it with 0).
    if l1:
        if start is None:
            start = torch.randn(
                x0.shape, generator=generator, device=device, dtype=x0.dtype
            )
        u = project(start * mobile, b.low, b.high)
    else:
        u = (norm.random(x0, generator) if start is None else start) * mobile
        u = u / _per_sample(norm.size(u).clamp_min(1e-12), u)
        u = project(u, b.low, b.high)
    u = categories(u, b)
    logits, loss, grad = evaluate(u, b)
    b.hit = succeeded(logits, b)
    b.u_adv = u.clone()
    b.u, b.u_prev, b.grad = u, u.clone(), grad
    b.u_best, b.grad_best, b.best = u.clone(), grad.clone(), loss.clone()
    b.best_at_last, b.reduced_last = loss.clone(), torch.ones_like(b.hit)
    b.eta = torch.full((n,), 1.0 if l1 else 2.0, device=device, dtype=x0.dtype)
    b.history = loss[:, None]
    if l1:  # the fraction of coordinates a step moves, adapted at checkpoints
        b.topk = torch.full((n,), 0.2, device=device, dtype=x0.dtype)
        b.sparsity = torch.full((n,), n_mobile, device=device, dtype=x0.dtype)

    def finish(mask):
        """Write samples ``mask`` of the batch to the outputs."""
        i = b.index[mask]
        hit = b.hit[mask]
        out_u[i] = torch.where(_per_sample(hit, b.u_adv), b.u_adv[mask], b.u_best[mask])
        out_loss[i] = b.best[mask].to(out_loss.dtype)  # float32 net, float64 x
        found[i] = hit

    marks = set(checkpoints(n_iter))
    every = max(int(0.04 * n_iter), 1)  # l1: a check every 4 % of the steps
    last_mark = 0
    for step in range(1, n_iter + 1):
        u = b.u
        eta = _per_sample(b.eta, u)
        if l1:  # a sparse step without momentum
            new = project(
                u + eta * _sparse_direction(b.grad, b.topk, n_mobile), b.low, b.high
            )
        else:
            a = 1.0 if step == 1 else MOMENTUM
            z = categories(project(u + eta * direction(b.grad), b.low, b.high), b)
            new = project(u + a * (z - u) + (1 - a) * (u - b.u_prev), b.low, b.high)
        new = categories(new, b)
        logits, loss, grad = evaluate(new, b)
        b.u_prev, b.u, b.grad = u, new, grad
        hit = succeeded(logits, b)
        b.u_adv = torch.where(_per_sample(hit, new), new, b.u_adv)
        b.hit |= hit
        b.history = torch.cat([b.history, loss[:, None]], dim=1)
        better = loss > b.best
        b.u_best = torch.where(_per_sample(better, new), new, b.u_best)
        b.grad_best = torch.where(_per_sample(better, grad), grad, b.grad_best)
        b.best = torch.where(better, loss, b.best)

        if l1 and step % every == 0:
            # sparser best point: reset the step and restart from it; else
            # shrink the step
            sparsity = (b.u_best != 0).reshape(len(u), -1).sum(dim=1).to(u.dtype)
            reset = sparsity / b.sparsity.clamp_min(1.0) < 0.95
            b.topk = sparsity / n_mobile / 1.5
            b.eta = torch.where(reset, 1.0, b.eta / 1.5).clamp(0.1, 1.0)
            b.sparsity = sparsity
            b.u = torch.where(_per_sample(reset, b.u), b.u_best, b.u)
            b.grad = torch.where(_per_sample(reset, b.grad), b.grad_best, b.grad)
        elif not l1 and step in marks:
            length = step - last_mark
            halve = halve_step(
                b.history[:, -(length + 1) :],
                length,
                b.best,
                b.best_at_last,
                b.reduced_last,
                rho,
            )
            b.reduced_last, b.best_at_last = halve, b.best.clone()
            b.eta = torch.where(halve, b.eta / 2, b.eta)
            b.u = torch.where(_per_sample(halve, b.u), b.u_best, b.u)
            b.grad = torch.where(_per_sample(halve, b.grad), b.grad_best, b.grad)
            b.history = b.history[:, -1:]
            last_mark = step

        # drop finished samples in bulk (an eighth of the batch at a time);
        # no sample's trajectory depends on the others'
        stop = b.hit
        if early_stop and groups is not None and bool(stop.any()):
            broken = torch.zeros(n_groups, dtype=torch.bool, device=device)
            stop = broken.index_fill_(0, b.group[b.hit], True)[b.group]
        if early_stop and 8 * int(stop.sum()) >= len(stop) and bool(stop.any()):
            finish(stop)
            b.keep(~stop)
            if len(b.index) == 0:
                break
    if len(b.index):
        finish(torch.ones_like(b.hit))
    return out_u, found, out_loss
