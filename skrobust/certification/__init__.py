"""Certified robustness: bound propagation and randomized smoothing."""

from ._smoothing import RandomizedSmoothingClassifier

__all__ = [
    "RandomizedSmoothingClassifier",
]
