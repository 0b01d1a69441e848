"""Certified robustness: bound propagation, smoothing, Lipschitz networks, MILP.

Each certificate family is a subpackage (``bounds``, ``lipschitz``, ``mip``,
``smoothing``); ``certify`` and ``certified_radius`` dispatch over the method
families by ``method``.
"""

from . import lipschitz, mip
from ._certify import certified_radius, certify
from .bounds import (
    ActivationBound,
    AffineBound,
    IBPClassifier,
    LayerBound,
    MonotoneBound,
    bound_layer,
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
