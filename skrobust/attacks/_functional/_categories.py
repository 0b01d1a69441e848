"""Local search over the categories of categorical columns.

A gradient step sees a category switch only to first order. After the
relaxed search, each sample's best point is polished column by column: every
allowed category of the column is tried (one batched forward pass per
category) and the best valid point kept. A categorical column has a handful
of categories, so a sweep costs a few forward passes.
"""

from ..._torch import torch
from ._losses import success


@torch.no_grad()
def search_categories(
    model, x, labels, *, repair, loss_fn, targeted=False, true_labels=None, sweeps=1
):
    """Coordinate search over the switchable categorical columns of ``x``.

    Parameters
    ----------
    model : callable
        Tensor of inputs -> logits.
    x : Tensor
        Valid (repaired) points of the whole batch of ``repair``.
    labels : Tensor
        Labels to attack (targets when ``targeted``).
    repair : Repair
    loss_fn : callable
        ``(logits, labels, targeted, true_labels) -> (n,)``, maximised.
    targeted : bool
    true_labels : Tensor, optional
    sweeps : int
        Passes over the columns.

    Returns
    -------
    x : Tensor
        Per sample, the best point found (adversarial ones are kept as they
        are).
    """
    if not repair.groups:
        return x
    flat = x.reshape(len(x), -1).clone()

    def evaluate(points):
        logits = model(points.reshape(x.shape))
        loss = loss_fn(logits, labels, targeted, true_labels)
        return loss, success(logits, labels, targeted)

    best, done = evaluate(flat)
    for _ in range(sweeps):
        for idx, allowed, _ in repair.groups:
            for k in range(len(idx)):
                active = allowed[:, k] & ~done
                if not bool(active.any()):
                    continue
                candidate = flat.clone()
                candidate[:, idx] = 0.0
                candidate[:, idx[k]] = 1.0
                candidate = repair(candidate, before=flat).reshape(len(x), -1)
                loss, hit = evaluate(candidate)
                better = active & (hit | (loss > best))
                flat[better] = candidate[better]
                best = torch.where(better, loss.to(best.dtype), best)
                done |= better & hit
    return flat.reshape(x.shape)
