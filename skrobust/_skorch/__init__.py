"""skorch nets as scikit-learn classifiers, trained on a per-batch objective."""

from ._classifier import SkorchClassifier
from ._meta import FittedModelMixin, as_classifier, estimator_has, is_skorch
from ._objective import Objective
from ._objective_net import (
    AdversarialNeuralNetBinaryClassifier,
    AdversarialNeuralNetClassifier,
    AdversarialTrainingMixin,
    fit_objective_net,
    objective_net,
)
from ._utils import SKORCH_NETS

__all__ = [
    "SKORCH_NETS",
    "AdversarialNeuralNetBinaryClassifier",
    "AdversarialNeuralNetClassifier",
    "AdversarialTrainingMixin",
    "FittedModelMixin",
    "Objective",
    "SkorchClassifier",
    "as_classifier",
    "estimator_has",
    "fit_objective_net",
    "is_skorch",
    "objective_net",
]
