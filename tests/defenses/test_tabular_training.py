"""Adversarial training of pipelines reading raw mixed DataFrames, and the
closed-form route's honesty about what it ignores."""

import warnings

import numpy as np
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skrobust.attacks import PGD
from skrobust.defenses import AdversarialTrainingClassifier
from skrobust.metrics import robust_accuracy_score

EPS = {"income": 150.0, "debt": 200.0, "accounts": 1, "late": 2}


def test_training_on_a_mixed_frame_uses_raw_adversarial_rows(mixed_data):
    X, y = mixed_data.X_train, mixed_data.y_train
    X_test, y_test = mixed_data.X_test, mixed_data.y_test
    model = make_pipeline(mixed_data.preprocessor(), LogisticRegression(max_iter=2000))
    attack = PGD(eps=EPS, feature_mask=[*EPS, "home", "job"], bounds="data", n_iter=10)
    robust = AdversarialTrainingClassifier(model, attack=attack, random_state=0)
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=".*lowered the robust accuracy")
        robust.fit(X, y)
    assert robust.fit_method_ == "augmentation"
    assert list(robust.feature_names_in_) == list(X.columns)
    pred = robust.predict(X_test)
    assert set(pred) <= set(robust.classes_)
    # columns are read by name, as the pipeline does
    np.testing.assert_array_equal(robust.predict(X_test[X_test.columns[::-1]]), pred)
    standard = clone(model).fit(X, y)
    attack.set_params(random_state=0)
    before = robust_accuracy_score(standard, X_test, y_test, attack=attack)
    after = robust_accuracy_score(robust, X_test, y_test, attack=attack)
    assert after > before + 0.1, (before, after)
    assert robust.robust_scores_["trained"] > robust.robust_scores_["standard"]


def test_closed_form_says_what_it_ignores():
    X, y = load_breast_cancer(return_X_y=True)
    X, y = X[:200], y[:200]
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    threat = dict(integer_features=[0], bounds=(0.0, 1e4), direction=[1] * 30)
    with pytest.warns(UserWarning, match="ignores") as record:
        AdversarialTrainingClassifier(model, attack=PGD(eps=0.1, **threat)).fit(X, y)
    message = str(record[0].message)
    assert all(name in message for name in ("integer", "direction", "bounds"))
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        AdversarialTrainingClassifier(model, attack=PGD(eps=0.1)).fit(X, y)


class _Forgetful(ClassifierMixin, BaseEstimator):
    """A logistic regression that learns shuffled labels when fitted on more
    than ``n_clean`` rows (adversarial augmentation): less robust by design."""

    def __init__(self, n_clean=0):
        self.n_clean = n_clean

    def fit(self, X, y):
        y = np.asarray(y)
        if len(y) > self.n_clean:
            y = np.random.default_rng(0).permutation(y)
        self.model_ = make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y)
        self.classes_ = self.model_.classes_
        return self

    def predict(self, X):
        return self.model_.predict(X)


def test_augmentation_that_makes_a_model_less_robust_warns():
    X, y = load_breast_cancer(return_X_y=True)
    X, y = X[:200], y[:200]
    training = AdversarialTrainingClassifier(
        _Forgetful(n_clean=len(y)),
        attack=PGD(eps=0.1, eps_units="std", n_iter=5),
        n_rounds=1,
        random_state=0,
    )
    with pytest.warns(UserWarning, match="lowered the robust accuracy") as record:
        training.fit(X, y)
    scores = training.robust_scores_
    assert scores["trained"] < scores["standard"]
    assert f"{scores['standard']:.3f} -> {scores['trained']:.3f}" in str(
        record[0].message
    )
