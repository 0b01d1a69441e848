"""Differentiable views of fitted estimators (the core of skrobust)."""

from . import (
    _linear,  # noqa: F401  (registers converters)
    _mlp,  # noqa: F401  (registers converters)
    _preprocessing,  # noqa: F401  (registers converters)
    _skorch,  # noqa: F401  (registers converters)
    _svm,  # noqa: F401  (registers converters)
)
from ._base import (
    DifferentiableModel,
    NotDifferentiableError,
    PartiallyDifferentiableWarning,
    TorchFunction,
    to_torch,
)
from ._view import as_differentiable

__all__ = [
    "DifferentiableModel",
    "NotDifferentiableError",
    "PartiallyDifferentiableWarning",
    "TorchFunction",
    "as_differentiable",
    "to_torch",
]
