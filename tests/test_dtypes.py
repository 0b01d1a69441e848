"""float32 and float64 inputs against float32 and float64 networks, every route.

numpy's default is float64 and a torch network's float32: attacks,
certificates and training accept either against either, compute in the
network's dtype, and return arrays of the input's dtype.
"""

import numpy as np
import pytest
import torch
from skorch import NeuralNetClassifier

from skrobust import SkorchClassifier
from skrobust.attacks import (
    APGD,
    FAB,
    FGSM,
    PGD,
    AutoAttack,
    CarliniWagnerL2,
    HopSkipJump,
    SquareAttack,
)
from skrobust.nn import MLP

DTYPES = ["float32", "float64"]
EPS = 0.1
ATTACKS = {
    "FGSM": lambda clf: FGSM(clf, eps=EPS, bounds=(0, 1)),
    "PGD": lambda clf: PGD(clf, eps=EPS, n_iter=5, bounds=(0, 1), random_state=0),
    "APGD": lambda clf: APGD(clf, eps=EPS, n_iter=10, bounds=(0, 1), random_state=0),
    "FAB": lambda clf: FAB(clf, n_iter=5, bounds=(0, 1), random_state=0),
    "AutoAttack": lambda clf: AutoAttack(
        clf, eps=EPS, bounds=(0, 1), n_iter=5, n_queries=50, random_state=0
    ),
    "CW": lambda clf: CarliniWagnerL2(
        clf, max_iter=10, n_binary_search=2, bounds=(0, 1)
    ),
    "Square": lambda clf: SquareAttack(
        clf, eps=EPS, n_queries=50, bounds=(0, 1), random_state=0
    ),
    "HopSkipJump": lambda clf: HopSkipJump(
        clf, max_iter=2, max_eval=20, init_eval=20, bounds=(0, 1), random_state=0
    ),
}


@pytest.fixture(scope="module")
def digits():
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    return X[:300] / 16.0, y[:300]


@pytest.fixture(scope="module", params=DTYPES)
def net(request, digits):
    """A small MLP in float32 or float64, trained on float64 digits."""
    X, y = digits
    net = NeuralNetClassifier(
        MLP,
        module__hidden_layer_sizes=(32,),
        criterion=torch.nn.CrossEntropyLoss,
        optimizer=torch.optim.Adam,
        lr=0.01,
        max_epochs=10,
        train_split=None,
        verbose=0,
    )
    return SkorchClassifier(net, dtype=request.param, random_state=0).fit(X, y)


@pytest.mark.parametrize("name", sorted(ATTACKS))
@pytest.mark.parametrize("in_dtype", DTYPES)
def test_attacks_keep_the_input_dtype(digits, net, name, in_dtype):
    X, y = digits
    X, y = X[:12].astype(in_dtype), y[:12]
    before = X.copy()
    out = ATTACKS[name](net).generate(X, y)
    np.testing.assert_array_equal(X, before)
    assert out.dtype == X.dtype and out.shape == X.shape
    assert out.min() >= 0 and out.max() <= 1
    if name not in ("FAB", "CW", "HopSkipJump"):  # minimal-norm: no budget
        assert np.abs(out - X).max() <= EPS * (1 + 1e-6)
    assert net.score(out, y) <= net.score(X, y)
