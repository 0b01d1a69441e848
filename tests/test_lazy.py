"""Lazy modules (``nn.LazyLinear``...): built by one dry forward before use."""

import numpy as np
import torch
from skorch import NeuralNetClassifier

from skrobust import SkorchClassifier, as_differentiable
from skrobust._models import is_lazy, materialize
from skrobust.attacks import PGD


class LazyNet(torch.nn.Module):
    def __init__(self, n_classes=3):
        super().__init__()
        self.first = torch.nn.LazyLinear(8)
        self.norm = torch.nn.BatchNorm1d(8)
        self.last = torch.nn.Linear(8, n_classes)

    def forward(self, x):
        return self.last(torch.relu(self.norm(self.first(x))))


def test_materialize_builds_lazy_parameters_and_changes_nothing_else():
    net = LazyNet().train()
    assert is_lazy(net.first.weight)
    stats = net.norm.running_mean.clone(), net.norm.running_var.clone()
    assert materialize(net, torch.ones(4, 5)) is net
    assert net.first.weight.shape == (8, 5) and not is_lazy(net.first.weight)
    assert all(m.training for m in net.modules())  # flags restored
    assert torch.equal(net.norm.running_mean, stats[0])  # eval mode: no update
    assert torch.equal(net.norm.running_var, stats[1])
    assert net.first.weight.grad is None
    weight = net.first.weight.clone()
    materialize(net, torch.ones(4, 5))  # nothing lazy left: left alone
    assert torch.equal(net.first.weight, weight)


def test_a_view_of_an_initialized_lazy_net_is_usable():
    """``evaluating`` leaves lazy parameters alone; the first forward builds them
    and their flags are then restored like the others'."""
    X = np.random.default_rng(0).normal(size=(20, 5)).astype(np.float32)
    y = np.arange(20) % 3
    net = NeuralNetClassifier(
        LazyNet, criterion=torch.nn.CrossEntropyLoss, classes=[0, 1, 2],
        max_epochs=1, verbose=0,
        train_split=None,
    ).initialize()  # fmt: skip
    view = as_differentiable(net)
    with view.evaluating():
        assert view(torch.as_tensor(X)).shape == (20, 3)
    assert all(p.requires_grad for p in net.module_.parameters())
    clf = SkorchClassifier(
        NeuralNetClassifier(
            LazyNet, criterion=torch.nn.CrossEntropyLoss, max_epochs=2, verbose=0,
            train_split=None,
        ),
        random_state=0,
    ).fit(X, y)  # fmt: skip
    out = PGD(clf, eps=0.1, n_iter=3, random_state=0).generate(X, y)
    assert np.abs(out - X).max() <= 0.1 + 1e-6
