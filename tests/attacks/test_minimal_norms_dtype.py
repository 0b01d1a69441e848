"""Minimal-norm attacks measure the examples they return (issue 16): the
sizes ``minimal_norms`` reports are those of ``generate``'s examples after
the final cast to the caller's dtype (float16 / float32 input against a
float64 model), not of the working-precision examples before it."""

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression

from skrobust.attacks import FAB, CarliniWagnerL2, HopSkipJump

ATTACKS = {
    "FAB-linf": lambda clf: FAB(clf, norm="linf", n_iter=10),
    "FAB-l2": lambda clf: FAB(clf, norm="l2", n_iter=10),
    "FAB-l1": lambda clf: FAB(clf, norm="l1", n_iter=10),
    "CarliniWagnerL2": lambda clf: CarliniWagnerL2(
        clf,
        max_iter=50,
        n_binary_search=3,
        initial_const=10.0,
        learning_rate=0.1,
        bounds=(0, 1),
    ),
    "HopSkipJump-l2": lambda clf: HopSkipJump(
        clf, norm="l2", max_iter=2, init_eval=20, random_state=0
    ),
    "HopSkipJump-linf": lambda clf: HopSkipJump(
        clf, norm="linf", max_iter=2, init_eval=20, random_state=0
    ),
}
ORDER = {"linf": np.inf, "l2": 2, "l1": 1}


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    X, y = X[:300] / 16.0, y[:300]  # float64
    return LogisticRegression(max_iter=300).fit(X, y), X[:20], y[:20]


@pytest.mark.parametrize("dtype", [np.float16, np.float32])
@pytest.mark.parametrize("name", list(ATTACKS))
def test_minimal_norms_are_the_returned_examples_sizes(digits, name, dtype):
    clf, X, y = digits
    X = X.astype(dtype)
    attack = ATTACKS[name](clf)
    X_adv = attack.generate(X, y)
    norms = attack.minimal_norms(X, y)
    assert X_adv.dtype == dtype
    found = np.isfinite(norms)
    assert found.sum() >= len(y) // 2
    delta = X_adv.astype(np.float64) - X.astype(np.float64)
    order = ORDER[getattr(attack, "norm", "l2")]
    sizes = np.linalg.norm(delta.reshape(len(X), -1), ord=order, axis=1)
    np.testing.assert_allclose(norms[found], sizes[found], rtol=1e-12, atol=0)
