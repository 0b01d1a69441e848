"""Interval boxes of a graph's nodes, with the relaxations read from them.

CROWN crosses an activation with the relaxation lines of its input's box,
and the same box is crossed by many backward passes: the intermediate
bounds of every later node, the specification rows in rounds and chunks.
:class:`Boxes` computes each activation's lines once per box; a subset of
the samples takes the matching rows.
"""

from ..._torch import torch


class Lines:
    """Relaxation lines ``(a_l, b_l, a_u, b_u)`` of an activation's units."""

    __slots__ = ("lines", "_offset", "_stacked", "_rise")

    def __init__(self, lines, offset=None, stacked=None, rise=None):
        self.lines, self._offset = tuple(lines), offset
        self._stacked, self._rise = stacked, rise

    @property
    def offset(self):
        """Whether ``b_l`` has a nonzero entry (a ReLU's lower lines have none)."""
        if self._offset is None:
            self._offset = bool(self.lines[1].any())
        return self._offset

    @property
    def rise(self):
        """``a_u - a_l``: a crossing takes ``a_l`` on every coefficient and
        adds ``rise`` on the negative ones (one multiply fewer per element)."""
        if self._rise is None:
            self._rise = self.lines[2] - self.lines[0]
        return self._rise

    @property
    def stacked(self):
        """``a_l``, ``a_u - a_l`` and ``b_u`` of an image node stacked on the
        channels (windows read them in one gather), and :attr:`offset`."""
        if self._stacked is None:
            a_l, b_l, a_u, b_u = self.lines
            self._stacked = (torch.cat([a_l, a_u - a_l, b_u], 1), self.offset)
        return self._stacked

    def take(self, rows):
        """The lines of the samples ``rows``, or None (not per sample)."""
        n = len(self.lines[0])
        if not all(torch.is_tensor(t) and t.dim() and len(t) == n for t in self.lines):
            return None
        stacked, rise = self._stacked, self._rise
        if stacked is not None:
            stacked = (pick(stacked[0], rows), stacked[1])
        if rise is not None:
            rise = pick(rise, rows)
        lines = [pick(t, rows) for t in self.lines]
        return Lines(lines, self._offset, stacked, rise)


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
        out = Boxes(
            None if b is None else (pick(b[0], rows), pick(b[1], rows)) for b in part
        )
        for i, (j, box, lines) in self.cache.items():
            if j < len(out) and self[j] is box and out[j] is not None:
                taken = None if lines is None else lines.take(rows)
                if taken is not None or lines is None:
                    out.cache[i] = (j, out[j], taken)
        return out


def pick(tensor, rows):
    """``tensor[rows]`` (``index_select`` for indices: twice as fast on a CPU)."""
    if torch.is_tensor(rows) and rows.dim() == 1 and rows.dtype != torch.bool:
        return tensor.index_select(0, rows)
    return tensor[rows]


def take(boxes, rows, stop=None):
    """:meth:`Boxes.take` for any list of boxes."""
    if isinstance(boxes, Boxes):
        return boxes.take(rows, stop)
    part = boxes[:stop] if stop is not None else boxes
    return [None if b is None else (pick(b[0], rows), pick(b[1], rows)) for b in part]


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
