"""Adversarial training: robustness gains, per-batch objectives against hand-written
steps, skorch integration, closed-form logistic regression, augmentation, sklearn
citizenship."""

import copy
import pickle
import warnings

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.datasets import load_breast_cancer, load_wine
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.neighbors import KNeighborsClassifier
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import MinMaxScaler, StandardScaler
from sklearn.utils._param_validation import InvalidParameterError
from skorch import NeuralNetClassifier
from skorch.callbacks import Callback, EpochScoring
from skorch.dataset import ValidSplit

from skrobust import SkorchClassifier, as_differentiable
from skrobust.attacks import FGSM, PGD
from skrobust.attacks._gradient import GradientAttack
from skrobust.defenses import (
    AdversarialNeuralNetClassifier,
    AdversarialObjective,
    AdversarialTrainingClassifier,
    AdversarialTrainingMixin,
    CatastrophicOverfittingGuard,
)
from skrobust.metrics import make_robust_scorer, robust_accuracy_score
from skrobust.nn import MLP, SmallCNN

F = torch.nn.functional
BOUNDS = (0.0, 1.0)
TRAIN_ATTACK = PGD(eps=0.1, n_iter=7, bounds=BOUNDS)
EVAL_ATTACK = PGD(eps=0.1, n_iter=20, bounds=BOUNDS, random_state=0)


def digits_net(module=MLP, max_epochs=5, **kwargs):
    if module is MLP:
        kwargs.setdefault("module__hidden_layer_sizes", (64,))
    kwargs.setdefault("train_split", None)
    kwargs.setdefault("batch_size", 64)
    return NeuralNetClassifier(
        module,
        criterion=torch.nn.CrossEntropyLoss,
        optimizer=torch.optim.Adam,
        lr=0.01,
        max_epochs=max_epochs,
        verbose=0,
        **kwargs,
    )


@pytest.fixture
def spy_perturb(monkeypatch):
    """Records the keyword arguments and the output of every ``perturb`` call."""
    calls = []
    original = GradientAttack.perturb

    def perturb(self, view, x0, labels, constraints, **kwargs):
        x_adv = original(self, view, x0, labels, constraints, **kwargs)
        calls.append(
            dict(kwargs, view=view, x0=x0.detach().clone(), x_adv=x_adv, labels=labels)
        )
        return x_adv

    monkeypatch.setattr(GradientAttack, "perturb", perturb)
    return calls


# -- must show: robustness on digits ------------------------------------------

EPOCHS = {"mlp": 4, "cnn": 3}  # small, but enough for the gaps to be clear


@pytest.fixture(scope="module", params=["mlp", "cnn"])
def digits_runs(request, digits_data):
    """Clean and PGD-20 robust test accuracy of standard and robust training."""
    kind, d = request.param, digits_data
    module = MLP if kind == "mlp" else SmallCNN
    X_train, X_test = (
        (d.X_train, d.X_test) if kind == "mlp" else (d.images_train, d.images_test)
    )
    net = digits_net(module, EPOCHS[kind])
    runs = {}
    for loss in ("standard", "madry", "trades", "fast"):
        if loss == "standard":
            clf = SkorchClassifier(net, random_state=0)
        else:
            clf = AdversarialTrainingClassifier(
                net, attack=TRAIN_ATTACK, loss=loss, random_state=0
            )
        clf.fit(X_train, d.y_train)
        clean = clf.score(X_test, d.y_test)
        robust = robust_accuracy_score(clf, X_test, d.y_test, attack=EVAL_ATTACK)
        runs[loss] = (clean, robust, clf)
    print(f"\n{kind} ({EPOCHS[kind]} epochs) clean / PGD-20 robust at eps 0.1:")
    for loss, (clean, robust, _) in runs.items():
        print(f"  {loss:9s} {clean:.3f} / {robust:.3f}")
    return kind, runs


def test_madry_beats_standard_on_digits(digits_runs):
    kind, runs = digits_runs
    clean, robust, clf = runs["madry"]
    clean_std, robust_std, _ = runs["standard"]
    assert robust >= robust_std + (0.15 if kind == "cnn" else 0.10)
    assert clean >= clean_std - 0.05
    assert clf.fit_method_ == "skorch"


def test_trades_and_fast_beat_standard_on_digits(digits_runs):
    _, runs = digits_runs
    clean_std, robust_std, _ = runs["standard"]
    for loss in ("trades", "fast"):
        clean, robust, _ = runs[loss]
        assert robust >= robust_std + 0.10, loss
        assert clean >= clean_std - 0.08, loss
    # fast training ran the catastrophic-overfitting guard after every epoch
    history = runs["fast"][2].estimator_.net_.history
    accuracy = history[:, "pgd_train_acc"]
    assert len(accuracy) == len(history) and all(0 <= a <= 1 for a in accuracy)


# -- the training step, against hand-written loops ------------------------------


def adversarial_net(objective, module=MLP, **kwargs):
    """An initialized adversarial skorch net on the digits' shapes."""
    net = AdversarialNeuralNetClassifier(
        module,
        criterion=torch.nn.CrossEntropyLoss,
        optimizer=torch.optim.SGD,
        lr=0.1,
        classes=list(range(10)),
        train_split=None,
        verbose=0,
        objective=objective,
        **{"module__n_features_in": 64, "module__n_classes": 10, **kwargs},
    )
    return net.initialize()


def grads(module):
    return [p.grad.clone() for p in module.parameters()]


def test_madry_step_equals_hand_written_loop(digits_data):
    eps, n_iter = 0.1, 5
    attack = PGD(eps=eps, n_iter=n_iter, random_init=False, bounds=BOUNDS)
    net = adversarial_net(AdversarialObjective(attack, "madry"))
    model = copy.deepcopy(net.module_)
    x0 = torch.as_tensor(digits_data.X_train[:64])
    y = torch.as_tensor(digits_data.y_train[:64])

    step = net.train_step_single((x0, y))

    # Madry et al.'s PGD without random start, then CE on the adversarial batch
    model.eval().requires_grad_(False)
    alpha, x = 2.5 * eps / n_iter, x0.clone()
    low, high = (x0 - eps).clamp(min=0), (x0 + eps).clamp(max=1)
    for _ in range(n_iter):
        x.requires_grad_(True)
        (g,) = torch.autograd.grad(F.cross_entropy(model(x), y, reduction="sum"), x)
        x = torch.minimum(torch.maximum(x.detach() + alpha * g.sign(), low), high)
    model.train().requires_grad_(True)
    loss = F.cross_entropy(model(x), y)
    loss.backward()

    torch.testing.assert_close(step["loss"], loss, rtol=1e-5, atol=1e-6)
    for ours, theirs in zip(grads(net.module_), grads(model)):
        torch.testing.assert_close(ours, theirs, rtol=1e-4, atol=1e-6)


def test_madry_clean_ratio_mixes_losses(digits_data, spy_perturb):
    attack = PGD(eps=0.1, n_iter=2, bounds=BOUNDS)
    net = adversarial_net(AdversarialObjective(attack, "madry", clean_ratio=0.25))
    x0 = torch.as_tensor(digits_data.X_train[:64])
    y = torch.as_tensor(digits_data.y_train[:64])
    step = net.train_step_single((x0, y))
    with torch.no_grad():
        adv = F.cross_entropy(net.module_(spy_perturb[0]["x_adv"]), y)
        clean = F.cross_entropy(net.module_(x0), y)
    torch.testing.assert_close(step["loss"].detach(), 0.75 * adv + 0.25 * clean)


def test_trades_inner_attack_maximises_kl_and_loss_matches(digits_data, spy_perturb):
    beta = 6.0
    attack = PGD(eps=0.1, n_iter=5, bounds=BOUNDS)
    net = adversarial_net(AdversarialObjective(attack, "trades", beta=beta))
    x0 = torch.as_tensor(digits_data.X_train[:64])
    y = torch.as_tensor(digits_data.y_train[:64])
    step = net.train_step_single((x0, y))

    (call,) = spy_perturb
    kl, x_adv = call["loss_fn"], call["x_adv"]
    with torch.no_grad():
        logits = net.module_(x0)
        p_clean = F.softmax(logits, dim=1)
        torch.testing.assert_close(call["labels"], p_clean)
        # the start is x + 0.001 N(0, 1): its KL is ~0; the attack increases it
        start = call["random_init"](x0, None)
        assert float(start.std()) == pytest.approx(0.001, rel=0.2)
        kl_start = kl(net.module_((x0 + start).clamp(0, 1)), p_clean, False, None)
        kl_adv = kl(net.module_(x_adv), p_clean, False, None)
        assert float(kl_adv.mean()) > 100 * float(kl_start.mean())
        assert float(kl_adv.mean()) > 1e-3
        assert float((x_adv - x0).abs().max()) <= 0.1 + 1e-6
        # the training loss: CE + beta KL(p(x) || p(x')), batch mean
        robust = p_clean * (p_clean.log() - F.log_softmax(net.module_(x_adv), 1))
        expected = F.cross_entropy(logits, y) + beta * robust.sum(1).mean()
    torch.testing.assert_close(step["loss"].detach(), expected, rtol=1e-5, atol=1e-6)


def test_fast_is_one_step_of_125_eps_from_a_random_start(digits_data, spy_perturb):
    eps = 0.1
    attack = PGD(eps=eps, n_iter=10)  # the schedule is overridden; no bounds
    net = adversarial_net(AdversarialObjective(attack, "fast"))
    model = copy.deepcopy(net.module_).eval().requires_grad_(False)
    x0 = torch.as_tensor(digits_data.X_train[:64])
    y = torch.as_tensor(digits_data.y_train[:64])
    torch.manual_seed(3)
    step = net.train_step_single((x0, y))

    (call,) = spy_perturb
    assert call["schedule"] == {"n_iter": 1, "rel_step": 1.25, "n_restarts": 1}
    assert call["random_init"] is True
    # Wong et al.: delta ~ U(-eps, eps), one step of 1.25 eps, clip to the ball
    torch.manual_seed(3)
    delta = (torch.rand(x0.shape) * 2 - 1) * eps
    x = (x0 + delta).requires_grad_(True)
    (g,) = torch.autograd.grad(F.cross_entropy(model(x), y, reduction="sum"), x)
    delta = (delta + 1.25 * eps * g.sign()).clamp(-eps, eps)
    torch.testing.assert_close(call["x_adv"], x0 + delta, rtol=0, atol=1e-6)
    moved = (call["x_adv"] - x0).abs()
    assert float((moved > eps - 1e-6).float().mean()) > 0.5  # most at the corners
    with torch.no_grad():
        expected = F.cross_entropy(net.module_(x0 + delta), y)
    torch.testing.assert_close(step["loss"].detach(), expected, rtol=1e-5, atol=1e-6)


def test_input_gradient_equals_hand_computed_penalty(digits_data):
    lam = 0.5
    attack = PGD(eps=0.1)
    net = adversarial_net(
        AdversarialObjective(attack, "input_gradient", gradient_penalty=lam)
    )
    model = copy.deepcopy(net.module_)
    x0 = torch.as_tensor(digits_data.X_train[:64])
    y = torch.as_tensor(digits_data.y_train[:64])
    step = net.train_step_single((x0, y))

    x = x0.clone().requires_grad_(True)
    ce = F.cross_entropy(model(x), y, reduction="none")
    (g,) = torch.autograd.grad(ce.sum(), x, create_graph=True)
    loss = ce.mean() + lam * g.pow(2).sum(dim=1).mean()  # per-sample ||grad||^2
    loss.backward()  # double backprop
    torch.testing.assert_close(step["loss"], loss, rtol=1e-5, atol=1e-6)
    for ours, theirs in zip(grads(net.module_), grads(model)):
        torch.testing.assert_close(ours, theirs, rtol=1e-4, atol=1e-6)


# -- skorch integration -----------------------------------------------------------


class ModeSpy(torch.nn.Module):
    """BatchNorm and Dropout, a frozen layer, and a count of forward calls per mode."""

    def __init__(self, n_features_in=64, n_classes=10):
        super().__init__()
        self.hidden = torch.nn.Linear(n_features_in, 32)
        self.frozen = torch.nn.Linear(n_features_in, 32).requires_grad_(False)
        self.norm = torch.nn.BatchNorm1d(32)
        self.drop = torch.nn.Dropout(0.3)
        self.out = torch.nn.Linear(32, n_classes)
        self.calls = {"train": 0, "eval": 0, "mixed": 0, "grad_in_eval": 0}

    def forward(self, x):
        modes = {m.training for m in self.modules()}
        mode = "mixed" if len(modes) > 1 else ("train" if self.training else "eval")
        self.calls[mode] += 1
        if mode == "eval" and self.hidden.weight.requires_grad:
            self.calls["grad_in_eval"] += 1
        h = torch.relu(self.norm(self.hidden(x) + self.frozen(x)))
        return self.out(self.drop(h))


def test_attack_runs_in_eval_mode_and_restores_modes_and_grads(digits_data):
    n, n_iter = 320, 3  # 5 batches of 64
    attack = PGD(eps=0.1, n_iter=n_iter, bounds=BOUNDS)
    net = digits_net(ModeSpy, max_epochs=2)
    clf = AdversarialTrainingClassifier(net, attack=attack, random_state=0)
    clf.fit(digits_data.X_train[:n], digits_data.y_train[:n])
    module = clf.estimator_.net_.module_
    assert module.calls == {
        "train": 2 * 5,  # one training forward per batch
        "eval": 2 * 5 * n_iter,  # the attack's steps, all in eval mode
        "mixed": 0,
        "grad_in_eval": 0,  # parameters frozen while attacking
    }
    # only training forwards update the batch-norm statistics
    assert int(module.norm.num_batches_tracked) == 2 * 5
    assert module.training and all(m.training for m in module.modules())
    assert not module.frozen.weight.requires_grad
    assert all(
        p.requires_grad for n, p in module.named_parameters() if "frozen" not in n
    )


def test_skorch_history_and_robust_epoch_scoring(digits_data):
    scorer = make_robust_scorer(PGD(eps=0.1, n_iter=3, bounds=BOUNDS, random_state=0))
    scoring = EpochScoring(
        scorer, on_train=False, lower_is_better=False, name="valid_robust"
    )
    net = digits_net(
        max_epochs=3,
        train_split=ValidSplit(5, stratified=True),
        callbacks=[("robust", scoring)],
    )
    attack = PGD(eps=0.1, n_iter=3, bounds=BOUNDS)
    clf = AdversarialTrainingClassifier(net, attack=attack, random_state=0)
    clf.fit(digits_data.X_train[:500], digits_data.y_train[:500])
    history = clf.estimator_.net_.history
    assert len(history) == 3
    assert all(loss > 0 for loss in history[:, "train_loss"])
    assert all(0 <= acc <= 1 for acc in history[:, "valid_acc"])
    robust = history[:, "valid_robust"]
    assert len(robust) == 3 and all(0 <= r <= 1 for r in robust)
    assert robust[-1] <= history[-1, "valid_acc"] + 1e-12
    assert type(clf.estimator_.net_).__name__ == "AdversarialNeuralNetClassifier"


def test_eps_warmup_ramps_the_budget(digits_data, spy_perturb):
    seen = []

    class Factor(Callback):
        def on_epoch_begin(self, net, **kwargs):
            seen.append(net.objective.eps_factor(net))

    net = digits_net(max_epochs=4, batch_size=160, callbacks=[("factor", Factor())])
    attack = PGD(eps=0.1, n_iter=3)
    clf = AdversarialTrainingClassifier(net, attack=attack, eps_warmup=3)
    clf.fit(digits_data.X_train[:320], digits_data.y_train[:320])
    np.testing.assert_allclose(seen, [1 / 3, 2 / 3, 1, 1])
    factors = [c["eps_factor"] for c in spy_perturb]
    np.testing.assert_allclose(factors, np.repeat([1 / 3, 2 / 3, 1, 1], 2))
    # the perturbations use the ramped budget (PGD reaches the box's faces)
    for call, factor in zip(spy_perturb, factors):
        size = float((call["x_adv"] - call["x0"]).abs().max())
        assert size == pytest.approx(0.1 * factor, rel=1e-5)


def test_catastrophic_overfitting_guard_restores_best_epoch(digits_data, monkeypatch):
    # simulate a collapse of PGD accuracy in the third epoch
    sequence = iter([0.5, 0.6, 0.1, 0.6, 0.6, 0.6])
    monkeypatch.setattr(
        CatastrophicOverfittingGuard, "pgd_accuracy", lambda self, net: next(sequence)
    )
    states = []

    class Snapshot(Callback):
        def on_epoch_end(self, net, **kwargs):
            states.append(copy.deepcopy(net.module_.state_dict()))

    net = digits_net(max_epochs=6, callbacks=[("snapshot", Snapshot())])
    clf = AdversarialTrainingClassifier(net, attack=PGD(eps=0.1), loss="fast")
    clf.fit(digits_data.X_train[:256], digits_data.y_train[:256])
    history = clf.estimator_.net_.history
    assert len(history) == 3  # stopped after the collapse
    assert history[:, "pgd_train_acc"] == [0.5, 0.6, 0.1]
    assert history[-1, "overfitting_stop"] is True
    assert "overfitting_stop" not in history[-2]
    # the weights are those of the best epoch (the second), not the last
    final = clf.estimator_.net_.module_.state_dict()
    for name, value in final.items():
        torch.testing.assert_close(value, states[1][name])
    assert len(states) == 2  # callbacks after the guard see no collapsed epoch


def test_guard_off_and_real_check(digits_data):
    net = digits_net(max_epochs=2)
    X, y = digits_data.X_train[:256], digits_data.y_train[:256]
    off = AdversarialTrainingClassifier(
        net, attack=PGD(eps=0.1, bounds=BOUNDS), loss="fast", overfitting_guard=False
    ).fit(X, y)
    assert "pgd_train_acc" not in off.estimator_.net_.history[-1]
    on = AdversarialTrainingClassifier(
        net, attack=PGD(eps=0.1, bounds=BOUNDS), loss="fast", random_state=0
    ).fit(X, y)
    guard = dict(on.estimator_.net_.callbacks_)["overfitting_guard"]
    assert len(guard.batch_[0]) == 128
    assert on.estimator_.net_.history[-1, "pgd_train_acc"] == guard.pgd_accuracy(
        on.estimator_.net_
    )


# -- plain scikit-learn classifiers ---------------------------------------------


@pytest.fixture(scope="module")
def cancer():
    X, y = load_breast_cancer(return_X_y=True)
    return X, y


def test_closed_form_with_eps_zero_is_logistic_regression(cancer):
    X, y = cancer
    for lr in (
        LogisticRegression(C=0.5, tol=1e-10, max_iter=10_000),
        LogisticRegression(fit_intercept=False, tol=1e-10, max_iter=10_000),
        LogisticRegression(class_weight="balanced", tol=1e-10, max_iter=10_000),
    ):
        model = make_pipeline(StandardScaler(), lr)
        reference = clone(model).fit(X, y)[-1]
        robust = AdversarialTrainingClassifier(model, attack=PGD(eps=0.0)).fit(X, y)
        assert robust.fit_method_ == "closed_form"
        fitted = robust.estimator_[-1]
        np.testing.assert_allclose(fitted.coef_, reference.coef_, atol=1e-5)
        np.testing.assert_allclose(fitted.intercept_, reference.intercept_, atol=1e-5)


def test_closed_form_multiclass(digits_data):
    X, y = load_wine(return_X_y=True)
    model = make_pipeline(StandardScaler(), LogisticRegression(tol=1e-10))
    reference = clone(model).fit(X, y)[-1]
    robust = AdversarialTrainingClassifier(model, attack=PGD(eps=0.0)).fit(X, y)
    np.testing.assert_allclose(robust.estimator_[-1].coef_, reference.coef_, atol=1e-5)
    # with a budget: the pairwise worst-case margins make the model more robust
    attack = PGD(eps=0.5, eps_units="std")
    robust = AdversarialTrainingClassifier(model, attack=attack).fit(X, y)
    evaluate = PGD(eps=0.5, eps_units="std", n_iter=20, random_state=0).fit(X)
    assert robust_accuracy_score(robust, X, y, attack=evaluate) > (
        robust_accuracy_score(clone(model).fit(X, y), X, y, attack=evaluate) + 0.1
    )


def worst_case_objective(model, X, y, scale):
    """Regularised log-loss at the FGSM points: the exact linf worst case."""
    X_adv = FGSM(model, eps=scale).generate(X, y)
    proba = model.predict_proba(X_adv)[np.arange(len(y)), y]
    lr = model[-1]
    return -np.log(proba).sum() + 0.5 * (lr.coef_**2).sum() / lr.C


def test_closed_form_binary_is_the_exact_worst_case(cancer):
    X, y = cancer
    scale = 0.2 * X.std(axis=0)  # raw units
    model = make_pipeline(StandardScaler(), LogisticRegression())
    attack = PGD(eps=scale)
    robust = AdversarialTrainingClassifier(model, attack=attack).fit(X, y)
    standard = clone(model).fit(X, y)
    fitted = robust.estimator_
    # the trained closed form, written out: softplus(-margin + ||s * w_raw||_1)
    lr = fitted[-1]
    w_raw = lr.coef_[0] / fitted[0].scale_
    z = fitted.decision_function(X)
    margin = np.where(y == 1, z, -z)
    closed = np.logaddexp(0, -margin + np.abs(scale * w_raw).sum()).sum()
    closed += 0.5 * (lr.coef_**2).sum() / lr.C
    # ... equals the loss at FGSM's points, which is minimal there
    assert worst_case_objective(fitted, X, y, scale) == pytest.approx(closed, rel=1e-9)
    assert worst_case_objective(fitted, X, y, scale) < worst_case_objective(
        standard, X, y, scale
    )
    rng = np.random.default_rng(0)
    for _ in range(3):  # a local minimum: nearby weights do worse
        other = copy.deepcopy(fitted)
        other[-1].coef_ = lr.coef_ + 0.01 * rng.standard_normal(lr.coef_.shape)
        assert worst_case_objective(other, X, y, scale) > closed
    # and the PGD robust accuracy improves
    evaluate = PGD(eps=scale, n_iter=20, random_state=0)
    assert robust_accuracy_score(fitted, X, y, attack=evaluate) > (
        robust_accuracy_score(standard, X, y, attack=evaluate) + 0.05
    )


def test_closed_form_std_units_and_dataframes(cancer):
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    model = make_pipeline(StandardScaler(), LogisticRegression())
    std = AdversarialTrainingClassifier(
        model, attack=PGD(eps=0.2, eps_units="std")
    ).fit(X, y)
    raw = AdversarialTrainingClassifier(
        model, attack=PGD(eps=0.2 * X.to_numpy().std(axis=0))
    ).fit(X.to_numpy(), y.to_numpy())
    np.testing.assert_allclose(std.estimator_[-1].coef_, raw.estimator_[-1].coef_)
    assert list(std.feature_names_in_) == list(X.columns)
    np.testing.assert_array_equal(std.predict(X), raw.predict(X.to_numpy()))
    assert isinstance(std.estimator_, Pipeline)
    # string labels
    labels = np.array(["malignant", "benign"])[y]
    named = AdversarialTrainingClassifier(
        model, attack=PGD(eps=0.2, eps_units="std")
    ).fit(X, labels)
    assert set(named.classes_) == {"benign", "malignant"}
    np.testing.assert_array_equal(named.predict(X) == "benign", std.predict(X) == 1)


class FitSpy(KNeighborsClassifier):
    """Records the number of samples of every fit."""

    sizes = []

    def fit(self, X, y, **kwargs):
        FitSpy.sizes.append(len(X))
        return super().fit(X, y, **kwargs)


def test_knn_goes_through_augmentation_with_a_surrogate(cancer, spy_perturb):
    X, y = cancer
    X_train, y_train, X_test, y_test = X[::2], y[::2], X[1::2], y[1::2]
    attack = PGD(eps=0.3, eps_units="std", n_iter=10)
    FitSpy.sizes = []
    robust = AdversarialTrainingClassifier(
        FitSpy(n_neighbors=1), attack=attack, n_rounds=1, random_state=0
    ).fit(X_train, y_train)
    assert robust.fit_method_ == "augmentation"
    assert FitSpy.sizes == [len(X_train), 2 * len(X_train)]
    assert isinstance(robust.estimator_, KNeighborsClassifier)
    # the attack used a differentiable surrogate of the model, not the model
    assert {type(c["view"].estimator) for c in spy_perturb} == {Pipeline}
    standard = KNeighborsClassifier(n_neighbors=1).fit(X_train, y_train)
    # a transfer PGD through a surrogate of each model
    surrogate = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))

    def transfer_accuracy(model):
        proxy = clone(surrogate).fit(X_train, model.predict(X_train))
        X_adv = PGD(proxy, eps=0.3, eps_units="std", random_state=0).fit(X_train)
        return model.score(X_adv.generate(X_test, y_test), y_test)

    assert transfer_accuracy(robust) >= transfer_accuracy(standard)


def test_mlp_classifier_goes_through_white_box_augmentation(cancer, spy_perturb):
    X, y = cancer
    X = MinMaxScaler().fit_transform(X)
    X_train, y_train, X_test, y_test = X[::2], y[::2], X[1::2], y[1::2]
    mlp = MLPClassifier((16,), max_iter=300, random_state=0)
    attack = PGD(eps=0.05, n_iter=10, bounds=BOUNDS)
    robust = AdversarialTrainingClassifier(mlp, attack=attack, n_rounds=4)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        robust.fit(X_train, y_train)
        standard = clone(mlp).fit(X_train, y_train)
    assert robust.fit_method_ == "augmentation"
    assert isinstance(robust.estimator_, MLPClassifier)
    # white-box: the attacks ran on the MLP's own view, one per round and one
    # on the trained model (robust_scores_)
    assert [type(c["view"].estimator) for c in spy_perturb] == [MLPClassifier] * 5
    evaluate = PGD(eps=0.05, n_iter=20, bounds=BOUNDS, random_state=0)
    assert robust_accuracy_score(robust, X_test, y_test, attack=evaluate) > (
        robust_accuracy_score(standard, X_test, y_test, attack=evaluate)
    )


# -- errors ---------------------------------------------------------------------


class CustomNet(NeuralNetClassifier):
    pass


class CustomAdversarialNet(AdversarialTrainingMixin, NeuralNetClassifier):
    def __init__(self, module, *args, objective=None, **kwargs):
        super().__init__(module, *args, **kwargs)
        self.objective = objective


def test_errors(cancer, digits_data):
    X, y = cancer
    with pytest.raises(ValueError, match="loss='trades' trains skorch networks"):
        AdversarialTrainingClassifier(LogisticRegression(), loss="trades").fit(X, y)
    with pytest.raises(InvalidParameterError, match="loss"):
        AdversarialTrainingClassifier(LogisticRegression(), loss="nope").fit(X, y)
    custom = CustomNet(MLP, criterion=torch.nn.CrossEntropyLoss, max_epochs=1)
    with pytest.raises(TypeError, match="AdversarialTrainingMixin"):
        AdversarialTrainingClassifier(custom).fit(
            digits_data.X_train, digits_data.y_train
        )


def test_custom_net_with_the_mixin_trains_adversarially(digits_data, spy_perturb):
    net = CustomAdversarialNet(
        MLP,
        criterion=torch.nn.CrossEntropyLoss,
        max_epochs=1,
        batch_size=256,
        train_split=None,
        verbose=0,
    )
    X, y = digits_data.X_train[:512], digits_data.y_train[:512]
    clf = AdversarialTrainingClassifier(net, attack=PGD(eps=0.1, n_iter=2)).fit(X, y)
    assert type(clf.estimator_.net_) is CustomAdversarialNet
    assert len(spy_perturb) == 2  # one attack per batch
    assert net.objective is None  # the user's net is untouched


# -- scikit-learn citizenship ---------------------------------------------------


@pytest.fixture(scope="module")
def small_digits(digits_data):
    return digits_data.X_train[:600], digits_data.y_train[:600]


@pytest.mark.parametrize("n_jobs", [1, 2])
def test_grid_search_over_the_training_eps(small_digits, n_jobs):
    X, y = small_digits
    at = AdversarialTrainingClassifier(
        digits_net(max_epochs=2),
        attack=PGD(eps=0.1, n_iter=2, bounds=BOUNDS),
        random_state=0,
    )
    robust = make_robust_scorer(PGD(eps=0.1, n_iter=5, bounds=BOUNDS, random_state=0))
    # two workers re-import torch: the parallel run checks the same on two values
    grid = [0.0, 0.05, 0.1] if n_jobs == 1 else [0.0, 0.1]
    search = GridSearchCV(
        at,
        {"attack__eps": grid},
        scoring={"clean": "accuracy", "robust": robust},
        refit="robust",
        cv=2,
        n_jobs=n_jobs,
    ).fit(X, y)
    scores = search.cv_results_["mean_test_robust"]
    clean = search.cv_results_["mean_test_clean"]
    assert np.all(np.isfinite(scores)) and np.all(clean >= scores)
    assert min(scores[1:]) > scores[0]  # adversarial training helps
    best = search.cv_results_["params"][int(np.argmax(scores))]["attack__eps"]
    assert search.best_params_ == {"attack__eps": best}
    assert search.best_estimator_.estimator_.net_.objective.attack.eps == best


def test_clone_pickle_and_string_labels(small_digits):
    X, y = small_digits
    labels = np.array([f"digit {d}" for d in range(10)])[y]
    at = AdversarialTrainingClassifier(
        digits_net(max_epochs=2),
        attack=PGD(eps=0.1, n_iter=2),
        loss="trades",
        random_state=0,
    )
    fitted = at.fit(X, labels)
    assert set(fitted.predict(X)) <= set(labels)
    np.testing.assert_array_equal(fitted.classes_, np.unique(labels))
    again = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_array_equal(again.predict(X), fitted.predict(X))
    np.testing.assert_allclose(again.predict_proba(X), fitted.predict_proba(X))
    np.testing.assert_allclose(again.decision_function(X), fitted.decision_function(X))
    # a clone fits to the same model (seeded)
    refit = clone(at).fit(X, labels)
    np.testing.assert_allclose(refit.predict_proba(X), fitted.predict_proba(X))
    assert clone(at).get_params()["attack__eps"] == 0.1
    # the view of the meta-estimator is the trained net's
    view = as_differentiable(fitted)
    np.testing.assert_allclose(
        view.logits(X[:5]), fitted.decision_function(X[:5]), rtol=1e-5, atol=1e-6
    )


def test_closed_form_pickle_and_clone(cancer):
    X, y = cancer
    at = AdversarialTrainingClassifier(
        make_pipeline(StandardScaler(), LogisticRegression()), attack=PGD(eps=0.1)
    ).fit(X, y)
    again = pickle.loads(pickle.dumps(at))
    np.testing.assert_array_equal(again.predict(X), at.predict(X))
    refit = clone(at).fit(X, y)
    np.testing.assert_allclose(refit.predict_proba(X), at.predict_proba(X))
