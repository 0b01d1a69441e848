"""Adversarial training of a model with infinite input gradients (issue 16).

``sqrt`` at the digits' exact zeros has an infinite input gradient: the
inner l-inf attack steps by its sign, unharmed (torch's sign is +-1 at +-inf,
0 at NaN), and the input-gradient penalty leaves those points out with a
warning, so training ends with finite weights and a working model instead of
NaN weights.
"""

import warnings

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits
from skorch import NeuralNetClassifier

from skrobust.attacks import PGD
from skrobust.defenses import AdversarialTrainingClassifier


class SqrtNet(torch.nn.Module):
    """A linear model on sqrt(x): infinite input gradients at x = 0."""

    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(64, 2)

    def forward(self, x):
        return self.linear(torch.sqrt(x))


@pytest.mark.parametrize("loss", ["madry", "input_gradient"])
def test_infinite_input_gradients_train_finite_weights(loss):
    X, y = load_digits(n_class=2, return_X_y=True)
    X = (X / 16).astype(np.float32)
    assert (X == 0).any(axis=1).all()  # every image has exact zeros
    net = NeuralNetClassifier(
        SqrtNet,
        criterion=torch.nn.CrossEntropyLoss,
        max_epochs=3,
        lr=0.1,
        train_split=None,
        verbose=0,
    )
    clf = AdversarialTrainingClassifier(
        net,
        attack=PGD(eps=0.05, n_iter=2, bounds=(0, 1)),
        loss=loss,
        gradient_penalty=0.1,
        random_state=0,
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        clf.fit(X, y)
    messages = [str(w.message) for w in caught if w.category is RuntimeWarning]
    warned = any("input gradient is infinite or NaN" in m for m in messages)
    assert warned == (loss == "input_gradient")  # only the penalty drops points
    weights = [p.detach() for p in clf.estimator_.net_.module_.parameters()]
    assert all(bool(torch.isfinite(w).all()) for w in weights)
    assert (clf.predict(X) == y).mean() > 0.9  # NaN weights: chance (0.49)
