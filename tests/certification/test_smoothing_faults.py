"""Randomized smoothing with a base model that is not defined everywhere:
NaN scores vote for no class (never for class 0), inputs that overflow the
model's dtype are refused (issue 16, finding 1)."""

import numpy as np
import pytest
import torch
from scipy.stats import norm
from skorch import NeuralNetClassifier

from skrobust.certification import RandomizedSmoothingClassifier


class SqrtNet(torch.nn.Module):
    """Scores ``(-1, sqrt(x))``: class 1 wherever defined, NaN where ``x < 0``."""

    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(1, 2)
        with torch.no_grad():
            self.linear.weight.copy_(torch.tensor([[0.0], [1.0]]))
            self.linear.bias.copy_(torch.tensor([-1.0, 0.0]))

    def forward(self, x):
        return self.linear(torch.sqrt(x))


@pytest.fixture(scope="module")
def smoothed_sqrt():
    X = np.linspace(1, 2, 20, dtype=np.float32)[:, None]
    net = NeuralNetClassifier(
        SqrtNet,
        criterion=torch.nn.CrossEntropyLoss,  # scores are logits
        lr=0.0,
        max_epochs=1,
        train_split=None,
        verbose=0,
    ).fit(X, np.arange(20) % 2)
    rs = RandomizedSmoothingClassifier(
        net,
        prefit=True,
        sigma=1.0,
        n_samples=1000,
        n_samples_select=100,
        random_state=0,
    )
    return rs.fit(X)


def test_nan_scores_vote_for_no_class(smoothed_sqrt):
    rs = smoothed_sqrt
    assert rs.counting_ == "torch"
    X = np.array([[-3.0], [0.0], [4.0]], dtype=np.float32)
    with pytest.warns(RuntimeWarning, match="NaN scores on"):
        y_pred, radius = rs.certify(X)
    # at -3 nearly every noisy copy is NaN: no class wins (an argmax read
    # them as class 0 and certified it); at 0 only half the copies vote
    assert np.isnan(radius[:2]).all()
    # at 4 class 1 wins with P = Phi(4): the radius cannot exceed sigma * 4
    assert y_pred[2] == 1 and 2.0 < radius[2] <= 4.0
    with pytest.warns(RuntimeWarning, match="NaN scores on"):
        _, abstained = rs.predict_abstain(X)
    np.testing.assert_array_equal(abstained, [True, True, False])
    with pytest.warns(RuntimeWarning, match="NaN scores on"):
        proba = rs.predict_proba(X)
    assert proba[0].sum() < 0.01 and proba[1].sum() == pytest.approx(0.5, abs=0.1)
    assert proba[2, 1] == pytest.approx(norm.cdf(4.0), abs=0.01)
    with pytest.warns(RuntimeWarning, match="NaN scores on"):
        radius = rs.certified_radius(X, [0, 1, 1])
    assert np.isnan(radius[:2]).all() and radius[2] > 2.0


def test_inputs_overflowing_the_model_dtype_are_refused(smoothed_sqrt):
    X = np.array([[1.5], [1e39]])  # finite in float64, inf in float32
    for method in ("certify", "predict"):
        with pytest.raises(ValueError, match="NaN or infinity \\(in the model's dtype"):
            getattr(smoothed_sqrt, method)(X)
