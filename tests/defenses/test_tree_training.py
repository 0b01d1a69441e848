"""Adversarial training of tree models: the tree attack's examples, the
robust-accuracy check and its warning."""

import warnings

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier
from sklearn.tree import DecisionTreeClassifier

from skrobust.attacks import PGD, DecisionTreeExactAttack, LeafTupleAttack
from skrobust.defenses import AdversarialTrainingClassifier
from skrobust.metrics import robust_accuracy_score


@pytest.fixture(scope="module")
def cancer():
    X, y = load_breast_cancer(return_X_y=True)
    X = X[:, :6]
    return X[::4], y[::4], X[1::4], y[1::4]


class FitSpy(DecisionTreeClassifier):
    """Records the data of every fit."""

    data = []

    def fit(self, X, y, **kwargs):
        FitSpy.data.append((np.array(X), np.array(y)))
        return super().fit(X, y, **kwargs)


def test_trees_are_augmented_with_the_leaf_tuple_attack(cancer):
    X, y, _, _ = cancer
    FitSpy.data = []
    attack = PGD(eps=0.2, eps_units="std", feature_mask=[0, 1, 3, 4, 5])
    robust = AdversarialTrainingClassifier(
        FitSpy(max_depth=3, random_state=0), attack=attack, n_rounds=1, random_state=0
    ).fit(X, y)
    assert robust.fit_method_ == "trees"
    # the standard model, then clean data plus the tree attack's examples of it
    # under the training attack's threat model (PGD's steps play no part)
    (X0, y0), (X1, y1) = FitSpy.data[:2]
    np.testing.assert_array_equal(X0, X)
    standard = DecisionTreeClassifier(max_depth=3, random_state=0).fit(X, y)
    strong = LeafTupleAttack(
        standard, eps=0.2, eps_units="std", feature_mask=[0, 1, 3, 4, 5], random_state=0
    ).fit(X)
    np.testing.assert_array_equal(X1, np.vstack([X, strong.generate(X, y)]))
    np.testing.assert_array_equal(y1, np.tile(y, 2))
    np.testing.assert_array_equal(X1[len(X) :, 2], X[:, 2])  # immutable column
    # the scores are the tree attack's robust accuracies on the training data
    assert robust.robust_scores_["standard"] == pytest.approx(
        robust_accuracy_score(standard, X, y, attack=strong)
    )
    assert robust.robust_scores_["trained"] == pytest.approx(
        robust_accuracy_score(robust.estimator_, X, y, attack=strong)
    )


def test_training_makes_boosting_exactly_more_robust(cancer):
    X, y, X_test, y_test = cancer
    gb = GradientBoostingClassifier(n_estimators=4, max_depth=2, random_state=0)
    robust = AdversarialTrainingClassifier(
        gb, attack=PGD(eps=0.3, eps_units="std"), n_rounds=2, random_state=0
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "robust accuracy went down" warning
        robust.fit(X, y)
    scores = robust.robust_scores_
    assert scores["trained"] > scores["standard"]
    # held-out exact robust accuracy (MILP), not the training attack's
    exact = DecisionTreeExactAttack(norm="linf", eps=0.3, eps_units="std").fit(X)
    standard = gb.fit(X, y)
    assert robust_accuracy_score(robust, X_test, y_test, attack=exact) > (
        robust_accuracy_score(standard, X_test, y_test, attack=exact)
    )


def test_warns_when_training_lowers_robust_accuracy(cancer):
    X, y, _, _ = cancer
    forest = RandomForestClassifier(n_estimators=3, max_depth=3, random_state=0)
    robust = AdversarialTrainingClassifier(
        forest, attack=PGD(eps=0.1, eps_units="std"), n_rounds=2, random_state=0
    )
    with pytest.warns(UserWarning, match="lowered the robust accuracy") as record:
        robust.fit(X, y)
    scores = robust.robust_scores_
    assert scores["trained"] < scores["standard"]
    assert f"{scores['standard']:.3f} -> {scores['trained']:.3f}" in str(
        record[0].message
    )
