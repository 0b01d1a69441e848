"""IBPClassifier: certified training in skorch's loop, as a scikit-learn citizen."""

import pickle
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV
from skorch import NeuralNetBinaryClassifier, NeuralNetClassifier

from skrobust import SkorchClassifier, as_differentiable
from skrobust.attacks import PGD
from skrobust.certification import IBPClassifier, certify, interval_bounds
from skrobust.certification.bounds._training import CertifiedObjective
from skrobust.metrics import certified_accuracy_score, make_certified_scorer
from skrobust.nn import MLP

EPS = 0.05


def _net(**kwargs):
    params = dict(
        module__hidden_layer_sizes=(64,),
        criterion=torch.nn.CrossEntropyLoss,
        optimizer=torch.optim.Adam,
        lr=0.005,
        batch_size=64,
        max_epochs=30,
        train_split=None,
        verbose=0,
    )
    return NeuralNetClassifier(MLP, **{**params, **kwargs})


@pytest.fixture(scope="module")
def ibp_digits(digits_data):
    clf = IBPClassifier(_net(), eps=EPS, bounds=(0, 1), random_state=0)
    return clf.fit(digits_data.X_train, digits_data.y_train)


def test_certified_training_certifies_digits(ibp_digits, digits_mlp, digits_data):
    X, y = digits_data.X_test, digits_data.y_test
    assert ibp_digits.score(X, y) > 0.9
    trained = {
        m: certify(ibp_digits, X, y, eps=EPS, bounds=(0, 1), method=m).mean()
        for m in ("ibp", "crown")
    }
    standard = {
        m: certify(digits_mlp, X, y, eps=EPS, bounds=(0, 1), method=m).mean()
        for m in ("ibp", "crown")
    }
    assert trained["ibp"] > 0.7 and standard["ibp"] < 0.2
    assert trained["crown"] > standard["crown"] + 0.1
    assert ibp_digits.certify(X, y).mean() >= trained["ibp"]  # CROWN-IBP >= IBP
    # the scorer reads the certificate protocol (radii by bisection, to 1e-3):
    # it counts only points certified at EPS, and misses only those whose
    # bisected radius stops within the tolerance below EPS
    score = certified_accuracy_score(ibp_digits, X, y, radius=EPS)
    radius = ibp_digits.certified_radius(X, y)
    assert score == np.mean(radius >= EPS)
    certified = ibp_digits.certify(X, y)
    assert np.all(certified[radius >= EPS])
    assert np.all(radius[certified & ~(radius >= EPS)] >= EPS - 2e-3)


def test_certified_points_of_the_trained_net_survive_pgd(ibp_digits, digits_data):
    X, y = digits_data.X_test[:200], digits_data.y_test[:200]
    certified = ibp_digits.certify(X, y)
    attack = PGD(
        ibp_digits, eps=EPS, bounds=(0, 1), n_iter=50, n_restarts=5, random_state=0
    )
    X_adv = attack.generate(X[certified], y[certified])
    assert np.all(ibp_digits.predict(X_adv) == y[certified])


def test_certified_radius_and_the_view(ibp_digits, digits_data):
    X, y = digits_data.X_test[:30], digits_data.y_test[:30]
    radius = ibp_digits.certified_radius(X, y, max_eps=0.3, tol=2e-3)
    assert np.all(ibp_digits.certify(X, y)[radius >= EPS])
    assert np.median(np.nan_to_num(radius, nan=-1.0)) > EPS / 2
    view = as_differentiable(ibp_digits)  # the trained net, by reference
    assert view.module is ibp_digits.estimator_.net_.module_
    lower, upper = interval_bounds(ibp_digits, X, eps=EPS, bounds=(0, 1))
    assert np.all(lower <= upper)


class _History(list):
    """Just enough of skorch's history for the schedule."""

    def __getitem__(self, key):
        if isinstance(key, tuple):
            return super().__getitem__(key[0])[key[1]]
        return super().__getitem__(key)


def _at(epoch, batch, per_epoch=10):
    rows = [{"train_batch_count": per_epoch} for _ in range(epoch)]
    rows.append({"batches": [{"train_loss": 1.0}] * batch + [{}]})
    return SimpleNamespace(history=_History(rows))


def test_gowal_schedule():
    objective = CertifiedObjective(
        np.array(0.1), warmup_epochs=2, ramp_epochs=4, beta_start=1.0, beta_end=0.0
    )
    assert objective.schedule(_at(0, 0)) == (0.0, 1.0, 1.0)  # warm-up
    assert objective.schedule(_at(1, 9)) == (0.0, 1.0, 1.0)
    assert objective.schedule(_at(2, 0)) == (0.0, 1.0, 1.0)  # the ramp starts
    factor, kappa, beta = objective.schedule(_at(3, 5))  # 1.5 of 4 ramp epochs
    np.testing.assert_allclose([factor, kappa, beta], [1.1 * 0.375, 0.8125, 0.625])
    factor, kappa, beta = objective.schedule(_at(6, 0))  # ramp done
    np.testing.assert_allclose([factor, kappa, beta], [1.1, 0.5, 0.0])
    assert objective.schedule(_at(40, 3)) == objective.schedule(_at(6, 0))


def test_crown_ibp_training_and_binary_nets(digits_data):
    X, y = digits_data.X_train[:400], digits_data.y_train[:400]
    crown = IBPClassifier(
        _net(max_epochs=6, module__hidden_layer_sizes=(32, 32)),
        eps=0.02,
        bounds=(0, 1),
        method="crown-ibp",
        warmup_epochs=1,
        ramp_epochs=3,
        random_state=0,
    ).fit(X, y)
    assert crown.score(X, y) > 0.6
    assert crown.certify(X, y).mean() > 0.2
    keep = y < 2
    binary = NeuralNetBinaryClassifier(
        MLP,
        module__hidden_layer_sizes=(16,),
        optimizer=torch.optim.Adam,
        max_epochs=20,
        lr=0.01,
        train_split=None,
        verbose=0,
    )
    clf = IBPClassifier(binary, eps=0.05, bounds=(0, 1), random_state=0)
    clf.fit(X[keep], np.where(y[keep] == 1, "one", "zero"))
    assert list(clf.classes_) == ["one", "zero"]
    certified = clf.certify(X[keep], np.where(y[keep] == 1, "one", "zero"))
    assert certified.mean() > 0.5


def test_clone_pickle_and_grid_search_over_eps(digits_data):
    X, y = digits_data.X_train[:500], digits_data.y_train[:500]
    base = IBPClassifier(
        SkorchClassifier(_net(max_epochs=8), dtype="float64"),
        eps=0.02,
        bounds=(0, 1),
        random_state=0,
    )
    assert clone(base).get_params()["eps"] == 0.02
    search = GridSearchCV(
        base,
        {"eps": [0.0, 0.06]},
        scoring={"certified": make_certified_scorer(radius=0.05), "clean": "accuracy"},
        refit="certified",
        cv=2,
    ).fit(X, y)
    scores = search.cv_results_["mean_test_certified"]
    assert scores[1] > scores[0]  # training for the budget certifies it
    assert search.best_params_ == {"eps": 0.06}
    model = search.best_estimator_
    assert model.estimator_.net_.module_[1].weight.dtype == torch.float64
    restored = pickle.loads(pickle.dumps(model))
    Xt, yt = digits_data.X_test[:50], digits_data.y_test[:50]
    np.testing.assert_array_equal(restored.certify(Xt, yt), model.certify(Xt, yt))
    np.testing.assert_array_equal(restored.predict(Xt), model.predict(Xt))


def test_parameter_errors(digits_data):
    X, y = digits_data.X_train[:50], digits_data.y_train[:50]
    with pytest.raises(ValueError, match="method"):
        IBPClassifier(_net(), eps=0.1, method="crown").fit(X, y)
    with pytest.raises(ValueError, match="eps"):
        IBPClassifier(_net(), eps=[0.1, 0.2]).fit(X, y)
