"""Randomized smoothing (Cohen et al. 2019): certified l2 radii for any classifier."""

from ._classifier import RandomizedSmoothingClassifier

__all__ = ["RandomizedSmoothingClassifier"]
