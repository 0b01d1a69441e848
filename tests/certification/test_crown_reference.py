"""Full CROWN equals a hand-written dense back-substitution.

On a residual net and on a small CNN (a stride-2 convolution over a ReLU of a
convolution, as ``skrobust.nn.SmallCNN``). The engine bounds only the
unstable units of each node, carries convolutions as windows through the
skip additions, bounds every unit of a convolution over a ReLU of a
convolution with one matrix product per position, caches the relaxation
lines and goes in chunks of samples; the reference below does none of that:
every layer is a dense matrix, every pre-activation unit is bounded by one
backward pass per sample, and the result is intersected with interval
bounds the same way.
"""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from skrobust.certification.bounds import _graph_crown
from skrobust.certification.bounds._bounds import margin_spec
from skrobust.certification.bounds._graph import bound_graph
from skrobust.certification.bounds._graph_crown import bound_tensors
from skrobust.certification.bounds._region import Region

F64 = torch.float64


class TinyResidual(nn.Module):
    """A stem and two residual blocks on 2-channel 6x6 maps, a linear head."""

    def __init__(self, channels=2, side=6, n_classes=3):
        super().__init__()
        conv = lambda c_in: nn.Conv2d(c_in, channels, 3, padding=1)  # noqa: E731
        self.stem = conv(1)
        self.blocks = nn.ModuleList([conv(channels) for _ in range(4)])
        self.head = nn.Linear(channels * side * side, n_classes)

    def forward(self, x):
        h = F.relu(self.stem(x))
        for first, second in zip(self.blocks[0::2], self.blocks[1::2]):
            h = F.relu(h + second(F.relu(first(h))))
        return self.head(h.flatten(1))


def _matrix(layer, shape):
    """An affine layer as ``(M, b)`` on flattened inputs of ``shape``."""
    n_in = math.prod(shape)
    zero = layer(torch.zeros(1, *shape, dtype=F64))
    columns = layer(torch.eye(n_in, dtype=F64).reshape(n_in, *shape)) - zero
    return columns.reshape(n_in, -1).T, zero.reshape(-1)


def _network(net, shape):
    """Nodes ``("input",)``, ``("affine", [(source, M)], b)``, ``("relu", src)``."""
    nodes = [("input",)]

    def affine(terms, bias):
        nodes.append(("affine", terms, bias))
        return len(nodes) - 1

    def relu(source):
        nodes.append(("relu", source))
        return len(nodes) - 1

    stem, b = _matrix(net.stem, shape)
    inner = (net.blocks[0].out_channels, *shape[1:])
    h = relu(affine([(0, stem)], b))
    for first, second in zip(net.blocks[0::2], net.blocks[1::2]):
        m1, b1 = _matrix(first, inner)
        m2, b2 = _matrix(second, inner)
        r = relu(affine([(h, m1)], b1))
        eye = torch.eye(len(b2), dtype=F64)
        h = relu(affine([(r, m2), (h, eye)], b2))
    out = affine([(h, net.head.weight)], net.head.bias)
    return nodes, out


class TinyCNN(nn.Sequential):
    """conv (stride 1) -> ReLU -> conv (stride 2) -> ReLU -> linear, on 6x6."""

    def __init__(self):
        super().__init__(
            nn.Conv2d(1, 3, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(3, 4, 3, stride=2, padding=1),
            nn.ReLU(),
            nn.Flatten(),
            nn.Linear(4 * 3 * 3, 3),
        )


def _chain(net, shape):
    """:func:`_network` of a sequential net of convolutions, ReLUs, a head."""
    nodes, h = [("input",)], 0
    for layer in net:
        if isinstance(layer, nn.ReLU):
            nodes.append(("relu", h))
        elif isinstance(layer, (nn.Conv2d, nn.Linear)):
            matrix, bias = _matrix(layer, shape)
            nodes.append(("affine", [(h, matrix)], bias))
            shape = tuple(layer(torch.zeros(1, *shape, dtype=F64)).shape[1:])
        else:  # flatten: the nodes are flat already
            shape = (math.prod(shape),)
            continue
        h = len(nodes) - 1
    return nodes, h


def _lines(low, high):
    """CROWN's ReLU lines: chord above, slope 1 or 0 (the larger side) below."""
    unstable = (low < 0) & (high > 0)
    active = low >= 0
    chord = torch.where(unstable, high / (high - low).clamp_min(1e-300), 0.0)
    a_u = torch.where(active, 1.0, chord)
    b_u = torch.where(unstable, -low * chord, 0.0)
    a_l = torch.where(unstable, (high > -low).to(F64), active.to(F64))
    return a_l, a_u, b_u


def _backward(nodes, boxes, start, rows):
    """Lower bounds of ``rows @ h_start`` over the input box (one sample)."""
    pending = {start: rows}
    lower = torch.zeros(len(rows), dtype=F64)
    for i in range(start, -1, -1):
        lam = pending.pop(i, None)
        if lam is None:
            continue
        node = nodes[i]
        if node[0] == "input":
            low, high = boxes[0]
            lower += lam.clamp(min=0) @ low + lam.clamp(max=0) @ high
        elif node[0] == "affine":
            lower += lam @ node[2]
            for source, matrix in node[1]:
                pending[source] = pending.get(source, 0) + lam @ matrix
        else:
            a_l, a_u, b_u = _lines(*boxes[node[1]])
            pos, neg = lam.clamp(min=0), lam.clamp(max=0)
            lower += neg @ b_u
            pending[node[1]] = pending.get(node[1], 0) + pos * a_l + neg * a_u
    return lower


def _interval(node, boxes):
    low = high = node[2]
    for source, matrix in node[1]:
        lo, hi = boxes[source]
        pos, neg = matrix.clamp(min=0), matrix.clamp(max=0)
        low, high = low + pos @ lo + neg @ hi, high + pos @ hi + neg @ lo
    return low, high


def reference(nodes, out, low, high, spec=None):
    """Full CROWN with a dense matrix per layer, one sample."""
    boxes = [(low, high)]
    for node in nodes[1:]:
        if node[0] == "relu":
            boxes.append(tuple(t.clamp(min=0) for t in boxes[node[1]]))
            continue
        lo, hi = _interval(node, boxes)
        if len(boxes) != out:  # unstable units: CROWN, within the interval
            unstable = torch.nonzero((lo < 0) & (hi > 0)).flatten()
            eye = torch.eye(len(lo), dtype=F64)[unstable]
            i = len(boxes)
            boxes.append(None)
            lo, hi = lo.clone(), hi.clone()
            lo[unstable] = torch.maximum(lo[unstable], _backward(nodes, boxes, i, eye))
            up = -_backward(nodes, boxes, i, -eye)
            hi[unstable] = torch.minimum(hi[unstable], up)
            boxes[i] = (lo, hi)
        else:
            boxes.append((lo, hi))
    if spec is None:
        eye = torch.eye(len(boxes[out][0]), dtype=F64)
        lower = torch.maximum(_backward(nodes, boxes, out, eye), boxes[out][0])
        upper = torch.minimum(-_backward(nodes, boxes, out, -eye), boxes[out][1])
        return lower, upper
    # a specification folded into the head: IBP over the last ReLU's box
    source, matrix = nodes[out][1][0]
    folded = ("affine", [(source, spec @ matrix)], spec @ nodes[out][2])
    return torch.maximum(
        _backward(nodes, boxes, out, spec), _interval(folded, boxes)[0]
    )


@pytest.fixture(scope="module")
def problem():
    torch.manual_seed(1)
    net = TinyResidual().double().eval().requires_grad_(False)
    with torch.no_grad():  # livelier units: many unstable at eps 0.05
        for conv in [net.stem, *net.blocks]:
            conv.bias.add_(0.1)
    x = torch.rand(3, 1, 6, 6, dtype=F64)
    y = torch.tensor([0, 1, 2])
    nodes, out = _network(net, (1, 6, 6))
    return net, x, y, nodes, out


@pytest.fixture(scope="module")
def small_cnn():
    torch.manual_seed(2)
    net = TinyCNN().double().eval().requires_grad_(False)
    with torch.no_grad():
        net[0].bias.add_(0.2)
        net[2].bias.add_(0.1)
    x = torch.rand(4, 1, 6, 6, dtype=F64)
    y = torch.tensor([0, 1, 2, 0])
    nodes, out = _chain(net, (1, 6, 6))
    return net, x, y, nodes, out


def _engine(net, x, eps, spec=None, method="crown"):
    graph = bound_graph(net, tuple(x.shape[1:]), F64, x.device)
    zero, one = torch.tensor(0.0, dtype=F64), torch.tensor(1.0, dtype=F64)
    region = Region(x, torch.tensor(eps, dtype=F64), "linf", low=zero, high=one)
    with torch.no_grad():
        return bound_tensors(graph, region, method=method, spec=spec)


def _assert_equal_to_reference(nodes, out, x, eps, spec, lower, upper, margins):
    """Each sample's logit bounds and margins equal the dense reference's."""
    for s in range(len(x)):
        low = (x[s] - eps).clamp(0, 1).flatten()
        high = (x[s] + eps).clamp(0, 1).flatten()
        ref_low, ref_high = reference(nodes, out, low, high)
        np.testing.assert_allclose(lower[s], ref_low, rtol=0, atol=1e-9)
        np.testing.assert_allclose(upper[s], ref_high, rtol=0, atol=1e-9)
        ref_margins = reference(nodes, out, low, high, spec=spec.dense()[s])
        np.testing.assert_allclose(margins[s], ref_margins, rtol=0, atol=1e-9)


@pytest.mark.parametrize("chunk", [None, 64], ids=["one chunk", "many chunks"])
def test_crown_equals_a_dense_back_substitution(problem, monkeypatch, chunk):
    net, x, y, nodes, out = problem
    if chunk is not None:  # every sample in its own chunks, lines taken
        monkeypatch.setattr(_graph_crown, "chunk_elements", lambda device: chunk)
    eps = 0.05
    lower, upper = _engine(net, x, eps)
    spec = margin_spec(y, 3, F64)
    margins, _ = _engine(net, x, eps, spec=spec)
    _assert_equal_to_reference(nodes, out, x, eps, spec, lower, upper, margins)
    # not a trivial case: CROWN is tighter than CROWN-IBP (intermediate bounds)
    low_ibp, high_ibp = _engine(net, x, eps, method="crown-ibp")
    assert bool(((upper - lower) < 0.5 * (high_ibp - low_ibp)).all())


def test_small_cnn_crown_equals_a_dense_back_substitution(small_cnn, monkeypatch):
    """The second convolution's units all come from one product per position
    (the pair path), in two chunks of samples; bounds and margins equal the
    reference."""
    net, x, y, nodes, out = small_cnn
    pairs = []
    pair = _graph_crown._refine_pair
    monkeypatch.setattr(
        _graph_crown, "_refine_pair", lambda *a: pairs.append(1) or pair(*a)
    )
    n_rows = 3 * 3 * 2 * 4 * 7 * 7  # 2 samples: positions x signs x channels x window
    monkeypatch.setattr(_graph_crown, "chunk_elements", lambda device: n_rows)
    eps = 0.08
    lower, upper = _engine(net, x, eps)
    spec = margin_spec(y, 3, F64)
    margins, _ = _engine(net, x, eps, spec=spec)
    assert pairs, "the pair path was not taken"
    _assert_equal_to_reference(nodes, out, x, eps, spec, lower, upper, margins)
    low_ibp, high_ibp = _engine(net, x, eps, method="crown-ibp")
    assert bool(((upper - lower) < (high_ibp - low_ibp)).all())


@pytest.mark.parametrize("norm", ["l2", "l1"])
def test_small_cnn_pair_path_equals_windows_on_balls(small_cnn, monkeypatch, norm):
    """Over l2 / l1 balls (cut by the box) the pair path's bounds equal those
    of the per-unit windows it replaces."""
    net, x, *_ = small_cnn
    graph = bound_graph(net, tuple(x.shape[1:]), F64, x.device)
    zero, one = torch.tensor(0.0, dtype=F64), torch.tensor(1.0, dtype=F64)
    region = Region(x, torch.tensor(0.3, dtype=F64), norm, low=zero, high=one)
    pairs = []
    refine_pair = _graph_crown._refine_pair
    monkeypatch.setattr(
        _graph_crown, "_refine_pair", lambda *a: pairs.append(1) or refine_pair(*a)
    )
    with torch.no_grad():
        pair = bound_tensors(graph, region, method="crown")
        assert pairs, "the pair path was not taken"
        monkeypatch.setattr(_graph_crown, "_pair", lambda *a: None)
        windows = bound_tensors(graph, region, method="crown")
    for a, b in zip(pair, windows):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-9)
    low_ibp, high_ibp = bound_tensors(graph, region, method="crown-ibp")
    assert bool(((pair[1] - pair[0]) < (high_ibp - low_ibp)).any())
