"""Bound propagation: interval bounds (IBP), CROWN and certified training."""

from . import _relaxations, _torch_layers, _view_layers  # noqa: F401  (rules)
from ._bounds import interval_bounds, margin_bounds
from ._certify import certified_radius, certify
from ._ibp_classifier import IBPClassifier
from ._layers import (
    ActivationBound,
    AffineBound,
    LayerBound,
    MonotoneBound,
    bound_layer,
)

__all__ = [
    "ActivationBound",
    "AffineBound",
    "IBPClassifier",
    "LayerBound",
    "MonotoneBound",
    "bound_layer",
    "certified_radius",
    "certify",
    "interval_bounds",
    "margin_bounds",
]
