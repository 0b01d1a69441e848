"""skorch nets as scikit-learn classifiers, trained on a per-batch objective."""

from ._classifier import SkorchClassifier
from ._meta import (
    META_CONSTRAINTS,
    META_DOCS,
    FittedModelMixin,
    as_classifier,
    estimator_has,
    fit_objective_net,
    is_skorch,
    show_progress,
)
from ._objective import Objective
from ._objective_net import (
    AdversarialNeuralNetBinaryClassifier,
    AdversarialNeuralNetClassifier,
    AdversarialTrainingMixin,
    objective_net,
)
from ._utils import SKORCH_NETS
from ._weights import WeightedLossMixin, batch_mean, split_weights, weighted_input

__all__ = [
    "META_CONSTRAINTS",
    "META_DOCS",
    "SKORCH_NETS",
    "AdversarialNeuralNetBinaryClassifier",
    "AdversarialNeuralNetClassifier",
    "AdversarialTrainingMixin",
    "FittedModelMixin",
    "Objective",
    "SkorchClassifier",
    "WeightedLossMixin",
    "as_classifier",
    "batch_mean",
    "estimator_has",
    "fit_objective_net",
    "is_skorch",
    "objective_net",
    "show_progress",
    "split_weights",
    "weighted_input",
]
