"""Lower bounds of a tree ensemble's margin over a region (Chen et al. 2019).

"Robustness verification of tree-based models" (NeurIPS 2019): within a
box (an l-inf ball), each tree can only end in the leaves whose boxes meet
it, so the sum of each tree's smallest reachable margin bounds the margin
from below. Merging trees into groups tightens the bound: a group's
*cliques* are its compatible combinations of leaves (their boxes intersect,
and for axis-aligned boxes pairwise intersection is joint intersection), and
the bound is the sum, over groups, of the smallest clique value. Merging
level after level ends, when one group is left, with the exact minimum.

Cliques that cannot take the total below a threshold (their value plus the
other groups' minima exceeds it) are dropped before each merge: to decide
"can the margin fall to 0?" only those matter, so large ensembles merge far.
For l1 / l2 balls the region's box (radius ``eps`` per feature) holds the
ball, and a clique also needs its box within ``eps`` of ``x0``.
"""

import numpy as np

from ...utils import SHARED_DOCS, Substitution


class _Group:
    """Cliques of a set of trees: boxes, category masks and margin values."""

    def __init__(self, low, high, cats, value):
        self.low, self.high, self.cats, self.value = low, high, cats, value

    def __len__(self):
        return len(self.value)

    def keep(self, mask):
        return _Group(
            self.low[mask],
            self.high[mask],
            {f: m[mask] for f, m in self.cats.items()},
            self.value[mask],
        )

    @property
    def minimum(self):
        return self.value.min() if len(self.value) else np.inf


@Substitution(**SHARED_DOCS)
class CliqueBound:
    """Chen et al.'s multi-level clique bound for one point and budget.

    Parameters
    ----------
    ensemble : TreeEnsemble
    region : Region
        The threat model around the point (the unit of measure included).
    eps : float
        Budget: moves of size at most ``eps`` (in ``region``'s norm).
    max_cliques : int, default=20000
        Largest number of leaf pairs examined to merge two groups; groups
        whose merge would exceed it stay apart (the bound is then looser).

    {examples_forest}
    >>> from skrobust._models._trees import CliqueBound
    >>> region = Region(x0, x0 - 10, x0 + 10, np.ones(2), "linf")
    >>> bound = CliqueBound(TreeEnsemble(rf), region, eps=0.1)
    >>> bool(bound.certified(label=0))
    True
    """

    def __init__(self, ensemble, region, eps, *, max_cliques=20000):
        self.ensemble = ensemble
        self.region = region
        self.eps = float(eps)
        self.ball = region.within(self.eps)
        self.max_cliques = int(max_cliques)
        self._leaves = []
        for i in range(ensemble.n_trees):
            boxes = ensemble.leaves(i)
            ok = self.ball.reachable(boxes.low, boxes.high, boxes.categories)
            if region.norm != "linf":
                idx = np.flatnonzero(ok)
                ok[idx] = self.ball.distance(boxes.low[idx], boxes.high[idx]) <= eps
            self._leaves.append((boxes, np.flatnonzero(ok)))

    def margin(self, weights, *, threshold=None, max_level=None):
        """Lower bound of ``weights . scores`` over the ball.

        Parameters
        ----------
        weights : ndarray of shape (n_classes,)
            The margin's coefficients (``e_y - e_k`` for ``z_y - z_k``).
        threshold : float, default=None
            Only decide whether the margin can fall to ``threshold``: cliques
            that cannot are dropped, and a bound above ``threshold`` is
            reported as ``inf`` (the margin provably exceeds ``threshold``).
        max_level : int, default=None
            Merging levels (``None``: until one group or ``max_cliques``).

        Returns
        -------
        bound : float
            A lower bound of the margin over the ball (``inf``: above
            ``threshold``).
        exact : bool
            Whether the bound is the exact minimum (all trees merged, or
            nothing below the threshold).
        witness : tuple or None
            ``(low, high, categories)`` of a cell attaining an exact minimum
            (a candidate adversarial cell), else ``None``.
        """
        e = self.ensemble
        weights = np.asarray(weights, dtype=np.float64)
        base = float(e.base_score @ weights)
        groups = []
        for boxes, idx in self._leaves:
            groups.append(
                _Group(
                    boxes.low[idx],
                    boxes.high[idx],
                    {f: m[idx] for f, m in boxes.categories.items()},
                    boxes.value[idx] @ weights,
                )
            )
        level = 0
        while True:
            if threshold is not None:
                groups = _prune(groups, threshold - base)
                if any(len(g) == 0 for g in groups):
                    return np.inf, True, None
            if len(groups) == 1 or (max_level is not None and level >= max_level):
                break
            merged, changed = [], False
            for i in range(0, len(groups) - 1, 2):
                a, b = groups[i], groups[i + 1]
                if len(a) * len(b) <= self.max_cliques:
                    merged.append(self._merge(a, b))
                    changed = True
                else:
                    merged += [a, b]
            if len(groups) % 2:
                merged.append(groups[-1])
            groups = merged
            level += 1
            if not changed:
                break
        bound = base + sum(g.minimum for g in groups)
        if threshold is not None and bound > threshold:
            return np.inf, True, None
        if len(groups) == 1 and len(groups[0]):
            g = groups[0]
            best = int(np.argmin(g.value))
            cats = {f: m[best] for f, m in g.cats.items()}
            return bound, True, (g.low[best], g.high[best], cats)
        return bound, False, None

    def _merge(self, a, b):
        """All compatible pairs of cliques of ``a`` and ``b``."""
        low = np.maximum(a.low[:, None], b.low[None])
        high = np.minimum(a.high[:, None], b.high[None])
        cats = {f: a.cats[f][:, None] & b.cats[f][None] for f in a.cats}
        ok = self.ball.reachable(low, high, cats)
        if self.region.norm != "linf":
            ok &= self.ball.distance(low, high) <= self.eps
        i, j = np.nonzero(ok)
        return _Group(
            low[i, j],
            high[i, j],
            {f: m[i, j] for f, m in cats.items()},
            a.value[i] + b.value[j],
        )

    def certified(self, label, *, max_level=None):
        """Whether class ``label`` provably wins everywhere in the ball.

        Every margin ``z_label - z_k`` must have a lower bound above a tie
        tolerance (ties are never certified).
        """
        e = self.ensemble
        tol = _tolerance(e)
        for k in range(e.n_classes):
            if k == label:
                continue
            w = np.zeros(e.n_classes)
            w[label], w[k] = 1.0, -1.0
            bound, _, _ = self.margin(w, threshold=tol, max_level=max_level)
            if bound != np.inf:
                return False
        return True


def _prune(groups, threshold):
    """Drop cliques that cannot bring the total down to ``threshold``."""
    while True:
        minima = np.array([g.minimum for g in groups])
        if np.isinf(minima).any():
            return groups
        total = minima.sum()
        out, changed = [], False
        for g, m in zip(groups, minima):
            keep = g.value + (total - m) <= threshold
            changed |= not keep.all()
            out.append(g.keep(keep) if not keep.all() else g)
        groups = out
        if not changed or any(len(g) == 0 for g in groups):
            return groups


def _tolerance(ensemble):
    """Margins this close to 0 count as ties (float sums of leaf values)."""
    scale = sum(
        np.abs(ensemble.leaves(i).value).max(initial=0.0)
        for i in range(ensemble.n_trees)
    )
    return 1e-9 * max(scale, 1e-300)
