"""Exact verification of ReLU networks: the big-M encoding (Tjeng et al. 2019).

The network (the differentiable view, in float64) must be a chain of affine
layers and ReLUs, optionally ending in a softmax / log-softmax (which keeps
the order of the scores). Each affine run is materialized as a matrix. A ReLU
``h = max(z, 0)`` with pre-activation bounds ``l <= z <= u`` (from interval
bound propagation or CROWN over the perturbation set) is

* ``h = z`` when ``l >= 0`` and ``h = 0`` when ``u <= 0`` (stable: no binary);
* otherwise ``h >= 0``, ``h >= z``, ``h <= z - l (1 - a)``, ``h <= u a`` with a
  binary ``a``: exact, and the tighter ``l`` and ``u``, the fewer binaries
  and the stronger the relaxation.
"""

import copy

import numpy as np

from ..._models import Cast, LogProbability, as_differentiable
from ..._torch import torch
from ..bounds import (
    Region,
    bound_tensors,
    chain_graph,
    layer_rules,
    margin_spec,
    propagate,
    refine,
)

_TAIL = (torch.nn.Softmax, torch.nn.LogSoftmax, LogProbability)


class Scores:
    """The class scores as linear expressions ``matrix @ x[cols] + const``."""

    def __init__(self, cols, matrix, const):
        self.cols, self.matrix, self.const = cols, matrix, const

    def margin(self, label, other):
        """``(coefficients, constant)`` of ``score[label] - score[other]``."""
        row = self.matrix[label] - self.matrix[other]
        return row, float(self.const[label] - self.const[other])


class ReluNetwork:
    """A fitted ReLU network ready for MILP encodings.

    Parameters
    ----------
    estimator : fitted classifier
        Its differentiable view must be a chain of affine layers and ReLUs.
    bound_method : {"ibp", "crown"}
        How the pre-activation bounds are computed.
    """

    def __init__(self, estimator, bound_method="crown"):
        if bound_method not in ("ibp", "crown"):
            raise ValueError(
                f"bound_method must be 'ibp' or 'crown'; got {bound_method!r}."
            )
        self.view = view = as_differentiable(estimator)
        self.classes_ = view.classes_
        module = copy.deepcopy(view.module).double().eval()
        pairs = [
            (lay, r) for lay, r in layer_rules(module) if not isinstance(lay, Cast)
        ]
        while pairs and isinstance(pairs[-1][0], _TAIL):
            pairs.pop()
        self.rules = [rule for _, rule in pairs]
        self.relus = []  # rule indices of the ReLUs
        for i, (layer, rule) in enumerate(pairs):
            if isinstance(layer, torch.nn.ReLU):
                self.relus.append(i)
            elif not rule.affine:
                raise TypeError(
                    f"exact verification by MILP supports chains of affine layers "
                    f"and ReLU; got {type(layer).__name__} ({layer!r}). Use "
                    "certify(..., method='crown') for other networks."
                )
        self.bound_method = bound_method

    def to_input(self, X):
        """``X`` in the view's input space, checked, float64, as a tensor."""
        return self.view.to_samples(X).double()

    def predict(self, x):
        """The model's predictions (class indices) at points of the view's space."""
        with self.view.evaluating(), torch.no_grad():
            x = torch.as_tensor(x, device=self.view.device).to(self.view.dtype)
            return self.view(x).argmax(dim=1).cpu().numpy()

    def layers(self, sample_shape):
        """Materialize the chain as ``[W, b]`` matrices between the ReLUs."""
        key = tuple(sample_shape)
        if getattr(self, "_layers", (None,))[0] == key:
            return self._layers[1]
        probe = torch.zeros((1, *key), dtype=torch.float64)
        runs, start = [], 0
        for end in [*self.relus, len(self.rules)]:
            runs.append(_materialize(self.rules[start:end], probe))
            probe = _forward(self.rules[start:end], probe)
            start = end + 1 if end < len(self.rules) else end
        self._layers = (key, runs)
        return runs

    def bounds(self, x, eps, norm, low, high, eps_sample=None):
        """Pre-activation bounds of each ReLU and margin lower bounds.

        Returns ``[(lower, upper), ...]`` (flat, per ReLU, shape ``(n, units)``)
        over the region, and ``margins(labels)``, a function giving lower
        bounds of ``z_y - z_k`` (``(n, n_classes)``).
        """
        region = Region(x, eps, norm, eps_sample, low, high)
        method = self.bound_method
        graph = chain_graph(self.rules, x.shape[1:], x.dtype, x.device)
        with torch.no_grad():
            boxes = propagate(graph, region, refine if method == "crown" else None)
        pre = [  # node i is the input of rule i
            (boxes[i][0].flatten(1).numpy(), boxes[i][1].flatten(1).numpy())
            for i in self.relus
        ]

        def margins(labels):
            spec = margin_spec(labels, len(self.classes_), torch.float64)
            with torch.no_grad():
                lower, _ = bound_tensors(
                    graph,
                    region,
                    method="crown-ibp" if method == "ibp" else "crown",
                    spec=spec,
                    upper=False,
                )
            return lower.numpy()

        return pre, margins

    def encode(self, model, perturbation, pre, sample_shape):
        """Add the network on ``perturbation``'s variables; returns the scores.

        ``pre`` holds one sample's ``(lower, upper)`` per ReLU (flat arrays).
        """
        layers = self.layers(sample_shape)
        cols = perturbation.delta  # h = const + x[cols] (as many as units)
        const = perturbation.x0.copy()
        has = np.ones(len(cols), dtype=bool)
        for (W, b), (low, up) in zip(layers[:-1], pre):
            W_var = W[:, has]
            pre_const = W @ const + b
            active, inactive = low >= 0, up <= 0
            unstable = ~(active | inactive)
            n = len(b)
            out_cols = np.full(n, -1)
            idx = np.flatnonzero(active)
            out_cols[idx] = v = model.add_variables(low[idx], up[idx])
            # h - W x = c
            _rows_with_unit(model, W_var[idx], cols[has], v, pre_const[idx], "eq")
            idx = np.flatnonzero(unstable)
            h = model.add_variables(np.zeros(len(idx)), up[idx])
            a = model.add_variables(np.zeros(len(idx)), np.ones(len(idx)), integer=True)
            out_cols[idx] = h
            _rows_with_unit(model, W_var[idx], cols[has], h, pre_const[idx], "ge")
            # h - W x - l a <= c - l
            _rows_with_unit(
                model,
                W_var[idx],
                cols[has],
                h,
                pre_const[idx] - low[idx],
                "le",
                binary=(a, -low[idx]),
            )
            # h - u a <= 0
            k = len(idx)
            model.add_rows(
                np.repeat(np.arange(k), 2),
                np.column_stack([h, a]).ravel(),
                np.column_stack([np.ones(k), -up[idx]]).ravel(),
                upper=np.zeros(k),
            )
            has = out_cols >= 0
            cols = np.where(has, out_cols, 0)
            const = np.zeros(n)
        W, b = layers[-1]
        return Scores(cols[has], W[:, has], W @ const + b)


def _rows_with_unit(model, W, cols, unit, const, sense, binary=None):
    """Rows ``unit_j - W_j . x[cols] (+ c_j a_j)`` {=, >=, <=} ``const_j``."""
    k, m = W.shape
    rows = [np.repeat(np.arange(k), m), np.arange(k)]
    columns = [np.tile(cols, k), unit]
    values = [-W.ravel(), np.ones(k)]
    if binary is not None:
        a, coef = binary
        rows.append(np.arange(k))
        columns.append(a)
        values.append(coef)
    r, c, v = (np.concatenate(t) for t in (rows, columns, values))
    keep = v != 0
    lower = const if sense in ("eq", "ge") else None
    upper = const if sense in ("eq", "le") else None
    model.add_rows(r[keep], c[keep], v[keep], lower=lower, upper=upper)


def _forward(rules, x):
    with torch.no_grad():
        for rule in rules:
            x = rule.func(x)
    return x


def _materialize(rules, probe):
    """``(W, b)`` (float64) of affine ``rules`` at inputs shaped like ``probe``."""
    n_in = probe[0].numel()
    eye = torch.eye(n_in, dtype=torch.float64).reshape(n_in, *probe.shape[1:])
    offset = _forward(rules, torch.zeros_like(probe)).flatten(1)
    columns = _forward(rules, eye).flatten(1) - offset
    return columns.T.numpy().copy(), offset[0].numpy().copy()
