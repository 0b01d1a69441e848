"""Sanity checks flag gradient-masked models and stay quiet on normal ones."""

import copy
import warnings

import numpy as np
import pytest
import torch
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
        "zero_gradients",
        "more_iterations",
        "black_box_vs_gradient",
        "unbounded",
        "monotone",
    ]
    assert "robust accuracy" in str(report)
    assert np.isfinite([c.value for c in report.checks[1:]]).all()
