"""Certified robustness: bound propagation and randomized smoothing."""

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
from .smoothing import RandomizedSmoothingClassifier

__all__ = [
    "ActivationBound",
    "AffineBound",
    "IBPClassifier",
    "LayerBound",
    "MonotoneBound",
    "RandomizedSmoothingClassifier",
    "bound_layer",
    "certified_radius",
    "certify",
    "interval_bounds",
    "margin_bounds",
]
