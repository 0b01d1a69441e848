"""Measuring robustness: robust and certified scorers, robustness curves."""

from ._certified import (
    CertifiedScorer,
    certified_accuracy_score,
    make_certified_scorer,
)
from ._curve import robustness_curve
from ._plot import (
    AdversarialExamplesDisplay,
    CertifiedAccuracyDisplay,
    RobustnessCurveDisplay,
    RobustnessTradeoffDisplay,
)
from ._pointwise import robust_predictions
from ._robust import (
    RobustScorer,
    make_robust_scorer,
    robust_accuracy_score,
)
from ._sanity import (
    GradientMaskingWarning,
    SanityCheck,
    SanityReport,
    check_robustness_evaluation,
)

__all__ = [
    "AdversarialExamplesDisplay",
    "CertifiedAccuracyDisplay",
    "CertifiedScorer",
    "GradientMaskingWarning",
    "RobustScorer",
    "RobustnessCurveDisplay",
    "RobustnessTradeoffDisplay",
    "SanityCheck",
    "SanityReport",
    "check_robustness_evaluation",
    "certified_accuracy_score",
    "make_certified_scorer",
    "make_robust_scorer",
    "robust_accuracy_score",
    "robust_predictions",
    "robustness_curve",
]
