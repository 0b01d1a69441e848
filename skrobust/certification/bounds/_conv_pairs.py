"""Full CROWN's bounds of every unit of a convolution two layers deep, at once.

Bounding the units of a convolution ``i`` that reads an activation ``j`` of
a convolution ``k`` starts, for each unit, from its kernel: the same window
of coefficients for every sample and position (one per output channel).
Crossing ``j`` multiplies the window by the relaxation slopes read there
(the lower line's where the kernel is positive, for the lower bound), and
crossing ``k`` composes it with ``k``'s kernel. Both steps are linear in the
slopes, so for all channels of a position at once they are one matrix
product: the position's window of slopes (unfolded) times a fixed matrix
(the kernel's positive and negative parts times the composition). The
result is each unit's window on ``k``'s input, which the ordinary backward
pass carries on (at the network's input: concretised over the region).
The bounds are CROWN's; only the order of the sums differs.
"""

import math

from ..._torch import torch
from ._layers import ConvBound
from ._patches import Patches

F = torch.nn.functional

#: largest fixed matrix (entries) built for a pair of convolutions
MAX_PAIR = 2**23


class ConvPair:
    """The fixed matrices of convolution ``i`` over activation ``j`` of
    convolution ``k``, built once per refinement (weights follow training).

    Rows of a sample: for each position of ``i``'s output, both signs
    (lower bound, then minus the upper) of every channel.
    """

    def __init__(self, graph, i, dtype):
        node = graph.nodes[i]
        (j,) = node.inputs
        (k,) = graph.nodes[j].inputs
        self.i, self.j, self.k = i, j, k
        self.source = graph.nodes[k].inputs[0]
        conv, inner = node.rule.layer, graph.nodes[k].rule.layer
        C2, P = node.shape[0], node.shape[1] * node.shape[2]
        self.shape, self.positions = node.shape, P
        weight = conv.weight.to(dtype)  # (C2, C1, K, K')
        self.kernel = tuple(weight.shape[2:])
        self.stride, self.padding = tuple(conv.stride), tuple(conv.padding)
        C1 = weight.shape[1]
        Q = C1 * math.prod(self.kernel)
        eye = torch.eye(Q, dtype=dtype, device=weight.device)
        compose = F.conv_transpose2d(
            eye.reshape(Q, C1, *self.kernel), inner.weight.to(dtype), None,
            inner.stride, 0, 0, inner.groups, inner.dilation,
        )  # fmt: skip
        self.window = tuple(compose.shape[1:])  # (C0, KH, KW) on k's input
        compose = compose.reshape(Q, -1)
        V = weight.reshape(C2, Q)
        pos, neg = V.clamp(min=0), V.clamp(max=0)

        def spread(M):  # (C2, Q) -> (Q, C2 * R): each channel's window
            return (M.unsqueeze(2) * compose).transpose(0, 1).reshape(Q, -1)

        # + sign, then - sign, of each channel: a_l @ plus_lo + a_u @ plus_up
        # and -(a_l @ plus_up + a_u @ plus_lo), with a_u = a_l + rise: one
        # product with a_l (the kernel's), one with rise (zero on stable units)
        self.common = spread(V)
        self.coef = torch.cat([spread(neg), -spread(pos)], 1)
        # [a_l; a_u; b_l; b_u] @ bias: k's bias through the slopes; intercepts
        b1 = inner.bias
        if b1 is None:
            b1 = V.new_zeros(C1)
        b1 = b1.to(dtype).repeat_interleave(math.prod(self.kernel))
        lo, up = (pos * b1).T, (neg * b1).T
        pos, neg = pos.T, neg.T
        self.bias = torch.cat(
            [
                torch.cat([lo, -up], 1),
                torch.cat([up, -lo], 1),
                torch.cat([pos, -neg], 1),
                torch.cat([neg, -pos], 1),
            ]
        )
        b2 = conv.bias
        self.offset = 0
        if b2 is not None:
            b2 = b2.to(dtype)
            self.offset = torch.cat([b2, -b2])
        self.in_shape = graph.nodes[self.source].shape
        s1, p1 = tuple(inner.stride), tuple(inner.padding)
        self.window_stride = (self.stride[0] * s1[0], self.stride[1] * s1[1])
        self.window_padding = (
            self.padding[0] * s1[0] + p1[0],
            self.padding[1] * s1[1] + p1[1],
        )

    def rows(self, lines):
        """The windows on ``k``'s input and the bias, ``(n, P * 2 * C2)``.

        ``lines``: the activation's four lines for some samples.
        """
        a_l, b_l, a_u, b_u = lines
        n = len(a_l)
        maps = torch.cat([a_l, a_u, b_l, b_u], 1)
        Q = a_l.shape[1] * math.prod(self.kernel)
        table = F.unfold(maps, self.kernel, padding=self.padding, stride=self.stride)
        table = table.transpose(1, 2).reshape(n * self.positions, 4 * Q)
        a_l = table[:, :Q]
        values = (table[:, Q : 2 * Q] - a_l) @ self.coef
        common = a_l @ self.common
        half = values.shape[1] // 2
        values[:, :half] += common
        values[:, half:] -= common
        bias = (table @ self.bias + self.offset).reshape(n, -1)
        C2 = self.shape[0]
        values = values.reshape(n, self.positions, 2 * C2, *self.window)
        grid = tuple(self.shape[1:])
        index = torch.arange(self.positions, device=values.device).expand(n, -1)
        windows = Patches(
            values, index, grid, self.window_stride, self.window_padding,
            self.in_shape,
        )  # fmt: skip
        return windows, bias

    def units(self, both):
        """Lower and upper bounds ``(n, C2 * P)`` from the rows' lower bounds."""
        n = len(both)
        both = both.reshape(n, self.positions, 2, self.shape[0]).transpose(1, 3)
        return both[:, :, 0].flatten(1), -both[:, :, 1].flatten(1)

    @property
    def elements(self):
        """Coefficients per sample (windows on ``k``'s input)."""
        return self.positions * 2 * self.shape[0] * math.prod(self.window)


def pair_of(graph, i, lines):
    """The :class:`ConvPair` ending at node ``i``, or None where there is none
    (or its matrices would be too large). ``lines``: the activation's."""
    node = graph.nodes[i]
    if lines is None or not _conv2d(node, graph):
        return None
    conv = node.rule.layer
    plain = conv.groups == 1 and tuple(conv.dilation) == (1, 1)
    act = graph.nodes[node.inputs[0]]
    if not plain or act.rule.affine or act.multi or len(act.inputs) != 1:
        return None
    inner = graph.nodes[act.inputs[0]]
    if not _conv2d(inner, graph):
        return None
    shape = (len(lines.lines[0]), *act.shape)
    if any(tuple(t.shape) != shape for t in lines.lines):
        return None
    layer = inner.rule.layer
    window = [
        (k2 - 1) * s + (k1 - 1) * d + 1
        for k2, s, k1, d in zip(
            conv.weight.shape[2:], layer.stride, layer.weight.shape[2:], layer.dilation
        )
    ]
    Q = math.prod(conv.weight.shape[1:])
    R = graph.nodes[inner.inputs[0]].shape[0] * math.prod(window)
    if 2 * Q * 2 * node.shape[0] * R > MAX_PAIR:
        return None
    return ConvPair(graph, i, lines.lines[0].dtype)


def _conv2d(node, graph):
    if not isinstance(node.rule, ConvBound) or node.rule.dims != 2:
        return False
    shapes = [graph.nodes[j].shape for j in node.inputs]
    return len(node.shape) == 3 and all(len(s) == 3 for s in shapes)
