"""The fitted steps of an estimator, wrappers stripped, and its input columns."""

from sklearn.pipeline import Pipeline
from sklearn.utils.validation import validate_data

try:  # scikit-learn >= 1.6
    from sklearn.frozen import FrozenEstimator
except ImportError:  # pragma: no cover
    FrozenEstimator = None


def unwrap_estimator(estimator):
    """Strip wrappers that do not change the function.

    ``FrozenEstimator``, and meta-estimators whose fitted model *is* their
    function: they expose it through a ``_view_estimator()`` method
    (skrobust's defenses do).
    """
    while True:
        if FrozenEstimator is not None and isinstance(estimator, FrozenEstimator):
            estimator = estimator.estimator
        elif hasattr(estimator, "_view_estimator"):
            estimator = estimator._view_estimator()
        else:
            return estimator


def pipeline_steps(estimator):
    """The chain of fitted steps (name, estimator), pipelines flattened."""
    estimator = unwrap_estimator(estimator)
    if isinstance(estimator, Pipeline):
        steps = []
        for name, step in estimator.steps:
            if step is None or step == "passthrough":
                continue
            steps += [
                (f"{name}__{n}" if n else name, s) for n, s in pipeline_steps(step)
            ]
        return steps
    return [("", estimator)]


def check_columns(estimator, X):
    """scikit-learn's own error when a DataFrame's columns are not those the
    estimator's first step was fitted on, in that order (an estimator reading
    them by name, a ``ColumnTransformer``, has a codec instead)."""
    if getattr(X, "columns", None) is None or estimator is None:
        return
    first = pipeline_steps(estimator)[0][1]
    if getattr(first, "feature_names_in_", None) is not None:
        validate_data(first, X, reset=False, skip_check_array=True)


__all__ = ["check_columns", "pipeline_steps", "unwrap_estimator"]
