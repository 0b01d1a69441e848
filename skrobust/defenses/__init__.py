"""Defenses: adversarial training as scikit-learn meta-estimators, robust trees."""

from .._skorch import (
    AdversarialNeuralNetBinaryClassifier,
    AdversarialNeuralNetClassifier,
    AdversarialTrainingMixin,
)
from ._adversarial_training import AdversarialTrainingClassifier
from ._objectives import AdversarialObjective, CatastrophicOverfittingGuard
from ._robust_forest import RobustRandomForestClassifier
from ._robust_tree import RobustDecisionTreeClassifier

__all__ = [
    "AdversarialNeuralNetBinaryClassifier",
    "AdversarialNeuralNetClassifier",
    "AdversarialObjective",
    "AdversarialTrainingClassifier",
    "AdversarialTrainingMixin",
    "CatastrophicOverfittingGuard",
    "RobustDecisionTreeClassifier",
    "RobustRandomForestClassifier",
]
