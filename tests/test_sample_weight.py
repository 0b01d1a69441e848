"""Sample weights through the meta-estimators' ``fit`` and metadata routing.

Deterministic fits (full-batch float64 nets, PGD without a random start,
closed forms) must not tell integer weights from repeated rows, nor a zero
weight from a dropped row: a weight that is ignored (or applied to part of
the objective only) fails these comparisons.
"""

import numpy as np
import pytest
import sklearn
import torch
from sklearn.base import clone
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression, RidgeClassifier
from sklearn.model_selection import GridSearchCV
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from skorch import NeuralNetClassifier

from skrobust import SkorchClassifier
from skrobust._skorch import objective_net
from skrobust.attacks import PGD
from skrobust.certification import (
    IBPClassifier,
    LipschitzClassifier,
    RandomizedSmoothingClassifier,
)
from skrobust.certification.smoothing._training import SmoothingObjective
from skrobust.defenses import AdversarialTrainingClassifier
from skrobust.metrics import make_robust_scorer
from skrobust.nn import MLP

F = torch.nn.functional

PGD_FIXED = PGD(eps=0.1, n_iter=3, random_init=False)


def _net(**kwargs):
    params = dict(
        module__hidden_layer_sizes=(8,),
        criterion=torch.nn.CrossEntropyLoss,
        max_epochs=4,
        lr=0.1,
        batch_size=-1,  # full batches: the weighted loss is the data set's
        train_split=None,
        verbose=0,
    )
    return NeuralNetClassifier(MLP, **{**params, **kwargs})


@pytest.fixture(scope="module")
def iris():
    X, y = load_iris(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    w = np.ones(len(y))
    w[:40] = 2.0  # counted twice
    w[100:115] = 0.0  # dropped
    keep = w > 0
    X_rep = np.concatenate([X[:40], X[keep]])
    y_rep = np.concatenate([y[:40], y[keep]])
    return X, y, w, X_rep, y_rep


def _parameters(model):
    module = model.estimator_.net_.module_
    return [p.detach().numpy() for p in module.parameters()]


NET_MODELS = {
    "skorch": lambda: SkorchClassifier(_net(), dtype="float64", random_state=0),
    "madry": lambda: AdversarialTrainingClassifier(
        _net(), attack=PGD_FIXED, dtype="float64", random_state=0
    ),
    "madry-clean": lambda: AdversarialTrainingClassifier(
        _net(), attack=PGD_FIXED, clean_ratio=0.5, dtype="float64", random_state=0
    ),
    "input_gradient": lambda: AdversarialTrainingClassifier(
        _net(),
        attack=PGD_FIXED,
        loss="input_gradient",
        dtype="float64",
        random_state=0,
    ),
    "ibp": lambda: IBPClassifier(
        _net(),
        eps=0.05,
        warmup_epochs=0,
        ramp_epochs=1,
        dtype="float64",
        random_state=0,
    ),
    "lipschitz-ce": lambda: LipschitzClassifier(
        _net(), dtype="float64", random_state=0
    ),
    "lipschitz-hkr": lambda: LipschitzClassifier(
        _net(), loss="hinge-kr", dtype="float64", random_state=0
    ),
}


@pytest.mark.parametrize("name", sorted(NET_MODELS))
def test_net_weights_equal_repeated_and_dropped_rows(iris, name):
    X, y, w, X_rep, y_rep = iris
    weighted = NET_MODELS[name]().fit(X, y, sample_weight=w)
    repeated = NET_MODELS[name]().fit(X_rep, y_rep)
    unweighted = NET_MODELS[name]().fit(X, y)
    if name == "skorch":  # the classifier itself: compare its own net
        weighted, repeated, unweighted = (
            type("M", (), {"estimator_": m}) for m in (weighted, repeated, unweighted)
        )
    for a, b in zip(_parameters(weighted), _parameters(repeated)):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-11)
    differ = [
        not np.allclose(a, b)
        for a, b in zip(_parameters(weighted), _parameters(unweighted))
    ]
    assert any(differ)  # the weights matter here


def test_weighted_net_keeps_its_history_and_predicts_on_plain_arrays(iris):
    X, y, w, _, _ = iris
    clf = SkorchClassifier(
        _net(train_split=lambda ds, y: (ds, ds)), random_state=0
    ).fit(X, y, sample_weight=w)
    assert {"train_loss", "valid_loss"} <= set(clf.net_.history[-1])
    assert clf.predict(X).shape == y.shape


def test_closed_form_logistic_weights_equal_repeated_rows(iris):
    X, y, w, X_rep, y_rep = iris
    attack = PGD(eps=0.2)
    model = AdversarialTrainingClassifier(LogisticRegression(), attack=attack)
    weighted = clone(model).fit(X, y, sample_weight=w)
    repeated = clone(model).fit(X_rep, y_rep)
    assert weighted.fit_method_ == "closed_form"
    np.testing.assert_allclose(
        weighted.estimator_.coef_, repeated.estimator_.coef_, rtol=1e-4, atol=1e-5
    )
    unweighted = clone(model).fit(X, y)
    assert not np.allclose(weighted.estimator_.coef_, unweighted.estimator_.coef_)


def test_augmentation_weights_equal_repeated_rows(iris):
    X, y, w, X_rep, y_rep = iris
    model = AdversarialTrainingClassifier(
        RidgeClassifier(), attack=PGD_FIXED, n_rounds=2
    )
    weighted = clone(model).fit(X, y, sample_weight=w)
    repeated = clone(model).fit(X_rep, y_rep)
    assert weighted.fit_method_ == "augmentation"
    np.testing.assert_allclose(
        weighted.estimator_.coef_, repeated.estimator_.coef_, rtol=1e-8, atol=1e-10
    )


def test_weights_need_an_estimator_that_takes_them(iris):
    X, y, w, _, _ = iris
    model = AdversarialTrainingClassifier(KNeighborsClassifier(), attack=PGD_FIXED)
    with pytest.raises(TypeError, match="does not accept sample_weight"):
        model.fit(X, y, sample_weight=w)


class _RecordingLogisticRegression(LogisticRegression):
    def fit(self, X, y, sample_weight=None):
        self.sample_weight_seen_ = sample_weight
        return super().fit(X, y, sample_weight=sample_weight)


def test_smoothing_passes_weights_to_every_noisy_copy(iris):
    X, y, w, _, _ = iris
    rs = RandomizedSmoothingClassifier(
        _RecordingLogisticRegression(), n_noise_copies=3, random_state=0
    ).fit(X, y, sample_weight=w)
    np.testing.assert_array_equal(rs.estimator_.sample_weight_seen_, np.tile(w, 3))


def test_smoothing_objective_weights_the_noisy_losses():
    torch.manual_seed(0)
    x = torch.randn(6, 4, dtype=torch.float64)
    y = torch.tensor([0, 1, 2, 0, 1, 2])
    w = torch.tensor([0.0, 1.0, 2.0, 3.0, 0.5, 1.0], dtype=torch.float64)
    net = objective_net(_net(module__n_features_in=4, module__n_classes=3), None)
    net.initialize()
    net.module_.double()
    objective = SmoothingObjective(sigma=0.5)
    with net.weighting(w):
        torch.manual_seed(1)
        loss, _ = objective(net, x, y)
    torch.manual_seed(1)
    noisy = x + 0.5 * torch.randn_like(x)
    per_sample = F.cross_entropy(net.module_(noisy), y, reduction="none")
    expected = (w * per_sample).sum() / w.sum()
    assert loss.item() == pytest.approx(float(expected), rel=1e-12)


@pytest.fixture
def routing():
    with sklearn.config_context(enable_metadata_routing=True):
        yield


def test_weighted_fit_in_pipeline_and_grid_search_under_routing(iris, routing):
    X, y, w, _, _ = iris
    at = AdversarialTrainingClassifier(LogisticRegression(), attack=PGD(eps=0.1))
    pipe = make_pipeline(
        StandardScaler().set_fit_request(sample_weight=False),
        at.set_fit_request(sample_weight=True),
    )
    scorer = make_robust_scorer(PGD_FIXED).set_score_request(sample_weight=True)
    grid = {"adversarialtrainingclassifier__attack__eps": [0.05, 0.2]}
    search = GridSearchCV(pipe, grid, scoring=scorer, cv=3)
    search.fit(X, y, sample_weight=w)
    eps = search.best_params_["adversarialtrainingclassifier__attack__eps"]
    direct = clone(at).set_params(attack__eps=eps)
    direct.fit(StandardScaler().fit_transform(X), y, sample_weight=w)
    best = search.best_estimator_[-1].estimator_
    np.testing.assert_allclose(best.coef_, direct.estimator_.coef_, rtol=1e-6)
    unweighted = GridSearchCV(pipe, grid, scoring=scorer, cv=3).fit(X, y)
    assert not np.allclose(unweighted.best_estimator_[-1].estimator_.coef_, best.coef_)


def test_weighted_net_in_grid_search_under_routing(iris, routing):
    X, y, w, _, _ = iris
    at = NET_MODELS["madry"]()
    at.set_fit_request(sample_weight=True).set_score_request(sample_weight=True)
    search = GridSearchCV(at, {"attack__eps": [0.05, 0.1]}, cv=2).fit(
        X, y, sample_weight=w
    )
    direct = clone(at).set_params(**search.best_params_).fit(X, y, sample_weight=w)
    for a, b in zip(_parameters(search.best_estimator_), _parameters(direct)):
        np.testing.assert_allclose(a, b, rtol=1e-12)
