"""Defenses: adversarial training as scikit-learn meta-estimators."""

from .._skorch import (
    AdversarialNeuralNetBinaryClassifier,
    AdversarialNeuralNetClassifier,
    AdversarialTrainingMixin,
)
from ._adversarial_training import AdversarialTrainingClassifier
from ._objectives import AdversarialObjective, CatastrophicOverfittingGuard

__all__ = [
    "AdversarialNeuralNetBinaryClassifier",
    "AdversarialNeuralNetClassifier",
    "AdversarialObjective",
    "AdversarialTrainingClassifier",
    "AdversarialTrainingMixin",
    "CatastrophicOverfittingGuard",
]
