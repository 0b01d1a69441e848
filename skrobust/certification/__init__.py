"""Certified robustness: bound propagation, smoothing, Lipschitz networks, MILP."""

from . import lipschitz, mip
from .bounds import (
    ActivationBound,
    AffineBound,
    IBPClassifier,
    LayerBound,
    MonotoneBound,
    bound_layer,
    certified_radius,
    certify,
    interval_bounds,
    margin_bounds,
)
from .lipschitz import LipschitzClassifier, lipschitz_constant
from .smoothing import RandomizedSmoothingClassifier

__all__ = [
    "ActivationBound",
    "AffineBound",
    "IBPClassifier",
    "LayerBound",
    "LipschitzClassifier",
    "MonotoneBound",
    "RandomizedSmoothingClassifier",
    "bound_layer",
    "certified_radius",
    "certify",
    "interval_bounds",
    "lipschitz",
    "lipschitz_constant",
    "margin_bounds",
    "mip",
]
