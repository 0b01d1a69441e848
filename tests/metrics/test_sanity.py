"""Sanity checks flag gradient-masked models and stay quiet on normal ones."""

import copy
import warnings

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer
from skorch import NeuralNetClassifier

from skrobust.attacks import FGSM, PGD
from skrobust.metrics import GradientMaskingWarning, check_robustness_evaluation


class Quantize(torch.nn.Module):
    """Rounds inputs to a coarse grid: piecewise constant, zero gradient."""

    def forward(self, x):
        return torch.round(x * 2) / 2


class Scale(torch.nn.Module):
    def __init__(self, factor):
        super().__init__()
        self.factor = factor

    def forward(self, x):
        return self.factor * x


def _as_net(module):
    """A trained module as an (initialized) skorch net: no training needed."""
    net = NeuralNetClassifier(
        module, criterion=torch.nn.CrossEntropyLoss, classes=list(range(10))
    )
    return net.initialize()


@pytest.fixture
def data(digits_data):
    return digits_data.X_test[:150], digits_data.y_test[:150]


@pytest.fixture
def attack():
    return PGD(eps=0.1, n_iter=10, bounds=(0, 1), random_state=0)


def test_normal_model_passes_quietly(digits_mlp, data, attack):
    X, y = data
    with warnings.catch_warnings():
        warnings.simplefilter("error", GradientMaskingWarning)
        report = check_robustness_evaluation(digits_mlp, X, y, attack=attack)
    assert report.passed, str(report)
    assert 0 < report.robust_accuracy < digits_mlp.score(X, y)


def test_quantized_inputs_are_flagged(digits_mlp, data, attack):
    X, y = data
    module = torch.nn.Sequential(Quantize(), copy.deepcopy(digits_mlp.net_.module_))
    with pytest.warns(GradientMaskingWarning, match="zero_gradients"):
        report = check_robustness_evaluation(_as_net(module), X, y, attack=attack)
    assert {"zero_gradients", "black_box_vs_gradient"} <= set(report.failed)


def test_saturated_softmax_is_flagged(digits_mlp, data):
    X, y = data
    module = torch.nn.Sequential(copy.deepcopy(digits_mlp.net_.module_), Scale(1e4))
    attack = FGSM(eps=0.1, bounds=(0, 1))
    with pytest.warns(GradientMaskingWarning):
        report = check_robustness_evaluation(_as_net(module), X, y, attack=attack)
    assert "zero_gradients" in report.failed
    assert "more_iterations" in report.failed or "black_box_vs_gradient" in (
        report.failed
    )


def test_probability_outputs_are_flagged(digits_mlp, data, attack):
    X, y = data
    module = torch.nn.Sequential(
        copy.deepcopy(digits_mlp.net_.module_), torch.nn.Softmax(dim=1)
    )
    with pytest.warns(GradientMaskingWarning, match="probabilities"):
        report = check_robustness_evaluation(_as_net(module), X, y, attack=attack)
    assert "probability_outputs" in report.failed


def test_report_lists_every_check_and_prints(digits_mlp, data, attack):
    X, y = data
    report = check_robustness_evaluation(digits_mlp, X, y, attack=attack, warn=False)
    names = [c.name for c in report.checks]
    assert names == [
        "probability_outputs",
        "finite",
        "zero_gradients",
        "more_iterations",
        "black_box_vs_gradient",
        "unbounded",
        "monotone",
    ]
    assert "robust accuracy" in str(report)
    assert np.isfinite([c.value for c in report.checks[1:]]).all()


def test_infinite_gradients_are_flagged():
    """Issue 16, finding 2: sqrt at the digits' exact zeros (every check
    passed before)."""
    X, y = load_digits(return_X_y=True)
    X, y = X[:300] / 16.0, y[:300]
    clf = make_pipeline(
        FunctionTransformer(np.sqrt), LogisticRegression(max_iter=300)
    ).fit(X, y)
    attack = PGD(eps=2.0, norm="l2", n_iter=5, bounds=(0, 1), random_state=0)
    with pytest.warns(GradientMaskingWarning, match="non-finite input gradients"):
        report = check_robustness_evaluation(clf, X[:30], y[:30], attack=attack)
    assert "finite" in report.failed
    finite = report.checks[[c.name for c in report.checks].index("finite")]
    assert finite.value == 30  # every digit has a pixel at exactly 0
