"""Robust scores of a model whose outputs are NaN at some points (issue 16):
scikit-learn's ``predict`` still returns a label there (an argmax of NaN), so
the score counts arbitrary labels; the scorers say so with a warning."""

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits
from skorch import NeuralNetClassifier

from skrobust import SkorchClassifier
from skrobust.attacks import PGD
from skrobust.metrics import robust_accuracy_score, robustness_curve


class NaNWhereDark(torch.nn.Module):
    """Linear logits, NaN where pixel 2 is exactly 0 (0 * log 0)."""

    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(64, 2)

    def forward(self, x):
        return self.linear(x) + 0 * torch.log(x[:, 2:3])


@pytest.fixture(scope="module")
def nan_model():
    X, y = load_digits(n_class=2, return_X_y=True)
    X, y = (X / 16).astype(np.float32)[:60], y[:60]
    net = NeuralNetClassifier(
        NaNWhereDark, criterion=torch.nn.CrossEntropyLoss, max_epochs=0, verbose=0
    )
    return SkorchClassifier(net).fit(X, y), X, y


def test_nan_outputs_are_warned(nan_model):
    clf, X, y = nan_model
    dark = int((X[:, 2] == 0).sum())
    assert 0 < dark < len(X)
    attack = PGD(eps=0.1, n_iter=2, bounds=(0, 1), random_state=0)
    message = f"outputs are NaN or infinite at {dark} of {len(X)} clean points"
    with pytest.warns(RuntimeWarning, match=message):
        robust_accuracy_score(clf, X, y, attack=attack)
    with pytest.warns(RuntimeWarning, match=message):
        robustness_curve(clf, X, y, attack=attack, epsilons=[0, 0.1])
