"""Kantchelian et al.'s (2016) mixed-integer program for one region.

:class:`TreeProgram` holds the variables and constraints of one point's
threat model (see :mod:`._milp` for the encoding) and solves it
for one goal class with HiGHS.
"""

import time
import warnings

import numpy as np
from scipy.optimize import Bounds, LinearConstraint, milp
from scipy.sparse import coo_matrix

_OBJECTIVE_SCALE = 1e6  # keeps HiGHS' absolute tolerances far below a distance


def leaves_below(tree, position):
    """Node -> array of global leaf positions in its subtree."""
    below = {}
    order = []
    stack = [0]
    while stack:
        node = stack.pop()
        order.append(node)
        if not tree.is_leaf[node]:
            stack += [tree.left[node], tree.right[node]]
    for node in reversed(order):
        if tree.is_leaf[node]:
            below[node] = np.array([position[node]], dtype=np.intp)
        else:
            below[node] = np.concatenate(
                [below[tree.left[node]], below[tree.right[node]]]
            )
    return below


class TreeProgram:
    """The MILP of one region: variables, fixed constraints, per-goal rows."""

    def __init__(self, owner, region):
        self.owner = m = owner
        self.region = r = region
        e = m.ensemble
        self.alive = r.reachable(m.leaf_low, m.leaf_high, m.leaf_cats)
        columns = []  # (kind, data) of each variable
        # numeric predicates: effective thresholds on the region's grid
        node_var = np.full(len(m.node_feature), -1)
        self.features = {}
        order_rows, dist_terms = [], []
        numeric = np.array(
            [not e.is_categorical[f] for f in m.node_feature], dtype=bool
        )
        for f in np.unique(m.node_feature[numeric]):
            sel = np.flatnonzero(numeric & (m.node_feature == f))
            eff = self._effective(f, m.node_threshold[sel])
            lo, hi = self._grid_box(f)
            free = (eff >= lo) & (eff < hi)
            if not free.any():
                continue
            values, inverse = np.unique(eff[free], return_inverse=True)
            first = len(columns)
            columns += [("p", (f, v)) for v in values]
            node_var[sel[free]] = first + inverse
            ids = np.arange(first, first + len(values))
            order_rows += list(zip(ids[:-1], ids[1:]))
            self.features[f] = (values, ids)
            dist_terms.append((f, values, ids))
        # categorical one-hots
        cat_vars = {}
        for f in np.flatnonzero(e.is_categorical):
            allowed = r.allowed(f, len(e.categories[f]))
            if allowed.sum() > 1:
                cats = np.flatnonzero(allowed)
                cat_vars[f] = (cats, np.arange(len(columns), len(columns) + len(cats)))
                columns += [("q", (f, c)) for c in cats]
        self.cat_vars = cat_vars
        n_bin = len(columns)
        leaves = np.flatnonzero(self.alive)
        leaf_col = np.full(m.n_leaves, -1)
        leaf_col[leaves] = n_bin + np.arange(len(leaves))
        self.leaves, self.leaf_col = leaves, leaf_col
        self.delta = n_bin + len(leaves)
        self.n_vars = self.delta + 1
        self.n_bin = n_bin
        self.trivial = n_bin == 0
        rows, cols, vals, lb, ub = [], [], [], [], []

        def add(entries, low, high):
            row = len(lb)
            for c, v in entries:
                rows.append(row)
                cols.append(c)
                vals.append(v)
            lb.append(low)
            ub.append(high)

        # one leaf per tree
        for i in range(e.n_trees):
            mine = leaf_col[(m.leaf_tree == i) & self.alive]
            add([(c, 1.0) for c in mine], 1.0, 1.0)
        # split nodes whose predicate the region leaves free
        for n, f in enumerate(m.node_feature):
            left = leaf_col[m.node_left[n]]
            right = leaf_col[m.node_right[n]]
            left, right = left[left >= 0], right[right >= 0]
            if node_var[n] >= 0:
                v = node_var[n]
                add([(c, 1.0) for c in left] + [(v, -1.0)], -np.inf, 0.0)
                add([(c, 1.0) for c in right] + [(v, 1.0)], -np.inf, 1.0)
            elif f in cat_vars:
                cats, ids = cat_vars[f]
                go = m.node_categories[n][cats]
                add([(c, 1.0) for c in left] + [(v, -1.0) for v in ids[go]], -np.inf, 0)
                add(
                    [(c, 1.0) for c in right] + [(v, -1.0) for v in ids[~go]],
                    -np.inf,
                    0,
                )
        for a, b in order_rows:
            add([(a, 1.0), (b, -1.0)], -np.inf, 0.0)
        for _, ids in cat_vars.values():
            add([(v, 1.0) for v in ids], 1.0, 1.0)
        self._distance_rows(dist_terms, add)
        if r.max_changes is not None:
            self._changes_row(add)
        self._base = (rows, cols, vals, lb, ub)

    def _changes_row(self, add):
        """At most ``max_changes`` discrete features leave their clean cell:
        an integer feature crosses its nearest threshold on either side, a
        categorical one leaves its category."""
        r = self.region
        entries, moved = [], 0.0
        for f, (values, ids) in self.features.items():
            if not r.integer[f]:
                continue
            right = values >= r.x0[f]
            if right.any():  # crossing it: 1 - p
                entries.append((ids[np.flatnonzero(right)[0]], -1.0))
                moved += 1
            if (~right).any():  # crossing it: p
                entries.append((ids[np.flatnonzero(~right)[-1]], 1.0))
        for f, (cats, ids) in self.cat_vars.items():
            stay = np.flatnonzero(cats == int(r.x0[f]))
            entries.append((ids[stay[0]], -1.0))  # leaving it: 1 - q
            moved += 1
        add(entries, -np.inf, r.max_changes - moved)

    # -- the region's grid ---------------------------------------------------

    def _effective(self, f, t):
        r = self.region
        if r.integer[f]:
            return r.x0[f] + np.floor(t - r.x0[f])
        return t

    def _grid_box(self, f):
        r = self.region
        if r.integer[f]:
            return (
                r.x0[f] + np.ceil(r.low[f] - r.x0[f]),
                r.x0[f] + np.floor(r.high[f] - r.x0[f]),
            )
        return r.low[f], r.high[f]

    def _distance_rows(self, terms, add):
        """Telescoped per-feature sizes: linf rows, or one l1 / squared-l2 row."""
        r = self.region
        total, constant_total = [], 0.0
        for f, values, ids in terms:
            x0, w = r.x0[f], r.weights[f]
            right = values >= x0
            entry = values + 1 if r.integer[f] else values.copy()
            cost = np.abs(np.where(right, entry, values) - x0) / w
            if r.norm == "l2":
                cost = cost**2
            entries, constant = [], 0.0
            # right of x0 (ascending): flip = 1 - p; left (descending): flip = p
            up = np.flatnonzero(right)
            inc = np.diff(np.concatenate([[0.0], cost[up]]))
            for j, c in zip(up, inc):
                entries.append((ids[j], -c))
                constant += c
            down = np.flatnonzero(~right)[::-1]
            inc = np.diff(np.concatenate([[0.0], cost[down]]))
            entries += [(ids[j], c) for j, c in zip(down, inc)]
            if r.norm == "linf":
                add(entries + [(self.delta, -1.0)], -np.inf, -constant)
            else:
                total += entries
                constant_total += constant
        if r.norm != "linf" and total:
            add(total + [(self.delta, -1.0)], -np.inf, -constant_total)

    # -- solving -------------------------------------------------------------

    def distance_of(self, objective):
        """Size from the objective (``None`` or ``-inf`` bounds give 0)."""
        value = 0.0 if objective is None else max(float(objective), 0.0)
        return float(np.sqrt(value)) if self.region.norm == "l2" else value

    def solve(
        self,
        label,
        goal,
        *,
        targeted,
        cap=np.inf,
        deadline=None,
        feasibility=False,
        tie=0.0,
    ):
        """Adversarial toward class ``goal``: minimal size, or any point within
        ``cap`` (``feasibility``). Returns scipy's result (``None`` when the
        region frees nothing)."""
        if self.trivial:
            return None
        m, e = self.owner, self.owner.ensemble
        rows, cols, vals, lb, ub = (list(a) for a in self._base)
        value = m.leaf_value[self.leaves] * 1.0
        base = e.base_score
        others = [k for k in range(e.n_classes) if k != goal] if targeted else [label]
        for k in others:  # score[goal] - score[k] >= 0 (or >= tie)
            row = len(lb)
            diff = value[:, goal] - value[:, k]
            keep = diff != 0
            rows += [row] * int(keep.sum())
            cols += list(self.leaf_col[self.leaves][keep])
            vals += list(diff[keep])
            lb.append(base[k] - base[goal] + tie)
            ub.append(np.inf)
        A = coo_matrix((vals, (rows, cols)), shape=(len(lb), self.n_vars)).tocsr()
        c = np.zeros(self.n_vars)
        if not feasibility:
            c[self.delta] = _OBJECTIVE_SCALE
        limit = cap if self.region.norm != "l2" else cap**2
        upper = np.ones(self.n_vars)
        upper[self.delta] = limit if np.isfinite(limit) else np.inf
        integrality = np.zeros(self.n_vars)
        integrality[: self.n_bin] = 1
        # HiGHS 1.14's MIP presolve can return suboptimal "optimal" solutions
        # (ERGO-Code/HiGHS#3043, #3073; seen here on 17-variable problems),
        # which would make a minimal distance too large, so it stays off
        options = {
            "mip_rel_gap": 0.0,
            "mip_abs_gap": 0.0,
            "presolve": False,
            "mip_feasibility_tolerance": 1e-9,
            "primal_feasibility_tolerance": 1e-9,
        }
        if deadline is not None:
            options["time_limit"] = max(deadline - time.monotonic(), 1e-3)
        with warnings.catch_warnings():  # HiGHS options scipy passes verbatim
            warnings.simplefilter("ignore", RuntimeWarning)
            res = milp(
                c,
                integrality=integrality,
                bounds=Bounds(np.zeros(self.n_vars), upper),
                constraints=LinearConstraint(A, lb, ub),
                options=options,
            )
        if res.mip_dual_bound is not None and not feasibility:
            res.mip_dual_bound = res.mip_dual_bound / _OBJECTIVE_SCALE
        return res

    def point(self, solution):
        """``(x, size)``: the concrete point nearest ``x0`` in the cell the
        binaries select, and the infimum size of a move into that cell
        (``None`` if the cell misses the region)."""
        r, e = self.region, self.owner.ensemble
        d = e.n_features
        low, high = np.full(d, -np.inf), np.full(d, np.inf)
        for f, (values, ids) in self.features.items():
            p = solution[ids] > 0.5
            if (~p).any():
                low[f] = values[~p].max()
            if p.any():
                high[f] = values[p].min()
        cats = {}
        for f, (choices, ids) in self.cat_vars.items():
            mask = np.zeros(len(e.categories[f]), dtype=bool)
            mask[choices[np.argmax(solution[ids])]] = True
            cats[f] = mask
        x = r.nearest(low, high, cats)
        if x is None:
            return None
        return x, float(r.size(r.gap(low, high)))
