"""Fitting a scikit-learn estimator with sample weights, in or out of routing."""

from sklearn import get_config
from sklearn.pipeline import Pipeline
from sklearn.utils.validation import has_fit_parameter


def fit_weighted(estimator, X, y, sample_weight=None):
    """``estimator.fit(X, y)`` with ``sample_weight`` where there are weights.

    A ``Pipeline`` passes the weights to its final step (with metadata
    routing enabled, it requests them on that step: ``estimator`` is
    expected to be the caller's own clone). Other estimators must accept
    ``sample_weight`` in ``fit``.

    Parameters
    ----------
    estimator : estimator
        Unfitted; fitted in place and returned.
    X : array-like of shape (n_samples, ...)
    y : array-like of shape (n_samples,)
    sample_weight : array-like of shape (n_samples,) or None, default=None

    Returns
    -------
    estimator : estimator
        The fitted ``estimator``.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.preprocessing import StandardScaler
    >>> from skrobust.utils import fit_weighted
    >>> X = np.array([[0.0], [1.0], [2.0], [3.0]])
    >>> y = np.array([0, 0, 1, 1])
    >>> pipe = fit_weighted(make_pipeline(StandardScaler(), LogisticRegression()),
    ...                     X, y, sample_weight=[1, 1, 2, 2])
    >>> twice = make_pipeline(StandardScaler(), LogisticRegression()).fit(
    ...     X, y, logisticregression__sample_weight=[1, 1, 2, 2])
    >>> bool(np.allclose(pipe[-1].coef_, twice[-1].coef_))
    True
    """
    if sample_weight is None:
        return estimator.fit(X, y)
    final = estimator.steps[-1] if isinstance(estimator, Pipeline) else None
    model = estimator if final is None else final[1]
    if not has_fit_parameter(model, "sample_weight"):
        raise TypeError(
            f"{type(model).__name__}.fit does not accept sample_weight; use a "
            "classifier that does, or fit without sample_weight."
        )
    if final is None:
        return estimator.fit(X, y, sample_weight=sample_weight)
    if get_config().get("enable_metadata_routing", False):
        model.set_fit_request(sample_weight=True)
        return estimator.fit(X, y, sample_weight=sample_weight)
    return estimator.fit(X, y, **{f"{final[0]}__sample_weight": sample_weight})
