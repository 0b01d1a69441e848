"""Certified accuracy from any estimator that certifies its predictions."""

import numbers

import numpy as np

from ..utils import Substitution, check_samples, store_params
from ._routing import ScoreRequestMixin, check_chunking, map_chunks


def certified_radii(estimator, X, y):
    """Each point's certified radius, NaN where it is not certified correct.

    The certificate protocol of skrobust: every certifier offers
    ``certified_radius(X, y=None)``, a float array with NaN where it
    abstains or, given ``y``, where its prediction is wrong.
    """
    method = getattr(estimator, "certified_radius", None)
    if method is None:
        raise TypeError(
            f"{type(estimator).__name__} has no `certified_radius` method, so it "
            "certifies nothing; certified accuracy needs a certifier such as "
            "RandomizedSmoothingClassifier or IBPClassifier (any object with "
            "certified_radius(X, y=None) -> radii, NaN where not certified)."
        )
    radius = np.asarray(method(X, y), dtype=float)
    if radius.shape != (len(y),):
        raise ValueError(
            f"{type(estimator).__name__}.certified_radius returned shape "
            f"{radius.shape} for {len(y)} samples."
        )
    return radius


# the parameters of certified accuracy, its scorer and its scorer's maker
_CERTIFIED_DOCS = {
    "certifier": """\
estimator : fitted certifier
    Anything with ``certified_radius(X, y=None)`` returning each point's
    certified radius, NaN where it abstains or (given ``y``) is wrong:
    every skrobust certifier (bound propagation, randomized smoothing).""",
    "certified_radius": """\
radius : float
    Certification radius, in the certificate's norm (l2 for smoothing,
    linf for interval bounds); ``0`` gives the accuracy of
    non-abstained predictions.""",
    "certify_chunks": """\
n_jobs : int or None, default=None
    Certify chunks of ``chunk_size`` rows in parallel with joblib (a
    dask or Ray cluster inside their joblib backends); ``None``: one
    piece, in this process. The result does not depend on ``n_jobs``.
chunk_size : int, default=1024
    Rows per chunk when ``n_jobs`` is set.""",
}


def certified_predictions(estimator, X, y, radius):
    """Boolean array: is each point certified correct within ``radius``?

    From the estimator's ``certified_radius(X, y)``: a point counts when its
    radius is at least ``radius`` (NaN, an abstention or a wrong
    prediction, never counts).
    """
    radii = certified_radii(estimator, X, np.asarray(y))
    return np.nan_to_num(radii, nan=-np.inf) >= radius


def _certified_rows(X, y, estimator, radius):
    return (certified_predictions(estimator, X, y, radius),)


def _certified(estimator, X, y, radius, n_jobs, chunk_size):
    y = np.asarray(y)
    args = (estimator, radius)
    kwargs = {"n_jobs": n_jobs, "chunk_size": chunk_size, "args": args}
    return map_chunks(_certified_rows, X, y, **kwargs)[0]


@Substitution(**_CERTIFIED_DOCS)
def certified_accuracy_score(
    estimator, X, y, *, radius, sample_weight=None, n_jobs=None, chunk_size=1024
):
    """Fraction of points certified correct within ``radius``.

    A point counts when the estimator's prediction is its true label and is
    *provably* unchanged within the ball of ``radius`` (for randomized
    smoothing, with the certificate's confidence ``1 - alpha``). Abstentions
    never count.

    Parameters
    ----------
    {certifier}
    X : array-like of shape (n_samples, ...)
    y : array-like of shape (n_samples,)
    {certified_radius}
    sample_weight : array-like of shape (n_samples,), default=None
        Weight of each point.
    {certify_chunks}

    Returns
    -------
    score : float

    Notes
    -----
    Bound propagation finds radii by bisection (to its ``tol``, up to its
    ``max_eps``), so a point whose largest certified radius is within
    ``tol`` of ``radius`` may not count: the score is never above
    ``certify(X, y, eps=radius).mean()``, and any radius it counts is
    certified.

    Examples
    --------
    >>> import numpy as np
    >>> from skrobust.metrics import certified_accuracy_score
    >>> class Certified:  # radii of its predictions [0, 1, 1]; NaN: abstains
    ...     def certified_radius(self, X, y=None):
    ...         radius = np.array([0.5, 0.1, np.nan])
    ...         return np.where(np.array([0, 1, 1]) == y, radius, np.nan)
    >>> certified_accuracy_score(Certified(), None, [0, 1, 1], radius=0.2)
    0.3333333333333333
    """
    _check_radius(radius)
    check_chunking(n_jobs, chunk_size)
    check_samples(y, "certified_accuracy_score")
    certified = _certified(estimator, X, y, radius, n_jobs, chunk_size)
    return float(np.average(certified, weights=sample_weight))


def _check_radius(radius):
    if not isinstance(radius, numbers.Real) or radius < 0 or np.isnan(radius):
        raise ValueError(f"radius must be a non-negative number; got {radius!r}.")


@Substitution(**_CERTIFIED_DOCS)
class CertifiedScorer(ScoreRequestMixin):
    """``scorer(estimator, X, y)``: certified accuracy at a fixed radius.

    Build it with :func:`make_certified_scorer`.

    Parameters
    ----------
    {certified_radius}
    {certify_chunks}
    """

    def __init__(self, radius, n_jobs=None, chunk_size=1024):
        store_params(self, locals())

    @property
    def __name__(self):
        return f"certified_accuracy_at_{self.radius:g}"

    def __repr__(self):
        return f"make_certified_scorer(radius={self.radius!r})"

    def __call__(self, estimator, X, y, sample_weight=None):
        """Certified accuracy of ``estimator`` on ``(X, y)``.

        Parameters
        ----------
        {certifier}
        X : array-like of shape (n_samples, ...)
        y : array-like of shape (n_samples,)
        sample_weight : array-like of shape (n_samples,), default=None

        Returns
        -------
        score : float
        """
        check_samples(y, "CertifiedScorer")
        certified = _certified(
            estimator, X, y, self.radius, self.n_jobs, self.chunk_size
        )
        return float(np.average(certified, weights=sample_weight))


@Substitution(**_CERTIFIED_DOCS)
def make_certified_scorer(*, radius, n_jobs=None, chunk_size=1024):
    """Make a scorer of certified accuracy at ``radius`` (for ``GridSearchCV``).

    Parameters
    ----------
    {certified_radius}
    {certify_chunks}

    Returns
    -------
    scorer : CertifiedScorer
        A picklable callable ``scorer(estimator, X, y, sample_weight=None)``
        with a ``__name__``; ``set_score_request(sample_weight=True)`` under
        scikit-learn's metadata routing.

    Examples
    --------
    >>> from skrobust.metrics import make_certified_scorer
    >>> make_certified_scorer(radius=0.25).__name__
    'certified_accuracy_at_0.25'
    """
    _check_radius(radius)
    check_chunking(n_jobs, chunk_size)
    return CertifiedScorer(radius, n_jobs=n_jobs, chunk_size=chunk_size)
