"""skorch nets trained on a per-batch :class:`Objective`, with sample weights."""

from skorch import NeuralNetBinaryClassifier, NeuralNetClassifier
from skorch.dataset import unpack_data

from ..utils import Substitution, check_samples
from ._weights import WeightedLossMixin, split_weights


class AdversarialTrainingMixin(WeightedLossMixin):
    """Mixin for skorch nets: the loss of each batch is the net's ``objective``.

    Overrides ``train_step_single`` (skorch's extension point for custom
    training steps), so callbacks, history, progress bars, checkpoints and
    the device keep working; the objective's own callbacks
    (:meth:`Objective.callbacks`) join the net's defaults. With
    ``objective=None`` the net trains as usual. Adversarial, certified and
    noise training all run through it. Put it first in the bases of your own
    net class, and add an ``objective=None`` parameter to its ``__init__``,
    to train a custom skorch net on an objective.

    Such nets also train with sample weights (from
    :class:`~skrobust.SkorchClassifier`'s ``fit(X, y, sample_weight=w)``):
    every loss the batch computes is the weighted mean of its per-sample
    losses (:func:`skrobust._skorch.batch_mean`). Like scikit-learn's
    estimators (and unlike plain skorch nets), they refuse 0 samples in
    ``fit`` / ``partial_fit`` and in ``predict`` / ``predict_proba``.

    Examples
    --------
    >>> from skorch import NeuralNetClassifier
    >>> from skrobust.defenses import AdversarialTrainingMixin
    >>> class MyNet(AdversarialTrainingMixin, NeuralNetClassifier):
    ...     def __init__(self, module, *args, objective=None, **kwargs):
    ...         super().__init__(module, *args, **kwargs)
    ...         self.objective = objective
    """

    def partial_fit(self, X, y=None, classes=None, **fit_params):
        check_samples(X, type(self).__name__)  # skorch would train on nothing
        return super().partial_fit(X, y, classes=classes, **fit_params)

    def forward_iter(self, X, training=False, device="cpu"):
        check_samples(X, type(self).__name__)  # scikit-learn's error for 0 rows
        return super().forward_iter(X, training=training, device=device)

    def train_step_single(self, batch, **fit_params):
        Xi, yi = unpack_data(batch)
        Xi, weight = split_weights(Xi)
        with self.weighting(weight):
            if self.objective is None:
                return super().train_step_single((Xi, yi), **fit_params)
            self._set_training(True)
            loss, y_pred = self.objective(self, Xi, yi, **fit_params)
            loss.backward()
        return {"loss": loss, "y_pred": y_pred}

    def get_default_callbacks(self):
        callbacks = list(super().get_default_callbacks())
        objective = getattr(self, "objective", None)
        extra = [] if objective is None else list(objective.callbacks())
        if extra:
            names = [name for name, _ in callbacks]
            # before the log, so that it prints what they record
            at = names.index("print_log") if "print_log" in names else len(names)
            callbacks[at:at] = extra
        return callbacks


def _net_parameters(net):
    """The parameters of the objective-trained subclass of skorch's ``net``."""
    return f"""\
Parameters
----------
module : torch module class or instance
*args
    As for ``skorch.{net}``.
objective : Objective, default=None
    The per-batch loss (``None``: the criterion's, as skorch trains).
**kwargs
    As for ``skorch.{net}``."""


@Substitution(net_parameters=_net_parameters("NeuralNetClassifier"))
class AdversarialNeuralNetClassifier(AdversarialTrainingMixin, NeuralNetClassifier):
    """``skorch.NeuralNetClassifier`` trained on a per-batch objective.

    Built from a plain ``NeuralNetClassifier`` by
    :class:`~skrobust.defenses.AdversarialTrainingClassifier`,
    :class:`~skrobust.certification.IBPClassifier` and
    :class:`~skrobust.certification.RandomizedSmoothingClassifier`; all
    skorch parameters apply.

    {net_parameters}

    Examples
    --------
    >>> import torch
    >>> from skrobust.attacks import PGD
    >>> from skrobust.defenses import (
    ...     AdversarialNeuralNetClassifier, AdversarialObjective)
    >>> from skrobust.nn import MLP
    >>> net = AdversarialNeuralNetClassifier(
    ...     MLP, criterion=torch.nn.CrossEntropyLoss, max_epochs=1,
    ...     objective=AdversarialObjective(PGD(eps=0.1, n_iter=3)))
    >>> net.objective
    AdversarialObjective(PGD(eps=0.1, n_iter=3), loss='madry')
    """

    def __init__(self, module, *args, objective=None, **kwargs):
        super().__init__(module, *args, **kwargs)
        self.objective = objective


@Substitution(net_parameters=_net_parameters("NeuralNetBinaryClassifier"))
class AdversarialNeuralNetBinaryClassifier(
    AdversarialTrainingMixin, NeuralNetBinaryClassifier
):
    """``skorch.NeuralNetBinaryClassifier`` trained on a per-batch objective.

    {net_parameters}

    Examples
    --------
    >>> from skrobust.attacks import PGD
    >>> from skrobust.defenses import (
    ...     AdversarialNeuralNetBinaryClassifier, AdversarialObjective)
    >>> from skrobust.nn import MLP
    >>> net = AdversarialNeuralNetBinaryClassifier(
    ...     MLP, max_epochs=1, objective=AdversarialObjective(PGD(eps=0.1)))
    >>> net.objective.loss
    'madry'
    """

    def __init__(self, module, *args, objective=None, **kwargs):
        super().__init__(module, *args, **kwargs)
        self.objective = objective


_OBJECTIVE_NETS = {
    NeuralNetClassifier: AdversarialNeuralNetClassifier,
    NeuralNetBinaryClassifier: AdversarialNeuralNetBinaryClassifier,
}


def objective_net(net, objective):
    """An unfitted copy of the skorch ``net`` that trains on ``objective``.

    ``net`` is a ``NeuralNetClassifier``, a ``NeuralNetBinaryClassifier``,
    or a net whose class has :class:`AdversarialTrainingMixin` (its class is
    kept); it is not modified.
    """
    if isinstance(net, AdversarialTrainingMixin):
        return net.__class__(**{**net.get_params(deep=False), "objective": objective})
    cls = _OBJECTIVE_NETS.get(type(net))
    if cls is None:
        raise TypeError(
            f"{type(net).__name__} is a custom skorch net: training on an "
            "objective supports NeuralNetClassifier and NeuralNetBinaryClassifier "
            "directly; for your own class, add "
            "skrobust.defenses.AdversarialTrainingMixin as its first base and an "
            "`objective=None` parameter to __init__."
        )
    return cls(**net.get_params(deep=False), objective=objective)
