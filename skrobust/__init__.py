"""skrobust: adversarial robustness for scikit-learn users.

Attack, measure, train and certify any fitted scikit-learn model or skorch
network with ``fit`` / ``predict`` / ``score`` / ``transform``.
"""

from . import nn
from ._models import (
    DifferentiableModel,
    NotDifferentiableError,
    PartiallyDifferentiableWarning,
    TorchFunction,
    as_differentiable,
    to_torch,
)
from ._skorch import SkorchClassifier

__version__ = "0.1.0.dev0"

__all__ = [
    "DifferentiableModel",
    "NotDifferentiableError",
    "PartiallyDifferentiableWarning",
    "SkorchClassifier",
    "TorchFunction",
    "__version__",
    "as_differentiable",
    "nn",
    "to_torch",
]
