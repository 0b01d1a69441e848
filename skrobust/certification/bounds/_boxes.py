"""Interval boxes of a graph's nodes, with the relaxations read from them.

CROWN crosses an activation with the relaxation lines of its input's box,
and the same box is crossed by many backward passes: the intermediate
bounds of every later node, the specification rows in rounds and chunks.
:class:`Boxes` computes each activation's lines once per box (and, for
dense coefficients, the units of each sample where the two lines differ);
a subset of the samples takes the matching rows of both.
"""

from ..._torch import torch


class Lines:
    """Relaxation lines ``(a_l, b_l, a_u, b_u)`` of an activation's units.

    :attr:`sparse` lists, per sample, the units whose lower and upper lines
    differ (unstable ReLUs): crossing dense coefficients takes the upper
    line everywhere and corrects only those (see
    ``_graph_crown.through``).
    """

    __slots__ = ("lines", "_sparse", "_stacked")

    def __init__(self, lines, sparse=None, stacked=None):
        self.lines, self._sparse = tuple(lines), sparse
        self._stacked = stacked

    @property
    def stacked(self):
        """``a_l``, ``a_u - a_l`` and ``b_u`` of an image node stacked on the
        channels (windows read them in one gather), and whether ``b_l`` has
        a nonzero entry."""
        if self._stacked is None:
            a_l, b_l, a_u, b_u = self.lines
            self._stacked = (torch.cat([a_l, a_u - a_l, b_u], 1), bool(b_l.any()))
        return self._stacked

    @property
    def sparse(self):
        """``None`` when most units differ, else ``(index, pad, picked,
        b_stable)``: the indices ``(n, k)`` of each sample's differing units
        (padded with its first one, ``pad`` true there), the four lines at
        them ``(n, 1, k)`` and the upper intercepts of the other units
        (``None`` when all zero)."""
        if self._sparse is None:
            self._sparse = _differing(self.lines)
        return self._sparse or None

    @property
    def ready(self):
        """Whether :attr:`sparse` is computed."""
        return self._sparse is not None

    def take(self, rows):
        """The lines of the samples ``rows``, or None (not per sample)."""
        n = len(self.lines[0])
        if not all(torch.is_tensor(t) and t.dim() and len(t) == n for t in self.lines):
            return None
        sparse = self._sparse
        if sparse:
            index, pad, picked, b_stable = sparse
            picked = tuple(t[rows] for t in picked)
            b_stable = None if b_stable is None else b_stable[rows]
            sparse = (index[rows], pad[rows], picked, b_stable)
        stacked = self._stacked
        if stacked is not None:
            stacked = (stacked[0][rows], stacked[1])
        return Lines([t[rows] for t in self.lines], sparse, stacked)


def _differing(lines):
    a_l, b_l, a_u, b_u = lines
    n, units = len(a_l), a_l[0].numel()
    differ = ((a_l != a_u) | (b_l != b_u)).reshape(n, units)
    counts = differ.sum(1)
    k = int(counts.max()) if n else 0
    if 2 * k > units:  # most units differ: the plain formula
        return False
    b_stable = b_u.reshape(n, units).masked_fill(differ, 0)
    b_stable = b_stable if bool(b_stable.any()) else None
    index = torch.topk(differ.to(torch.int8), k, dim=1, sorted=True).indices
    pad = torch.arange(k, device=index.device) >= counts[:, None]
    index = torch.where(pad, index[:, :1], index)
    picked = tuple(t.reshape(n, units).gather(1, index).unsqueeze(1) for t in lines)
    return index, pad, picked, b_stable


class Boxes(list):
    """``boxes[i]``: the ``(lower, upper)`` bounds of node ``i`` (or None),
    with each activation's relaxation lines cached for its input's box."""

    def __init__(self, boxes=(), cache=None):
        super().__init__(boxes)
        self.cache = {} if cache is None else cache  # {i: (j, box, Lines)}

    def lines(self, graph, i):
        """The :class:`Lines` of activation node ``i`` (None: no relaxation)."""
        (j,) = graph.nodes[i].inputs
        box = self[j]
        hit = self.cache.get(i)
        if hit is None or hit[1] is not box:
            raw = graph.nodes[i].rule.relaxation(*box)
            hit = (j, box, None if raw is None else Lines(raw))
            self.cache[i] = hit
        return hit[2]

    def take(self, rows, stop=None):
        """The boxes of nodes ``[0, stop)`` and the cached lines, for the
        samples ``rows`` (a slice or an index tensor)."""
        part = self[:stop] if stop is not None else self
        out = Boxes(None if b is None else (b[0][rows], b[1][rows]) for b in part)
        for i, (j, box, lines) in self.cache.items():
            if j < len(out) and self[j] is box and out[j] is not None:
                taken = None if lines is None else lines.take(rows)
                if taken is not None or lines is None:
                    out.cache[i] = (j, out[j], taken)
        return out


def take(boxes, rows, stop=None):
    """:meth:`Boxes.take` for any list of boxes."""
    if isinstance(boxes, Boxes):
        return boxes.take(rows, stop)
    part = boxes[:stop] if stop is not None else boxes
    return [None if b is None else (b[0][rows], b[1][rows]) for b in part]


def lines_of(graph, boxes, i):
    """The :class:`Lines` of activation node ``i`` read from ``boxes``."""
    if isinstance(boxes, Boxes):
        return boxes.lines(graph, i)
    (j,) = graph.nodes[i].inputs
    raw = graph.nodes[i].rule.relaxation(*boxes[j])
    return None if raw is None else Lines(raw)


def prepare(graph, boxes, i):
    """Compute, on the whole batch, the lines of the activations a backward
    pass from node ``i`` crosses (chunks of samples then take them)."""
    if not isinstance(boxes, Boxes):
        return
    cache = graph.__dict__.setdefault("_crossed", {})
    if i not in cache:
        seen, stack = set(), [i]
        while stack:
            for j in graph.nodes[stack.pop()].inputs:
                if j not in seen:
                    seen.add(j)
                    stack.append(j)
        cache[i] = sorted(
            j
            for j in seen
            if j and not graph.nodes[j].rule.affine and not graph.nodes[j].multi
        )
    for j in cache[i]:
        if boxes[graph.nodes[j].inputs[0]] is not None:
            boxes.lines(graph, j)
