"""Issue 16, finding 2: infinite input gradients (``sqrt`` at 0) used to turn
the l2 / l1 steps into NaN or zero: NaN rows, or the input returned
unchanged, and a robust accuracy equal to the clean one."""

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from skrobust.attacks import APGD, FAB, FGSM, PGD

ATTACKS = {
    "PGD-l2": lambda clf: PGD(clf, eps=2.0, norm="l2", n_iter=10),
    "PGD-l1": lambda clf: PGD(clf, eps=3.0, norm="l1", n_iter=10),
    "FGSM-l2": lambda clf: FGSM(clf, eps=2.0, norm="l2"),
    "APGD-l2": lambda clf: APGD(clf, eps=2.0, norm="l2", n_iter=10),
    "APGD-l1": lambda clf: APGD(clf, eps=3.0, norm="l1", n_iter=10),
    "FAB-l2": lambda clf: FAB(clf, eps=2.0, norm="l2", n_iter=10),
}


@pytest.fixture(scope="module")
def sqrt_model():
    """Digits in [0, 1] (many exact zeros) through sqrt: infinite gradients."""
    X, y = load_digits(return_X_y=True)
    X, y = X[:300] / 16.0, y[:300]
    clf = make_pipeline(
        FunctionTransformer(np.sqrt), LogisticRegression(max_iter=300)
    ).fit(X, y)
    return clf, X[:40], y[:40]


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_infinite_gradients_still_attack(sqrt_model, name):
    clf, X, y = sqrt_model
    attack = ATTACKS[name](clf).set_params(bounds=(0, 1), random_state=0)
    with pytest.warns(RuntimeWarning, match="gradient is infinite or NaN"):
        out = attack.generate(X, y)
    assert np.isfinite(out).all()
    assert out.min() >= 0 and out.max() <= 1
    order = 1 if name.endswith("l1") else 2
    size = np.linalg.norm(out - X, ord=order, axis=1)
    assert size.max() <= attack.eps * (1 + 1e-9)
    # the attack moved and broke points the clean model classifies right
    assert (out != X).any(axis=1).sum() >= len(X) // 2
    assert clf.score(out, y) < clf.score(X, y)
