"""skorch nets as scikit-learn classifiers, trained on a per-batch objective."""

from ._classifier import SkorchClassifier
from ._meta import FittedModelMixin, estimator_has

__all__ = ["FittedModelMixin", "SkorchClassifier", "estimator_has"]
