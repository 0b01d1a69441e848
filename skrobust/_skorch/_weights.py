"""Sample weights in skorch's loop: weighted per-sample losses of each batch.

:class:`~skrobust.SkorchClassifier` passes ``fit(X, y, sample_weight=w)`` to
its net as the dict ``{"X": X, "sample_weight": w}`` (skorch slices dicts
into batches like arrays). Nets with :class:`WeightedLossMixin` take the
weights off each batch, hold them while the batch's losses are computed, and
reduce every per-sample loss to ``sum(w * loss) / sum(w)``: on full batches
that is the loss of the data set with each row repeated ``w`` times.
"""

import contextlib
from collections.abc import Mapping

from skorch.dataset import unpack_data
from skorch.utils import to_tensor

from .._torch import torch

WEIGHT_KEYS = frozenset({"X", "sample_weight"})


def weighted_input(X, sample_weight):
    """``X`` with its sample weights, as the nets of this module take them."""
    return {"X": X, "sample_weight": sample_weight}


def split_weights(X):
    """``(X, weights)`` of a (batch of) :func:`weighted_input`; ``(X, None)`` else."""
    if isinstance(X, Mapping) and set(X) == WEIGHT_KEYS:
        return X["X"], X["sample_weight"]
    return X, None


def batch_mean(net, values):
    """The mean of per-sample ``values`` of the current batch, weighted if it is.

    Objectives reduce every per-sample term with it, so sample weights apply
    to the whole objective. Values computed on ``k`` stacked copies of the
    batch (``x.repeat(k, ...)``, e.g. noise draws) take the weights ``k``
    times.

    Parameters
    ----------
    net : skorch.NeuralNet
        The net being trained.
    values : torch.Tensor of shape (n,)
        One value per sample (or per stacked copy of a sample).

    Returns
    -------
    mean : torch.Tensor
        A scalar: ``sum(w * values) / sum(w)``, or ``values.mean()`` without
        weights.

    Examples
    --------
    >>> import torch
    >>> from skorch import NeuralNetClassifier
    >>> from skrobust._skorch import batch_mean, objective_net
    >>> from skrobust.nn import MLP
    >>> net = objective_net(NeuralNetClassifier(MLP), None)
    >>> values = torch.tensor([1.0, 2.0, 4.0])
    >>> batch_mean(net, values)
    tensor(2.3333)
    >>> with net.weighting(torch.tensor([0.0, 1.0, 3.0])):
    ...     batch_mean(net, values)
    tensor(3.5000)
    """
    weight = getattr(net, "_batch_weight", None)
    if weight is None:
        return values.mean()
    values = values.reshape(-1)
    if len(values) != len(weight):
        weight = weight.repeat(len(values) // len(weight))
    weight = weight.to(device=values.device, dtype=values.dtype)
    return (weight * values).sum() / weight.sum().clamp_min(
        torch.finfo(values.dtype).tiny
    )


class WeightedLossMixin:
    """skorch net mixin: batches of :func:`weighted_input` train on weighted losses.

    ``get_loss`` of a weighted batch evaluates the criterion per sample
    (``reduction="none"``) and reduces it with :func:`batch_mean`; training,
    validation and prediction steps take the weights off the batch, so the
    module only ever sees ``X``.
    """

    @contextlib.contextmanager
    def weighting(self, weight):
        """Hold the weights of the current batch (``None``: unweighted)."""
        if weight is not None:
            weight = to_tensor(weight, device=self.device).reshape(-1)
        previous = getattr(self, "_batch_weight", None)
        self._batch_weight = weight
        try:
            yield
        finally:
            self._batch_weight = previous

    def validation_step(self, batch, **fit_params):
        Xi, yi = unpack_data(batch)
        Xi, weight = split_weights(Xi)
        with self.weighting(weight):
            return super().validation_step((Xi, yi), **fit_params)

    def infer(self, x, **fit_params):
        return super().infer(split_weights(x)[0], **fit_params)

    def get_loss(self, y_pred, y_true, X=None, training=False):
        if getattr(self, "_batch_weight", None) is None:
            return super().get_loss(y_pred, y_true, X=X, training=training)
        criterion = self.criterion_
        if not hasattr(criterion, "reduction"):
            raise TypeError(
                f"sample_weight needs a criterion with a `reduction` attribute "
                f"(torch's losses have one); {type(criterion).__name__} has none. "
                "Fit without sample_weight, or use a torch loss."
            )
        reduction = criterion.reduction
        criterion.reduction = "none"
        try:
            loss = super().get_loss(y_pred, y_true, X=X, training=training)
        finally:
            criterion.reduction = reduction
        return batch_mean(self, loss.reshape(len(loss), -1).mean(dim=1))

    def __getstate__(self):
        state = super().__getstate__()
        state.pop("_batch_weight", None)
        return state
