"""Fault tests (issue 16): models that misbehave, through every attack, scorer
and certificate.

Five faulty models on the same data (8x8 digits 0 / 1 in [0, 1], flat):

* ``nan``: a network whose logits are NaN wherever pixel 20 is below 0.3
  (``sqrt`` of a negative number), about half of the points;
* ``inf_weight``: a linear network with an infinite weight on pixel 20:
  infinite logits, NaN where that pixel is 0 (``inf * 0``), and an
  operation bound propagation reads;
* ``inf_gradient``: ``FunctionTransformer(np.sqrt)`` -> logistic regression,
  whose input gradient is infinite at the many exact zeros;
* ``constant``: a network whose logits do not depend on the input;
* ``randomized``: a network that adds fresh Gaussian noise to its logits at
  every call.

What must hold whatever the model does: outputs finite, in the bounds and
in the ball, the input untouched, a robust accuracy never above the clean
one (with the same predictions), no certificate on a point whose logits are
NaN, and a clear error (naming the operation) where a certificate cannot
read the model.
"""

import warnings

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer
from skorch import NeuralNetClassifier

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
from skrobust.certification import certify
from skrobust.metrics import robust_accuracy_score

EPS = 0.2
BOUNDS = (0.0, 1.0)


class NaNBelow(torch.nn.Module):
    """Linear logits times ``sqrt(x_20 - 0.3)``: NaN where ``x_20 < 0.3``."""

    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(64, 2)

    def forward(self, x):
        return self.linear(x) * torch.sqrt(x[:, 20:21] - 0.3)


class InfWeight(torch.nn.Module):
    """A linear layer whose weights on pixel 20 are infinite."""

    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(64, 2)
        with torch.no_grad():
            self.linear.weight[:, 20] = torch.tensor([float("inf"), -float("inf")])

    def forward(self, x):
        return self.linear(x)


class Constant(torch.nn.Module):
    """The same logits ``[0, 1]`` at every input (a zero-weight layer)."""

    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(64, 2)
        with torch.no_grad():
            self.linear.weight.zero_()
            self.linear.bias.copy_(torch.tensor([0.0, 1.0]))

    def forward(self, x):
        return self.linear(x)


class Noisy(torch.nn.Module):
    """A linear layer plus fresh Gaussian noise on the logits at every call."""

    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(64, 2)

    def forward(self, x):
        logits = self.linear(x)
        return logits + torch.randn_like(logits)


def _net(module, X, y, max_epochs):
    torch.manual_seed(0)
    net = NeuralNetClassifier(
        module,
        criterion=torch.nn.CrossEntropyLoss,
        optimizer=torch.optim.Adam,
        lr=0.05,
        max_epochs=max_epochs,
        train_split=None,
        verbose=0,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # NaN losses of the NaN net
        return net.fit(X, y)


@pytest.fixture(scope="module")
def data():
    X, y = load_digits(n_class=2, return_X_y=True)
    X = (X / 16.0).astype(np.float32)
    return X[:200], y[:200], X[200:240], y[200:240]


@pytest.fixture(scope="module")
def models(data):
    X, y, _, _ = data
    sqrt = make_pipeline(
        FunctionTransformer(np.sqrt), LogisticRegression(max_iter=300)
    ).fit(X.astype(np.float64), y)
    return {
        "nan": _net(NaNBelow, X, y, max_epochs=0),
        "inf_weight": _net(InfWeight, X, y, max_epochs=0),
        "inf_gradient": sqrt,
        "constant": _net(Constant, X, y, max_epochs=0),
        "randomized": _net(Noisy, X, y, max_epochs=5),
    }


ATTACKS = {
    "FGSM": lambda: FGSM(eps=EPS),
    "PGD": lambda: PGD(eps=EPS, n_iter=5),
    "APGD": lambda: APGD(eps=EPS, n_iter=5),
    "FAB": lambda: FAB(eps=EPS, n_iter=5),
    "CW": lambda: CarliniWagnerL2(max_iter=5, n_binary_search=2),
    "Square": lambda: SquareAttack(eps=EPS, n_queries=30),
    "HopSkipJump": lambda: HopSkipJump(max_iter=2, init_eval=10),
    "AutoAttack": lambda: AutoAttack(eps=EPS, n_iter=5, n_queries=30),
}
MODELS = ["nan", "inf_weight", "inf_gradient", "constant", "randomized"]


def _points(data, name):
    _, _, X, y = data
    return (X.astype(np.float64) if name == "inf_gradient" else X), y


def _logits(model, X):
    if hasattr(model, "module_"):
        with torch.no_grad():
            return model.module_(torch.as_tensor(X)).numpy()
    return model.decision_function(X)


@pytest.mark.parametrize("attack_name", sorted(ATTACKS))
@pytest.mark.parametrize("model_name", MODELS)
def test_attacks_return_valid_examples(models, data, model_name, attack_name):
    model = models[model_name]
    X, y = _points(data, model_name)
    before = X.copy()
    attack = ATTACKS[attack_name]().set_params(
        estimator=model, bounds=BOUNDS, random_state=0
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the faults are announced: not tested here
        out = attack.generate(X, y)
    np.testing.assert_array_equal(X, before)
    assert out.shape == X.shape and out.dtype == X.dtype
    assert np.isfinite(out).all()
    assert out.min() >= BOUNDS[0] and out.max() <= BOUNDS[1]
    if attack_name not in ("CW", "HopSkipJump"):  # minimal-norm attacks: no ball
        assert np.abs(out - X).max() <= EPS * (1 + 1e-6)
    if model_name == "constant":  # nothing can change a constant model's answer
        np.testing.assert_array_equal(model.predict(out), model.predict(X))


@pytest.mark.parametrize("model_name", ["nan", "inf_gradient", "constant"])
def test_robust_accuracy_never_above_clean(models, data, model_name):
    model = models[model_name]
    X, y = _points(data, model_name)
    clean = model.score(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name in ("PGD", "Square"):
            attack = ATTACKS[name]().set_params(bounds=BOUNDS, random_state=0)
            robust = robust_accuracy_score(model, X, y, attack=attack)
            assert robust <= clean, name
            if model_name == "constant":
                assert robust == clean, name


def test_nan_logits_are_announced_by_the_scorer(models, data):
    X, y = _points(data, "nan")
    attack = PGD(eps=EPS, n_iter=2, bounds=BOUNDS, random_state=0)
    with pytest.warns(RuntimeWarning, match="NaN or infinite"):
        robust_accuracy_score(models["nan"], X, y, attack=attack)


@pytest.mark.parametrize(
    "method", ["ibp", "crown-ibp", "crown", "alpha-crown", "lipschitz", "milp"]
)
@pytest.mark.parametrize("model_name", ["nan", "inf_weight"])
def test_no_certificate_where_the_logits_are_not_finite(
    models, data, model_name, method
):
    X, y = _points(data, model_name)
    model = models[model_name]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            certified = certify(model, X, y, eps=0.01, bounds=BOUNDS, method=method)
    except (TypeError, ValueError) as exc:  # a refusal names what it cannot read
        names = ("sqrt", type(model.module_).__name__, "finite")
        assert any(name in str(exc) for name in names), exc
        return
    broken = ~np.isfinite(_logits(model, X)).all(axis=1)
    assert broken.any() and not certified[broken].any()
    # nor where the ball reaches a point with non-finite logits
    if model_name == "nan":
        assert not certified[X[:, 20] - 0.01 < 0.3].any()


@pytest.mark.parametrize("method", ["ibp", "crown"])
def test_constant_model_certified_exactly_where_right(models, data, method):
    X, y = _points(data, "constant")
    model = models["constant"]
    certified = certify(model, X, y, eps=0.5, bounds=BOUNDS, method=method)
    np.testing.assert_array_equal(certified, model.predict(X) == y)


def test_inf_gradient_certificates_are_sound(models, data):
    X, y = _points(data, "inf_gradient")
    model = models["inf_gradient"]
    try:
        certified = certify(model, X, y, eps=0.05, bounds=BOUNDS, method="crown")
    except Exception as exc:  # a clear refusal is acceptable, naming the function
        assert "sqrt" in str(exc), exc
        return
    attack = PGD(model, eps=0.05, n_iter=20, bounds=BOUNDS, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        broken = model.predict(attack.generate(X, y)) != y
    assert not (certified & broken).any()


def test_randomized_model_is_refused_by_bound_propagation(models, data):
    X, y = _points(data, "randomized")
    with pytest.raises(Exception, match="randn"):
        certify(models["randomized"], X, y, eps=0.01, bounds=BOUNDS, method="ibp")


@pytest.mark.parametrize("model_name", ["nan", "constant"])
def test_smoothing_certifies_no_nan_votes(models, data, model_name):
    from skrobust.certification import RandomizedSmoothingClassifier

    X, y = _points(data, model_name)
    model = models[model_name]
    smoothed = RandomizedSmoothingClassifier(
        model, sigma=0.1, n_samples=200, n_samples_select=20, prefit=True,
        random_state=0,
    ).fit(X, y)  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        radius = smoothed.certified_radius(X, y)
    if model_name == "constant":  # one class everywhere: certified where right
        right = model.predict(X) == y
        assert right.any() and (~right).any()
        assert (radius[right] > 0).all() and np.isnan(radius[~right]).all()
        return
    # pixel 20 at 0: a draw is finite only if its noise there exceeds 0.3 (3
    # sigma), so almost every draw is NaN, which is no vote: no radius
    nan_draws = X[:, 20] == 0
    assert nan_draws.any() and np.isnan(radius[nan_draws]).all()


@pytest.mark.parametrize("model_name", ["nan", "inf_weight", "inf_gradient"])
def test_sanity_check_flags_non_finite_models(models, data, model_name):
    from skrobust.metrics import check_robustness_evaluation

    X, y = _points(data, model_name)
    attack = PGD(eps=EPS, n_iter=2, bounds=BOUNDS, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        report = check_robustness_evaluation(models[model_name], X, y, attack=attack)
    assert "finite" in report.failed
