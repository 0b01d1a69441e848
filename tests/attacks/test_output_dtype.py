"""Issue 16, finding 5: the returned examples lie inside the box and the ball
measured exactly, in the returned dtype (float16 / float32 casts and loops in
float32 used to pass the bounds and the budget by a rounding)."""

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from skorch import NeuralNetClassifier

from skrobust import SkorchClassifier
from skrobust.attacks import APGD, FAB, PGD, AutoAttack, SquareAttack
from skrobust.nn import MLP

# neither bound is a float32 or float16 number: -0.1 and 1.1 round outwards
BOUNDS = (-0.1, 1.1)
EPS = {"linf": 0.15, "l2": 0.7}  # 0.15 rounds up in float16 (0.15002)
ATTACKS = {
    "APGD": lambda clf, eps, norm: APGD(clf, eps=eps, norm=norm, n_iter=10),
    "AutoAttack": lambda clf, eps, norm: AutoAttack(
        clf, eps=eps, norm=norm, n_iter=4, n_queries=30
    ),
    "FAB": lambda clf, eps, norm: FAB(clf, eps=eps, norm=norm, n_iter=10),
    "FAB-unbounded": lambda clf, eps, norm: FAB(clf, norm=norm, n_iter=10),
    "PGD": lambda clf, eps, norm: PGD(clf, eps=eps, norm=norm, n_iter=10),
    "Square": lambda clf, eps, norm: SquareAttack(
        clf, eps=eps, norm=norm, n_queries=50
    ),
}


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return X[:300] / 16.0, y[:300]


@pytest.fixture(scope="module")
def models(digits):
    X, y = digits
    net = NeuralNetClassifier(
        MLP,
        module__hidden_layer_sizes=(16,),
        criterion=torch.nn.CrossEntropyLoss,
        optimizer=torch.optim.Adam,
        lr=0.02,
        max_epochs=5,
        train_split=None,
        verbose=0,
    )
    return {
        "float32 net": SkorchClassifier(net, dtype="float32", random_state=0).fit(X, y),
        "float64 logistic": LogisticRegression(max_iter=200).fit(X, y),
    }


@pytest.mark.parametrize("model", ["float32 net", "float64 logistic"])
@pytest.mark.parametrize("dtype", ["float16", "float32"])
@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_outputs_inside_box_and_ball_in_returned_dtype(
    digits, models, name, dtype, model
):
    X, y = digits
    X, y = X[:16].astype(dtype), y[:16]
    clean = X.astype(np.float64)
    for norm, eps in EPS.items():
        attack = ATTACKS[name](models[model], eps, norm)
        attack.set_params(bounds=BOUNDS, random_state=0)
        out = attack.generate(X, y)
        assert out.dtype == X.dtype
        # float64 differences of float16 / float32 values are exact
        exact = out.astype(np.float64)
        assert exact.min() >= BOUNDS[0] and exact.max() <= BOUNDS[1]
        if name == "FAB-unbounded":
            continue
        delta = exact - clean
        if norm == "linf":
            assert np.abs(delta).max() <= eps
        else:
            assert np.linalg.norm(delta, axis=1).max() <= eps * (1 + 1e-12)


def test_nan_entries_are_returned_clean_and_warned():
    """NaN in an attack's batch is never returned, and never silently."""
    from skrobust.attacks._functional import cast_inside

    clf = LogisticRegression().fit([[0.0, 0.0], [1.0, 1.0]], [0, 1])
    constraints = PGD(clf, eps=0.1, bounds=(0, 1)).threat_model((2,))
    x0 = torch.tensor([[0.5, 0.5], [0.2, 0.3]], dtype=torch.float64)
    x_adv = torch.tensor([[float("nan"), 0.55], [0.25, 0.35]], dtype=torch.float64)
    with pytest.warns(RuntimeWarning, match="1 adversarial examples had NaN"):
        out = cast_inside(x_adv, x0, constraints, "linf", torch.float32)
    assert out.dtype == torch.float32
    expected = np.array([[0.5, 0.55], [0.25, 0.35]], dtype=np.float32)
    np.testing.assert_array_equal(out.numpy(), expected)
