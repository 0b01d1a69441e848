"""alpha-CROWN (Xu et al. 2021): the lower slopes of ReLUs, optimised.

A ReLU unit that is unstable on its input interval ``[l, u]`` is bounded
below by any line ``alpha * x`` with ``0 <= alpha <= 1``; CROWN picks 0 or 1
by a rule of thumb. Every choice gives a sound bound, so the slopes of each
specification row are optimised by gradient ascent on the bound itself
(Adam, a few steps), and the best bound seen is kept. The intermediate
bounds are CROWN's; only the final backward pass is optimised.
"""

from ..._torch import torch

#: default number of gradient steps and learning rate (auto_LiRPA's)
N_ITER, LR = 20, 0.1


def optimized_lower(graph, boxes, region, pending, *, backward, n_iter=N_ITER, lr=LR):
    """Lower bounds of ``sum_v A_v . h_v`` with optimised ReLU lower slopes.

    Parameters
    ----------
    graph : BoundGraph
    boxes : list of (lower, upper)
        Interval bounds of the nodes (fixed).
    region : Region
    pending : dict
        ``{node: A}``, dense coefficients ``(n, n_rows, *shape)``.
    backward : callable
        CROWN's backward pass ``backward(graph, boxes, region, pending,
        alpha=None)`` (:func:`._graph_crown.backward`, which calls this
        function: passed in, so the two modules do not import each other).
    n_iter : int, default=20
    lr : float, default=0.1

    Returns
    -------
    lower : torch.Tensor of shape (n, n_rows)
        At least CROWN's bound (its slopes are the starting point).
    """
    nodes = [
        i
        for i, node in enumerate(graph.nodes)
        if getattr(node.rule, "alpha_range", None) and i <= max(pending)
    ]
    with torch.no_grad():
        lower = backward(graph, boxes, region, pending)
    if not nodes or n_iter <= 0:
        return lower
    n_rows = next(iter(pending.values())).shape[1]
    slopes = {}
    for i in nodes:
        (j,) = graph.nodes[i].inputs
        a_l = graph.nodes[i].rule.relaxation(*boxes[j])[0].detach()
        slopes[i] = a_l.unsqueeze(1).expand(-1, n_rows, *a_l.shape[1:]).clone()
        slopes[i].requires_grad_(True)
    optimizer = torch.optim.Adam(slopes.values(), lr=lr)
    best = lower
    for _ in range(n_iter):
        with torch.enable_grad():
            bound = backward(graph, boxes, region, pending, alpha=slopes)
            optimizer.zero_grad()
            (-bound.sum()).backward()
        optimizer.step()
        with torch.no_grad():
            best = torch.maximum(best, bound.detach())
            for i, a in slopes.items():
                a.clamp_(*graph.nodes[i].rule.alpha_range)
    with torch.no_grad():
        bound = backward(graph, boxes, region, pending, alpha=slopes)
    return torch.maximum(best, bound)
