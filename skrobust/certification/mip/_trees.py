"""The tree-ensemble route of :func:`verify` and :func:`minimal_distance`.

The model is read once (:class:`~skrobust._models.TreeEnsemble`), the
threat model is resolved per raw column (the tabular layout: numeric
columns take budgets, bounds, directions and integer steps; a categorical
column switches category only when ``feature_mask`` names it), and each
sample gets its own :class:`TreeEnsembleMILP` problem under a time limit.
"""

import time

import numpy as np
from joblib import Parallel, delayed

from ..._models import CliqueBound, TreeEnsemble, TreeEnsembleMILP, tree_regions
from ..._threat import check_eps, resolve_constraints
from ...utils import check_samples, encode_labels
from ._results import distance_result, verification_result


class TreeSetup:
    """Validated inputs of the tree route (one read of the model)."""

    def __init__(self, estimator, X, y, *, eps, norm, threat, time_limit):
        if norm not in ("linf", "l1", "l2"):
            raise ValueError(f"norm must be 'linf', 'l1' or 'l2'; got {norm!r}.")
        if time_limit is not None and not time_limit > 0:
            raise ValueError(
                f"time_limit must be a positive number; got {time_limit!r}."
            )
        if threat.get("one_hot_groups"):
            raise ValueError(
                "one_hot_groups are not supported for tree ensembles: encode the "
                "raw categorical column with a OneHotEncoder inside the pipeline "
                "and name it in `feature_mask` to let it switch category."
            )
        self.ensemble = e = TreeEnsemble(estimator)
        self.Z = e.encode(X)
        check_samples(self.Z)  # scikit-learn's error for 0 rows
        numeric = ~e.is_categorical
        if not np.isfinite(self.Z[:, numeric]).all():
            raise ValueError(
                "X contains NaN or infinity in numeric features; impute or drop "
                "them (a SimpleImputer in front of the model)."
            )
        self.pred = e.predict(self.Z)
        self.labels = (
            self.pred
            if y is None
            else encode_labels(y, e.classes_, n_samples=len(self.Z))
        )
        check_eps(eps)
        columns = getattr(X, "columns", None)
        if columns is None:
            columns = e.feature_names
        params = {"eps": eps, **threat}
        constraints = resolve_constraints(
            params, (e.n_features,), columns, layout=e.layout(X)
        )
        low, high = constraints.bounds_for(self.Z)
        outside = numeric & ((self.Z < low) | (self.Z > high))
        if not constraints.lenient and outside.any():
            row, col = np.argwhere(outside)[0]
            raise ValueError(
                f"{int(outside.any(axis=1).sum())} samples lie outside `bounds` "
                f"(e.g. sample {row}, feature {col}); widen the bounds or clip X."
            )
        self.regions = tree_regions(constraints, self.Z, norm, e.is_categorical)
        self.milp = TreeEnsembleMILP(e)
        self.time_limit = time_limit
        self.numeric_output = all(
            c is None or np.asarray(c).dtype.kind in "iuf" for c in e.categories
        )

    def empty_points(self):
        n, d = self.Z.shape
        if self.numeric_output:
            return np.full((n, d), np.nan)
        return np.full((n, d), None, dtype=object)

    def as_output(self, z):
        return self.ensemble.decode(np.asarray(z)[None])[0]

    def margin_lower(self, i):
        """Per-tree minima (Chen's bound, level 0): a proven lower bound of
        the smallest margin over sample ``i``'s perturbation set."""
        e, y = self.ensemble, self.labels[i]
        bound = CliqueBound(e, self.regions[i], 1.0)
        lowest = np.inf
        for k in range(e.n_classes):
            if k != y:
                w = np.zeros(e.n_classes)
                w[y], w[k] = 1.0, -1.0
                lowest = min(lowest, bound.margin(w, max_level=0)[0])
        return float(lowest)


def _verify_tree_sample(setup, i):
    """``(status, point, margin_lower, n_binary, seconds)`` of sample ``i``."""
    start = time.perf_counter()
    y_i = setup.labels[i]
    if setup.pred[i] != y_i:
        out = ("falsified", setup.as_output(setup.Z[i]), -np.inf, 0)
    else:
        result = setup.milp.verify(
            setup.regions[i], y_i, 1.0, time_limit=setup.time_limit
        )
        point = None if result.x is None else setup.as_output(result.x)
        out = (result.status, point, setup.margin_lower(i), result.n_binary)
    return (*out, time.perf_counter() - start)


def verify_trees(estimator, X, y, *, eps, norm, time_limit, n_jobs=None, **threat):
    """:func:`verify` for tree ensembles (same result fields); ``n_jobs``
    solves the samples' programs in parallel with joblib."""
    setup = TreeSetup(
        estimator, X, y, eps=eps, norm=norm, threat=threat, time_limit=time_limit
    )
    results = Parallel(n_jobs=n_jobs)(
        delayed(_verify_tree_sample)(setup, i) for i in range(len(setup.Z))
    )
    return verification_result(results, setup.empty_points())


def _tree_distance_sample(setup, i, max_eps):
    """``(radius, exact, point, seconds)`` of sample ``i`` (NaN: misclassified)."""
    start = time.perf_counter()
    out = (np.nan, False, None)
    if setup.pred[i] == setup.labels[i]:
        result = setup.milp.minimal_distance(
            setup.regions[i],
            setup.labels[i],
            time_limit=setup.time_limit,
            max_distance=max_eps,
        )
        point = None if result.x is None else setup.as_output(result.x)
        out = (min(result.lower, max_eps), result.status == "optimal", point)
    return (*out, time.perf_counter() - start)


def minimal_distance_trees(
    estimator, X, y, *, norm, eps, max_eps, time_limit, n_jobs=None, **threat
):
    """:func:`minimal_distance` for tree ensembles (same result fields)."""
    setup = TreeSetup(
        estimator, X, y, eps=eps, norm=norm, threat=threat, time_limit=time_limit
    )
    results = Parallel(n_jobs=n_jobs)(
        delayed(_tree_distance_sample)(setup, i, float(max_eps))
        for i in range(len(setup.Z))
    )
    return distance_result(results, setup.empty_points())
