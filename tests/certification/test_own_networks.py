"""Networks users write, through the public functions and IBPClassifier.

A module with its own ``forward`` (``self.net(x)``, functional ``F.relu`` and
``x.view``, a ``torch.cat`` of two branches, residual additions) in a skorch
net is trained with certified training, certified, and bounded exactly as
its hand-flattened ``nn.Sequential``.
"""

import copy

import numpy as np
import pytest
import torch
from _bound_checks import torch_view
from _nets import CustomMLP, FunctionalCNN, ResidualCNN, TwoBranch
from skorch import NeuralNetClassifier

from skrobust.attacks import PGD
from skrobust.certification import (
    IBPClassifier,
    certify,
    interval_bounds,
    margin_bounds,
)

EPS = 0.05
NETS = {
    "custom-forward MLP": (CustomMLP, {}, "flat"),
    "functional F.relu / x.view": (FunctionalCNN, {"channels": 4}, "images"),
    "two branches and torch.cat": (TwoBranch, {}, "flat"),
    "residual CNN": (ResidualCNN, {"channels": 4}, "images"),
}


def _data(digits_data, kind, n_train=600, n_test=120):
    if kind == "flat":
        X_train, X_test = digits_data.X_train, digits_data.X_test
    else:
        X_train, X_test = digits_data.images_train, digits_data.images_test
    y_train, y_test = digits_data.y_train, digits_data.y_test
    return X_train[:n_train], y_train[:n_train], X_test[:n_test], y_test[:n_test]


@pytest.mark.parametrize("name", sorted(NETS))
def test_ibp_training_certifies_custom_networks(digits_data, name):
    cls, kwargs, kind = NETS[name]
    X_train, y_train, X, y = _data(digits_data, kind)
    module_kwargs = {f"module__{k}": v for k, v in kwargs.items()}
    net = NeuralNetClassifier(
        cls,
        **module_kwargs,
        criterion=torch.nn.CrossEntropyLoss,
        optimizer=torch.optim.Adam,
        lr=0.01,
        batch_size=64,
        max_epochs=12,
        train_split=None,
        verbose=0,
    )
    clf = IBPClassifier(net, eps=EPS, bounds=(0, 1), random_state=0)
    clf.fit(X_train, y_train)
    assert clf.score(X, y) > 0.8
    ibp = certify(clf, X, y, eps=EPS, bounds=(0, 1), method="ibp")
    crown = certify(clf, X, y, eps=EPS, bounds=(0, 1), method="crown")
    assert ibp.mean() > 0.4  # 0.63-0.73; standard training: 0 to 0.27
    assert np.all(crown[ibp])  # CROWN keeps IBP's certificates
    np.testing.assert_array_equal(clf.certify(X, y), crown)
    attack = PGD(clf, eps=EPS, bounds=(0, 1), n_iter=20, random_state=0)
    X_adv = attack.generate(X[crown], y[crown])
    assert np.all(clf.predict(X_adv) == y[crown])

    # the trained module bounds as its Sequential does (float64 copies)
    module = copy.deepcopy(clf.estimator_.net_.module_).double().eval()
    own, flat = torch_view(module, 10), torch_view(module.sequential(), 10)
    X64 = X[:8].astype(np.float64)
    for method in ("ibp", "crown"):
        kw = dict(eps=EPS, bounds=(0, 1), method=method)
        for a, b in zip(
            interval_bounds(own, X64, **kw), interval_bounds(flat, X64, **kw)
        ):
            np.testing.assert_allclose(a, b, rtol=0, atol=1e-5)
        np.testing.assert_allclose(
            margin_bounds(own, X64, y[:8], **kw),
            margin_bounds(flat, X64, y[:8], **kw),
            rtol=0,
            atol=1e-5,
        )


class LazyMLP(torch.nn.Module):
    """``nn.LazyLinear`` learns the number of features at the first call."""

    def __init__(self, hidden=32, n_classes=10):
        super().__init__()
        self.hidden = torch.nn.LazyLinear(hidden)
        self.out = torch.nn.Linear(hidden, n_classes)

    def forward(self, x):
        return self.out(torch.relu(self.hidden(x.view(len(x), -1))))


def test_lazy_layers_are_built_before_tracing(digits_data):
    X = digits_data.X_test[:20]
    torch.manual_seed(0)
    lazy = LazyMLP().double()
    view = torch_view(lazy, 10)
    lower, upper = interval_bounds(view, X, eps=EPS, method="ibp")  # builds it
    hidden = torch.nn.Linear(64, 32).double()
    hidden.load_state_dict(lazy.hidden.state_dict())
    plain = torch.nn.Sequential(hidden, torch.nn.ReLU(), lazy.out)
    expected = interval_bounds(torch_view(plain, 10), X, eps=EPS, method="ibp")
    np.testing.assert_allclose(lower, expected[0], rtol=0, atol=1e-12)
    np.testing.assert_allclose(upper, expected[1], rtol=0, atol=1e-12)
