"""Cohen's PREDICT and CERTIFY: the smoothed classifier answers from class counts.

:class:`SmoothedClassifierMixin` holds everything a fitted smoothed classifier
answers (predictions, abstentions, class frequencies, certificates); how the
base was obtained is :class:`RandomizedSmoothingClassifier`'s business.
"""

import warnings

import numpy as np
from joblib import Parallel, delayed
from sklearn.utils import check_random_state
from sklearn.utils.validation import (
    check_consistent_length,
    check_is_fitted,
    column_or_1d,
)

from ...utils import SHARED_DOCS, Substitution, resolve_batch_size
from ._counts import count_predict, count_torch, torch_view
from ._stats import certify_from_counts, predict_from_counts

_MAX_SEED = np.iinfo(np.int32).max
#: points per joblib task when counting with ``n_jobs``
JOB_POINTS = 64


# the opening of the methods' examples: four points ``X`` on a line
_LINE = {
    "examples_line": "Examples\n--------\n"
    + """\
>>> import numpy as np
>>> from sklearn.linear_model import LogisticRegression
>>> from skrobust.certification import RandomizedSmoothingClassifier
>>> X = np.array([[-2.0], [-1.0], [1.0], [2.0]])""",
}


@Substitution(**SHARED_DOCS, **_LINE)
class SmoothedClassifierMixin:
    """Predictions and certificates of a smoothed classifier from noisy counts.

    Needs ``estimator_``, ``classes_``, ``counting_``, ``input_shape_``,
    ``_validate`` and the parameters ``sigma``, ``alpha``,
    ``n_samples``, ``n_samples_select``, ``n_samples_predict``,
    ``batch_size``, ``random_state`` and ``verbose``.
    """

    # -- counting --------------------------------------------------------------

    def _counts(self, X, sizes, seed, desc):
        """Counts ``(len(sizes), n_points, n_classes + 1)`` of noisy copies of X.

        The last column counts copies without a vote (NaN scores): they stay
        among the draws, so they lower every class's frequency, and a
        warning says how many there were.
        """
        n_noisy = len(X) * int(sum(sizes))
        kwargs = dict(
            sigma=self.sigma,
            sizes=sizes,
            batch_size=resolve_batch_size(
                self.batch_size, n_noisy, int(np.prod(X.shape[1:]))
            ),
            seed=seed,
            verbose=self.verbose,
            desc=desc,
        )
        view = torch_view(self.estimator_) if self.counting_ == "torch" else None
        if view is not None:
            counts = count_torch(view, X, **kwargs)
        else:
            columns = getattr(self, "feature_names_in_", None)
            counts = self._count_predict(X, columns, kwargs)
        no_vote = int(counts[..., -1].sum())
        if no_vote:
            warnings.warn(
                f"the base estimator returned NaN scores on {no_vote} of "
                f"{n_noisy} noisy copies (sigma={self.sigma} moves inputs outside "
                "the domain where it is defined?); they vote for no class, which "
                "lowers every class's frequency (more abstentions, smaller radii).",
                RuntimeWarning,
                stacklevel=3,
            )
        return counts

    def _count_predict(self, X, columns, kwargs):
        """:func:`count_predict`, in chunks of points over joblib with ``n_jobs``."""
        n_jobs = getattr(self, "n_jobs", None)
        if n_jobs is None or not len(X):
            return count_predict(
                self.estimator_, X, self.classes_, columns=columns, **kwargs
            )
        starts = range(0, len(X), JOB_POINTS)
        derived = np.random.SeedSequence(kwargs["seed"]).generate_state(len(starts))
        seeds = [kwargs["seed"], *derived[1:].tolist()]  # one per chunk
        kwargs = {**kwargs, "verbose": 0}
        parts = Parallel(n_jobs=n_jobs)(
            delayed(count_predict)(
                self.estimator_,
                X[start : start + JOB_POINTS],
                self.classes_,
                columns=columns,
                **{**kwargs, "seed": int(seed)},
            )
            for start, seed in zip(starts, seeds)
        )
        return np.concatenate(parts, axis=1)

    def _seed(self):
        return int(check_random_state(self.random_state).randint(_MAX_SEED))

    def _prediction_counts(self, X):
        check_is_fitted(self)
        X = self._validate(X, reset=False)
        sizes = (self.n_samples_predict,)
        return self._counts(X, sizes, self._seed(), "predict")[0]

    # -- prediction ------------------------------------------------------------

    def predict_abstain(self, X):
        """Cohen's PREDICT: the smoothed prediction and whether it abstains.

        Counts the base's classes on ``n_samples_predict`` noisy copies of
        each point; the top class is returned, and the point is flagged as
        an abstention unless a two-sided binomial test of the top two counts
        (``binomtest(nA, nA + nB, 0.5)``) rejects at level ``alpha``. Then
        the returned class is ``g(x)`` with probability at least ``1 -
        alpha``.

        {X_parameters}

        {predict_returns}
            The most frequent class (values of :attr:`classes_`), even when
            abstaining (as :meth:`predict`).
        abstained : ndarray of bool of shape (n_samples,)
            Where PREDICT abstains: the top class is not significantly
            more frequent than the runner-up.

        {examples_iris}
        >>> from skrobust.certification import RandomizedSmoothingClassifier
        >>> rs = RandomizedSmoothingClassifier(clf, random_state=0).fit(X, y)
        >>> y_pred, abstained = rs.predict_abstain(X[[0, 72]])
        >>> y_pred, abstained  # point 72 sits near the boundary of classes 1 and 2
        (array([0, 1]), array([False,  True]))
        """
        counts = self._prediction_counts(X)
        top, abstained = predict_from_counts(counts, self.alpha)
        none = top == len(self.classes_)  # most copies voted for no class
        top = np.where(none, counts[:, :-1].argmax(axis=1), top)
        return self.classes_[top], abstained | none

    def predict(self, X):
        """The smoothed classifier's prediction: the most frequent noisy class.

        The class of Cohen's PREDICT; use :meth:`predict_abstain` to see
        where its binomial test abstains (those points still get their most
        frequent class here, as scikit-learn's ``predict`` returns a label).

        {X_parameters}

        {predict_returns}
            Values of :attr:`classes_`; the argmax of :meth:`predict_proba`
            (same draws).

        {examples_line}
        >>> clf = LogisticRegression().fit(X, ["neg", "neg", "pos", "pos"])
        >>> rs = RandomizedSmoothingClassifier(clf, prefit=True, random_state=0)
        >>> rs.fit(X).predict([[-1.0], [1.5]])
        array(['neg', 'pos'], dtype='<U3')
        """
        return self.predict_abstain(X)[0]

    def predict_proba(self, X):
        """Monte-Carlo class frequencies of the base under noise.

        The fraction of ``n_samples_predict`` noisy copies of each point
        that the base assigns to each class: an unbiased estimate of the
        smoothed classifier's class probabilities ``P(f(x + d) = c)``.

        {X_parameters}

        {proba_returns}
            Columns ordered as :attr:`classes_`; multiples of ``1 /
            n_samples_predict``.

        {examples_iris}
        >>> from skrobust.certification import RandomizedSmoothingClassifier
        >>> rs = RandomizedSmoothingClassifier(clf, n_samples_predict=100,
        ...                                    random_state=0).fit(X, y)
        >>> rs.predict_proba(X[:1])
        array([[1., 0., 0.]])
        """
        counts = self._prediction_counts(X)  # copies without a vote: no class
        return counts[:, :-1] / counts.sum(axis=1, keepdims=True)

    def certify(self, X):
        """Cohen's CERTIFY: predictions with certified L2 radii.

        For each point, the class ``cA`` is chosen from ``n_samples_select``
        noisy draws; ``n_samples`` fresh draws give ``nA``, the count of
        ``cA``, and the one-sided Clopper-Pearson bound ``pA_lower =
        beta.ppf(alpha, nA, n - nA + 1)``. If ``pA_lower >= 0.5`` the
        smoothed classifier predicts ``cA`` everywhere in the L2 ball of
        radius ``sigma * Phi^-1(pA_lower)`` around the point, with probability
        at least ``1 - alpha`` (over the noise draws). Otherwise CERTIFY
        abstains: the radius is NaN.

        {X_parameters}

        {predict_returns}
            ``cA`` (values of :attr:`classes_`); an abstention keeps its
            guess, flagged by its NaN radius.
        radius : ndarray of float64 of shape (n_samples,)
            Certified L2 radius (``>= 0``), NaN where CERTIFY abstains.
            ``pA_lower`` is ``scipy.stats.norm.cdf(radius / sigma)``.

        {examples_line}
        >>> clf = LogisticRegression().fit(X, [0, 0, 1, 1])  # boundary at 0
        >>> rs = RandomizedSmoothingClassifier(clf, prefit=True, sigma=0.5,
        ...                                    random_state=0).fit(X)
        >>> y_pred, radius = rs.certify([[-1.0], [0.0], [1.5]])
        >>> y_pred, radius.round(2)  # exact radii: 1, 0, 1.5
        (array([0, 0, 1]), array([0.99,  nan, 1.44]))
        """
        check_is_fitted(self)
        X = self._validate(X, reset=False)
        select, counts = self._counts(
            X, (self.n_samples_select, self.n_samples), self._seed(), "certify"
        )
        # the class is selected among real classes; copies without a vote
        # count among the n draws, against it
        top, radius, _ = certify_from_counts(
            select[..., :-1], counts, self.alpha, self.sigma
        )
        return self.classes_[top], radius

    def certified_radius(self, X, y=None):
        """Certified L2 radius of each point: the certificate protocol.

        The radius of :meth:`certify` (Cohen's CERTIFY); NaN where CERTIFY
        abstains, and, when ``y`` is given, where its class is not ``y``.
        {radius_protocol}

        {radius_parameters}

        {radius_returns}

        {examples_line}
        >>> clf = LogisticRegression().fit(X, [0, 0, 1, 1])
        >>> rs = RandomizedSmoothingClassifier(clf, sigma=0.5, prefit=True,
        ...                                    random_state=0).fit(X)
        >>> rs.certified_radius([[-1.0], [0.0], [1.5]], [0, 0, 0]).round(2)
        array([0.99,  nan,  nan])
        """
        y_pred, radius = self.certify(X)
        if y is not None:
            y = column_or_1d(y)
            check_consistent_length(y_pred, y)
            radius = np.where(y_pred == y, radius, np.nan)
        return radius
