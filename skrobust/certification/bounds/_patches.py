"""Sparse CROWN coefficients of image nodes: one window per row ("patches").

Bounding a unit of a convolution's output by a backward pass needs only the
inputs it sees: a window of the image, which grows by the kernel at each
convolution crossed. :class:`Patches` stores, for ``k`` units per sample, a
window of coefficients ``(C, K, K')`` of a node of shape ``(C, H, W)`` and
where it lies; crossing a convolution composes it with the kernel (one
matrix product for all rows), crossing an activation multiplies it by the
relaxation read at the window. Full CROWN on a CNN then costs a window per
unstable unit instead of a whole image (auto_LiRPA's "patches mode").
A unit's lower and upper bounds share its window (``S = 2`` sign rows).
Coefficients outside the node's image stay zero, so padding never
contributes. A node a window cannot cross is reached with
:meth:`Patches.dense`.
"""

import math

from ..._torch import torch
from ._graph_rules import CatBound, SumBound
from ._layers import ConvBound, ReshapeBound, ScaleShiftBound

F = torch.nn.functional

#: largest composition matrix (entries) built to cross a convolution
MAX_COMPOSE = 2**22


class Patches:
    """``n x k x S`` rows of coefficients, each a window of a ``(C, H, W)`` node.

    The ``S`` rows of unit ``r`` of sample ``s`` cover the image rows
    ``i * stride - padding`` to ``i * stride - padding + K`` (and the same
    for columns), ``(i, j) = divmod(pos[s, r], grid[1])``.

    Parameters
    ----------
    values : torch.Tensor of shape (n, k, S, C, K, K')
    pos : torch.Tensor of int of shape (n, k)
    grid : (int, int)
        Positions of the windows (the grid of the units bounded).
    stride, padding : (int, int)
    shape : (int, int, int)
        The node's ``(C, H, W)``.
    clean : bool, default=False
        Whether the coefficients outside the image are known to be zero
        (reading a node at the windows, :meth:`gather`, pads it with zeros,
        so only a convolution's bias and composition need them zeroed).
    """

    def __init__(self, values, pos, grid, stride, padding, shape, clean=False):
        self.values, self.pos, self.grid = values, pos, tuple(grid)
        self.stride, self.padding, self.shape = tuple(stride), tuple(padding), shape
        self.clean = clean

    def like(self, values, **changes):
        kw = dict(
            pos=self.pos,
            grid=self.grid,
            stride=self.stride,
            padding=self.padding,
            shape=self.shape,
            clean=self.clean,
        )
        kw.update(changes)
        return Patches(values, **kw)

    @property
    def kernel(self):
        return tuple(self.values.shape[-2:])

    @property
    def n_rows(self):
        return self.values.shape[1] * self.values.shape[2]

    def gather(self, tensor):
        """``tensor`` (``(n, C', H, W)`` or one sample's) at every window.

        Returns a tensor of shape ``(n, k, 1, C', K, K')``.
        """
        if tensor.dim() == 3:
            tensor = tensor.unsqueeze(0)
        (H, W), (kh, kw) = self.shape[1:], self.kernel
        (sh, sw), (ph, pw) = self.stride, self.padding
        bottom = max(ph, (self.grid[0] - 1) * sh + kh - ph - H)
        right = max(pw, (self.grid[1] - 1) * sw + kw - pw - W)
        padded = F.pad(tensor, (pw, right, ph, bottom))
        table = F.unfold(padded, (kh, kw), stride=(sh, sw))  # (n', C'KK', L)
        across = (padded.shape[3] - kw) // sw + 1
        index = self.pos // self.grid[1] * across + self.pos % self.grid[1]
        table = table.transpose(1, 2)
        n, k = self.pos.shape
        if len(table) > 1:
            index = (
                index + table.shape[1] * torch.arange(n, device=index.device)[:, None]
            )
        out = F.embedding(index, table.reshape(-1, table.shape[2]))
        return out.reshape(n, k, 1, tensor.shape[1], kh, kw)

    def masked(self):
        """Zero the coefficients that lie outside the image."""
        if self.clean:
            return self
        ones = self.values.new_ones((1, 1, *self.shape[1:]))
        return self.like(self.values * self.gather(ones), clean=True)

    def dense(self):
        """The coefficients as a ``(n, k * S, C, H, W)`` tensor."""
        n, k, S, C, kh, kw = self.values.shape
        (H, W), (sh, sw), (ph, pw) = self.shape[1:], self.stride, self.padding
        device = self.pos.device
        top = (self.pos // self.grid[1]) * sh - ph  # window corners in the image
        left = (self.pos % self.grid[1]) * sw - pw
        rows = top[..., None] + torch.arange(kh, device=device)  # (n, k, kh)
        cols = left[..., None] + torch.arange(kw, device=device)
        inside = ((rows >= 0) & (rows < H))[..., :, None] & ((cols >= 0) & (cols < W))[
            ..., None, :
        ]
        flat = rows[..., :, None] * W + cols[..., None, :]  # (n, k, kh, kw)
        channel = torch.arange(C, device=device).reshape(-1, 1, 1) * (H * W)
        size = C * H * W  # outside the image: one spare slot, dropped
        index = torch.where(inside.unsqueeze(2), channel + flat.unsqueeze(2), size)
        index = index.reshape(n, k, 1, -1).expand(n, k, S, -1)
        out = self.values.new_zeros((n, k, S, size + 1))
        out.scatter_(3, index, self.values.reshape(n, k, S, -1))
        return out[..., :size].reshape(n, k * S, C, H, W)

    def dot(self, tensor):
        """``sum A . tensor`` per row: ``(n, k * S)``."""
        return (self.values * self.gather(tensor)).flatten(3).sum(-1).flatten(1)


def add(a, b):
    """Sum of two coefficient sets, each a tensor or :class:`Patches`."""
    if isinstance(a, Patches) and isinstance(b, Patches):
        same = a.pos is b.pos and a.grid == b.grid and a.stride == b.stride
        if same:
            return _aligned(a, b)
    a = a.dense() if isinstance(a, Patches) else a
    b = b.dense() if isinstance(b, Patches) else b
    return a + b


def _aligned(p, q):
    """The sum of two windows of the same units and stride, padded to one size."""
    pads, padding = [[], []], []
    for d in range(2):
        left = max(p.padding[d], q.padding[d])
        right = max(p.kernel[d] - p.padding[d], q.kernel[d] - q.padding[d])
        padding.append(left)
        for n, x in enumerate((p, q)):
            pads[n].append((left - x.padding[d], right - x.kernel[d] + x.padding[d]))
    values = [F.pad(x.values, (*pads[n][1], *pads[n][0])) for n, x in enumerate((p, q))]
    clean = p.clean and q.clean
    return p.like(values[0] + values[1], padding=tuple(padding), clean=clean)


def _signs(values):
    """Both signs of each unit's window: ``(n, k, C, K, K')`` -> ``S = 2``."""
    return torch.stack([values, -values], 2)


def one_hot(index, shape, dtype):
    """Rows ``+-e_index`` of a ``(C, H, W)`` node as 1x1 windows."""
    C, H, W = shape
    channel, pos = index // (H * W), index % (H * W)
    values = F.one_hot(channel, C).to(dtype)[..., None, None]
    return Patches(_signs(values), pos, (H, W), (1, 1), (0, 0), shape, True)


def conv_rows(rule, index, out_shape, in_shape):
    """Rows ``+-e_index`` of a convolution's output crossed: kernels as windows.

    Returns the windows on the convolution's input and the bias ``(m, 2k)``.
    """
    C, H, W = out_shape
    channel, pos = index // (H * W), index % (H * W)
    layer = rule.layer
    weight = layer.weight
    if layer.groups != 1:  # spread each group's kernel over all channels
        per, outs = in_shape[0] // layer.groups, C // layer.groups
        full = weight.new_zeros((C, in_shape[0], *weight.shape[2:]))
        for g in range(layer.groups):
            full[g * outs : (g + 1) * outs, g * per : (g + 1) * per] = weight[
                g * outs : (g + 1) * outs
            ]
        weight = full
    dh, dw = layer.dilation
    if (dh, dw) != (1, 1):
        kh, kw = weight.shape[2:]
        wide = weight.new_zeros(
            (*weight.shape[:2], (kh - 1) * dh + 1, (kw - 1) * dw + 1)
        )
        wide[..., ::dh, ::dw] = weight
        weight = wide
    values = _signs(F.embedding(channel, weight.reshape(C, -1)))
    values = values.reshape(*index.shape, 2, *weight.shape[1:])
    windows = Patches(values, pos, (H, W), layer.stride, layer.padding, in_shape)
    bias = 0
    if layer.bias is not None:
        b = layer.bias[channel]
        bias = torch.stack([b, -b], 2).flatten(1)
    return windows, bias


def step(graph, node, A):
    """Cross an affine node with windows: ``(bias, parts)``, or None."""
    rule = node.rule
    shapes = [graph.nodes[j].shape for j in node.inputs]
    if any(len(s) != 3 for s in shapes):
        return None
    if isinstance(rule, ConvBound) and rule.dims == 2:
        return _conv(rule, A, shapes[0])
    if isinstance(rule, SumBound) and all(s == node.shape for s in shapes):
        return 0, [A.like(s * A.values) for s in rule.signs]
    if isinstance(rule, CatBound) and rule.dim == 1:
        parts = A.values.split(rule.sizes, dim=3)
        return 0, [A.like(v, shape=s) for v, s in zip(parts, shapes)]
    if isinstance(rule, ReshapeBound) and shapes[0] == node.shape:
        return 0, [A]
    if isinstance(rule, ScaleShiftBound) and shapes[0] == node.shape:
        one = A.values.new_ones((1, *node.shape))
        shift = rule.func(0 * one)[0]
        scale = rule.func(one)[0] - shift
        return A.dot(shift), [A.like(A.values * A.gather(scale), clean=True)]
    return None


def _conv(rule, A, in_shape):
    layer = rule.layer
    n, k, S, C, kh, kw = A.values.shape
    (sh, sw), (dh, dw) = layer.stride, layer.dilation
    KH = (kh - 1) * sh + (layer.weight.shape[2] - 1) * dh + 1
    KW = (kw - 1) * sw + (layer.weight.shape[3] - 1) * dw + 1
    C_in = in_shape[0]
    padding = (
        A.padding[0] * sh + layer.padding[0],
        A.padding[1] * sw + layer.padding[1],
    )
    too_wide = KH * KW >= in_shape[1] * in_shape[2]  # a window as big as the image
    if too_wide or C * kh * kw * C_in * KH * KW > MAX_COMPOSE:
        return None  # no longer sparse: go on with dense coefficients
    A = A.masked()  # no coefficient from outside the image may come in
    bias = 0
    if layer.bias is not None:
        bias = (A.values.sum((-1, -2)) @ layer.bias.to(A.values.dtype)).flatten(1)
    values = A.values.reshape(n * k * S, -1) @ _composition(rule, A.values, kh, kw)
    values = values.reshape(n, k, S, C_in, KH, KW)
    stride = (A.stride[0] * sh, A.stride[1] * sw)
    out = A.like(values, stride=stride, padding=padding, shape=in_shape, clean=False)
    return bias, [out]


def _composition(rule, like, kh, kw):
    """The matrix mapping a ``(C, kh, kw)`` window of a convolution's output to
    its window of the input (cached on the rule: it is the same for every
    chunk of samples)."""
    cache = rule.__dict__.setdefault("_compositions", {})
    key = (kh, kw, like.dtype, like.device)
    if key not in cache:
        layer = rule.layer
        C = layer.weight.shape[0]
        eye = torch.eye(C * kh * kw, dtype=like.dtype, device=like.device)
        compose = F.conv_transpose2d(
            eye.reshape(-1, C, kh, kw),
            layer.weight.to(like.dtype),
            None,
            layer.stride,
            0,
            0,
            layer.groups,
            layer.dilation,
        )
        cache[key] = compose.reshape(C * kh * kw, -1)
    return cache[key]


def through(A, lines):
    """An activation crossed below with windows (see ``_graph_crown.through``)."""
    stacked, offset = lines.stacked
    V = A.values
    neg = V.clamp(max=0)
    slope_l, rise, b_u = A.gather(stacked).chunk(3, dim=3)
    bias = (b_u * neg).flatten(3).sum(-1)
    if offset:
        bias = bias + (A.gather(lines.lines[1]) * (V - neg)).flatten(3).sum(-1)
    coef = torch.addcmul(slope_l * V, rise, neg)
    return bias.flatten(1), A.like(coef, clean=True)


def box_extreme(A, lower, upper):
    """Minimum of ``A . x`` over a box: ``A . mid - |A| . rad``, each a
    batched matrix-vector product of the rows of a window by its centre and
    radius (short inner loops of broadcast products are slow on a CPU)."""
    C = lower.shape[-3]
    both = A.gather(
        torch.cat([torch.lerp(lower, upper, 0.5), (upper - lower) * 0.5], 1)
    )
    V = A.values
    n, k, S = V.shape[:3]
    flat = V.reshape(n * k, S, -1)
    mid, rad = (t.reshape(n * k, -1, 1) for t in both.split(C, dim=3))
    return (torch.bmm(flat, mid) - torch.bmm(flat.abs(), rad)).reshape(n, k * S)


def concretize(A, region):
    """Minimum of ``A . x`` over the region (box, and l2 / l1 ball)."""
    value = box_extreme(A, *region.box())
    if region.norm == "linf":
        return value
    centre = A.dot(region.x0)
    eps = A.gather(region.eps.expand_as(region.x0))
    order = 2 if region.norm == "l2" else math.inf
    scaled = (A.values * eps).flatten(3)
    dual = torch.linalg.vector_norm(scaled, ord=order, dim=3).flatten(1)
    return torch.maximum(value, centre - dual)
