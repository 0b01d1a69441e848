"""The exact minimal adversarial distance of each sample, by MILP."""

import numbers
import time

import numpy as np
from joblib import Parallel, delayed

from ..._models import is_tree_model
from ..._torch import torch
from ...utils import SHARED_DOCS, Substitution
from ._milp import MILP
from ._results import distance_result
from ._trees import minimal_distance_trees
from ._verify import _check_method, _Setup


def _distance_sample(setup, i, max_eps, stages=5):
    """``(radius, exact, boundary point)`` of sample ``i``.

    ``radius`` is a proven lower bound of the distance to the nearest point
    where another class ties or wins (``max_eps`` if none is that close),
    exact (to the solver's gap) when ``exact``; ``boundary`` is such a point.
    The search radius doubles from ``max_eps / 2**(stages - 1)``: small balls
    have tight pre-activation bounds (few binaries), and a ball with no
    boundary point proves the distance exceeds it.
    """
    deadline = time.perf_counter() + setup.time_limit
    for stage in range(stages - 1, -1, -1):
        found = _search(setup, i, max_eps / 2**stage, deadline)
        if found is not None:
            return found
    return float(max_eps), True, None


def _search(setup, i, radius, deadline):
    """The minimal distance within ``radius``, or None if it is farther."""
    y, enc = setup.labels[i], setup.encoding
    limit, lowest, exact, boundary = radius, np.inf, True, None

    def candidates(r, classes):
        pre, margins = setup.bounds([i], r)
        lower = margins(torch.as_tensor(setup.labels[[i]]))[0]
        order = [k for k in np.argsort(lower) if k in classes and lower[k] <= 0]
        return [(lo[0], up[0]) for lo, up in pre], order

    pre, todo = candidates(radius, set(range(len(enc.classes_))) - {y})
    while todo:
        k = todo.pop(0)
        remaining = deadline - time.perf_counter()
        if remaining <= 0:  # classes left unexamined: nothing is proven
            return 0.0, False, boundary
        model = MILP()
        pert = setup.perturbation(model, i, radius, minimize=True)
        scores = enc.encode(model, pert, pre, setup.shape)
        coef, const = scores.margin(y, k)
        keep = np.flatnonzero(coef)
        # the margin of class k is not positive: coef . x <= -const
        extra = (
            np.zeros(len(keep)),
            scores.cols[keep],
            coef[keep],
            [-np.inf],
            [-const],
        )
        objective = np.zeros(model.n_variables)
        objective[pert.rho] = 1.0
        solution = model.solve(objective, time_limit=remaining, extra=extra)
        if solution.status == "infeasible":
            continue  # class k is farther than the radius searched
        exact &= solution.status == "optimal"
        lowest = min(lowest, max(solution.bound, 0.0))
        if solution.x is not None and solution.value <= radius:
            # the other classes: only within it (a point exactly at the
            # searched radius is the boundary point too)
            radius = solution.value
            boundary = setup.as_output(pert.point(solution.x))
            pre, todo = candidates(radius, set(todo))
    if lowest == np.inf and boundary is None:
        return None  # no class within ``limit``
    return min(radius, lowest, limit), exact, boundary


@Substitution(**SHARED_DOCS)
def minimal_distance(
    estimator,
    X,
    y=None,
    *,
    norm="linf",
    eps=1.0,
    bounds=None,
    max_eps=1.0,
    time_limit=60.0,
    bound_method="crown",
    n_jobs=None,
    **threat,
):
    """The exact minimal adversarial distance of each sample (MILP).

    The smallest ``r`` such that some point at (scaled) distance ``r`` from
    the sample, inside the domain and the threat model, makes another class
    tie or win: one mixed-integer program per other class minimising the
    distance subject to ``z_y - z_k <= 0`` (see :func:`verify` for the
    encoding). Classes are searched in the order of their bound margins;
    once one is found at distance ``d``, the others are only searched within
    ``d``, with pre-activation bounds recomputed on that smaller ball (fewer
    binaries).

    Parameters
    ----------
    estimator : fitted classifier
        A ReLU network or a tree ensemble (see :func:`verify`; trees also
        take ``norm="l2"``).
    X : array-like of shape (n_samples, ...)
    y : array-like of shape (n_samples,), default=None
        True labels; ``None``: the model's predictions.
    norm : {"linf", "l1"}, default="linf"
    eps : float, array-like or dict, default=1.0
        Per-feature units of the distance: the distance is the scaled norm
        ``||(x' - x) / eps||`` (features with ``eps = 0`` stay fixed).
    bounds : (low, high) or None, default=None
        Valid input domain.
    max_eps : float, default=1.0
        Largest distance searched.
    time_limit : float, default=60.0
        Seconds per sample.
    bound_method : {"crown", "ibp"}, default="crown"
    n_jobs : int or None, default=None
        Solve the samples' programs in parallel with joblib (the same
        programs whatever ``n_jobs``).
    **threat
        ``feature_mask``, ``direction``, ``integer_features``,
        ``one_hot_groups``, ``max_changes`` (see :func:`verify`).

    Returns
    -------
    result : Bunch
        ``radius``: proven lower bounds of the distances (``max_eps`` when
        nothing is that close, NaN for misclassified samples); ``exact``:
        whether each was solved to optimality (else ``radius`` is only a
        bound); ``boundary``: a point at that distance on the decision
        boundary (NaN where none); ``seconds``.

    {examples_iris_mlp}
    >>> from skrobust.certification.mip import minimal_distance
    >>> result = minimal_distance(clf, X[:3], max_eps=2.0)
    >>> result.radius.shape
    (3,)
    """
    if not isinstance(max_eps, numbers.Real) or not max_eps > 0:
        raise ValueError(f"max_eps must be a positive number; got {max_eps!r}.")
    # the problem, as the tree and the network encodings take it
    problem = dict(eps=eps, norm=norm, bounds=bounds, time_limit=time_limit, **threat)
    if is_tree_model(estimator):
        return minimal_distance_trees(
            estimator, X, y, max_eps=max_eps, n_jobs=n_jobs, **problem
        )
    setup = _Setup(estimator, X, y, method=bound_method, **problem)
    results = Parallel(n_jobs=n_jobs)(
        delayed(_timed_distance)(setup, i, float(max_eps)) for i in range(len(setup.x))
    )
    boundary = np.full((len(setup.x), *setup.shape), np.nan, dtype=setup.dtype)
    return distance_result(results, boundary)


def _timed_distance(setup, i, max_eps):
    """``(radius, exact, point, seconds)`` of sample ``i`` (a joblib task); a
    misclassified sample has no radius (NaN)."""
    start = time.perf_counter()
    out = (np.nan, False, None)
    if setup.pred[i] == setup.labels[i]:
        out = _distance_sample(setup, i, max_eps)
    return (*out, time.perf_counter() - start)


@Substitution(**SHARED_DOCS)
def certified_radius(
    estimator,
    X,
    y=None,
    *,
    norm="linf",
    bounds=None,
    method="milp",
    max_eps=1.0,
    tol=None,
    batch_size="auto",
    time_limit=60.0,
    bound_method="crown",
    n_jobs=None,
    **threat,
):
    """Exact certified radius of each sample (see :func:`minimal_distance`).

    The family of ``certified_radius(..., method="milp")``.

    Parameters
    ----------
    estimator, X, y, norm, bounds, max_eps, time_limit, bound_method, **threat
        As in :func:`minimal_distance` (``eps`` in ``threat`` sets the
        per-feature units; ``feature_mask``, ``direction``, ...).
    n_jobs : int or None, default=None
        As in :func:`minimal_distance`: programs solved in parallel.
    method : {"milp"}, default="milp"
    tol, batch_size : default=None, "auto"
        Not used: the distance is solved for, sample by sample.

    Returns
    -------
    radius : ndarray of shape (n_samples,)
        NaN for misclassified samples.

    {examples_iris_mlp}
    >>> from skrobust.certification.mip import certified_radius
    >>> bool((certified_radius(clf, X[:3], y[:3], max_eps=2.0) >= 0).all())
    True
    """
    _check_method(method)
    return minimal_distance(
        estimator,
        X,
        y,
        norm=norm,
        bounds=bounds,
        max_eps=max_eps,
        time_limit=time_limit,
        bound_method=bound_method,
        n_jobs=n_jobs,
        **threat,
    ).radius
