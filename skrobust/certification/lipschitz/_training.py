"""Margin losses of Lipschitz training, computed inside skorch's loop.

For a network whose logit map is 1-Lipschitz in l2, a margin ``z_y - z_k``
larger than ``sqrt(2) r`` certifies the l2 radius ``r`` (the margin's own
constant is at most ``sqrt(2)``). The losses therefore ask for margins of
``sqrt(2) * margin``, with ``margin`` in input units, the radius to certify.
"""

import math

from skorch.callbacks import Callback
from skorch.utils import to_tensor

from ..._skorch import Objective, batch_mean
from ..._torch import torch
from ...utils import store_params
from ._parametrize import bake, constrain, use_group_sort

F = torch.nn.functional


def _two_logits(z):
    """A single binary logit ``z`` as the two logits ``[-z/2, z/2]``."""
    if z.dim() == 1 or z.shape[1] == 1:
        z = z.reshape(len(z), 1)
        return torch.cat([-0.5 * z, 0.5 * z], dim=1)
    return z


def margin_cross_entropy(z, labels, margin, temperature, reduction="mean"):
    """Cross-entropy of logits whose wrong classes are raised by ``sqrt(2) margin``.

    Tsuzuku et al. (2018): the loss is small only when every margin exceeds
    ``sqrt(2) * margin``; ``temperature`` sharpens the softmax (large: a hinge).
    ``reduction="none"``: one loss per sample.
    """
    shift = math.sqrt(2) * margin * (1 - F.one_hot(labels, z.shape[1]).to(z.dtype))
    loss = F.cross_entropy(temperature * (z + shift), labels, reduction=reduction)
    return loss / temperature


def hinge_kr(z, labels, margin, alpha, reduction="mean"):
    """Hinge on every margin plus the Kantorovich-Rubinstein term (deel-lip's HKR).

    ``alpha * mean_k relu(sqrt(2) margin - (z_y - z_k)) - mean_k (z_y - z_k)``
    over the other classes ``k``: the hinge enforces the certified margin, the
    KR term (the Wasserstein-1 dual) keeps pushing the classes apart.
    ``reduction="none"``: one loss per sample.
    """
    n_classes = z.shape[1]
    true = z.gather(1, labels[:, None])
    others = 1 - F.one_hot(labels, n_classes).to(z.dtype)
    margins = (true - z) * others
    hinge = F.relu(math.sqrt(2) * margin - margins) * others
    per_class = others.sum(dim=1).clamp_min(1)
    loss = alpha * hinge.sum(dim=1) / per_class - margins.sum(dim=1) / per_class
    return loss if reduction == "none" else loss.mean()


class LipschitzObjective(Objective):
    """The per-batch loss of :class:`LipschitzClassifier`.

    Its callback constrains the layers when training starts (after skorch
    built the module) and bakes the constrained weights at the end.

    Parameters
    ----------
    loss : {"margin-ce", "hinge-kr"}
    margin : float
        The l2 radius the loss asks for.
    temperature : float
        Of ``"margin-ce"``.
    alpha : float
        Weight of the hinge in ``"hinge-kr"``.
    constraint : {"orthogonal", "spectral", "aol"}
    group_sort : bool
        Replace the ReLUs by ``GroupSort(2)``.
    """

    def __init__(self, *, loss, margin, temperature, alpha, constraint, group_sort):
        store_params(self, locals())

    def __repr__(self):
        return (
            f"LipschitzObjective(loss={self.loss!r}, margin={self.margin}, "
            f"constraint={self.constraint!r})"
        )

    def __call__(self, net, Xi, yi, **fit_params):
        x = to_tensor(Xi, device=net.device)
        y = to_tensor(yi, device=net.device)
        y_pred = net.infer(x, **fit_params)
        z = _two_logits(y_pred)
        labels = (y.long() if y.is_floating_point() else y).reshape(-1)
        if self.loss == "margin-ce":
            loss = margin_cross_entropy(
                z, labels, self.margin, self.temperature, reduction="none"
            )
        else:
            loss = hinge_kr(z, labels, self.margin, self.alpha, reduction="none")
        return batch_mean(net, loss), y_pred

    def callbacks(self):
        return [("lipschitz_layers", LipschitzLayers(self))]


class LipschitzLayers(Callback):
    """Constrain the module's layers for training; bake them afterwards."""

    def __init__(self, objective):
        self.objective = objective

    def on_train_begin(self, net, X=None, y=None, **kwargs):
        if self.objective.group_sort:
            use_group_sort(net.module_)
        constrain(net.module_, self.objective.constraint)

    def on_train_end(self, net, X=None, y=None, **kwargs):
        bake(net.module_)
