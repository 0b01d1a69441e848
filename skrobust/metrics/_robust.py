"""Robust accuracy (and any robust metric) as a scikit-learn scorer."""

import numpy as np
from scipy.special import softmax
from sklearn.metrics import get_scorer

from .._threat import needs_data_statistics
from ..attacks import BaseAttack, BlackBoxModel
from ..utils import SHARED_DOCS, Substitution, store_params
from ._inputs import (
    METRIC_DOCS,
    _check_data,
    _outputs,
    _prediction_model,
    checked_view,
    warn_undefined,
)
from ._routing import ScoreRequestMixin, _take, check_chunking, map_chunks

_STATS = ("n_features_in_", "feature_names_in_", "data_min_", "data_max_", "data_std_")


def _as_attacks(attack, *, named=False):
    """``attack`` as a list of attacks (``named``: the caller takes dicts too)."""
    attacks = list(attack) if isinstance(attack, (list, tuple)) else [attack]
    if not attacks or not all(isinstance(a, BaseAttack) for a in attacks):
        kinds = "a list of them or a dict {name: attack}" if named else "a list of them"
        raise TypeError(
            f"attack must be a skrobust attack (e.g. PGD(eps=0.1)) or {kinds}; "
            f"got {attack!r}."
        )
    return attacks


def attack_for(attack, estimator, X):
    """A copy of ``attack`` aimed at ``estimator``, with early stopping.

    The copy never clones (or refits) ``estimator``. Data statistics come
    from the user's attack when it was fitted, else from ``X`` when the
    attack needs them (``bounds="data"``, ``eps_units="std"``).
    """
    params = attack.get_params(deep=False)
    params["estimator"] = estimator
    if "early_stop" in params:
        params["early_stop"] = True
    copy = type(attack)(**params)
    copy._validate_params()  # a bad budget or norm before any work
    if hasattr(attack, "data_min_"):
        for name in _STATS:
            if hasattr(attack, name):
                setattr(copy, name, getattr(attack, name))
    elif needs_data_statistics(params):
        copy.fit(X)
    return copy


def _in_space(attack, view):
    """Whether ``attack`` outputs the view's space (white-box attacks) rather
    than the estimator's raw inputs (black-box attacks, and every attack on a
    pipeline reading raw tabular data, which returns raw rows)."""
    if getattr(view, "codec", None) is not None:
        return False
    return not getattr(attack, "_raw_input", False)


def worst_case(estimator, X, y, attacks, *, return_inputs=False):
    """Pointwise worst case of ``attacks`` on the points ``estimator`` gets right.

    Points already misclassified are not attacked; each attack runs only on
    the points the previous ones left correct, and stops on a point as soon
    as it is misclassified (early stopping). An estimator without a
    differentiable view is scored through its own ``predict`` (and
    ``predict_proba`` or ``decision_function`` for the scores), so black-box
    attacks can score any classifier.

    Returns
    -------
    y_pred : ndarray
        Predictions at the worst input found for each point.
    logits : ndarray of shape (n_samples, n_classes)
        The model's logits at those inputs.
    view : DifferentiableModel or BlackBoxModel
    X_worst : ndarray or None, only with ``return_inputs=True``
        Those inputs in raw features (the clean one where no attack ran);
        ``None`` when a white-box attack acted after non-differentiable steps
        of a pipeline, where its inputs are not raw features.
    """
    X, y = _check_data(X, y, "worst_case")
    view = checked_view(estimator, X, y)
    logits, y_pred = _outputs(view, X, in_space=False)
    warn_undefined(logits, "clean points")
    robust = y_pred == y
    raw = return_inputs and not (
        view.preprocess is not None and any(_in_space(a, view) for a in attacks)
    )
    codec = getattr(view, "codec", None)
    X_worst = None
    if raw:  # raw rows of a tabular pipeline keep their frame
        X_worst = X.copy() if codec is not None else np.array(X, dtype=float)
    for attack in attacks:
        index = np.flatnonzero(robust)
        if not len(index):
            break
        X_part, y_part = _take(X, index), y[index]
        X_adv = attack_for(attack, estimator, X).generate(X_part, y_part)
        adv_logits, adv_pred = _outputs(view, X_adv, _in_space(attack, view))
        warn_undefined(adv_logits, f"{type(attack).__name__}'s adversarial inputs")
        if codec is not None and not isinstance(view, BlackBoxModel):
            # valid raw rows: the model's own predict has the last word
            adv_pred = np.asarray(estimator.predict(X_adv))
        broken = adv_pred != y_part
        last = attack is attacks[-1]
        # a point keeps the first adversarial input found, else the last one
        update = broken | last
        logits[index[update]] = adv_logits[update]
        y_pred[index[broken]] = adv_pred[broken]
        robust[index[broken]] = False
        if raw:
            X_worst = _put_rows(X_worst, index[update], X_adv, update)
    if return_inputs:
        return y_pred, logits, view, X_worst
    return y_pred, logits, view


def _put_rows(X, rows, X_new, mask):
    """``X`` with its rows ``rows`` replaced by the rows ``mask`` of ``X_new``
    (a DataFrame column by column, keeping its dtypes)."""
    if not hasattr(X, "iloc"):
        X[rows] = np.asarray(X_new, dtype=float)[mask]
        return X
    for j in range(X.shape[1]):
        X.iloc[rows, j] = X_new.iloc[np.flatnonzero(mask), j].to_numpy()
    return X


def _worst_rows(X, y, estimator, attacks):
    """Per-row part of :func:`worst_case` (one chunk, in a worker)."""
    y_pred, logits, _ = worst_case(estimator, X, y, attacks)
    return y_pred, logits


class RobustScorer(ScoreRequestMixin):
    """A scorer evaluating a metric on adversarial inputs: ``scorer(est, X, y)``.

    Build it with :func:`make_robust_scorer`.

    Parameters
    ----------
    attacks : list of attacks
    metric : str or callable
    n_jobs : int or None, default=None
    chunk_size : int, default=1024
    """

    def __init__(self, attacks, metric="accuracy", n_jobs=None, chunk_size=1024):
        store_params(self, locals())

    @property
    def __name__(self):
        metric = self.metric
        if _is_scorer(metric):
            metric = metric._score_func
        name = metric if isinstance(metric, str) else getattr(metric, "__name__", "")
        return f"robust_{name or 'metric'}"

    def __repr__(self):
        attacks = ", ".join(repr(a) for a in self.attacks)
        extra = "" if self.n_jobs is None else f", n_jobs={self.n_jobs!r}"
        return f"make_robust_scorer([{attacks}], metric={self.metric!r}{extra})"

    def __call__(self, estimator, X, y, sample_weight=None):
        """Score ``estimator`` on the worst-case adversarial inputs of ``X``.

        Parameters
        ----------
        estimator : fitted classifier
        X : array-like or DataFrame of shape (n_samples, ...)
        y : array-like of shape (n_samples,)
        sample_weight : array-like of shape (n_samples,), default=None
            Passed to the metric.

        Returns
        -------
        score : float
        """
        X, y = _check_data(X, y, "RobustScorer")
        y_pred, logits = map_chunks(
            _worst_rows,
            X,
            y,
            n_jobs=self.n_jobs,
            chunk_size=self.chunk_size,
            args=(estimator, self.attacks),
        )
        kwargs = {} if sample_weight is None else {"sample_weight": sample_weight}
        if callable(self.metric) and not _is_scorer(self.metric):
            return self.metric(y, y_pred, **kwargs)
        view = _prediction_model(estimator)
        scorer = get_scorer(self.metric)
        response = _response(scorer._response_method, logits, y_pred, view, scorer)
        score = scorer._score_func(y, response, **scorer._kwargs, **kwargs)
        return scorer._sign * score


def _is_scorer(metric):
    """A scikit-learn scorer object (``make_scorer``): scored like a name."""
    return all(
        hasattr(metric, name) for name in ("_score_func", "_response_method", "_sign")
    )


def _response(method, logits, y_pred, view, scorer):
    """The response a metric needs, from the logits at the adversarial inputs."""
    method = method if isinstance(method, str) else method[0]
    if method == "predict":
        return y_pred
    binary = view.n_classes == 2
    pos = scorer._kwargs.get("pos_label", view.classes_[-1]) if binary else None
    if method == "predict_proba":
        proba = softmax(logits, axis=1)
        if binary:
            return proba[:, list(view.classes_).index(pos)]
        return proba
    if method == "decision_function":
        if binary:
            d = logits[:, 1] - logits[:, 0]
            return d if pos == view.classes_[1] else -d
        return logits
    raise ValueError(f"metric needs {method!r}, which robust scorers do not support.")


@Substitution(**SHARED_DOCS, **METRIC_DOCS)
def make_robust_scorer(attack, *, metric="accuracy", n_jobs=None, chunk_size=1024):
    """Make a scorer that evaluates ``metric`` under adversarial attack.

    The scorer attacks *the estimator being scored* (white-box through its
    differentiable view, or black-box with :class:`~skrobust.attacks.SquareAttack`
    or :class:`~skrobust.attacks.HopSkipJump`, which score any classifier
    through its own ``predict``) with the true labels, so it stays honest inside
    cross-validation: each fold's model is attacked, not a fixed one. With
    several attacks it takes the pointwise worst case (a point counts as
    robust only if every attack fails on it). Points already misclassified
    are not attacked, and each attack stops on a point as soon as it is
    misclassified.

    Parameters
    ----------
    attack : attack or list of attacks
        skrobust attacks (their ``estimator`` is replaced by the scored one).
        Keep the evaluation budget fixed and grid-search the *training*
        budget. Attacks using ``bounds="data"`` or ``eps_units="std"`` keep
        the statistics they were fitted with, or are fitted on the scored
        ``X``.
    metric : str or callable, default="accuracy"
        A scikit-learn scorer name (``"accuracy"``, ``"balanced_accuracy"``,
        ``"f1_macro"``, ``"roc_auc"``, ``"neg_log_loss"``, ...), a scorer
        from :func:`sklearn.metrics.make_scorer`, or a callable
        ``metric(y_true, y_pred)``. Probability and decision metrics read the
        softmax of the view's logits (equal to ``predict_proba`` for linear
        models, MLPs and skorch networks with logit outputs), or the
        estimator's own ``predict_proba`` for models without a view.
    n_jobs : int or None, default=None
        Attack chunks of ``chunk_size`` rows in parallel with joblib
        (``-1``: every core; inside ``joblib.parallel_backend("dask")`` or
        ``ray.util.joblib``, a cluster's workers). ``None``: one piece, in
        this process. The chunks do not depend on ``n_jobs``, so any
        ``n_jobs`` gives the same score.
    chunk_size : int, default=1024
        Rows per chunk when ``n_jobs`` is set.

    Returns
    -------
    scorer : RobustScorer
        A picklable callable ``scorer(estimator, X, y, sample_weight=None)``
        with a ``__name__``. Under scikit-learn's metadata routing,
        ``scorer.set_score_request(sample_weight=True)`` lets ``GridSearchCV``
        and ``cross_validate`` pass the weights given to their ``fit``.

    {examples_iris}
    >>> from sklearn.model_selection import cross_val_score
    >>> from skrobust.attacks import PGD
    >>> from skrobust.metrics import make_robust_scorer
    >>> robust = make_robust_scorer(PGD(eps=0.3, n_iter=10, random_state=0))
    >>> robust.__name__
    'robust_accuracy'
    >>> scores = cross_val_score(clf, X, y, cv=3, scoring=robust)  # refits clones
    >>> bool(scores.mean() < 0.9)
    True
    """
    attacks = _as_attacks(attack)
    if not (callable(metric) or isinstance(metric, str)):
        raise TypeError(f"metric must be a scorer name or a callable; got {metric!r}.")
    if isinstance(metric, str):
        get_scorer(metric)  # fail early on unknown names
    check_chunking(n_jobs, chunk_size)
    return RobustScorer(attacks, metric, n_jobs=n_jobs, chunk_size=chunk_size)


@Substitution(**SHARED_DOCS, **METRIC_DOCS)
def robust_accuracy_score(
    estimator, X, y, *, attack, sample_weight=None, n_jobs=None, chunk_size=1024
):
    """Accuracy of ``estimator`` on adversarial examples of ``X`` (worst case).

    A point counts as correct only if the clean input and every attack's
    adversarial input are classified correctly.

    Parameters
    ----------
    estimator : fitted classifier
        Any estimator with a differentiable view (see
        :func:`skrobust.as_differentiable`); any classifier for black-box
        attacks.
    X : array-like or DataFrame of shape (n_samples, ...)
    y : array-like of shape (n_samples,)
    attack : attack or list of attacks
    sample_weight : array-like of shape (n_samples,), default=None
        Weight of each point in the accuracy.
    {attack_chunks}

    Returns
    -------
    score : float

    {examples_iris}
    >>> from skrobust.attacks import PGD
    >>> from skrobust.metrics import robust_accuracy_score
    >>> clean = clf.score(X, y)
    >>> robust = robust_accuracy_score(clf, X, y, attack=PGD(eps=0.3, random_state=0))
    >>> bool(robust < clean)
    True
    """
    X, y = _check_data(X, y, "robust_accuracy_score")
    scorer = make_robust_scorer(attack, n_jobs=n_jobs, chunk_size=chunk_size)
    return float(scorer(estimator, X, y, sample_weight=sample_weight))
