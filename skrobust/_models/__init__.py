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
    is_lazy,
    materialize,
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
from ._state import FittedState, fitted_state
from ._steps import check_columns, pipeline_steps, unwrap_estimator
from ._trees import (
    CliqueBound,
    FeatureMap,
    LeafBoxes,
    LeafSearch,
    MILPResult,
    ModelTrees,
    NotPerFeatureError,
    Region,
    Tree,
    TreeEnsemble,
    TreeEnsembleMILP,
    is_tree_model,
    read_trees,
    tree_regions,
)
from ._view import as_differentiable, tabular_input

__all__ = [
    "BinaryLogits",
    "Cast",
    "CliqueBound",
    "DifferentiableModel",
    "FeatureMap",
    "FirstOutput",
    "FittedState",
    "LeafBoxes",
    "LeafSearch",
    "LogProbability",
    "MILPResult",
    "ModelTrees",
    "NonlinearityLogits",
    "Normalize",
    "NotDifferentiableError",
    "NotPerFeatureError",
    "PartiallyDifferentiableWarning",
    "ProbabilityLogit",
    "Region",
    "Rescale",
    "Standardize",
    "TabularCodec",
    "TorchFunction",
    "Tree",
    "TreeEnsemble",
    "TreeEnsembleMILP",
    "as_differentiable",
    "check_columns",
    "check_converted_fitted",
    "fitted_state",
    "is_lazy",
    "is_tree_model",
    "materialize",
    "pipeline_steps",
    "read_trees",
    "tabular_input",
    "to_torch",
    "tree_regions",
    "unwrap_estimator",
]
