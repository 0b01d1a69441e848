"""Lipschitz constants of a whole network's logit margins.

The network's chain is cut into affine runs and nonlinear pieces (see
:mod:`._layers`). For the margin ``z_j - z_k`` the last affine run (the
head, ``z = H h + c``) contributes exactly ``||H^T (e_j - e_k)||_q`` (``q``
the dual norm), which is never above ``sqrt(2) ||H||_2`` in l2; everything
before the head (the body) contributes the product of its pieces' norms.
For an l-inf or l1 input, a second route measures the first affine run from
that norm into l2 (``||L||_{1->2}``: its largest column norm; ``||L||_{inf
->2}``: at most the l2 norm of its row l1 norms, and at most ``sqrt(d)
||L||_2``) and the rest in l2; the smaller constant is kept.
"""

import math

from ..._torch import torch
from ..bounds import AffineBound, leaf_layers
from ._layers import TAIL, Constant, pieces
from ._operators import AffineRun, is_affine

DUAL = {"l2": 2.0, "linf": 1.0, "l1": float("inf")}


def _scaling(eps):
    """The affine rule ``u -> eps * u`` (per-feature budgets as a first layer)."""
    return AffineBound(lambda u: u * eps, lambda r: r * eps.abs(), elementwise=True)


class NetworkBound:
    """The Lipschitz structure of a differentiable view.

    Parameters
    ----------
    view : DifferentiableModel
    input_shape : tuple of int
        One sample's shape.
    eps : torch.Tensor of one sample's shape, default=None
        Per-feature budget: the bound is then for ``u -> f(x0 + eps * u)``,
        whose radius is in units of the scaled norm ``||(x - x0) / eps||``.
    """

    def __init__(self, view, input_shape, eps=None):
        self.view = view
        self.input_shape = tuple(input_shape)
        self.n_features = math.prod(self.input_shape)
        items = pieces(view.module)
        n_body = len(items)
        while n_body and items[n_body - 1][1] is TAIL:
            n_body -= 1
        inner = [layer for layer, piece in items[:n_body] if piece is TAIL]
        if inner:
            raise TypeError(
                f"{type(inner[0]).__name__} inside the network: a Lipschitz "
                "bound allows softmax-like layers only at the end (where they "
                "keep the order of the scores)."
            )
        body = items[:n_body]
        tail_layers = {id(layer) for layer, _ in items[n_body:]}
        self.score_layers = [
            layer for layer in leaf_layers(view.module) if id(layer) not in tail_layers
        ]
        if eps is not None:
            self.n_features = int((eps != 0).sum())
            body = [(None, _scaling(eps))] + body
        self.chain = self._runs(body)
        if self.chain and isinstance(self.chain[-1], AffineRun):
            self.head, self.body = self.chain[-1], self.chain[:-1]
        else:
            self.head, self.body = None, self.chain
        self._cache = {}

    def _runs(self, items):
        """Group consecutive affine pieces into :class:`AffineRun` objects."""
        chain, current = [], []
        shape = self.input_shape
        last_layer = None
        with self.view.evaluating(), torch.no_grad():
            for layer, piece in items:
                if is_affine(piece):
                    current.append(piece)
                    continue
                if current:
                    run = self._run(current, shape)
                    chain.append(run)
                    shape, current = run.out_shape, []
                chain.append(piece)
                if layer is not last_layer:  # a nonlinear layer may reshape
                    dtype = _dtype(layer, self.view.dtype)
                    probe = torch.zeros(
                        (1, *shape), dtype=dtype, device=self.view.device
                    )
                    shape = tuple(layer(probe).shape[1:])
                last_layer = layer
            if current:
                chain.append(self._run(current, shape))
        return chain

    def _run(self, rules, shape):
        return AffineRun(rules, shape, dtype=self.view.dtype, device=self.view.device)

    # -- constants -------------------------------------------------------------------

    def piece_norm(self, piece, p):
        key = (id(piece), p)
        if key not in self._cache:
            if isinstance(piece, Constant):
                self._cache[key] = piece.value[p]
            else:
                self._cache[key] = piece.norm(p)
        return self._cache[key]

    def body_norm(self, p, start=0):
        """Product of the body's ``p``-norms from piece ``start`` on."""
        return math.prod(self.piece_norm(piece, p) for piece in self.body[start:])

    def head_rows(self, n_classes):
        """Rows of the head's linear map, ``(n_classes, n_hidden)`` float64."""
        if "rows" not in self._cache:
            if self.head is None:
                rows = torch.eye(n_classes, dtype=torch.float64)
            else:
                eye = torch.eye(self.head.n_out, dtype=self.head.dtype)
                rows = self.head.rows(eye.to(self.head.device)).double().cpu()
            self._cache["rows"] = rows
        return self._cache["rows"]

    def pairwise(self, p):
        """``K[j, k]``: a Lipschitz constant of ``z_j - z_k`` in the ``p`` norm."""
        if ("pairwise", p) in self._cache:
            return self._cache[("pairwise", p)]
        rows = self.head_rows(self.view.n_classes)
        rounding = (
            1.0 + 64 * torch.finfo(self.head.dtype if self.head else rows.dtype).eps
        )
        K = torch.cdist(rows, rows, p=DUAL[p]) * rounding * self.body_norm(p)
        if p != "l2":
            K = torch.minimum(K, self._through_l2(p, rows, rounding))
        self._cache[("pairwise", p)] = K
        return K

    def _through_l2(self, p, rows, rounding):
        """The route measuring the input in ``p`` and everything after in l2."""
        D2 = torch.cdist(rows, rows, p=2.0) * rounding
        first = self.body[0] if self.body else None
        if isinstance(first, AffineRun):
            into_l2 = _into_l2(first, p)
            return D2 * into_l2 * self.body_norm("l2", start=1)
        factor = math.sqrt(self.n_features) if p == "linf" else 1.0
        return D2 * factor * self.body_norm("l2")

    def constant(self, p):
        """A Lipschitz constant of the logit map ``x -> z`` (``p -> p``)."""
        head = 1.0 if self.head is None else self.piece_norm(self.head, p)
        return head * self.body_norm(p)

    def scores(self, x):
        """The scores the margins are taken on (the logits before a tail)."""
        with self.view.evaluating(), torch.no_grad():
            for layer in self.score_layers:
                x = layer(x)
        return x


def _dtype(layer, default):
    for tensor in (*layer.parameters(), *layer.buffers()):
        if tensor.is_floating_point():
            return tensor.dtype
    return default


def _into_l2(run, p):
    """An upper bound of ``||L||_{p -> 2}`` for ``p`` in {"linf", "l1"}."""
    matrix = run.materialize()
    rounding = 1.0 + 64 * torch.finfo(run.dtype).eps
    if matrix is None:
        factor = math.sqrt(run.n_in) if p == "linf" else 1.0
        return factor * run.norm("l2")
    if p == "l1":  # the largest column l2 norm, exactly
        return float(matrix.norm(dim=0).max()) * rounding
    rows_l1 = float(matrix.abs().sum(dim=1).norm())
    spectral = math.sqrt(run.n_in) * float(torch.linalg.matrix_norm(matrix, ord=2))
    return min(rows_l1, spectral) * rounding
