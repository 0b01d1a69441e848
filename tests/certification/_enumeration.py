"""Exact minimal adversarial distances of small ReLU nets by enumeration.

In each activation region a ReLU network is affine, so the smallest distance
to ``z_label <= z_k`` within one region is a linear program (variables ``x``
and ``rho``; for l1 also ``t >= |x - x0|``). Enumerating every activation
pattern of a net with a handful of units gives a reference, independent of
the MILP encoding, for the exact distance.
"""

import itertools

import numpy as np
import torch
from scipy.optimize import linprog


def affine_layers(net):
    """``(weights, biases)`` of the ``Linear`` layers of a ReLU chain (numpy)."""
    linears = [m for m in net if isinstance(m, torch.nn.Linear)]
    Ws = [m.weight.detach().double().numpy() for m in linears]
    bs = [m.bias.detach().double().numpy() for m in linears]
    return Ws, bs


def enumerated_distance(Ws, bs, x0, label, norm, max_eps):
    """``min(max_eps, min_k min ||x - x0||)`` s.t. ``z_label(x) <= z_k(x)``."""
    d = len(x0)
    widths = [len(b) for b in bs[:-1]]
    extra = d if norm == "l1" else 0  # the t variables
    best = max_eps
    for pattern in itertools.product([0, 1], repeat=sum(widths)):
        masks = np.split(np.array(pattern, dtype=float), np.cumsum(widths)[:-1])
        A, c = np.eye(d), np.zeros(d)  # pre-activation = A x + c
        A_ub, b_ub = [], []
        for W, b, mask in zip(Ws[:-1], bs[:-1], masks):
            A, c = W @ A, W @ c + b
            sign = np.where(mask > 0, -1.0, 1.0)  # active: pre >= 0
            A_ub.append(sign[:, None] * A)
            b_ub.append(-sign * c)
            A, c = mask[:, None] * A, mask * c
        A, c = Ws[-1] @ A, Ws[-1] @ c + bs[-1]
        pad = np.zeros((1, 1 + extra))
        base = [np.hstack([a, np.zeros((len(a), 1 + extra))]) for a in A_ub]
        for k in range(len(c)):
            if k == label:
                continue
            rows, ub = list(base), list(b_ub)
            rows.append(np.hstack([(A[label] - A[k])[None], pad]))
            ub.append(np.array([c[k] - c[label]]))
            if norm == "linf":  # +-(x - x0) <= rho
                for s in (1.0, -1.0):
                    rows.append(np.hstack([s * np.eye(d), -np.ones((d, 1))]))
                    ub.append(s * x0)
                bounds = [(None, None)] * d + [(0, max_eps)]
            else:  # +-(x - x0) <= t, sum t <= rho
                for s in (1.0, -1.0):
                    rows.append(
                        np.hstack([s * np.eye(d), np.zeros((d, 1)), -np.eye(d)])
                    )
                    ub.append(s * x0)
                rows.append(np.hstack([np.zeros((1, d)), [[-1.0]], np.ones((1, d))]))
                ub.append([0.0])
                bounds = [(None, None)] * d + [(0, max_eps)] + [(0, None)] * d
            cost = np.zeros(d + 1 + extra)
            cost[d] = 1.0
            res = linprog(
                cost,
                A_ub=np.vstack(rows),
                b_ub=np.concatenate(ub),
                bounds=bounds,
                method="highs",
            )
            if res.status == 0:
                best = min(best, res.fun)
    return best
