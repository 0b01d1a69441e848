"""Per-point results of a robustness evaluation."""

import numpy as np

from ..utils import SHARED_DOCS, Substitution
from ._inputs import METRIC_DOCS, _check_data
from ._robust import _as_attacks, worst_case
from ._routing import check_chunking, map_chunks


def _worst_inputs(X, y, estimator, attacks):
    """Predictions and inputs of one chunk (an empty column: not raw)."""
    y_pred, _, _, X_worst = worst_case(estimator, X, y, attacks, return_inputs=True)
    if X_worst is None:
        X_worst = np.empty((len(y), 0))
    return y_pred, X_worst


@Substitution(**SHARED_DOCS, **METRIC_DOCS)
def robust_predictions(
    estimator, X, y, *, attack, return_inputs=False, n_jobs=None, chunk_size=1024
):
    """Predictions of ``estimator`` at the worst input found for each point.

    The per-point counterpart of :func:`robust_accuracy_score`, run the same
    way (same attacks, seeds and early stopping): ``(robust_predictions(...)
    == y).mean()`` is the robust accuracy. Points misclassified on the clean
    input keep their clean prediction.

    Parameters
    ----------
    {estimator_X_y}
    attack : attack or list of attacks
        With several attacks, each runs on the points the previous ones
        left correct (the pointwise worst case).
    return_inputs : bool, default=False
        Also return the inputs those predictions were made at.
    {attack_chunks}

    Returns
    -------
    y_pred : ndarray of shape (n_samples,)
        Values of the estimator's ``classes_``.
    X_worst : ndarray of shape X.shape, DataFrame or None
        Only with ``return_inputs=True``: the adversarial input of each
        attacked point and the clean input of the others, as float arrays of
        raw features (a DataFrame like ``X``, with its dtypes and categories,
        for a pipeline reading raw tabular columns); ``None`` when a
        white-box attack acted after non-differentiable steps of a pipeline
        (its inputs are not raw features there).

    {examples_iris}
    >>> from skrobust.attacks import PGD
    >>> from skrobust.metrics import robust_accuracy_score, robust_predictions
    >>> pgd = PGD(eps=0.3, random_state=0)
    >>> y_adv, X_adv = robust_predictions(clf, X, y, attack=pgd, return_inputs=True)
    >>> bool((y_adv == y).mean() == robust_accuracy_score(clf, X, y, attack=pgd))
    True
    >>> bool(abs(X_adv - X).max() <= 0.3 + 1e-9)
    True
    """
    attacks = _as_attacks(attack)
    check_chunking(n_jobs, chunk_size)
    X, y = _check_data(X, y, "robust_predictions")
    y_pred, X_worst = map_chunks(
        _worst_inputs,
        X,
        y,
        n_jobs=n_jobs,
        chunk_size=chunk_size,
        args=(estimator, attacks),
    )
    if not return_inputs:
        return y_pred
    if X_worst.ndim == 2 and X_worst.shape[1] == 0:
        X_worst = None
    return y_pred, X_worst
