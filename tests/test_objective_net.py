"""Objective-trained skorch nets: the shared Objective base and fit_objective_net."""

import copy
import pickle

import numpy as np
import pytest
import torch
from skorch import NeuralNetBinaryClassifier, NeuralNetClassifier
from skorch.callbacks import Callback

import skrobust._skorch._meta as meta_module
import skrobust.certification.smoothing._training as smoothing_module
from skrobust import SkorchClassifier
from skrobust._skorch import (
    SKORCH_NETS,
    AdversarialNeuralNetClassifier,
    Objective,
    fit_objective_net,
)
from skrobust.attacks import PGD
from skrobust.certification import IBPClassifier, RandomizedSmoothingClassifier
from skrobust.certification.bounds._training import CertifiedObjective
from skrobust.certification.smoothing._training import SmoothingObjective
from skrobust.defenses import AdversarialObjective, AdversarialTrainingClassifier
from skrobust.nn import MLP


def _net(**kwargs):
    params = dict(
        module__hidden_layer_sizes=(16,),
        criterion=torch.nn.CrossEntropyLoss,
        optimizer=torch.optim.Adam,
        batch_size=64,
        max_epochs=2,
        train_split=None,
        verbose=0,
    )
    return NeuralNetClassifier(MLP, **{**params, **kwargs})


@pytest.fixture(scope="module")
def small(digits_data):
    return digits_data.X_train[:256], digits_data.y_train[:256]


# -- fit_objective_net: the one recipe of the three meta-estimators ----------------


META = {
    # adversarial and certified training call it through FittedModelMixin._fit_net
    "adversarial": (
        meta_module,
        lambda net: AdversarialTrainingClassifier(net, attack=PGD(eps=0.05, n_iter=1)),
        AdversarialObjective,
    ),
    "certified": (
        meta_module,
        lambda net: IBPClassifier(net, eps=0.02, bounds=(0, 1)),
        CertifiedObjective,
    ),
    "smoothing": (
        smoothing_module,
        lambda net: RandomizedSmoothingClassifier(net, sigma=0.25),
        SmoothingObjective,
    ),
}


@pytest.mark.parametrize("kind", list(META))
@pytest.mark.parametrize("wrapped", [False, True])
def test_meta_estimators_fit_through_fit_objective_net(
    small, monkeypatch, kind, wrapped
):
    module, make, objective_type = META[kind]
    calls = []

    def spy(estimator, objective, X, y, *, dtype, random_state, **kwargs):
        fitted = fit_objective_net(
            estimator,
            objective,
            X,
            y,
            dtype=dtype,
            random_state=random_state,
            **kwargs,
        )
        calls.append((estimator, objective, fitted))
        return fitted

    monkeypatch.setattr(module, "fit_objective_net", spy)
    net = _net()
    given = SkorchClassifier(net, dtype="float64") if wrapped else net
    meta = make(given).set_params(random_state=0).fit(*small)
    assert len(calls) == 1
    estimator, objective, fitted = calls[0]
    assert estimator is given  # the user's estimator, unwrapped inside
    assert type(objective) is objective_type
    assert meta.estimator_ is fitted
    assert isinstance(fitted, SkorchClassifier)
    assert type(fitted.net_.objective) is objective_type  # a copy (clone)
    assert type(fitted.net_) is AdversarialNeuralNetClassifier
    # a SkorchClassifier keeps its own dtype; a bare net takes the meta's
    assert fitted.dtype == ("float64" if wrapped else "float32")
    assert net.get_params()["max_epochs"] == 2 and not hasattr(net, "module_")


def test_fit_objective_net_seeds_and_leaves_the_net_alone(small):
    net = _net()
    objective = AdversarialObjective(PGD(eps=0.05, n_iter=1))
    a = fit_objective_net(net, objective, *small, dtype="float32", random_state=3)
    b = fit_objective_net(net, objective, *small, dtype="float32", random_state=3)
    for p, q in zip(a.net_.module_.parameters(), b.net_.module_.parameters()):
        assert torch.equal(p, q)
    assert not hasattr(net, "objective") and not net.initialized_
    assert SKORCH_NETS == (NeuralNetClassifier, NeuralNetBinaryClassifier)


# -- the Objective base ----------------------------------------------------------


class Recorder(Callback):
    """Records the epochs it saw, and puts a value in the history."""

    def __init__(self):
        self.epochs = []

    def on_epoch_end(self, net, **kwargs):
        self.epochs.append(len(net.history))
        net.history.record("recorded", len(net.history))


class ShiftObjective(Objective):
    """The clean loss at ``x + shift``; records the view it was given."""

    eps_warmup = 4

    def __init__(self, shift=0.0):
        self.shift = shift
        self.recorder = Recorder()

    def callbacks(self):
        return [("recorder", self.recorder)]

    def threat_model(self, sample_shape):
        return PGD(eps=self.shift).threat_model(sample_shape)

    def __call__(self, net, Xi, yi, **fit_params):
        x = torch.as_tensor(Xi, device=net.device) + self.shift
        self.view(net)
        self.constraints(tuple(x.shape[1:]))
        y_pred = net.infer(x, **fit_params)
        return net.get_loss(y_pred, yi, X=x, training=True), y_pred


def test_objective_callbacks_join_the_defaults_before_the_log(small):
    objective = ShiftObjective(0.1)
    clf = fit_objective_net(_net(), objective, *small, dtype="float32", random_state=0)
    names = [name for name, _ in clf.net_.callbacks_]
    assert names.index("recorder") < names.index("print_log")
    assert clf.net_.objective.recorder.epochs == [1, 2]  # the net's copy
    assert clf.net_.history[:, "recorded"] == [1, 2]
    # no objective (or one without callbacks): skorch's defaults as they are
    plain = [n for n, _ in AdversarialNeuralNetClassifier(MLP).get_default_callbacks()]
    assert plain == [n for n, _ in NeuralNetClassifier(MLP).get_default_callbacks()]


def test_guard_callback_comes_from_the_objective():
    fast = AdversarialObjective(PGD(eps=0.1), loss="fast")
    assert [n for n, _ in fast.callbacks()] == ["overfitting_guard"]
    assert (
        AdversarialObjective(PGD(eps=0.1), loss="fast", guard=False).callbacks() == []
    )
    assert AdversarialObjective(PGD(eps=0.1), loss="madry").callbacks() == []
    assert CertifiedObjective(np.float64(0.1)).callbacks() == []
    assert not hasattr(CertifiedObjective(np.float64(0.1)), "loss")


def test_objective_caches_are_derived_state(small):
    objective = ShiftObjective(0.1)
    clf = fit_objective_net(_net(), objective, *small, dtype="float32", random_state=0)
    view = objective.view(clf.net_)
    assert objective.view(clf.net_) is view  # cached while the net is the same
    constraints = objective.constraints((64,))
    assert objective.constraints((64,)) is constraints
    np.testing.assert_allclose(constraints.scale, 0.1)
    for other in (copy.deepcopy(objective), pickle.loads(pickle.dumps(objective))):
        assert other.shift == 0.1 and isinstance(other.recorder, Recorder)
        assert "_view_cache" not in vars(other)
        assert "_constraints_cache" not in vars(other)
        assert other.constraints((64,)) is not constraints
    # a new module (a refit, a reload) is a new view
    clf.net_.initialize_module()
    assert objective.view(clf.net_) is not view


def test_eps_warmup_is_linear_per_epoch():
    class History(list):
        pass

    class Net:
        history = History()

    objective, net = ShiftObjective(), Net()
    factors = []
    for epoch in range(6):
        net.history = History([None] * (epoch + 1))  # the row of the running epoch
        factors.append(objective.eps_factor(net))
    assert factors == [0.25, 0.5, 0.75, 1.0, 1.0, 1.0]
    assert Objective().eps_factor(net) == 1.0
    with pytest.raises(NotImplementedError, match="__call__"):
        Objective()(net, None, None)
    with pytest.raises(NotImplementedError, match="no threat model"):
        Objective().constraints((3,))


# -- verbose: skorch's own log and a progress bar, no extra forward passes ----------


@pytest.mark.parametrize("kind", list(META))
def test_verbose_prints_skorch_log_without_extra_forward_passes(
    small, capsys, monkeypatch, kind
):
    _, make, _ = META[kind]
    net = _net()
    calls = []
    forward = torch.nn.Linear.forward

    def counting(self, x):
        calls.append(len(x))
        return forward(self, x)

    monkeypatch.setattr(torch.nn.Linear, "forward", counting)
    counts = {}
    for verbose in (0, 1):
        calls.clear()
        meta = make(net).set_params(random_state=0, verbose=verbose).fit(*small)
        counts[verbose] = sum(calls)
        out = capsys.readouterr()
        if verbose:
            assert "train_loss" in out.out and "dur" in out.out  # the history
            names = [name for name, _ in meta.estimator_.net_.callbacks_]
            assert "progress_bar" in names
        else:
            assert "train_loss" not in out.out
    assert counts[1] == counts[0] > 0  # the log prints what training computed
    assert net.verbose == 0 and net.callbacks is None  # the user's net untouched


def test_verbose_keeps_a_progress_bar_the_net_already_has(small):
    from skorch.callbacks import ProgressBar

    net = _net(callbacks=[ProgressBar()])
    at = AdversarialTrainingClassifier(net, attack=PGD(eps=0.05, n_iter=1), verbose=1)
    callbacks = at.fit(*small).estimator_.net_.callbacks_
    assert sum(isinstance(cb, ProgressBar) for _, cb in callbacks) == 1
