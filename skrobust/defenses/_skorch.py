"""skorch nets that train on adversarial batches inside skorch's own loop."""

from skorch import NeuralNetBinaryClassifier, NeuralNetClassifier
from skorch.dataset import unpack_data

from ._objectives import CatastrophicOverfittingGuard


class AdversarialTrainingMixin:
    """Mixin for skorch nets: the loss of each batch is an adversarial objective.

    Overrides ``train_step_single`` (skorch's extension point for custom
    training steps), so callbacks, history, progress bars, checkpoints and
    the device keep working. With ``objective=None`` the net trains as usual.
    Put it first in the bases of your own net class, and add an
    ``objective=None`` parameter to its ``__init__``, to train a custom
    skorch net adversarially.
    """

    def train_step_single(self, batch, **fit_params):
        if self.objective is None:
            return super().train_step_single(batch, **fit_params)
        self._set_training(True)
        Xi, yi = unpack_data(batch)
        loss, y_pred = self.objective(self, Xi, yi, **fit_params)
        loss.backward()
        return {"loss": loss, "y_pred": y_pred}

    def get_default_callbacks(self):
        callbacks = list(super().get_default_callbacks())
        objective = getattr(self, "objective", None)
        if objective is not None and objective.loss == "fast" and objective.guard:
            guard = CatastrophicOverfittingGuard(objective)
            names = [name for name, _ in callbacks]
            # before the log, so that it prints the epoch's pgd_train_acc
            at = names.index("print_log") if "print_log" in names else len(names)
            callbacks.insert(at, ("overfitting_guard", guard))
        return callbacks


class AdversarialNeuralNetClassifier(AdversarialTrainingMixin, NeuralNetClassifier):
    """``skorch.NeuralNetClassifier`` trained on an adversarial objective.

    Built by :class:`~skrobust.defenses.AdversarialTrainingClassifier` from
    a plain ``NeuralNetClassifier``; all skorch parameters apply.

    Parameters
    ----------
    module : torch module class or instance
    *args
        As for ``skorch.NeuralNetClassifier``.
    objective : AdversarialObjective, default=None
    **kwargs
        As for ``skorch.NeuralNetClassifier``.
    """

    def __init__(self, module, *args, objective=None, **kwargs):
        super().__init__(module, *args, **kwargs)
        self.objective = objective


class AdversarialNeuralNetBinaryClassifier(
    AdversarialTrainingMixin, NeuralNetBinaryClassifier
):
    """``skorch.NeuralNetBinaryClassifier`` trained on an adversarial objective.

    Parameters
    ----------
    module : torch module class or instance
    *args
        As for ``skorch.NeuralNetBinaryClassifier``.
    objective : AdversarialObjective, default=None
    **kwargs
        As for ``skorch.NeuralNetBinaryClassifier``.
    """

    def __init__(self, module, *args, objective=None, **kwargs):
        super().__init__(module, *args, **kwargs)
        self.objective = objective


_ADVERSARIAL = {
    NeuralNetClassifier: AdversarialNeuralNetClassifier,
    NeuralNetBinaryClassifier: AdversarialNeuralNetBinaryClassifier,
}


def adversarial_net(net, objective):
    """An unfitted copy of the skorch ``net`` that trains on ``objective``."""
    if isinstance(net, AdversarialTrainingMixin):
        return net.__class__(**{**net.get_params(deep=False), "objective": objective})
    cls = _ADVERSARIAL.get(type(net))
    if cls is None:
        raise TypeError(
            f"{type(net).__name__} is a custom skorch net: adversarial training "
            "supports NeuralNetClassifier and NeuralNetBinaryClassifier directly; "
            "for your own class, add skrobust.defenses.AdversarialTrainingMixin "
            "as its first base and an `objective=None` parameter to __init__."
        )
    return cls(**net.get_params(deep=False), objective=objective)
