"""Verification and minimal adversarial distances by MILP, sample by sample.

The loops here do not depend on the model: an *encoding* (see
:func:`encoding_for`) adds a fitted model to a :class:`~._milp.MILP` on the
perturbation variables of one sample and returns its class scores as linear
expressions. For each other class ``k`` the program minimises the margin
``z_y - z_k`` (verification at a fixed radius) or the distance subject to
``z_y - z_k <= 0`` (the minimal adversarial distance), under a time limit
per sample. Classes whose margin is already certified by cheaper bounds are
skipped.
"""

import numbers
import time

import numpy as np
from joblib import Parallel, delayed

from ..._discrete import discrete_units
from ..._models import is_tree_model
from ..._threat import check_eps, resolve_constraints
from ..._torch import torch
from ...utils import SHARED_DOCS, Substitution, encode_labels
from ._ball import Perturbation
from ._milp import MILP
from ._relu import ReluNetwork
from ._results import verification_result
from ._trees import verify_trees

STATUSES = ("verified", "falsified", "unknown")
METHODS = ("milp",)
"""The method name of this family in :func:`skrobust.certification.certify`."""


def encoding_for(estimator, *, bound_method="crown"):
    """The MILP encoding of a fitted model (a ReLU network's, today)."""
    return ReluNetwork(estimator, bound_method=bound_method)


class _Setup:
    """The validated inputs shared by :func:`verify` and :func:`minimal_distance`."""

    def __init__(
        self, estimator, X, y, *, eps, norm, bounds, time_limit, method, **threat
    ):
        if norm not in ("linf", "l1"):
            raise ValueError(
                "exact verification by MILP supports norm='linf' or 'l1' (linear "
                f"constraints); got {norm!r}. For l2 use method='crown' or "
                "'lipschitz'."
            )
        if not isinstance(time_limit, numbers.Real) or not time_limit > 0:
            raise ValueError(
                f"time_limit must be a positive number; got {time_limit!r}."
            )
        self.encoding = encoding_for(estimator, bound_method=method)
        x = self.encoding.to_input(X)
        self.x, self.shape, self.norm = x, tuple(x.shape[1:]), norm
        self.dtype = np.asarray(X).dtype if np.asarray(X).dtype.kind == "f" else float
        classes = self.encoding.classes_
        self.pred = self.encoding.predict(x)
        self.labels = (
            self.pred if y is None else encode_labels(y, classes, n_samples=len(x))
        )
        check_eps(eps)
        columns = getattr(X, "columns", None)
        params = {"eps": eps, "bounds": bounds, **threat}
        constraints = resolve_constraints(params, self.shape, columns)
        constraints.check_inside(x)
        low, high = constraints.input_box(x)
        self.low = low.flatten(1).numpy()
        self.high = high.flatten(1).numpy()
        self.scale = constraints.scale.reshape(-1).astype(float)
        self.integer = None
        if constraints.integer is not None:
            self.integer = constraints.integer.reshape(-1).copy()
        self.one_hot = constraints.one_hot
        self.max_changes = constraints.max_changes
        self.units = [np.asarray(u).reshape(-1) for u in discrete_units(constraints)]
        self.region_low = _finite_or_none(constraints.low)
        self.region_high = _finite_or_none(constraints.high)
        self.time_limit = float(time_limit)

    def bounds(self, rows, radius):
        """The encoding's bounds for samples ``rows`` over balls of ``radius``."""
        eps = torch.as_tensor(self.scale.reshape(self.shape), dtype=torch.float64)
        factor = torch.full((len(rows),), float(radius), dtype=torch.float64)
        return self.encoding.bounds(
            self.x[rows],
            eps,
            self.norm,
            self.region_low,
            self.region_high,
            eps_sample=factor.clone(),
        )

    def perturbation(self, model, i, radius, minimize=False):
        return Perturbation(
            model,
            self.x[i].reshape(-1).numpy(),
            self.scale,
            self.low[i],
            self.high[i],
            norm=self.norm,
            radius=radius,
            integer=self.integer,
            one_hot=self.one_hot,
            max_changes=self.max_changes,
            units=self.units,
            minimize=minimize,
        )

    def as_output(self, point):
        return np.asarray(point, dtype=float).reshape(self.shape).astype(self.dtype)


def _finite_or_none(bound):
    if bound is None or not np.isfinite(bound).any():
        return None
    return torch.as_tensor(np.array(bound, dtype=float))


def _objective(model, cols, coef):
    c = np.zeros(model.n_variables)
    np.add.at(c, cols, coef)
    return c


def _verify_sample(setup, i, pre, margin_lower):
    """``(status, counterexample, margin lower bound, binaries)`` of sample ``i``."""
    y, enc = setup.labels[i], setup.encoding
    x0 = setup.x[i].numpy()
    if setup.pred[i] != y:
        return "falsified", setup.as_output(x0), -np.inf, 0
    others = [k for k in np.argsort(margin_lower) if k != y and margin_lower[k] <= 0]
    bounded = np.delete(margin_lower, y)  # the classes the bounds settle
    lowest = float(bounded[bounded > 0].min()) if (bounded > 0).any() else np.inf
    if not others:
        return "verified", None, lowest, 0
    deadline = time.perf_counter() + setup.time_limit
    model = MILP()
    pert = setup.perturbation(model, i, 1.0)
    scores = enc.encode(model, pert, [(lo[i], up[i]) for lo, up in pre], setup.shape)
    status = "verified"
    for k in others:
        coef, const = scores.margin(y, k)
        remaining = deadline - time.perf_counter()
        if remaining <= 0:
            return "unknown", None, -np.inf, model.n_integer
        solution = model.solve(
            _objective(model, scores.cols, coef), time_limit=remaining
        )
        bound = solution.bound + const
        lowest = min(lowest, bound)
        if bound > 1e-6 * (1 + abs(const)):
            continue  # class k can never win
        if solution.x is not None and solution.value + const <= 0:
            point = setup.as_output(pert.point(solution.x))
            if enc.predict(point[None])[0] != y:
                return "falsified", point, lowest, model.n_integer
        status = "unknown"  # time ran out, or a tie the model breaks for y
        if solution.status != "optimal":
            break
    return status, None, lowest, model.n_integer


def _timed_sample(setup, i, pre, margin_lower):
    """:func:`_verify_sample` and the seconds it took (a joblib task)."""
    start = time.perf_counter()
    return (*_verify_sample(setup, i, pre, margin_lower), time.perf_counter() - start)


@Substitution(**SHARED_DOCS)
def verify(
    estimator,
    X,
    y,
    *,
    eps,
    norm="linf",
    bounds=None,
    time_limit=60.0,
    bound_method="crown",
    n_jobs=None,
    **threat,
):
    """Exact verification of each sample by mixed-integer linear programming.

    For a ReLU network (a skorch net, ``MLPClassifier(activation="relu")``,
    a pipeline of affine steps before one) the question "does some point of
    the perturbation set change the prediction?" is a mixed-integer linear
    program: one binary variable per ReLU that the set does not keep on one
    side (stable units need none; their bounds come from CROWN or IBP), and
    the threat model as linear constraints. HiGHS (:func:`scipy.optimize.milp`)
    solves it for each other class: a proven positive minimum margin
    verifies the sample, a point with a non-positive margin that the model
    misclassifies falsifies it.

    For a tree ensemble (decision trees, random forests, extra trees,
    gradient boosting, histogram gradient boosting; after per-feature
    preprocessing in a pipeline) it is Kantchelian et al.'s (2016) program:
    one binary per threshold, leaf indicators, all three norms (l2 too),
    categorical columns switching category when ``feature_mask`` names them
    and ``max_changes``; see :class:`TreeEnsembleMILP`.

    Parameters
    ----------
    estimator : fitted classifier
        A ReLU network (its differentiable view a chain of affine layers and
        ReLUs) or a tree ensemble.
    X : array-like of shape (n_samples, ...)
    y : array-like of shape (n_samples,)
        True labels.
    eps : float, array-like or dict
        Budget: one value, one per feature, or ``{column: eps}``.
    norm : {"linf", "l1"}, default="linf"
        Tree ensembles also take ``"l2"``.
    bounds : (low, high) or None, default=None
        Valid input domain (cuts the ball).
    time_limit : float, default=60.0
        Seconds per sample; a sample not decided in time is ``"unknown"``.
    bound_method : {"crown", "ibp"}, default="crown"
        The pre-activation bounds (tighter bounds: fewer binaries).
    n_jobs : int or None, default=None
        Solve the samples' programs in parallel with joblib (any backend;
        each program is the same whatever ``n_jobs``, but a ``time_limit``
        reached on a busy machine can leave a sample ``"unknown"``).
    **threat
        The tabular threat model of the attacks: ``feature_mask``,
        ``direction``, ``integer_features`` (integer offsets, as integer
        variables), ``one_hot_groups``, ``max_changes`` (at most this many
        one-hot groups and integer features move; a binary per unit).

    Returns
    -------
    result : Bunch
        ``status``: ndarray of str, ``"verified"`` (the prediction is ``y`` on
        the whole set), ``"falsified"`` (``counterexample`` holds a point of
        the set that the model misclassifies; the clean sample itself when it
        is misclassified) or ``"unknown"`` (time ran out); ``counterexample``:
        ndarray like ``X``, NaN where none; ``margin_lower``: a proven lower
        bound of the smallest margin ``z_y - z_k`` over the set; ``seconds``
        and ``n_binary`` per sample.

    {examples_iris_mlp}
    >>> from skrobust.certification.mip import verify
    >>> result = verify(clf, X[:5], y[:5], eps=0.1)
    >>> sorted(set(result.status) - {"verified", "falsified", "unknown"})
    []
    """
    # the problem, as the tree and the network encodings take it
    problem = dict(eps=eps, norm=norm, bounds=bounds, time_limit=time_limit, **threat)
    if is_tree_model(estimator):
        return verify_trees(estimator, X, y, n_jobs=n_jobs, **problem)
    setup = _Setup(estimator, X, y, method=bound_method, **problem)
    n = len(setup.x)
    rows = np.arange(n)
    if n:
        pre, margins = setup.bounds(rows, 1.0)
        margin_lower = margins(torch.as_tensor(setup.labels))
    results = Parallel(n_jobs=n_jobs)(
        delayed(_timed_sample)(setup, i, pre, margin_lower[i]) for i in rows
    )
    return verification_result(results, np.full((n, *setup.shape), np.nan, setup.dtype))


@Substitution(**SHARED_DOCS)
def certify(
    estimator,
    X,
    y,
    *,
    eps,
    norm="linf",
    bounds=None,
    method="milp",
    batch_size="auto",
    time_limit=60.0,
    bound_method="crown",
    n_jobs=None,
    **threat,
):
    """Whether each sample is verified correct within the ``eps``-ball (MILP).

    ``True`` where :func:`verify` proves the prediction is ``y`` everywhere
    in the perturbation set; falsified and unknown samples are ``False``.
    The family of ``certify(..., method="milp")``.

    Parameters
    ----------
    estimator, X, y, eps, norm, bounds, time_limit, bound_method, n_jobs, **threat
        As in :func:`verify` (``feature_mask``, ``direction``, ...).
    method : {"milp"}, default="milp"
    batch_size : default="auto"
        Not used: samples are solved one by one.

    {certified_returns}

    {examples_iris_mlp}
    >>> from skrobust.certification.mip import certify
    >>> bool(certify(clf, X[:10], y[:10], eps=0.05).mean() <= 1)
    True
    """
    _check_method(method)
    result = verify(
        estimator,
        X,
        y,
        eps=eps,
        norm=norm,
        bounds=bounds,
        time_limit=time_limit,
        bound_method=bound_method,
        n_jobs=n_jobs,
        **threat,
    )
    return result.status == "verified"


def _check_method(method):
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}; got {method!r}.")
