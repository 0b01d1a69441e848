"""Lipschitz certificates: operator norms composed through a network."""

from ._certify import METHODS, certified_radius, certify, lipschitz_constant
from ._classifier import LipschitzClassifier
from ._layers import Constant, lipschitz_layer

__all__ = [
    "METHODS",
    "Constant",
    "LipschitzClassifier",
    "certified_radius",
    "certify",
    "lipschitz_constant",
    "lipschitz_layer",
]
