"""A fast strong attack on tree ensembles: search over leaf tuples.

In the spirit of Zhang, Zhang & Hsieh (2020), "An efficient adversarial
attack for tree ensembles" (LT-attack): a point of a tree ensemble is
described by its *leaf tuple* (one leaf per tree), and the points whose
tuple differs in one tree are its neighbours. Two searches use them:

* :meth:`LeafSearch.attack` (a budget ``eps``): from the clean point (and
  random restarts in the ball), move into the leaf of some tree whose box,
  cut by the ball, is best for the attacker: the nearest point of that box
  to the current point, evaluated exactly; greedy descent on the margin,
  all moves of all trees scored in one batch.
* :meth:`LeafSearch.shrink` (a minimal distance): from an adversarial
  point, change one tree's leaf while keeping the others (the new tuple's
  box is the intersection of its leaves' boxes, its scores known without
  evaluating the model), keeping the tuple adversarial, toward the smallest
  distance to the clean point; repeated until no neighbour is closer.

Every returned point is concrete and checked with the ensemble's own
comparisons; the attack never claims a point is robust (see
:class:`CliqueBound` for proofs).
"""

import numpy as np

from ...utils import SHARED_DOCS, Substitution


@Substitution(**SHARED_DOCS)
class LeafSearch:
    """Leaf-tuple searches around one point.

    Parameters
    ----------
    ensemble : TreeEnsemble
    region : Region
        The threat model around the point (``region.x0``).
    label : int
        Class index the point should keep (untargeted).
    target : int, default=None
        Class index the attack should reach instead.

    Attributes
    ----------
    n_evaluations : int
        Points whose scores were computed (the attack's "queries").

    {examples_forest}
    >>> from skrobust._models._trees import LeafSearch
    >>> ensemble = TreeEnsemble(rf)
    >>> search = LeafSearch(ensemble, Region(x0, x0 - 2, x0 + 2, [1, 1], "linf"), 0)
    >>> x = search.attack(1.5, rng=np.random.default_rng(0))
    >>> int(rf.predict(x[None])[0])
    1
    """

    def __init__(self, ensemble, region, label, *, target=None):
        self.ensemble = e = ensemble
        self.region = region
        self.label, self.target = int(label), target
        self.boxes = [e.leaves(i) for i in range(e.n_trees)]
        self.n_evaluations = 0

    # -- scores ------------------------------------------------------------

    def margin(self, scores):
        """How far from adversarial (``<= 0`` with the tie rule: adversarial)."""
        s = np.atleast_2d(scores)
        if self.target is not None:
            other = np.delete(s, self.target, axis=1).max(axis=1)
            return other - s[:, self.target]
        other = np.delete(s, self.label, axis=1).max(axis=1)
        return s[:, self.label] - other

    def adversarial(self, scores):
        pred = self.ensemble.decide(np.atleast_2d(scores))
        if self.target is not None:
            return pred == self.target
        return pred != self.label

    def _scores(self, Z):
        self.n_evaluations += len(Z)
        return self.ensemble.scores(Z)

    # -- the budgeted attack -----------------------------------------------

    def attack(self, eps, *, n_restarts=2, max_steps=200, rng=None):
        """An adversarial point within ``eps`` of ``x0``, or ``None``.

        Greedy descent on the margin over leaf moves, from ``x0`` and then
        from ``n_restarts`` random points of the ball.
        """
        rng = np.random.default_rng(rng)
        ball = self.region.within(eps)
        lows, highs, masks = [], [], []
        for boxes in self.boxes:
            ok = ball.reachable(boxes.low, boxes.high, boxes.categories)
            lowest, highest = ball.clip(boxes.low[ok], boxes.high[ok])
            lows.append(lowest)
            highs.append(highest)
            masks.append({f: m[ok] for f, m in boxes.categories.items()})
        moves = (
            np.concatenate(lows),
            np.concatenate(highs),
            {
                f: np.concatenate([m[f] for m in masks])
                & ball.allowed(f, masks[0][f].shape[1])
                for f in masks[0]
            },
        )
        starts = [self.region.x0.copy()]
        starts += [self._random_point(ball, eps, rng) for _ in range(n_restarts)]
        for x in starts:
            x = self._descend(x, ball, eps, moves, max_steps)
            if x is not None:
                return x
        return None

    def _descend(self, x, ball, eps, moves, max_steps):
        """Greedy descent from ``x``: an adversarial point or ``None``."""
        lowest, highest, cats = moves
        first = {f: np.argmax(m, axis=1).astype(np.float64) for f, m in cats.items()}
        scores = self._scores(x[None])
        if self.adversarial(scores)[0]:
            return x
        current = self.margin(scores)[0]
        for _ in range(max_steps):
            C = np.minimum(np.maximum(x, lowest), highest)
            for f, mask in cats.items():
                C[:, f] = np.where(mask[:, int(x[f])], x[f], first[f])
            C = np.unique(C[np.any(C != x, axis=1)], axis=0)
            if self.region.norm != "linf" and len(C):
                C = C[ball.size_of(C) <= eps * (1 + 1e-12)]
            if not len(C):
                return None
            scores = self._scores(C)
            adv = self.adversarial(scores)
            if adv.any():
                return C[adv][np.argmin(ball.size_of(C[adv]))]
            margins = self.margin(scores)
            j = int(np.argmin(margins))
            if not margins[j] < current:
                return None
            x, current = C[j], margins[j]
        return None

    def _random_point(self, ball, eps, rng):
        r = self.region
        mobile = ball.high > ball.low
        u = rng.uniform(size=len(r.x0))
        x = np.where(mobile, ball.low + u * (ball.high - ball.low), r.x0)
        x = np.where(np.isfinite(x), x, r.x0)
        if r.integer.any():
            x = np.where(r.integer, r.x0 + np.round(x - r.x0), x)
            x = np.clip(x, ball.low, ball.high)
        if r.norm != "linf":
            size = ball.size_of(x[None])[0]
            if size > eps:
                x = r.x0 + (x - r.x0) * (eps / size) * rng.uniform() ** (1 / len(x))
                if r.integer.any():
                    x = np.where(r.integer, r.x0 + np.trunc(x - r.x0), x)
        for f in np.flatnonzero(self.ensemble.is_categorical):
            allowed = np.flatnonzero(ball.allowed(f, len(self.ensemble.categories[f])))
            x[f] = float(rng.choice(allowed))
        return x

    # -- the minimal distance ----------------------------------------------

    def minimal(self, *, n_restarts=2, n_bisections=4, max_distance=np.inf, rng=None):
        """A small adversarial move: ``(x, size)`` or ``(None, inf)``.

        The budgeted attack on balls doubling from the nearest threshold
        finds a first adversarial point, a few bisections on the budget find
        closer ones, and :meth:`shrink` moves each toward ``x0``; the closest
        is kept. An upper bound of the minimal distance.
        """
        rng = np.random.default_rng(rng)
        r = self.region
        gaps = [np.inf]
        for boxes in self.boxes:
            for side in (boxes.low, boxes.high):
                g = np.abs(side - r.x0) / np.where(r.weights > 0, r.weights, np.nan)
                g = g[np.isfinite(g) & (g > 0)]
                if len(g):
                    gaps.append(g.min())
        radius = min(gaps)
        if not np.isfinite(radius):
            return None, np.inf
        best, size, lower = None, np.inf, 0.0
        while best is None and radius <= max_distance * 2:
            x = self.attack(min(radius, max_distance), n_restarts=n_restarts, rng=rng)
            if x is not None:
                best, size = self.shrink(x)
            else:
                lower, radius = radius, radius * 2
        for _ in range(n_bisections if best is not None else 0):
            mid = (lower + size) / 2
            x = self.attack(mid, n_restarts=n_restarts, rng=rng)
            if x is None:
                lower = mid
                continue
            x, d = self.shrink(x)
            if d < size:
                best, size = x, d
        return best, size

    def shrink(self, x, *, max_steps=1000):
        """From adversarial ``x``, a closer adversarial point (LT-attack).

        Returns
        -------
        x : ndarray
            Adversarial, at distance ``size`` (plus one float64 step where a
            lower side is open).
        size : float
            The infimum distance of the final cell.
        """
        e, r = self.ensemble, self.region
        leaves = e.apply(x[None])[0]
        pos = [
            int(np.searchsorted(b.node, leaf)) for b, leaf in zip(self.boxes, leaves)
        ]
        scores = self._scores(x[None])[0]
        cats = list(np.flatnonzero(e.is_categorical))
        size = np.inf
        for _ in range(max_steps):
            low = np.array([b.low[p] for b, p in zip(self.boxes, pos)])
            high = np.array([b.high[p] for b, p in zip(self.boxes, pos)])
            mask = {
                f: np.array([b.categories[f][p] for b, p in zip(self.boxes, pos)])
                for f in cats
            }
            cell = (
                low.max(axis=0),
                high.min(axis=0),
                {f: m.all(axis=0) for f, m in mask.items()},
            )
            size = float(r.distance(*cell))
            # the best neighbour: one tree's leaf changes, the others stay
            ex_low, ex_high = (
                _excluding(low, np.maximum, -np.inf),
                _excluding(high, np.minimum, np.inf),
            )
            ex_mask = {f: _excluding(m, np.logical_and, True) for f, m in mask.items()}
            best = (size, None)
            for t, b in enumerate(self.boxes):
                delta = b.value - b.value[pos[t]]
                ok = self.adversarial(scores + delta)
                ok[pos[t]] = False
                if not ok.any():
                    continue
                idx = np.flatnonzero(ok)
                nl = np.maximum(ex_low[t], b.low[idx])
                nh = np.minimum(ex_high[t], b.high[idx])
                nc = {f: ex_mask[f][t] & b.categories[f][idx] for f in cats}
                d = r.distance(nl, nh, nc)
                j = int(np.argmin(d))
                if d[j] < best[0] * (1 - 1e-12):
                    best = (d[j], (t, idx[j]))
            if best[1] is None:
                break
            t, leaf = best[1]
            scores = scores + self.boxes[t].value[leaf] - self.boxes[t].value[pos[t]]
            pos[t] = leaf
        low = np.array([b.low[p] for b, p in zip(self.boxes, pos)]).max(axis=0)
        high = np.array([b.high[p] for b, p in zip(self.boxes, pos)]).min(axis=0)
        mask = {
            f: np.all([b.categories[f][p] for b, p in zip(self.boxes, pos)], axis=0)
            for f in cats
        }
        point = r.nearest(low, high, mask)
        if point is None or not self.adversarial(self._scores(point[None]))[0]:
            return x, float(r.size_of(x[None])[0])
        return point, float(r.distance(low, high, mask))


def _excluding(rows, op, identity):
    """For each row ``t``: ``op`` over all rows but ``t`` (prefix and suffix)."""
    n = len(rows)
    fill = np.full_like(rows[:1], identity)
    prefix = np.concatenate([fill, op.accumulate(rows, axis=0)[:-1]])
    suffix = np.concatenate([op.accumulate(rows[::-1], axis=0)[::-1][1:], fill])
    out = op(prefix, suffix)
    return out if n else rows
