"""Differentiable views of fitted estimators (the core of skrobust)."""

from . import (
    _columns,  # noqa: F401  (registers converters)
    _encoders,  # noqa: F401  (registers converters)
    _features,  # noqa: F401  (registers converters)
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
    check_converted_fitted,
    to_torch,
)
from ._codec import TabularCodec
from ._preprocessing import Normalize, Rescale, Standardize
from ._skorch import (
    BinaryLogits,
    Cast,
    FirstOutput,
    LogProbability,
    NonlinearityLogits,
    ProbabilityLogit,
)
from ._view import as_differentiable, pipeline_steps, unwrap_estimator

__all__ = [
    "BinaryLogits",
    "Cast",
    "DifferentiableModel",
    "FirstOutput",
    "LogProbability",
    "NonlinearityLogits",
    "Normalize",
    "NotDifferentiableError",
    "PartiallyDifferentiableWarning",
    "ProbabilityLogit",
    "Rescale",
    "Standardize",
    "TabularCodec",
    "TorchFunction",
    "as_differentiable",
    "check_converted_fitted",
    "pipeline_steps",
    "to_torch",
    "unwrap_estimator",
]
