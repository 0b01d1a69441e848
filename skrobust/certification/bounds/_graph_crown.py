"""CROWN (Zhang et al. 2018) on a traced graph: linear bounds carried backwards.

A bound ``sum_v A_v . h_v + b`` on some nodes' values is moved back one node
at a time, in reverse topological order (so a node's coefficients are
complete, summed over its users, when it is crossed): through an affine node
exactly (``A L``, split over the inputs of a sum or a concatenation), through
an activation with one of its two relaxation lines, chosen by the sign of
each coefficient. At the input it is minimised over the perturbation set in
closed form; at a node without relaxation (max pooling, ...) over that node's
interval. Only lower bounds are computed: an upper bound is minus the lower
bound of the negated coefficients, stacked as further rows.
"""

import functools
import math

from ..._torch import torch
from . import _patches
from ._alpha import optimized_lower
from ._boxes import lines_of, prepare, take
from ._conv_pairs import pair_of
from ._graph_ibp import exact_by_ibp, finish_on_boxes, fold, propagate, transpose
from ._graph_rules import Spec
from ._layers import ConvBound, LinearBound
from ._patches import Patches
from ._region import box_extreme


def through(A, lines):
    """``A . f(x)`` bounded below: the lower line where ``A >= 0``, else the upper.

    ``lines``: :class:`~._boxes.Lines`. Returns the bias and the
    coefficients of ``x``. Only elementwise arithmetic and one batched
    matrix-vector product per intercept (gathers, scatters and ``where``
    are several times slower per element on a CPU): every coefficient takes
    the lower slope, the negative ones add ``a_u - a_l``.
    """
    a_l, b_l, _, b_u = lines.lines
    neg = A.clamp(max=0)
    bias = _dot(neg, b_u)
    if lines.offset:
        bias = bias + _dot(A, b_l) - _dot(neg, b_l)
    coef = torch.mul(A, a_l.unsqueeze(1)).addcmul_(lines.rise.unsqueeze(1), neg)
    return bias, coef


def _dot(A, b):
    """``sum A . b`` per sample and row, ``b`` (one per sample) shared by the rows."""
    n, rows = A.shape[:2]
    b = b.expand(n, *A.shape[2:]).reshape(n, -1, 1)
    return torch.bmm(A.reshape(n, rows, -1), b).squeeze(-1)


def backward(graph, boxes, region, pending, *, relax=True, alpha=None):
    """Lower bound of ``sum_v A_v . h_v`` over the region, per sample and row.

    Parameters
    ----------
    graph : BoundGraph
    boxes : list of (lower, upper)
        Interval bounds of the nodes (from :func:`propagate`).
    region : Region
    pending : dict
        ``{node: A}`` with ``A`` of shape ``(n, n_rows, *node shape)`` or
        :class:`~._patches.Patches`.
    relax : bool, default=True
        Cross activations with their relaxations; ``False`` stops at every
        non-affine node (the bound IBP gets from a folded specification).
    alpha : dict, default=None
        ``{node: slopes}``: lower-line slopes of an activation node for its
        unstable units (alpha-CROWN), shaped like its coefficients.

    Returns
    -------
    lower : torch.Tensor of shape (n, n_rows)
    """
    pending = dict(pending)
    lower = 0
    for i in range(max(pending), -1, -1):
        A = pending.pop(i, None)
        if A is None:
            continue
        bias, parts = _cross(graph, boxes, region, i, A, relax, alpha)
        lower = lower + bias
        for j, part in parts:
            pending[j] = part if j not in pending else _patches.add(pending[j], part)
    return lower


def _cross(graph, boxes, region, i, A, relax, alpha):
    """Node ``i`` crossed backwards: ``(bias, [(input, coefficients)])``."""
    node = graph.nodes[i]
    windows = isinstance(A, Patches)
    if i == 0:
        if windows:
            return _patches.concretize(A, region), []
        return region.concretize(A, upper=False), []
    if node.rule.affine:
        step = _patches.step(graph, node, A) if windows else None
        if windows and step is None:
            A, windows = A.dense(), False
        bias, parts = step if windows else transpose(graph, node, A)
        return bias, list(zip(node.inputs, parts))
    (j,) = node.inputs
    lines = lines_of(graph, boxes, i) if relax else None
    if lines is None:  # minimise over this node's interval
        if windows:
            return _patches.box_extreme(A, *boxes[i]), []
        return box_extreme(A, *boxes[i]), []
    if windows:
        bias, part = _patches.through(A, lines)
    elif alpha is not None and i in alpha:
        lines = _with_slopes(lines.lines, alpha[i], boxes[j], node.rule)
        bias, part = _through_rows(A, lines)
    else:
        bias, part = through(A, lines)
    return bias, [(j, part)]


def _with_slopes(lines, slopes, box, rule):
    """Relaxation lines with per-row lower slopes on the unstable units."""
    a_l, b_l, a_u, b_u = (t.unsqueeze(1) for t in lines)
    unstable = rule.unstable(*box).unsqueeze(1)
    a_l = torch.where(unstable, slopes, a_l)
    b_l = torch.where(unstable, torch.zeros_like(slopes), b_l)
    return a_l, b_l, a_u, b_u


def _through_rows(A, lines):
    a_l, b_l, a_u, b_u = lines
    neg = A.clamp(max=0)
    pos = A - neg
    bias = (b_l * pos + b_u * neg).flatten(2).sum(-1)
    return bias, a_l * pos + a_u * neg


def _activation_users(graph, i):
    return [
        graph.nodes[u].rule
        for u in graph.users[i]
        if hasattr(graph.nodes[u].rule, "unstable")
    ]


def refine(graph, boxes, region, i, *, max_elements=None):
    """Tighten ``boxes[i]`` with CROWN where an activation reading it is loose.

    Used by :func:`propagate` for full CROWN: the units of node ``i`` that
    some activation finds unstable get bounds from a backward pass (an
    identity specification on those units, both signs), intersected with the
    interval bounds. Samples go in chunks of at most ``max_elements``
    coefficients per node.
    """
    rules = _activation_users(graph, i)
    if not rules or exact_by_ibp(graph, i, region.norm):
        return
    low, high = boxes[i]
    n = len(low)
    masks = [rule.unstable(low, high) for rule in rules]
    mask = functools.reduce(torch.logical_or, masks).reshape(n, -1)
    counts = mask.sum(1)
    k = int(counts.max()) if n else 0
    if k == 0:
        return
    max_elements = max_elements or chunk_elements(low.device)
    prepare(graph, boxes, i)
    pair = _pair(graph, boxes, i, counts)
    if pair is not None:
        return _refine_pair(graph, boxes, region, pair, mask, max_elements)
    # per sample, the indices of its unstable units first (padded)
    index = torch.topk(mask.to(torch.int8), k, dim=1, sorted=True).indices
    valid = torch.arange(k, device=low.device) < counts.unsqueeze(1)
    # windows stay small; dense coefficients span the widest node
    widest = max(b[0][0].numel() for b in boxes[: i + 1] if b is not None)
    probe, _ = _start(graph, i, index[:1], low.dtype)
    if all(isinstance(A, Patches) for A in probe.values()):
        window = max(A.values[0, 0, 0].numel() for A in probe.values())
        widest = min(widest, 4 * window)
    step = max(1, max_elements // (2 * k * widest))
    new_low, new_high = low.reshape(n, -1).clone(), high.reshape(n, -1).clone()
    for first in range(0, n, step):
        rows = slice(first, first + step)
        sub = take(boxes, rows, i)
        idx = index[rows]
        pending, bias = _start(graph, i, idx, low.dtype)
        both = backward(graph, sub, region[rows], pending) + bias
        lower, upper = both[:, 0::2], -both[:, 1::2]
        ok = valid[rows]
        cur_low, cur_high = new_low[rows], new_high[rows]
        lower = torch.maximum(lower, cur_low.gather(1, idx))
        upper = torch.minimum(upper, cur_high.gather(1, idx))
        lower = torch.where(ok, lower, -torch.inf)
        upper = torch.where(ok, upper, torch.inf)
        new_low[rows] = cur_low.scatter_reduce(1, idx, lower, "amax")
        new_high[rows] = cur_high.scatter_reduce(1, idx, upper, "amin")
    boxes[i] = (new_low.reshape(low.shape), new_high.reshape(high.shape))


def _pair(graph, boxes, i, counts):
    """The :class:`~._conv_pairs.ConvPair` ending at ``i`` where bounding
    every unit at once beats windows for the unstable ones (a fifth of the
    units or more: the pair's products are dense), else None."""
    node = graph.nodes[i]
    if len(node.inputs) != 1 or 5 * int(counts.sum()) < counts.numel() * (
        math.prod(node.shape)
    ):
        return None
    inputs = graph.nodes[node.inputs[0]].inputs
    if len(inputs) != 1 or boxes[inputs[0]] is None:
        return None
    relax = getattr(graph.nodes[node.inputs[0]].rule, "relaxation", None)
    if relax is None:
        return None
    return pair_of(graph, i, lines_of(graph, boxes, node.inputs[0]))


def _refine_pair(graph, boxes, region, pair, mask, max_elements):
    """:func:`refine` with a :class:`~._conv_pairs.ConvPair`: every unit of
    every sample bounded, the unstable ones updated."""
    i = pair.i
    low, high = boxes[i]
    n = len(low)
    lines = lines_of(graph, boxes, pair.j).lines
    step = max(1, max_elements // pair.elements)
    lower, upper = [], []
    for first in range(0, n, step):
        rows = slice(first, first + step)
        sub = take(boxes, rows, i)
        windows, bias = pair.rows([t[rows] for t in lines])
        both = backward(graph, sub, region[rows], {pair.source: windows}) + bias
        chunk = pair.units(both)
        lower.append(chunk[0])
        upper.append(chunk[1])
    flat_low, flat_high = low.reshape(n, -1), high.reshape(n, -1)
    lower = torch.where(mask, torch.maximum(torch.cat(lower), flat_low), flat_low)
    upper = torch.where(mask, torch.minimum(torch.cat(upper), flat_high), flat_high)
    boxes[i] = (lower.reshape(low.shape), upper.reshape(high.shape))


def _start(graph, i, index, dtype):
    """Rows ``e_index`` and ``-e_index`` of node ``i`` (interleaved), crossed
    through the node's own layer where that is cheap: rows of a linear
    layer's weight, or a convolution's kernels as windows; 1x1 windows on
    another image node.

    Returns the pending coefficients and their bias ``(m, 2k)``.
    """
    node = graph.nodes[i]
    rule, shape = node.rule, node.shape
    in_shape = graph.nodes[node.inputs[0]].shape if len(node.inputs) == 1 else None
    both = lambda t: torch.stack([t, -t], 2).flatten(1, 2)  # noqa: E731
    if isinstance(rule, LinearBound) and len(shape) == 1 and len(in_shape) == 1:
        weight, b = rule.layer.weight, rule.layer.bias
        bias = 0 if b is None else both(b[index].to(dtype))
        return {node.inputs[0]: both(weight[index].to(dtype))}, bias
    if isinstance(rule, ConvBound) and rule.dims == 2 and len(in_shape) == 3:
        windows, bias = _patches.conv_rows(rule, index, shape, in_shape)
        return {node.inputs[0]: windows}, bias
    if len(shape) == 3:
        return {i: _patches.one_hot(index, shape, dtype)}, 0
    A = torch.nn.functional.one_hot(index, math.prod(shape)).to(dtype)
    return {i: both(A.reshape(*index.shape, *shape))}, 0


def _identity_spec(box):
    out = box[0]
    eye = torch.eye(out.shape[1], dtype=out.dtype, device=out.device)
    classes = torch.arange(out.shape[1], device=out.device)
    return Spec(eye, classes.expand(len(out), -1))


def bound_tensors(graph, region, *, method="ibp", spec=None, upper=True, beta=None):
    """Bounds of ``spec @ logits`` over ``region`` (tensors, differentiable).

    Parameters
    ----------
    graph : BoundGraph
    region : Region
    method : {"ibp", "crown-ibp", "crown", "alpha-crown"}
        ``"ibp"``: interval bounds, with ``spec`` folded into the affine nodes
        that end the network. ``"crown-ibp"``: CROWN's backward pass for the
        output, IBP for the intermediate nodes (Zhang et al. 2020).
        ``"crown"``: CROWN bounds for the intermediate nodes too.
        ``"alpha-crown"``: CROWN with the ReLU lower slopes of the final
        pass optimised (:mod:`._alpha`).
    spec : Spec or torch.Tensor of shape (n, n_spec, n_logits), default=None
        The linear functions of the logits to bound; ``None``: the logits.
    upper : bool, default=True
        Also compute upper bounds (else ``None`` is returned for them).
    beta : float, default=None
        CROWN methods: ``None`` keeps the tighter of the CROWN and IBP bounds;
        a number returns ``beta * CROWN + (1 - beta) * IBP``.

    Returns
    -------
    lower, upper : torch.Tensor of shape (n, n_spec)
    """
    shared = isinstance(spec, Spec) or spec is None
    boxes = propagate(
        graph,
        region,
        refine if method in ("crown", "alpha-crown") else None,
        skip_trailing=isinstance(spec, Spec),
    )
    out = graph.output
    if spec is None:
        if method == "ibp":
            return boxes[out][0], boxes[out][1] if upper else None
        spec = _identity_spec(boxes[out])
    n_spec = spec.index.shape[1] if shared else spec.shape[1]
    if shared:
        rows, index = spec.rows, spec.index
        if upper:
            rows = torch.cat([rows, -rows])
            index = torch.cat([index, index + len(spec.rows)], 1)
        lower = rows_lower(graph, boxes, region, rows, index, method, beta)
    else:
        A = torch.cat([spec, -spec], 1) if upper else spec
        ibp = backward(graph, boxes, region, {out: A}, relax=False)
        lower = ibp
        if method != "ibp":
            start = lambda rows: {out: A[rows]}  # noqa: E731
            crown = chunked(graph, boxes, region, start, A.shape[1], method)
            lower = _mix(crown, ibp, beta)
    if upper:
        return lower[:, :n_spec], -lower[:, n_spec:]
    return lower, None


def rows_lower(graph, boxes, region, rows, index, method, beta=None, ibp=True):
    """Lower bounds of ``rows[index] @ output`` (a shared specification).

    ``boxes`` come from :func:`propagate` (the trailing affine nodes may be
    left out: the rows are folded into them). ``index`` has shape
    ``(n, n_spec)``; CROWN methods keep the better of their bound and IBP's
    (``beta=None``) or mix them; ``ibp=False``: CROWN's bound alone (the
    caller has IBP's on these boxes).
    """
    out = graph.output
    shape = graph.nodes[out].shape
    A = rows.reshape(1, len(rows), *shape).to(graph.nodes[out].dtype)
    frontier, bias = fold(graph, {out: A})
    ibp_lower = None
    if method == "ibp" or ibp:
        ibp_lower = _ibp_on_rows(graph, boxes, region, frontier, bias, rows, index)
    if method == "ibp":
        return ibp_lower

    def start(rows):
        return {f: A[0][index[rows]] for f, A in frontier.items()}

    crown = chunked(graph, boxes, region, start, index.shape[1], method)
    crown = crown + bias[0][index]
    return crown if ibp_lower is None else _mix(crown, ibp_lower, beta)


def _mix(crown, ibp, beta):
    if beta is None:
        return torch.maximum(crown, ibp)
    return beta * crown + (1 - beta) * ibp


def chunk_elements(device):
    """Coefficients handled at once: on a CPU, blocks of a few MB (glibc
    serves larger ones with fresh pages, zeroed by the system each time, or
    returns them when freed, as its thresholds move); a GPU wants big
    batches."""
    return 2**20 if torch.device(device).type == "cpu" else 2**26


def chunked(graph, boxes, region, start, n_rows, method="crown"):
    """The final backward pass over chunks of samples (``start(rows)``: the
    pending coefficients of the samples ``rows``); alpha-CROWN optimises
    each chunk's slopes."""
    solve = backward
    if method == "alpha-crown":
        solve = functools.partial(optimized_lower, backward=backward)
    n = len(region)
    widest = max(math.prod(node.shape) for node in graph.nodes)
    step = max(1, chunk_elements(region.x0.device) // (n_rows * widest))
    if step >= n:
        return solve(graph, boxes, region, start(slice(None)))
    prepare(graph, boxes, graph.output)
    out = []
    for first in range(0, n, step):
        rows = slice(first, first + step)
        sub = take(boxes, rows)
        out.append(solve(graph, sub, region[rows], start(rows)))
    return torch.cat(out)


def _ibp_on_rows(graph, boxes, region, frontier, bias, rows, index):
    """IBP of a folded specification, finished on the frontier's boxes."""
    if 0 in frontier and region.norm != "linf":  # the ball, not its box
        start = {f: A[0][index] for f, A in frontier.items()}
        return backward(graph, boxes, region, start, relax=False) + bias[0][index]
    return finish_on_boxes(graph, boxes, frontier, rows, index)
