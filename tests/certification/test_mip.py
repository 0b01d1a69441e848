"""Exact verification of ReLU networks by MILP: exact, sound, and honest."""

import numpy as np
import pytest
import torch
from _bound_checks import torch_view
from _enumeration import affine_layers, enumerated_distance
from sklearn.datasets import load_breast_cancer, load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from skorch import NeuralNetClassifier

from skrobust import SkorchClassifier
from skrobust.attacks import PGD
from skrobust.certification import certify as bound_certify
from skrobust.certification.mip import (
    certified_radius,
    certify,
    minimal_distance,
    verify,
)
from skrobust.certification.mip._milp import MILP
from skrobust.nn import MLP


def _two_d_net(hidden, seed):
    torch.manual_seed(seed)
    sizes = [2, *hidden]
    layers = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        layers += [torch.nn.Linear(a, b), torch.nn.ReLU()]
    layers.append(torch.nn.Linear(sizes[-1], 3))
    return torch.nn.Sequential(*layers).double()


@pytest.mark.parametrize("norm, hidden, seed", [("linf", (6,), 0), ("l1", (3, 3), 1)])
def test_minimal_distance_equals_enumeration(norm, hidden, seed):
    net = _two_d_net(hidden, seed)
    view = torch_view(net, 3)
    X = np.random.default_rng(seed).uniform(-1, 1, size=(3, 2))
    result = minimal_distance(view, X, norm=norm, max_eps=3.0)
    assert result.exact.all()
    labels = view.predict(X)
    for i, x0 in enumerate(X):
        expected = enumerated_distance(*affine_layers(net), x0, labels[i], norm, 3.0)
        assert result.radius[i] == pytest.approx(expected, abs=1e-4)
        if expected < 3.0:  # the boundary point: at that distance, a tie
            point = result.boundary[i]
            dist = np.linalg.norm(point - x0, ord=np.inf if norm == "linf" else 1)
            assert dist == pytest.approx(expected, abs=1e-4)
            z = view.logits(point[None])[0]
            assert z.max() - z[labels[i]] <= 1e-5


def test_linear_model_distance_is_the_closed_form():
    X, y = load_iris(return_X_y=True)
    clf = LogisticRegression(max_iter=1000).fit(X, y)
    radius = certified_radius(clf, X[:20], y[:20], max_eps=5.0)
    z = clf.decision_function(X[:20])
    W = clf.coef_
    gap = z[np.arange(20), y[:20]][:, None] - z
    norms = np.abs(W[y[:20]][:, None] - W[None]).sum(2)
    with np.errstate(divide="ignore", invalid="ignore"):
        exact = np.where(norms > 0, gap / norms, np.inf).min(1)
    correct = clf.predict(X[:20]) == y[:20]
    np.testing.assert_allclose(radius[correct], np.minimum(exact, 5)[correct], 1e-6)
    assert np.isnan(radius[~correct]).all()


@pytest.fixture(scope="module")
def small_digits_mlp(digits_data):
    """A 16-unit MLP: small enough for MILP on a handful of points."""
    net = NeuralNetClassifier(
        MLP,
        module__hidden_layer_sizes=(16,),
        criterion=torch.nn.CrossEntropyLoss,
        optimizer=torch.optim.Adam,
        lr=0.01,
        max_epochs=20,
        batch_size=64,
        train_split=None,
        verbose=0,
    )
    model = SkorchClassifier(net, random_state=0)
    return model.fit(digits_data.X_train, digits_data.y_train)


def test_milp_dominates_crown_dominates_ibp(small_digits_mlp, digits_data):
    X, y = digits_data.X_test[:25], digits_data.y_test[:25]
    eps = 0.05
    ibp = bound_certify(small_digits_mlp, X, y, eps=eps, bounds=(0, 1), method="ibp")
    crown = bound_certify(
        small_digits_mlp, X, y, eps=eps, bounds=(0, 1), method="crown"
    )
    milp = certify(small_digits_mlp, X, y, eps=eps, bounds=(0, 1))
    assert np.all(milp[crown]) and np.all(crown[ibp])  # pointwise, not only counts
    assert milp.sum() > crown.sum() > ibp.sum()


def test_tighter_bounds_fewer_binaries_same_answers():
    """CROWN's pre-activation bounds leave fewer unstable ReLUs than IBP's in
    a two-hidden-layer net (the first layer's are equal); the answers, exact
    either way, are the same."""
    X, y = load_iris(return_X_y=True)
    clf = MLPClassifier((8, 8), max_iter=3000, random_state=0).fit(X, y)
    X, y = X[::10], y[::10]
    crown = verify(clf, X, y, eps=0.4)
    ibp = verify(clf, X, y, eps=0.4, bound_method="ibp")
    np.testing.assert_array_equal(crown.status, ibp.status)
    assert np.all(crown.n_binary <= ibp.n_binary)
    assert crown.n_binary.sum() < ibp.n_binary.sum()
    assert set(crown.status) == {"verified", "falsified"}


@pytest.mark.parametrize("norm, eps", [("linf", 0.05), ("linf", 0.1), ("l1", 1.0)])
def test_verified_survive_pgd_counterexamples_are_real(
    small_digits_mlp, digits_data, norm, eps
):
    model = small_digits_mlp
    X, y = digits_data.X_test[:25], digits_data.y_test[:25]
    result = verify(model, X, y, eps=eps, norm=norm, bounds=(0, 1))
    verified = result.status == "verified"
    falsified = result.status == "falsified"
    assert verified.sum() >= 3 and falsified.sum() >= 1
    attack = PGD(
        model,
        eps=eps,
        norm=norm,
        bounds=(0, 1),
        n_iter=50,
        n_restarts=5,
        random_state=0,
    )
    assert np.all(
        model.predict(attack.generate(X[verified], y[verified])) == y[verified]
    )
    adv = result.counterexample[falsified]
    assert not np.isnan(adv).any() and np.isnan(result.counterexample[~falsified]).all()
    assert np.all(model.predict(adv) != y[falsified])  # the model's own predict
    assert adv.min() >= 0 and adv.max() <= 1
    ord_ = np.inf if norm == "linf" else 1
    assert np.linalg.norm(adv - X[falsified], ord=ord_, axis=1).max() <= eps + 1e-6
    # PGD breaks at most what MILP falsified; MILP decides every point here
    broken = model.predict(attack.generate(X, y)) != y
    assert not np.any(broken & verified) and np.all(verified | falsified)


def test_tabular_threat_model():
    """Immutable and integer features, directions: in the program and in the
    counterexamples; fewer freedoms never lower the exact distance."""
    X, y = load_breast_cancer(return_X_y=True)
    X = X[:, :6]
    model = make_pipeline(
        StandardScaler(), MLPClassifier((8,), max_iter=3000, random_state=0)
    ).fit(X, y)
    Xs, ys = X[:8], y[:8]
    std = X.std(axis=0)
    free = minimal_distance(model, Xs, ys, eps=std, max_eps=3.0)
    frozen = minimal_distance(
        model, Xs, ys, eps=std, max_eps=3.0, feature_mask=[1, 2, 3]
    )
    integer = minimal_distance(
        model, Xs, ys, eps=std, max_eps=3.0, integer_features=[0, 1]
    )
    up = minimal_distance(model, Xs, ys, eps=std, max_eps=3.0, direction=1)
    ok = ~np.isnan(free.radius)
    for other in (frozen, integer, up):
        assert np.all(other.radius[ok] >= free.radius[ok] - 1e-6)
    assert np.any(frozen.radius[ok] > free.radius[ok] + 1e-3)
    moved = ~np.isnan(frozen.boundary).any(axis=1)
    np.testing.assert_array_equal(
        frozen.boundary[moved][:, [0, 4, 5]], Xs[moved][:, [0, 4, 5]]
    )
    moved = ~np.isnan(integer.boundary).any(axis=1)
    steps = integer.boundary[moved][:, :2] - Xs[moved][:, :2]
    np.testing.assert_allclose(steps, np.round(steps), atol=1e-9)
    moved = ~np.isnan(up.boundary).any(axis=1)
    assert np.all(up.boundary[moved] >= Xs[moved] - 1e-9)
    # verification with an eps dict by column index, integers and a mask
    result = verify(
        model, Xs, ys, eps=0.5 * std, integer_features=[0], feature_mask=[0, 1, 2]
    )
    fals = result.status == "falsified"
    adv = result.counterexample[fals]
    np.testing.assert_array_equal(adv[:, 3:], Xs[fals][:, 3:])
    assert np.all(model.predict(adv) != ys[fals])


def test_time_limit_gives_unknown_never_verified(small_digits_mlp, digits_data):
    X, y = digits_data.X_test[:6], digits_data.y_test[:6]
    full = verify(small_digits_mlp, X, y, eps=0.1, bounds=(0, 1))
    short = verify(small_digits_mlp, X, y, eps=0.1, bounds=(0, 1), time_limit=1e-3)
    assert np.all(full.status[short.status == "verified"] == "verified")
    assert np.all(full.status[short.status == "falsified"] == "falsified")
    assert (short.status == "unknown").any()
    radius = minimal_distance(
        small_digits_mlp, X, y, bounds=(0, 1), max_eps=0.2, time_limit=1e-3
    )
    exact = minimal_distance(small_digits_mlp, X, y, bounds=(0, 1), max_eps=0.2)
    ok = ~np.isnan(exact.radius)
    assert np.all(radius.radius[ok] <= exact.radius[ok] + 1e-6)  # bounds stay sound
    assert not radius.exact[ok].all()


def test_solver_helper_reports_bounds():
    model = MILP()
    v = model.add_variables([0, 0], [10, 10], integer=[True, False])
    model.add_rows([0, 0], v, [2.0, 1.0], lower=[3.5])
    sol = model.solve(np.array([1.0, 1.0]))
    assert sol.status == "optimal" and sol.value == pytest.approx(2.0)
    assert sol.bound <= sol.value + 1e-9
    model.add_rows([0], v[:1], [1.0], upper=[-1.0])
    assert model.solve(np.ones(2)).status == "infeasible"


def test_errors(small_digits_mlp, digits_data):
    X, y = digits_data.X_test[:2], digits_data.y_test[:2]
    with pytest.raises(ValueError, match="linf' or 'l1'"):
        verify(small_digits_mlp, X, y, eps=0.1, norm="l2")
    with pytest.raises(ValueError, match="time_limit"):
        verify(small_digits_mlp, X, y, eps=0.1, time_limit=0)
    Xi, yi = load_iris(return_X_y=True)
    tanh = MLPClassifier((4,), activation="tanh", max_iter=2000, random_state=0)
    with pytest.raises(TypeError, match="affine layers and ReLU"):
        verify(tanh.fit(Xi, yi), Xi[:2], yi[:2], eps=0.1)
