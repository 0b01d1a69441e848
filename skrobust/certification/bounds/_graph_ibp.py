"""Interval bound propagation (Gowal et al. 2018) through a traced graph.

``boxes[i]`` holds elementwise bounds of node ``i`` (``boxes[0]``: the
input region's box). Affine nodes go through in centre-radius form, which is
exact for one layer; monotone ones through their two ends; sums and
concatenations of several nodes through their inputs' boxes. A
specification (margins) is folded into the affine nodes that end the
network (:func:`fold`) and finished on the boxes where the folding stops.
"""

import math

from ..._torch import torch
from ._boxes import Boxes
from ._layers import ConvBound

F = torch.nn.functional


def interval(graph, boxes, i):
    """IBP of node ``i`` from its inputs' boxes."""
    node = graph.nodes[i]
    inputs = [boxes[j] for j in node.inputs]
    return node.rule.interval(*inputs) if node.multi else node.rule.interval(*inputs[0])


def ball_image(graph, region, targets, *, chunk=256):
    """Exact bounds of affine nodes over the region's l2 / l1 ball.

    An affine node ``A x + c`` ranges over ``A x0 + c +- ||A_i * eps||_q``
    per output (``q`` the dual norm); the columns of ``A`` are the images of
    the scaled basis vectors, pushed through in chunks.
    """
    nodes = range(1, max(targets) + 1)
    nodes = [i for i in nodes if graph.affine[i]]
    x0 = region.x0
    shape = x0.shape[1:]
    centre = graph.forward(x0, nodes=nodes)
    zero = graph.forward(x0.new_zeros((1, *shape)), nodes=nodes)
    eps = region.eps_feature.expand(shape).reshape(-1)
    moving = torch.nonzero(eps).flatten()
    acc = {t: torch.zeros_like(zero[t][0]) for t in targets}
    for start in range(0, len(moving), chunk):
        index = moving[start : start + chunk]
        basis = x0.new_zeros((len(index), eps.numel()))
        basis[torch.arange(len(index), device=index.device), index] = eps[index]
        values = graph.forward(basis.reshape(-1, *shape), nodes=nodes)
        for t in targets:
            columns = values[t] - zero[t]
            if region.norm == "l2":
                acc[t] = acc[t] + (columns * columns).sum(0)
            else:
                acc[t] = torch.maximum(acc[t], columns.abs().amax(0))
    out = {}
    for t in targets:
        radius = acc[t].sqrt() if region.norm == "l2" else acc[t]
        radius = radius * region.eps_sample.reshape((-1,) + (1,) * radius.dim())
        out[t] = (centre[t] - radius, centre[t] + radius)
    return out


def propagate(graph, region, refine=None, *, skip_trailing=False):
    """Boxes of every node (``None`` for trailing affine nodes when skipped).

    Parameters
    ----------
    graph : BoundGraph
    region : Region
    refine : callable, default=None
        ``refine(graph, boxes, region, i)`` may tighten ``boxes[i]`` right
        after it is computed (full CROWN's intermediate bounds).
    skip_trailing : bool, default=False
        Leave out the affine nodes that end the network (a specification is
        folded into them instead).
    """
    boxes = Boxes([None] * len(graph))
    boxes[0] = region.box()
    balls = {}
    if region.norm != "linf":
        targets = [
            t for t in graph.ball_targets if not (skip_trailing and graph.trailing[t])
        ]
        if targets:
            balls = ball_image(graph, region, targets)
    for i in range(1, len(graph)):
        if skip_trailing and graph.trailing[i]:
            continue
        box = interval(graph, boxes, i)
        if i in balls:
            lower, upper = balls[i]
            box = (torch.maximum(box[0], lower), torch.minimum(box[1], upper))
        boxes[i] = box
        if refine is not None:
            refine(graph, boxes, region, i)
    return boxes


def exact_by_ibp(graph, i, norm):
    """Whether the IBP box of node ``i`` is already its exact range."""
    if not graph.affine[i]:
        return False
    if norm != "linf":
        return i in graph.ball_targets
    return graph.mixing[i] <= 1


def fold(graph, pending):
    """Carry coefficients back through the trailing affine nodes.

    Parameters
    ----------
    graph : BoundGraph
    pending : dict
        ``{node: A}``: linear functions ``sum A . h_node`` to carry back.

    Returns
    -------
    frontier : dict
        ``{node: A}`` on the nodes where the folding stopped (non-affine or
        the input).
    bias : torch.Tensor of shape (1 or n, n_rows)
    """
    pending = dict(pending)
    bias = None
    frontier = {}
    for i in range(max(pending), -1, -1):
        A = pending.pop(i, None)
        if A is None:
            continue
        node = graph.nodes[i]
        if i == 0 or not graph.trailing[i]:
            frontier[i] = A
            continue
        b, parts = transpose(graph, node, A)
        bias = b if bias is None else bias + b
        for j, part in zip(node.inputs, parts):
            pending[j] = part if j not in pending else pending[j] + part
    if bias is None:
        first = next(iter(frontier.values()))
        bias = first.new_zeros(first.shape[:2])
    return frontier, bias


def transpose(graph, node, A):
    """``(A . bias, [A L_j for each input j])`` of an affine node."""
    shapes = [graph.nodes[j].shape for j in node.inputs]
    dtypes = [graph.nodes[j].dtype for j in node.inputs]
    if isinstance(node.rule, ConvBound):
        part = _conv_transpose(node, A, shapes[0])
        if part is not None:
            return node.rule.bias(A, shapes[0]), [part.to(dtypes[0])]
    if node.multi:
        bias, parts = node.rule.bias(A, shapes), node.rule.transposes(A, shapes)
    else:
        bias = node.rule.bias(A, shapes[0])
        parts = [node.rule.transpose(A, shapes[0])]
    return bias, [p.to(dtype) for p, dtype in zip(parts, dtypes)]


#: largest convolution (input x output units) transposed as a dense matrix
MAX_DENSE = 2**22


def _conv_transpose(node, A, in_shape):
    """``A W`` of a convolution by the fastest route, or None (the rule's own).

    Into few channels (a first layer) a dense matrix product wins, built once
    from the unit vectors of the input when there are rows enough to pay for
    it; with stride 1 the transpose is a convolution with the flipped kernel
    (the fast forward kernels); otherwise small layers go dense too.
    """
    layer = node.rule.layer
    n, rows = A.shape[:2]
    n_in, n_out = math.prod(in_shape), math.prod(node.shape)
    dense = node.matrix is not None or (
        n_in * n_out <= MAX_DENSE and n * rows >= n_in // 2
    )
    if node.rule.dims == 2 and in_shape[0] <= 4 and dense:
        return _dense(node, A, in_shape)
    k = layer.weight.shape[2:]
    plain = tuple(layer.dilation) == (1, 1) and layer.groups == 1
    if node.rule.dims == 2 and plain and tuple(layer.stride) == (1, 1):
        pad = [kk - 1 - p for kk, p in zip(k, layer.padding)]
        size = [
            o + kk - 1 - 2 * p for o, kk, p in zip(node.shape[1:], k, layer.padding)
        ]
        if min(pad) >= 0 and size == list(in_shape[1:]):
            flipped = layer.weight.transpose(0, 1).flip(2, 3).to(A.dtype)
            out = F.conv2d(A.reshape(n * rows, *node.shape), flipped, None, 1, pad)
            return out.reshape(n, rows, *in_shape)
    if node.rule.dims == 2 and plain:
        return _strided(layer, A, node.shape, in_shape)
    if dense and n_in * n_out <= MAX_DENSE // 4:
        return _dense(node, A, in_shape)
    return None


def _strided(layer, A, out_shape, in_shape):
    """A strided convolution transposed, channels last (oneDNN's fast kernels:
    1.4x a dense product on a 16 -> 32 channel, stride-2 layer)."""
    n, rows = A.shape[:2]
    size = [
        (o - 1) * s - 2 * p + (k - 1) + 1
        for o, s, p, k in zip(
            out_shape[1:], layer.stride, layer.padding, layer.weight.shape[2:]
        )
    ]
    extra = [i - s for i, s in zip(in_shape[1:], size)]
    x = A.reshape(n * rows, *out_shape).contiguous(memory_format=torch.channels_last)
    weight = layer.weight.to(A.dtype)
    out = F.conv_transpose2d(x, weight, None, layer.stride, layer.padding, extra)
    return out.contiguous().reshape(n, rows, *in_shape)


def _dense(node, A, in_shape):
    if node.matrix is None:
        n_in = math.prod(in_shape)
        eye = torch.eye(n_in, dtype=A.dtype, device=A.device).reshape(n_in, *in_shape)
        columns = node.rule.func(eye) - node.rule.func(eye[:1] * 0)
        node.matrix = columns.reshape(n_in, -1).T.contiguous()
    n, rows = A.shape[:2]
    return (A.reshape(n * rows, -1) @ node.matrix).reshape(n, rows, *in_shape)


def finish_on_boxes(graph, boxes, frontier, rows, index):
    """IBP with a folded specification: ``rows[index] . output`` bounded below.

    The centre of each frontier box goes forward through the trailing affine
    nodes (exact), the spread is ``rad . |A|`` of every row against every
    sample (one matrix product beats gathering each sample's rows).
    """
    mids = {f: torch.lerp(*boxes[f], 0.5) for f in frontier}
    trailing = [i for i in range(1, len(graph)) if graph.trailing[i]]
    out = graph.forward(None, values=mids, nodes=trailing)[graph.output]
    centre = out.flatten(1) @ rows.T.to(out.dtype)
    spread = 0
    for f, A in frontier.items():
        rad = torch.sub(*reversed(boxes[f])).mul_(0.5).flatten(1)
        spread = spread + rad @ A[0].flatten(1).abs().T.to(rad.dtype)
    return (centre - spread).gather(1, index)
