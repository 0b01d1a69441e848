"""The one norm-generic projected-gradient loop behind every gradient attack."""

from ..._torch import torch
from ._losses import success
from ._norms import finite_gradient


class _Batch:
    """The still-active samples of a batch; shrinks as samples succeed."""

    def __init__(self, **tensors):
        self.__dict__.update(tensors)

    def keep(self, mask):
        for name, value in vars(self).items():
            setattr(self, name, value[mask])


def projected_gradient(
    model,
    x0,
    labels,
    *,
    norm,
    scale,
    low,
    high,
    loss_fn,
    targeted=False,
    true_labels=None,
    n_iter=10,
    rel_step=0.25,
    random_init=True,
    n_restarts=1,
    early_stop=False,
    evaluate=False,
    generator=None,
    repair=None,
    in_ball=False,
):
    """Maximise ``loss_fn`` over the ball ``x0 + scale * u``, ``||u|| <= 1``.

    ``scale`` is the per-feature budget (zero for immutable features) and
    ``[low, high]`` the per-sample box of the data bounds and direction
    constraints (see ``Constraints.box``). The iterate lives in input space,
    so for l-infinity a step is exactly ``clamp(x + step * sign(g))`` with
    the ball and the bounds intersected into one box; the l2 and l1 balls
    are projected in unit-ball coordinates ``u = (x - x0) / scale`` (see
    :mod:`._norms`). Only input gradients are computed; the caller puts
    ``model`` in eval mode with frozen parameters.

    Parameters
    ----------
    model : callable
        Tensor of inputs -> logits.
    x0, labels : Tensor
        Clean inputs and the labels to attack (the targets when ``targeted``),
        or any per-sample tensor a custom ``loss_fn`` reads.
    norm : Norm
    scale : Tensor
        Per-feature budget, broadcastable to one sample.
    low, high : Tensor
        Per-sample box in input space, shaped like ``x0`` (``x0`` inside it).
    loss_fn : callable
        ``(logits, labels, targeted, true_labels) -> (n,)`` loss to maximise.
    true_labels : Tensor, optional
        True classes for targeted losses that need them (targeted DLR).
    n_iter : int
        Gradient steps per restart.
    rel_step : float or Tensor
        Step length in ``u`` units (``step_size / eps``).
    random_init : bool or callable
        Start each restart from a uniform point of the ball (the first restart
        starts from ``x0`` when False). A callable ``init(x0, generator)``
        gives the first restart's starting perturbation (in input units; it
        is projected onto the ball and the bounds).
    n_restarts : int
        Restarts; a sample found adversarial is not attacked again, the others
        keep the restart of highest final loss.
    early_stop : bool
        Stop moving a sample as soon as an iterate is adversarial (read from
        the forward pass that computes the gradient: no extra pass).
    evaluate : bool
        Evaluate the final iterates (one forward pass) even with one restart,
        so that ``found`` is complete.
    generator : torch.Generator, optional
    repair : Repair, optional
        Discrete constraints enforced at every step: the model sees (and its
        gradient is taken at) the repaired iterate, the step moves the
        relaxed one (straight through), and each sample keeps its best
        repaired iterate (the first adversarial one, else the one of highest
        loss). Its categorical coordinates stay outside the norm ball (they
        only switch category). Implies ``evaluate``.
    in_ball : bool
        For l-infinity: ``[low, high]`` lies inside the ball already (an
        :func:`exact_box`), so the loop clamps into it alone.

    Returns
    -------
    x_adv : Tensor
        The chosen adversarial inputs, shaped like ``x0``, detached.
    found : Tensor of bool or None
        Samples known to be adversarial at ``x_adv``. Complete when
        ``evaluate`` or ``n_restarts > 1``; otherwise only the samples
        stopped early; None for a plain run (one restart, no evaluation,
        no early stop), which knows nothing of them.
    """
    n = len(x0)
    linf = norm.name == "linf"
    mobile = scale > 0 if not linf or callable(random_init) else None
    if not linf:
        safe_scale = torch.where(mobile, scale, torch.ones_like(scale))
    step = rel_step * scale  # in input units; zero for immutable features
    x_low, x_high = low, high
    if linf and not in_ball:  # the ball is a box too: one clamp projects onto both
        x_low, x_high = torch.maximum(low, x0 - scale), torch.minimum(high, x0 + scale)
    # categories are no part of the ball: they take sign steps in their box
    ball = None
    if repair is not None and repair.categorical and not linf:
        ball = repair.ball.reshape(x0.shape[1:])

    # categories: a relaxed one-hot vector in the capped simplex, stepping
    # along the gradient scaled per column (see Repair.category_direction)
    cats = None
    if repair is not None and bool(repair.category_coords.any()):
        cats = repair.category_coords.reshape(x0.shape[1:])

    def project(x, b):
        if not linf:  # onto the ball in u, then the box (which only shrinks u)
            u = (x - b.x0) / safe_scale
            if ball is None:
                u = norm.project(u)
            else:
                u = torch.where(ball, norm.project(torch.where(ball, u, 0.0)), u)
            x = torch.addcmul(b.x0, scale, u)
        x = torch.clamp(x, b.low, b.high)
        return x if cats is None else repair.project_categories(x, rows=b.index)

    def advance(x, grad):
        if linf:  # sign(scale * g) = sign(g) where the feature may move
            direction = grad.sign()
        elif ball is None:
            direction = norm.direction(grad * scale)
        else:
            direction = norm.direction(torch.where(ball, grad * scale, 0.0))
            direction = torch.where(ball, direction, grad.sign())
        if cats is not None:
            direction = torch.where(cats, repair.category_direction(grad), direction)
        return torch.addcmul(x, step, direction)

    # an l-inf step reads the gradient's sign only, and torch's sign is 0 at
    # NaN and +-1 at +-inf: what finite_gradient makes of them. Only the
    # other norms' steps and the repair's category moves need it (reading a
    # gradient costs small models ~3 %).
    repair_gradients = not linf or repair is not None
    # an l-inf step without repair: sign, step and clamp in place
    in_place = linf and repair is None

    def keep_best(b, x, logits, loss, hit, better_only):
        """Samples of ``b`` whose repaired iterate ``x`` beats their best."""
        i = b.index
        better = ~found[i] & (hit | (loss > best_loss[i]))
        if better_only is not None:
            better &= better_only
        best[i[better]] = x[better]
        best_loss[i[better]] = loss[better].to(best_loss.dtype)
        found[i[hit]] = True

    evaluate = evaluate or n_restarts > 1 or repair is not None
    # one pass over every sample, nothing to merge: the last iterate
    plain = not evaluate and not early_stop
    found = None
    if not plain:
        found = torch.zeros(n, dtype=torch.bool, device=x0.device)
        best = x0.clone()
        best_loss = torch.full((n,), float("-inf"), device=x0.device, dtype=x0.dtype)
    for restart in range(n_restarts):
        if plain:  # no bookkeeping per sample
            b = _Batch(x0=x0, labels=labels, low=x_low, high=x_high)
        elif restart == 0:  # every sample: no gathering
            index = torch.arange(n, device=x0.device)
            b = _Batch(index=index, x0=x0, labels=labels, low=x_low, high=x_high)
        else:
            index = torch.nonzero(~found)[:, 0]
            if len(index) == 0:
                break
            b = _Batch(
                index=index,
                x0=x0[index],
                labels=labels[index],
                low=x_low[index],
                high=x_high[index],
            )
        if not plain:
            b.done = torch.zeros(len(index), dtype=torch.bool, device=x0.device)
        if true_labels is not None:
            b.true_labels = true_labels if plain else true_labels[index]
        if callable(random_init) and restart == 0:
            x = project(b.x0 + random_init(b.x0, generator) * mobile, b)
        elif random_init or restart > 0:
            # scale is 0 where a feature may not move: u counts nowhere there
            u = norm.random(b.x0, generator)
            x = project(torch.addcmul(b.x0, scale, u), b)
        else:
            x = b.x0.clone()
        grad = ones = None
        for _ in range(n_iter):
            # the point the model sees: the iterate, or its repaired version
            seen = x if repair is None else repair(x, rows=b.index, gain=grad)
            seen.requires_grad_(True)
            logits = model(seen)
            loss = loss_fn(logits, b.labels, targeted, getattr(b, "true_labels", None))
            if ones is None or ones.shape != loss.shape:  # d sum(loss): no sum
                ones = torch.ones_like(loss)
            (grad,) = torch.autograd.grad(loss, seen, ones)
            if repair_gradients:
                grad = finite_gradient(grad)
            x = x.detach()
            seen = x if repair is None else seen.detach()
            if repair is not None:  # the best of the repaired iterates
                hit = success(logits.detach(), b.labels, targeted)
                keep_best(b, seen, logits, loss.detach(), hit, ~b.done)
            if early_stop:
                hit = success(logits.detach(), b.labels, targeted) & ~b.done
                if bool(hit.any()):
                    best[b.index[hit]] = seen[hit]
                    found[b.index[hit]] = True
                    b.done |= hit
                    # drop finished samples once they are 1/32 of the batch:
                    # the passes saved dominate for any real model, while
                    # shrinking on every single success would cost tiny
                    # models more than it saves
                    if 32 * int(b.done.sum()) >= len(b.done):
                        keep = ~b.done
                        b.keep(keep)
                        x, grad = x[keep], grad[keep]
                        if len(x) == 0:
                            break
            if in_place:  # x, grad: the loop's own tensors (no graph holds them)
                x = x.addcmul_(step, grad.sign_()).clamp_(b.low, b.high)
            else:
                x = project(advance(x, grad), b)
        if plain:
            best = x
            continue
        rest = ~b.done
        if not bool(rest.any()):
            continue
        if not evaluate:
            best[b.index[rest]] = x[rest]
            continue
        with torch.no_grad():
            if repair is not None:
                x = repair(x, rows=b.index, gain=grad)
            logits = model(x)
            loss = loss_fn(logits, b.labels, targeted, getattr(b, "true_labels", None))
            hit = success(logits, b.labels, targeted) & rest
            if repair is not None:
                keep_best(b, x, logits, loss, hit, rest)
                continue
            better = hit | (rest & (loss > best_loss[b.index]))
            best[b.index[better]] = x[better]
            best_loss[b.index[better]] = loss[better].to(best_loss.dtype)
            found[b.index[hit]] = True
    return best, found
