"""Sample weights, metadata routing and chunked parallel scoring.

Exact comparisons use PGD with ``random_init=False``: each point's
trajectory is then a function of that point alone, so a point repeated
``k`` times counts ``k`` times, and cutting ``X`` into chunks changes
nothing. Randomized attacks are compared across ``n_jobs`` at a fixed
``chunk_size`` (the chunks, hence the seeds, do not depend on ``n_jobs``).
"""

import warnings

import numpy as np
import pytest
import sklearn
from sklearn.base import clone
from sklearn.datasets import load_iris
from sklearn.ensemble import RandomForestClassifier
from sklearn.exceptions import UnsetMetadataPassedError
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, StratifiedKFold, cross_validate
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import KBinsDiscretizer, StandardScaler

from skrobust import PartiallyDifferentiableWarning
from skrobust.attacks import PGD, SquareAttack
from skrobust.metrics import (
    certified_accuracy_score,
    make_certified_scorer,
    make_robust_scorer,
    robust_accuracy_score,
    robust_predictions,
)

PGD_FIXED = PGD(eps=0.4, n_iter=10, random_init=False)


@pytest.fixture(scope="module")
def iris():
    X, y = load_iris(return_X_y=True)
    clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    return X, y, clf.fit(X, y)


@pytest.fixture
def routing():
    with sklearn.config_context(enable_metadata_routing=True):
        yield


def test_weighted_robust_accuracy_counts_repeated_points(iris):
    X, y, clf = iris
    w = np.random.default_rng(0).integers(0, 4, len(y))
    weighted = robust_accuracy_score(clf, X, y, attack=PGD_FIXED, sample_weight=w)
    repeated = robust_accuracy_score(
        clf, np.repeat(X, w, axis=0), np.repeat(y, w), attack=PGD_FIXED
    )
    unweighted = robust_accuracy_score(clf, X, y, attack=PGD_FIXED)
    assert weighted == pytest.approx(repeated, abs=1e-12)
    assert weighted != pytest.approx(unweighted)  # the weights matter here
    ones = robust_accuracy_score(
        clf, X, y, attack=PGD_FIXED, sample_weight=np.ones(len(y))
    )
    assert ones == unweighted


def test_robust_predictions_agree_with_the_score(iris):
    X, y, clf = iris
    attack = PGD(eps=0.4, n_iter=10, random_state=0)
    y_adv, X_adv = robust_predictions(clf, X, y, attack=attack, return_inputs=True)
    assert np.mean(y_adv == y) == robust_accuracy_score(clf, X, y, attack=attack)
    # the inputs are the ones predicted, inside the ball; wrong points stay clean
    np.testing.assert_array_equal(clf.predict(X_adv), y_adv)
    assert np.abs(X_adv - X).max() <= 0.4 + 1e-9
    wrong = clf.predict(X) != y
    np.testing.assert_array_equal(X_adv[wrong], X[wrong])
    np.testing.assert_array_equal(y_adv[wrong], clf.predict(X)[wrong])


def test_robust_predictions_inputs_not_raw_after_a_non_differentiable_step(iris):
    X, y, _ = iris
    binned = KBinsDiscretizer(n_bins=4, encode="onehot-dense", strategy="uniform")
    clf = make_pipeline(binned, LogisticRegression(max_iter=2000))
    clf.fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PartiallyDifferentiableWarning)
        y_adv, X_adv = robust_predictions(
            clf, X, y, attack=PGD_FIXED, return_inputs=True
        )
    assert X_adv is None
    assert np.mean(y_adv == y) <= clf.score(X, y)


def test_certified_scores_are_weighted_averages():
    class Certified:  # the certificate protocol; NaN: abstains, or is wrong
        def certified_radius(self, X, y=None):
            y_pred, radius = np.array([0, 1, 1, 2]), np.array([0.5, 0.1, np.nan, 0.3])
            return radius if y is None else np.where(y_pred == y, radius, np.nan)

    y = np.array([0, 1, 1, 1])
    w = np.array([1.0, 2.0, 3.0, 4.0])
    # certified at 0.05: points 0 and 1 (point 2 abstains, point 3 is wrong)
    expected = (1.0 + 2.0) / w.sum()
    score = certified_accuracy_score(Certified(), None, y, radius=0.05, sample_weight=w)
    assert score == pytest.approx(expected)
    scorer = make_certified_scorer(radius=0.05)
    assert scorer(Certified(), None, y, sample_weight=w) == pytest.approx(expected)


def test_set_score_request_needs_routing():
    with pytest.raises(RuntimeError, match="enable_metadata_routing"):
        make_robust_scorer(PGD_FIXED).set_score_request(sample_weight=True)
    with pytest.raises(RuntimeError, match="enable_metadata_routing"):
        make_certified_scorer(radius=0.1).set_score_request(sample_weight=True)


def test_unrequested_weights_raise_under_routing(iris, routing):
    X, y, _ = iris
    lr = LogisticRegression(max_iter=500).set_fit_request(sample_weight=True)
    search = GridSearchCV(lr, {"C": [1.0]}, scoring=make_robust_scorer(PGD_FIXED))
    with pytest.raises(UnsetMetadataPassedError, match="sample_weight"):
        search.fit(X, y, sample_weight=np.ones(len(y)))


def _weighted_search(X, y, w, n_jobs):
    robust = make_robust_scorer(PGD_FIXED).set_score_request(sample_weight=True)
    accuracy = sklearn.metrics.make_scorer(sklearn.metrics.accuracy_score)
    lr = LogisticRegression(max_iter=500).set_fit_request(sample_weight=True)
    search = GridSearchCV(
        lr,
        {"C": [0.1, 10.0]},
        scoring={
            "clean": accuracy.set_score_request(sample_weight=True),
            "robust": robust,
        },
        refit="robust",
        cv=StratifiedKFold(3, shuffle=True, random_state=0),
        n_jobs=n_jobs,
    )
    return search.fit(X, y, sample_weight=w)


def test_weighted_grid_search_under_routing(iris, routing):
    X, y, _ = iris
    w = np.random.default_rng(1).uniform(0.1, 3.0, len(y))
    search = _weighted_search(X, y, w, n_jobs=2)
    cv = StratifiedKFold(3, shuffle=True, random_state=0)
    for i, C in enumerate([0.1, 10.0]):
        for k, (train, test) in enumerate(cv.split(X, y)):
            model = LogisticRegression(max_iter=500, C=C)
            model.fit(X[train], y[train], sample_weight=w[train])
            # hand-written weighted robust accuracy: PGD by hand on the
            # points the model gets right, weights averaged over the fold
            right = model.predict(X[test]) == y[test]
            X_adv = clone(PGD_FIXED).set_params(estimator=model, early_stop=True)
            adv = X_adv.generate(X[test][right], y[test][right])
            robust = np.zeros(len(test), bool)
            robust[right] = model.predict(adv) == y[test][right]
            expected = np.average(robust, weights=w[test])
            got = search.cv_results_[f"split{k}_test_robust"][i]
            assert got == pytest.approx(expected, abs=1e-12)
            clean = np.average(right, weights=w[test])
            assert search.cv_results_[f"split{k}_test_clean"][i] == pytest.approx(clean)
    # the weights reached the scorer: unweighted robust accuracy differs
    unweighted = GridSearchCV(
        LogisticRegression(max_iter=500),
        {"C": [0.1, 10.0]},
        scoring=make_robust_scorer(PGD_FIXED),
        cv=cv,
    ).fit(X, y)
    assert not np.allclose(
        unweighted.cv_results_["mean_test_score"],
        search.cv_results_["mean_test_robust"],
    )


def test_cross_validate_passes_weights_to_the_robust_scorer(iris, routing):
    X, y, _ = iris
    w = np.where(y == 0, 5.0, 1.0)
    scorer = make_robust_scorer(PGD_FIXED).set_score_request(sample_weight=True)
    lr = LogisticRegression(max_iter=500).set_fit_request(sample_weight=False)
    cv = StratifiedKFold(3, shuffle=True, random_state=0)
    result = cross_validate(
        lr, X, y, scoring=scorer, cv=cv, params={"sample_weight": w}
    )
    for k, (train, test) in enumerate(cv.split(X, y)):
        model = LogisticRegression(max_iter=500).fit(X[train], y[train])
        expected = robust_accuracy_score(
            model, X[test], y[test], attack=PGD_FIXED, sample_weight=w[test]
        )
        assert result["test_score"][k] == pytest.approx(expected, abs=1e-12)


def test_chunked_scoring_does_not_depend_on_n_jobs(iris):
    X, y, clf = iris
    # deterministic attack: chunks change nothing at all
    whole = robust_accuracy_score(clf, X, y, attack=PGD_FIXED)
    for n_jobs in (1, 2):
        chunked = robust_accuracy_score(
            clf, X, y, attack=PGD_FIXED, n_jobs=n_jobs, chunk_size=40
        )
        assert chunked == whole
    # randomized black-box attack: same chunks, same seeds, any n_jobs
    rf = RandomForestClassifier(n_estimators=10, random_state=0).fit(X, y)
    square = SquareAttack(eps=0.3, n_queries=50, random_state=0)
    one, two = (
        robust_predictions(rf, X, y, attack=square, n_jobs=n, chunk_size=50)
        for n in (1, 2)
    )
    np.testing.assert_array_equal(one, two)
    assert np.mean(one == y) <= rf.score(X, y)


def test_chunked_certified_accuracy_matches_one_piece():
    class Certified:  # a row-wise certificate
        def certified_radius(self, X, y=None):
            X = np.asarray(X)
            correct = (X[:, 0] > 0).astype(int) == y
            return (
                np.abs(X[:, 0])
                if y is None
                else np.where(correct, abs(X[:, 0]), np.nan)
            )

    rng = np.random.default_rng(0)
    X = rng.normal(size=(100, 2))
    y = (rng.uniform(size=100) > 0.3).astype(int)
    whole = certified_accuracy_score(Certified(), X, y, radius=0.5)
    chunked = certified_accuracy_score(
        Certified(), X, y, radius=0.5, n_jobs=2, chunk_size=7
    )
    assert chunked == whole
    assert whole == pytest.approx(np.mean(((X[:, 0] > 0) == y) & (abs(X[:, 0]) >= 0.5)))


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"n_jobs": 0}, "n_jobs"),
        ({"chunk_size": 0}, "chunk_size"),
        ({"chunk_size": 2.5}, "chunk_size"),
    ],
)
def test_bad_chunking_is_rejected(kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_robust_scorer(PGD_FIXED, **kwargs)
    with pytest.raises(ValueError, match=match):
        make_certified_scorer(radius=0.1, **kwargs)
