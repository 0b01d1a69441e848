"""The Carlini-Wagner L2 loop (Carlini & Wagner 2017): Adam on tanh variables."""

from ..._torch import torch
from ._losses import cw_margin, success
from ._norms import finite_gradient

_NO_UPPER = 1e10


def carlini_wagner_l2(
    model,
    x0,
    labels,
    *,
    box,
    w,
    targeted,
    confidence,
    n_binary_search,
    initial_const,
    learning_rate,
    max_iter,
    abort_early,
):
    """Carlini-Wagner L2 on a batch: the smallest successful ``x'`` found.

    Minimises ``||(x' - x0) / w||_2^2 + c * max(kappa - margin(x'), 0)``
    (``margin``: :func:`~._losses.cw_margin`) over ``x' = mid + half *
    tanh(v)`` inside the box, by Adam, with ``c`` set per point by a binary
    search.

    Parameters
    ----------
    model : callable
        Tensor of inputs -> logits.
    x0, labels : Tensor
        Clean inputs and the classes to attack (the targets when
        ``targeted``).
    box : (Tensor, Tensor)
        The finite input box, ``(low, high)`` shaped like ``x0``.
    w : Tensor of the shape of one sample
        The unit of measure per feature (0: the feature stays fixed).
    targeted : bool
    confidence, n_binary_search, initial_const : float, int, float
        The margin ``kappa``, the binary search steps on ``c`` and its start.
    learning_rate, max_iter, abort_early : float, int, bool
        Adam's step size, its largest number of steps per binary search
        step, and whether to stop a step once no point's loss decreases.

    Returns
    -------
    x_adv : Tensor
        The successful ``x'`` of smallest size (``x0`` where none).
    size : Tensor
        Its size ``||(x' - x0) / w||_2`` (``inf`` where none; 0 where ``x0``
        already succeeds).
    """
    low, high = box
    mid, half = (high + low) / 2, (high - low) / 2
    mobile = (half > 0) & (w > 0)
    safe_half = torch.where(mobile, half, 1.0)
    inv_w2 = torch.where(mobile, 1.0 / torch.where(mobile, w, 1.0) ** 2, 0.0)
    dims = tuple(range(1, x0.dim()))
    start = ((x0 - mid) / safe_half).clamp(-1, 1) * 0.999999
    v0 = torch.where(mobile, torch.atanh(start), 0.0)

    def image(v):
        return torch.where(mobile, torch.addcmul(mid, half, torch.tanh(v)), x0)

    n = len(x0)
    kappa = float(confidence)
    const = torch.full((n,), float(initial_const), dtype=x0.dtype, device=x0.device)
    lower = torch.zeros_like(const)
    upper = torch.full_like(const, _NO_UPPER)
    best = torch.full_like(const, float("inf"))
    best_x = x0.clone()
    with torch.no_grad():
        clean = success(model(x0), labels, targeted, kappa)
    best[clean], best_x[clean] = 0.0, x0[clean]
    check = max(max_iter // 10, 1)
    for _ in range(n_binary_search):
        v = v0.clone()
        m, s = torch.zeros_like(v), torch.zeros_like(v)
        found = torch.zeros(n, dtype=torch.bool, device=x0.device)
        prev = torch.full_like(const, float("inf"))
        for it in range(1, max_iter + 1):
            v.requires_grad_(True)
            x = image(v)
            logits = model(x)
            l2 = ((x - x0).square() * inv_w2).sum(dim=dims)
            margin = (kappa - cw_margin(logits, labels, targeted)).clamp_min(0)
            loss = l2 + const * margin.to(l2)
            (grad,) = torch.autograd.grad(loss.sum(), v)
            grad = finite_gradient(grad)
            with torch.no_grad():
                hit = success(logits, labels, targeted, kappa)
                found |= hit
                better = hit & (l2 < best)
                best = torch.where(better, l2.detach(), best)
                best_x[better] = x.detach()[better]
                # Adam (beta1 0.9, beta2 0.999), per coordinate
                m.mul_(0.9).add_(grad, alpha=0.1)
                s.mul_(0.999).addcmul_(grad, grad, value=0.001)
                m_hat = m / (1 - 0.9**it)
                s_hat = s / (1 - 0.999**it)
                v = v.detach() - learning_rate * m_hat / (s_hat.sqrt() + 1e-8)
                if abort_early and it % check == 0:
                    if bool((loss.detach() > prev * 0.9999).all()):
                        break  # no point's loss still decreases
                    prev = loss.detach()
        upper = torch.where(found, torch.minimum(upper, const), upper)
        lower = torch.where(found, lower, torch.maximum(lower, const))
        const = torch.where(upper < _NO_UPPER / 10, (lower + upper) / 2, const * 10)
    return best_x, best.sqrt()
