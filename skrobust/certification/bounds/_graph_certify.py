"""Certificates of margins, each bounded with the cheapest method that decides it.

A sample is certified when every margin ``z_y - z_k`` (``k != y``) has a
positive lower bound; any sound bound will do, so each margin may come from
a different method. The stages run from the cheapest (IBP) to ``method``,
and each bounds only what the ones before left open: the samples not yet
certified and, of those, the margins not yet proven. A CROWN stage first
bounds the one open margin of each sample most likely to fail (the smallest
at ``x`` itself): where it fails, the sample goes to the next stage without
its other margins being bounded. Before full CROWN (whose intermediate
bounds cost most), samples the network misclassifies at the corner of an
l-inf box that one gradient-sign step points to are dropped: no sound bound
certifies them, so the result is the same (on the digits SmallCNN this
drops 172 of the 360 samples CROWN-IBP leaves, of the 214 CROWN cannot
certify). Where no intermediate box can be tightened (every activation
reads an affine function of the input: one hidden layer), full CROWN is
CROWN-IBP and its stage is skipped.
"""

from ..._torch import torch
from ._boxes import take
from ._graph_crown import _activation_users, refine, rows_lower
from ._graph_ibp import exact_by_ibp, propagate

STAGES = ("ibp", "crown-ibp", "crown", "alpha-crown")


def margin_rows(n_classes, dtype, device):
    """The rows ``e_y - e_k`` of every pair: row ``y * n_classes + k``."""
    eye = torch.eye(n_classes, dtype=dtype, device=device)
    return (eye.unsqueeze(1) - eye.unsqueeze(0)).reshape(-1, n_classes)


def certify_margins(graph, region, labels, method, *, clean=None, model=None):
    """Whether every margin of each sample is provably positive.

    Parameters
    ----------
    graph : BoundGraph
    region : Region
    labels : torch.Tensor of int of shape (n,)
        Class indices (of samples the model classifies correctly: others
        cannot be certified and should not be passed).
    method : {"ibp", "crown-ibp", "crown", "alpha-crown"}
        The last stage.
    clean : torch.Tensor of shape (n, n_classes), default=None
        Logits at the clean points, to order the margins (hardest first);
        ``None``: by their IBP bounds.
    model : callable, default=None
        The network (input to logits, differentiable), to look for
        counterexamples before full CROWN; ``None``: no search.

    Returns
    -------
    certified : torch.Tensor of bool of shape (n,)
    """
    n_classes = graph.nodes[graph.output].shape[0]
    x0 = region.x0
    rows = margin_rows(n_classes, x0.dtype, x0.device)
    classes = torch.arange(n_classes, device=x0.device)
    index = labels.unsqueeze(1) * n_classes + classes
    boxes = propagate(graph, region, skip_trailing=True)
    lower = rows_lower(graph, boxes, region, rows, index, "ibp")
    proven = (lower > 0) | (classes == labels.unsqueeze(1))
    if clean is None:
        clean = lower
    else:
        clean = clean.gather(1, labels.unsqueeze(1)) - clean
    stages = STAGES[1 : STAGES.index(method) + 1]
    crown_boxes, crown_samples = None, None
    refuted = torch.zeros_like(labels, dtype=torch.bool)
    searched = model is None
    for stage in stages:
        todo = torch.nonzero(~proven.all(1) & ~refuted).flatten()
        if stage == "crown" and not _refines(graph, region.norm):
            # full CROWN's intermediate bounds are IBP's: CROWN-IBP decided
            crown_boxes = boxes
            crown_samples = torch.arange(len(region), device=todo.device)
            continue
        if stage != "crown-ibp" and not searched and len(todo):
            refuted[todo] = counterexample(model, region[todo], labels[todo])
            todo, searched = todo[~refuted[todo]], True
        if not len(todo):
            break
        if stage == "crown-ibp":
            sub = boxes if len(todo) == len(region) else _samples(boxes, todo)
        elif stage == "crown":
            sub = propagate(graph, region[todo], refine, skip_trailing=True)
            crown_boxes, crown_samples = sub, todo
        else:  # alpha-CROWN on CROWN's intermediate bounds
            where = torch.searchsorted(crown_samples, todo)
            sub = _samples(crown_boxes, where)
        _stage(graph, sub, region[todo], rows, labels[todo], clean[todo],
               proven, todo, stage)  # fmt: skip
    return proven.all(1)


def counterexample(model, region, labels):
    """Whether another class strictly wins at the corner of the region that
    the sign of the cross-entropy's gradient points to (one FGSM step to the
    l-inf box's edge); all False for other regions (a corner of the box may
    lie outside the ball) or a model without gradients."""
    found = torch.zeros_like(labels, dtype=torch.bool)
    if region.norm != "linf":
        return found
    x = region.x0.detach().requires_grad_(True)
    with torch.enable_grad():
        logits = model(x)
        if not logits.requires_grad:
            return found
        loss = torch.nn.functional.cross_entropy(logits, labels, reduction="sum")
        (grad,) = torch.autograd.grad(loss, x)
    low, high = region.box()
    with torch.no_grad():
        z = model(torch.where(grad > 0, high, low))
    own = z.gather(1, labels.unsqueeze(1)).squeeze(1)
    other = z.scatter(1, labels.unsqueeze(1), -torch.inf).amax(1)
    return other > own


def _refines(graph, norm):
    """Whether :func:`~._graph_crown.refine` can tighten a node's box: an
    activation reads it and IBP's box is not already its exact range."""
    return any(
        _activation_users(graph, i) and not exact_by_ibp(graph, i, norm)
        for i in range(1, len(graph))
        if not graph.trailing[i]
    )


def _samples(boxes, index):
    return take(boxes, index)


def _stage(graph, boxes, region, rows, labels, clean, proven, todo, method):
    """Bound the open margins of the samples ``todo``; update ``proven``.

    A CROWN-IBP stage runs on IBP's own boxes, where IBP left these margins
    unproven, so only CROWN's bound can prove them: IBP's is not recomputed.
    """
    n_classes = proven.shape[1]
    ibp = method != "crown-ibp"
    open_ = ~proven[todo]
    # round 1: each sample's hardest open margin
    first = clean.masked_fill(~open_, torch.inf).argmin(1)
    index = (labels * n_classes + first).unsqueeze(1)
    ok = rows_lower(graph, boxes, region, rows, index, method, ibp=ibp)[:, 0] > 0
    proven[todo[ok], first[ok]] = True
    # round 2: the other open margins of the samples that passed, grouped by
    # their number (sorted by it: each group's boxes are a slice of one take)
    alive = torch.nonzero(ok).flatten()
    counts = (~proven[todo[alive]]).sum(1)
    counts, order = torch.sort(counts, stable=True)
    alive = alive[order]
    open_ = ~proven[todo[alive]]
    alive_boxes, alive_region = _samples(boxes, alive), region[alive]
    start = 0
    for count, size in enumerate(torch.bincount(counts).tolist()):
        group = slice(start, start + size)
        start += size
        if count == 0 or size == 0:
            continue
        k = torch.topk(open_[group].to(torch.int8), count, dim=1).indices
        index = labels[alive[group]].unsqueeze(1) * n_classes + k
        sub = _samples(alive_boxes, group)
        lower = rows_lower(
            graph, sub, alive_region[group], rows, index, method, ibp=ibp
        )
        proven[todo[alive[group]].unsqueeze(1), k] = lower > 0
