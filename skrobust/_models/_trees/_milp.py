"""Exact evasion and verification of tree ensembles by mixed-integer programming.

The encoding of Kantchelian et al. (2016), "Evasion and hardening of tree
ensemble classifiers", solved with HiGHS (``scipy.optimize.milp``):

* one binary ``p`` per distinct threshold ``t`` of each numeric feature,
  ``p = 1`` iff ``x_f <= t``, ordered (``p_t <= p_t'`` for ``t < t'``), so
  the binaries of a feature select one interval between thresholds;
* one binary per allowed category of a categorical feature (one-hot);
* one continuous leaf indicator per leaf that the region can reach, summing
  to one per tree; every split node links the leaves below it to its
  predicate (``sum(left leaves) <= p``, ``sum(right leaves) <= 1 - p``), so
  a tree's active leaf is the one the predicates select;
* the distance to ``x0`` telescopes over the thresholds crossed (their
  increments are constants), so the l-inf, l1 and squared l2 sizes are
  linear in the binaries; integer features use their thresholds rounded to
  the integer grid around ``x0``.

The region (bounds, direction, immutable, integer and categorical features)
fixes the binaries it decides and removes the leaves it cannot reach, so
the problem only holds what the attacker can change. Distances are infima
(a leaf's lower side is open); every returned point is a concrete float64
point checked with the ensemble's own comparisons.
"""

import time

import numpy as np

from ...utils import SHARED_DOCS, Substitution
from ._program import TreeProgram, leaves_below

# Margins below this fraction of the score range count as ties: far above the
# effect of the solver's tolerances (1e-9 per leaf indicator, below)
_TIE = 1e-7
_BISECTIONS = 4  # feasibility checks narrowing the box before the exact search


class MILPResult:
    """Outcome for one point.

    Attributes
    ----------
    status : str
        ``"optimal"`` (exact distance), ``"verified"``, ``"falsified"`` or
        ``"unknown"`` (time limit).
    lower, upper : float
        Bounds of the minimal adversarial distance (``upper = inf`` when no
        adversarial point is known).
    x : ndarray or None
        An adversarial encoded raw point (at distance ``upper``, plus one
        float64 step where a lower side is open).
    n_binary : int
        Binary variables of the (last) problem solved.
    """

    def __init__(self, status, lower, upper, x=None, n_binary=0):
        self.status, self.lower, self.upper, self.x = status, lower, upper, x
        self.n_binary = int(n_binary)

    def __repr__(self):
        return f"MILPResult({self.status!r}, lower={self.lower}, upper={self.upper})"


@Substitution(**SHARED_DOCS)
class TreeEnsembleMILP:
    """Kantchelian's MILP for a :class:`skrobust._models.TreeEnsemble`.

    Parameters
    ----------
    ensemble : TreeEnsemble

    {examples_forest}
    >>> from skrobust.certification.mip import TreeEnsembleMILP
    >>> milp = TreeEnsembleMILP(TreeEnsemble(rf))
    >>> region = Region(x0, x0 - 10, x0 + 10, np.ones(2), "linf")
    >>> result = milp.minimal_distance(region, 0)
    >>> result.status, bool(rf.predict(result.x[None])[0] == 1)
    ('optimal', True)
    """

    def __init__(self, ensemble):
        self.ensemble = e = ensemble
        boxes = [e.leaves(i) for i in range(e.n_trees)]
        self.leaf_low = np.concatenate([b.low for b in boxes])
        self.leaf_high = np.concatenate([b.high for b in boxes])
        self.leaf_value = np.concatenate([b.value for b in boxes])
        self.leaf_cats = {
            f: np.concatenate([b.categories[f] for b in boxes])
            for f in np.flatnonzero(e.is_categorical)
        }
        self.leaf_tree = np.concatenate(
            [np.full(len(b), i) for i, b in enumerate(boxes)]
        )
        # split nodes: feature, threshold / categories, leaves below each side
        feats, thr, cat_left, rows_l, rows_r = [], [], [], [], []
        offset = 0
        for i, tree in enumerate(e.trees):
            position = {node: offset + k for k, node in enumerate(boxes[i].node)}
            below = leaves_below(tree, position)
            for node in np.flatnonzero(~tree.is_leaf):
                feats.append(tree.feature[node])
                thr.append(tree.threshold[node])
                cat_left.append(tree.category_left.get(node))
                rows_l.append(below[tree.left[node]])
                rows_r.append(below[tree.right[node]])
            offset += len(boxes[i])
        self.node_feature = np.asarray(feats, dtype=np.intp)
        self.node_threshold = np.asarray(thr, dtype=np.float64)
        self.node_categories = cat_left
        self.node_left = rows_l
        self.node_right = rows_r
        self.n_leaves = offset
        self.score_range = np.abs(self.leaf_value).max(axis=1)
        self.score_range = float(
            sum(
                self.score_range[self.leaf_tree == i].max(initial=0)
                for i in range(e.n_trees)
            )
        )
        self.tie = _TIE * max(self.score_range, 1e-300)

    # -- public --------------------------------------------------------------

    def minimal_distance(
        self, region, label, *, target=None, time_limit=None, max_distance=np.inf
    ):
        """The smallest adversarial move of ``region.x0`` (class ``label``).

        Solved in growing boxes around ``x0`` (radius doubling from the
        nearest threshold): a box of radius ``r`` holds every move of size
        at most ``r`` in any norm, so the first box with an adversarial point
        gives the global minimum, and the small boxes free few binaries.
        Untargeted: one problem per other class, each capped by the best
        distance found so far. ``target``: the ensemble must predict it.
        Moves larger than ``max_distance`` are not searched: when none is
        adversarial below it, ``lower = max_distance`` and ``upper = inf``.

        Returns
        -------
        result : MILPResult
            ``status`` is ``"optimal"`` (``lower == upper``, the infimum; or
            nothing within ``max_distance``) or ``"unknown"`` (time limit:
            ``lower`` is the solver's bound).
        """
        deadline = None if time_limit is None else time.monotonic() + time_limit
        if self._adversarial(region.x0, label, target):
            return MILPResult("optimal", 0.0, 0.0, region.x0.copy())
        first, extent = self._radii(region)
        lower, upper, best = 0.0, np.inf, None
        radius = first
        while best is None:  # double the radius until a box holds a point
            if not radius < extent:
                radius = np.inf
            radius = min(radius, max_distance)
            found = self._verify(region, label, radius, target, deadline)
            if found.status == "unknown":
                return MILPResult("unknown", lower, upper, best)
            if found.status == "falsified":
                upper, best = found.upper, found.x
            elif radius == max_distance:
                return MILPResult("optimal", float(max_distance), np.inf, None)
            else:
                lower, radius = radius, radius * 2
        for _ in range(_BISECTIONS):  # shrink the box the exact search needs
            mid = (lower + upper) / 2
            found = self._verify(region, label, mid, target, deadline)
            if found.status == "falsified":
                upper, best = found.upper, found.x
            elif found.status == "verified":
                lower = mid
            else:
                break
        sub = region.within(upper)
        low, high, point, timed_out = self._minimal_in(
            sub, label, target, upper, deadline
        )
        if point is not None and high <= upper:
            upper, best = high, point
        lower = max(lower, min(low, upper))
        exact = not timed_out and upper - lower <= 1e-9 * max(1.0, upper)
        if exact:
            lower = upper
        return MILPResult("optimal" if exact else "unknown", lower, upper, best)

    def _radii(self, region):
        """Size of the smallest move crossing a threshold, and of a move
        reaching past every threshold (beyond it all cells are reachable)."""
        r, first, extent = region, np.inf, 0.0
        mobile = r.weights > 0
        for f in np.flatnonzero(mobile & ~self.ensemble.is_categorical):
            t = self.node_threshold[self.node_feature == f]
            if not len(t):
                continue
            gap = np.abs(t - r.x0[f]) / r.weights[f]
            first = min(first, gap.min())
            extent = max(extent, gap.max())
        if not np.isfinite(first):
            return np.inf, 0.0
        extent = 2 * extent + 1.0  # past the last threshold, and integer steps
        return max(2 * first, extent * 1e-4), extent

    def _minimal_in(self, region, label, target, cap, deadline):
        """Smallest adversarial move within ``region`` and ``cap``:
        ``(lower, upper, point, timed_out)``."""
        problem = TreeProgram(self, region)
        goals = [target] if target is not None else self._others(label)
        lower, upper, best, timed_out = np.inf, cap, None, False
        for k in goals:
            # a first solve admits ties; if its point is a tie the model breaks
            # for ``label`` (or sits within the solver's tolerance), a strict
            # retry asks for a margin of ``self.tie``
            for tie in (0.0, self.tie):
                res = problem.solve(
                    label,
                    k,
                    targeted=target is not None,
                    cap=upper,
                    deadline=deadline,
                    tie=tie,
                )
                if res is None or res.status == 2:  # none below the cap
                    bound = upper
                    break
                if res.status not in (0, 1):
                    bound = 0.0
                    break
                bound = problem.distance_of(res.mip_dual_bound)
                timed_out |= res.status == 1
                found = problem.point(res.x) if res.x is not None else None
                if found is not None and self._adversarial(found[0], label, target):
                    if found[1] <= upper:
                        upper, best = found[1], found[0]
                    break
                if res.status == 1:
                    break
            lower = min(lower, bound)
        if best is None:
            upper = np.inf
        return lower, upper, best, timed_out

    def verify(self, region, label, eps, *, target=None, time_limit=None):
        """Is ``label`` stable on the ``eps``-ball of ``region``?

        Returns
        -------
        result : MILPResult
            ``"verified"`` (``lower = eps``), ``"falsified"`` (``x`` is a
            checked adversarial point within ``eps``) or ``"unknown"``.
        """
        deadline = None if time_limit is None else time.monotonic() + time_limit
        return self._verify(region, label, eps, target, deadline)

    def _verify(self, region, label, eps, target, deadline):
        x0 = region.x0
        if self._adversarial(x0, label, target):
            return MILPResult("falsified", 0.0, 0.0, x0.copy())
        # every move of size <= eps lies in the box of radius eps
        problem = TreeProgram(self, region.within(eps) if np.isfinite(eps) else region)
        goals = [target] if target is not None else self._others(label)
        unknown = False
        for k in goals:
            for tie in (0.0, self.tie):
                res = problem.solve(
                    label,
                    k,
                    targeted=target is not None,
                    cap=eps,
                    deadline=deadline,
                    feasibility=True,
                    tie=tie,
                )
                if res is None or res.status == 2:
                    break  # verified against k
                found = problem.point(res.x) if res.x is not None else None
                if found is not None and self._adversarial(found[0], label, target):
                    return MILPResult(
                        "falsified", 0.0, found[1], found[0], problem.n_bin
                    )
                if res.status != 0 or tie > 0:
                    unknown = True
                    break
        if unknown:
            return MILPResult("unknown", 0.0, np.inf, None, problem.n_bin)
        return MILPResult("verified", float(eps), np.inf, None, problem.n_bin)

    # -- helpers -------------------------------------------------------------

    def _others(self, label):
        return [k for k in range(self.ensemble.n_classes) if k != label]

    def _adversarial(self, x, label, target):
        pred = self.ensemble.predict(np.asarray(x, dtype=np.float64)[None])[0]
        return pred == target if target is not None else pred != label
