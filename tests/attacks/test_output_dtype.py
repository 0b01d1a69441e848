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


@pytest.mark.parametrize("discrete", [False, True])
@pytest.mark.parametrize("dtype", [torch.float16, torch.float32, torch.float64])
def test_exact_box_is_inside_and_tight(dtype, discrete):
    """Every number of the dtype in ``exact_box`` lies in the box and the
    l-inf ball measured exactly; the box loses at most a rounding (a step of
    the dtype at the largest value for continuous features, none where an
    edge is exact for discrete ones)."""
    from skrobust.attacks._functional._repair import exact_box

    clf = LogisticRegression().fit([[0.0] * 5, [1.0] * 5], [0, 1])
    rng = np.random.default_rng(0)
    x0 = torch.as_tensor(rng.uniform(0, 1, (64, 5))).to(dtype)
    x0[:4, :2] = torch.tensor([[0.0], [1.0], [0.5], [0.1]], dtype=dtype)  # at bounds
    x0[:, 2] = x0[:, 2] / 2 + 0.5
    x0[:, 4] = torch.as_tensor(rng.integers(0, 8, 64), dtype=dtype)  # counts
    # feature 2: a budget below a step of any dtype; 4: exact edges
    eps = np.array([0.15, 0.1, 1e-20, 0.3, 2.0])
    attack = PGD(
        clf,
        eps=eps,
        bounds=(-0.1, 9.5),
        direction=[0, 0, 0, 1, 0],  # feature 3 may only increase
        integer_features=[4] if discrete else None,
    )
    constraints = attack.threat_model((5,))
    low, high = exact_box(x0, constraints, "linf")
    assert low.dtype == high.dtype == dtype
    clean, lo, hi = (t.double().numpy() for t in (x0, low, high))
    assert np.all(lo <= clean) and np.all(clean <= hi)
    # inside, exactly (float64 differences of these numbers are exact)
    assert lo.min() >= -0.1 and hi.max() <= 9.5
    assert np.all(np.abs(lo - clean) <= eps) and np.all(np.abs(hi - clean) <= eps)
    assert np.all(lo[:, 3] == clean[:, 3])
    assert np.all(lo[:, 2] == clean[:, 2]) and np.all(hi[:, 2] == clean[:, 2])
    # tight
    np_dtype = x0.numpy().dtype
    largest = np.abs(clean).max() + eps.max()
    for j in (0, 1, 3, 4):
        slack = np.spacing(np.float64(eps[j]).astype(np_dtype)).astype(np.float64)
        if not discrete:
            slack += 2 * np.spacing(np.array(largest).astype(np_dtype))
        for edge, end, sign in (
            (np.maximum(-0.1, clean[:, j] - eps[j]), lo, 1),
            (np.minimum(9.5, clean[:, j] + eps[j]), hi, -1),
        ):
            if j == 3 and sign == 1:
                continue  # the direction constraint: lo is the clean value
            step = np.spacing(np.abs(end[:, j]).astype(np_dtype)).astype(np.float64)
            assert np.all(sign * (end[:, j] - edge) <= slack + step)
            if discrete and j == 4:  # exact edges stay: whole steps
                whole = np.abs(edge - clean[:, j]) == eps[j]
                assert whole.sum() > 10
                np.testing.assert_array_equal(end[whole, j], edge[whole])


def test_cast_inside_clamps_far_outside_entries_into_the_ball():
    """Entries far outside the ball and the bounds come back on their edge,
    not beyond it, in the returned dtype."""
    from skrobust.attacks._functional import cast_inside

    clf = LogisticRegression().fit([[0.0, 0.0], [1.0, 1.0]], [0, 1])
    constraints = PGD(clf, eps=0.1, bounds=(0, 1)).threat_model((2,))
    x0 = torch.tensor([[0.5, 0.05], [0.95, 0.3]], dtype=torch.float64)
    x_adv = torch.tensor([[0.9, -1.0], [2.0, 0.3]], dtype=torch.float64)
    out = cast_inside(x_adv, x0, constraints, "linf", torch.float32)
    exact = out.double().numpy()
    clean = x0.float().double().numpy()
    assert np.abs(exact - clean).max() <= 0.1 and exact.min() >= 0 and exact.max() <= 1
    np.testing.assert_allclose(exact, [[0.6, 0.0], [1.0, 0.3]], atol=1e-7)
