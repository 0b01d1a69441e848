"""Issue 16, finding 6: attacks and ``as_differentiable`` leave the global
torch random state alone (they draw from private generators; converting a
model built its layers with torch's random initialisation), and the same
``random_state`` gives the same examples whatever the global seed."""

import numpy as np
import pytest
import torch
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.neural_network import MLPClassifier

from skrobust import as_differentiable
from skrobust.attacks import APGD, FAB, FGSM, PGD, HopSkipJump, SquareAttack

ATTACKS = {
    "FGSM": lambda clf: FGSM(clf, eps=0.3),
    "PGD-no-init": lambda clf: PGD(clf, eps=0.3, n_iter=3, random_init=False),
    "PGD": lambda clf: PGD(clf, eps=0.3, n_iter=3),
    "APGD": lambda clf: APGD(clf, eps=0.3, n_iter=3),
    "FAB": lambda clf: FAB(clf, n_iter=3, n_restarts=2),
    "Square": lambda clf: SquareAttack(clf, eps=0.3, n_queries=20),
    "HopSkipJump": lambda clf: HopSkipJump(clf, max_iter=1, max_eval=10, init_eval=10),
}


@pytest.fixture(scope="module")
def iris():
    X, y = load_iris(return_X_y=True)
    return X[::5], y[::5]


@pytest.fixture(scope="module", params=["logistic", "mlp"])
def clf(request, iris):
    X, y = iris
    if request.param == "logistic":
        return LogisticRegression(max_iter=300).fit(X, y)
    return MLPClassifier((8,), max_iter=300, random_state=0).fit(X, y)


def _global_state_kept(call):
    torch.manual_seed(0)
    before = torch.get_rng_state().clone()
    result = call()
    return torch.equal(before, torch.get_rng_state()), result


def test_as_differentiable_keeps_global_rng(clf):
    kept, _ = _global_state_kept(lambda: as_differentiable(clf))
    assert kept


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_attacks_keep_global_rng(iris, clf, name):
    X, y = iris
    attack = ATTACKS[name](clf).set_params(random_state=3)
    kept, out = _global_state_kept(lambda: attack.generate(X, y))
    assert kept
    torch.manual_seed(12345)  # another global state: the same examples
    np.testing.assert_array_equal(attack.generate(X, y), out)
