"""Display objects (scikit-learn's Display pattern) for robustness evaluation."""

from ._adversarial_examples import AdversarialExamplesDisplay
from ._certified_accuracy import CertifiedAccuracyDisplay
from ._robustness_curve import RobustnessCurveDisplay
from ._tradeoff import RobustnessTradeoffDisplay

__all__ = [
    "AdversarialExamplesDisplay",
    "CertifiedAccuracyDisplay",
    "RobustnessCurveDisplay",
    "RobustnessTradeoffDisplay",
]
