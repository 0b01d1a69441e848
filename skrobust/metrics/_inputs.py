"""What the robust scorers check and read before any attack: the data, the
model's view of it, its outputs."""

import warnings

import numpy as np
from sklearn.utils.validation import column_or_1d
from skorch.utils import data_from_dataset, to_numpy

from .._models import NotDifferentiableError, as_differentiable
from .._torch import torch
from ..attacks import BlackBoxModel
from ..utils import check_samples

#: what the robustness metrics share, for ``Substitution(**METRIC_DOCS)``
METRIC_DOCS = {
    "estimator_X_y": """\
estimator : fitted classifier
X : array-like or DataFrame of shape (n_samples, ...)
y : array-like of shape (n_samples,)""",
    "attack_chunks": """\
n_jobs : int or None, default=None
    Attack chunks of ``chunk_size`` rows in parallel (see
    :func:`make_robust_scorer`).
chunk_size : int, default=1024""",
}


def _check_data(X, y, caller):
    """Arrays from a torch ``Dataset``: skorch's ``EpochScoring`` passes the
    validation ``Dataset`` (not arrays) when it caches predictions. ``X``
    without samples is refused (``caller`` names the entry point)."""
    if isinstance(X, torch.utils.data.Dataset):
        try:
            X_data, y_data = data_from_dataset(X)
        except AttributeError:
            raise TypeError(
                f"cannot read arrays from the {type(X).__name__}; robust scorers "
                "need X and y as arrays, a skorch Dataset or a TensorDataset."
            ) from None
        X = to_numpy(X_data) if isinstance(X_data, torch.Tensor) else X_data
        y = y_data if y is None else y
    if isinstance(y, torch.Tensor):
        y = to_numpy(y)
    if y is None:
        raise ValueError("robust scorers need the true labels y.")
    check_samples(X, caller)
    return X, column_or_1d(y, warn=True)


def checked_view(estimator, X, y):
    """The prediction model of ``estimator``, once ``X`` and ``y`` fit it.

    A differentiable view checks ``X`` as the certificates do
    (:meth:`~skrobust.DifferentiableModel.to_samples`: samples first, the
    model's sample shape and columns, finite values); a model scored through
    its own ``predict`` checks it there. ``y`` holds one label per sample.
    Labels the model does not know count as errors (it cannot predict
    them), as in scikit-learn's scorers.
    """
    view = _prediction_model(estimator)
    if isinstance(view, BlackBoxModel):
        n_samples = len(view.predict(X))
    else:
        n_samples = len(view.to_samples(X))
    if len(y) != n_samples:
        raise ValueError(
            f"y has {len(y)} labels for {n_samples} samples: pass one label per "
            "sample of X."
        )
    return view


def warn_undefined(logits, where):
    """Warn when the model's outputs are NaN or infinite at some points:
    their predictions (an argmax of NaN) and any score counting them are
    meaningless, although scikit-learn's ``predict`` returns a label."""
    undefined = int((~np.isfinite(logits).all(axis=1)).sum())
    if undefined:
        warnings.warn(
            f"the model's outputs are NaN or infinite at {undefined} of "
            f"{len(logits)} {where}: their predictions are undefined, so the "
            "score counts arbitrary labels there; make the model finite there "
            "(check_robustness_evaluation's 'finite' check points at them).",
            RuntimeWarning,
            stacklevel=3,
        )


def _prediction_model(estimator):
    """The differentiable view; query access (``predict_proba`` /
    ``decision_function``, labels from ``predict``) for models without one."""
    try:
        return as_differentiable(estimator)
    except NotDifferentiableError:
        return BlackBoxModel(estimator)


def _outputs(view, X, in_space):
    """Scores and predicted labels of ``X`` (``in_space``: the view's space)."""
    logits = view.logits(X, in_space=in_space)
    if isinstance(view, BlackBoxModel):
        return logits, view.predict(X)
    return logits, view.classes_[logits.argmax(axis=1)]
