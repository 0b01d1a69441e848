"""The one norm-generic projected-gradient loop behind every gradient attack."""

from .._torch import torch


def success(logits, labels, targeted):
    """Whether each sample is adversarial: misclassified, or hits its target."""
    pred = logits.argmax(dim=1)
    return pred == labels if targeted else pred != labels


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
    u_low,
    u_high,
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
):
    """Maximise ``loss_fn`` over the ball ``x0 + scale * u``, ``||u|| <= 1``.

    Works in unit-ball coordinates ``u`` (see :mod:`._norms`), inside the
    per-sample box ``[u_low, u_high]`` that holds the data bounds, direction
    constraints and immutable features. Only input gradients are computed;
    the caller puts ``model`` in eval mode with frozen parameters.

    Parameters
    ----------
    model : callable
        Tensor of inputs -> logits.
    x0, labels : Tensor
        Clean inputs and the labels to attack (the targets when ``targeted``).
    norm : Norm
    scale : Tensor
        Per-feature budget, broadcastable to one sample.
    u_low, u_high : Tensor
        Per-sample box in ``u`` coordinates, shaped like ``x0``.
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

    Returns
    -------
    u : Tensor
        The chosen perturbation, in ``u`` coordinates, shaped like ``x0``.
    found : Tensor of bool
        Samples known to be adversarial at ``u``. Complete when ``evaluate``
        or ``n_restarts > 1``; otherwise only the samples stopped early.
    """
    n = len(x0)
    linf = norm.name == "linf"
    if linf:  # the unit box and the bounds box intersect into one clamp
        u_low, u_high = u_low.clamp_min(-1.0), u_high.clamp_max(1.0)
        has_box = False
    else:
        has_box = bool(torch.isfinite(u_low).any() or torch.isfinite(u_high).any())
    mobile = (scale > 0).to(x0.dtype)

    def project(u, low, high):
        if linf:
            return torch.clamp(u, low, high)
        u = norm.project(u)
        return torch.clamp(u, low, high) if has_box else u

    best_u = torch.zeros_like(x0)
    best_loss = torch.full((n,), float("-inf"), device=x0.device, dtype=x0.dtype)
    found = torch.zeros(n, dtype=torch.bool, device=x0.device)
    evaluate = evaluate or n_restarts > 1
    for restart in range(n_restarts):
        index = torch.nonzero(~found)[:, 0]
        if len(index) == 0:
            break
        b = _Batch(
            index=index,
            x0=x0[index],
            labels=labels[index],
            low=u_low[index],
            high=u_high[index],
            done=torch.zeros(len(index), dtype=torch.bool, device=x0.device),
        )
        if true_labels is not None:
            b.true_labels = true_labels[index]
        if callable(random_init) and restart == 0:
            start = random_init(b.x0, generator) / torch.where(mobile > 0, scale, 1.0)
            u = project(start * mobile, b.low, b.high)
        elif random_init or restart > 0:
            u = project(norm.random(b.x0, generator) * mobile, b.low, b.high)
        else:
            u = torch.zeros_like(b.x0)
        for _ in range(n_iter):
            u.requires_grad_(True)
            logits = model(torch.addcmul(b.x0, scale, u))
            loss = loss_fn(logits, b.labels, targeted, getattr(b, "true_labels", None))
            (grad,) = torch.autograd.grad(loss.sum(), u)
            u = u.detach()
            if early_stop:
                hit = success(logits.detach(), b.labels, targeted) & ~b.done
                if bool(hit.any()):
                    best_u[b.index[hit]] = u[hit]
                    found[b.index[hit]] = True
                    b.done |= hit
                    # drop finished samples once they are a quarter of the
                    # batch: shrinking on every success costs more than it
                    # saves on small models
                    if 4 * int(b.done.sum()) >= len(b.done):
                        keep = ~b.done
                        b.keep(keep)
                        u, grad = u[keep], grad[keep]
                        if len(u) == 0:
                            break
            u = project(u + rel_step * norm.direction(grad), b.low, b.high)
        rest = ~b.done
        if not bool(rest.any()):
            continue
        if not evaluate:
            best_u[b.index[rest]] = u[rest]
            continue
        with torch.no_grad():
            logits = model(torch.addcmul(b.x0, scale, u))
            loss = loss_fn(logits, b.labels, targeted, getattr(b, "true_labels", None))
            hit = success(logits, b.labels, targeted) & rest
            better = hit | (rest & (loss > best_loss[b.index]))
            best_u[b.index[better]] = u[better]
            best_loss[b.index[better]] = loss[better]
            found[b.index[hit]] = True
    return best_u, found
