"""Query access to any fitted classifier, for black-box attacks.

A :class:`BlackBoxModel` has the duck type of
:class:`skrobust.DifferentiableModel` (``classes_``, ``device``, ``dtype``,
``input_shape``, ``preprocess``, ``evaluating()``, ``__call__``) but answers
only queries: scores from ``predict_proba`` (as log-probabilities) or
``decision_function``, or one-hot labels from ``predict``. Black-box attacks
use it in place of the differentiable view, so they work on trees, forests,
boosting, nearest neighbours and pipelines with non-differentiable steps.
"""

import contextlib
import warnings
from numbers import Integral

import numpy as np

from .._models import (
    NotDifferentiableError,
    PartiallyDifferentiableWarning,
    as_differentiable,
    pipeline_steps,
    tabular_input,
)
from .._torch import torch
from ._base import BaseAttack

_RESPONSES = ("predict_proba", "decision_function", "predict")


class BlackBoxModel:
    """A fitted classifier seen through its prediction methods only.

    Calling it maps a tensor of raw inputs to an ``(n_samples, n_classes)``
    float64 tensor of scores ordered as :attr:`classes_`, on the CPU: the
    log of ``predict_proba`` (clipped at 1e-12), ``decision_function``
    (binary: the two scores ``[-d/2, d/2]``) or the one-hot encoding of
    ``predict``. No gradient flows through it.

    Parameters
    ----------
    estimator : fitted classifier
        Any classifier with ``classes_`` (a ``Pipeline`` included).
    response : {"auto", "predict_proba", "decision_function", "predict"}, \
            default="auto"
        ``"auto"``: ``predict_proba`` if available, else
        ``decision_function``, else ``predict``. Label-only attacks use
        ``"predict"``.

    Attributes
    ----------
    classes_ : ndarray
    response_ : str
        The method queried.
    n_queries : int
        Samples queried so far.

    Examples
    --------
    >>> import torch
    >>> from sklearn.ensemble import RandomForestClassifier
    >>> from skrobust.attacks import BlackBoxModel
    >>> rf = RandomForestClassifier(n_estimators=5, random_state=0)
    >>> rf = rf.fit([[0.0], [1.0], [2.0], [3.0]], [0, 0, 1, 1])
    >>> model = BlackBoxModel(rf)
    >>> model(torch.tensor([[0.0], [3.0]])).argmax(dim=1)
    tensor([0, 1])
    """

    device = torch.device("cpu")
    dtype = torch.float64
    preprocess = None
    space = "raw input features"

    def __init__(self, estimator, *, response="auto"):
        self.estimator = estimator
        self.classes_ = np.asarray(estimator.classes_)
        if response == "auto":
            response = next(r for r in _RESPONSES if hasattr(estimator, r))
        elif response not in _RESPONSES or not hasattr(estimator, response):
            raise ValueError(f"{type(estimator).__name__} has no {response!r}.")
        self.response_ = response
        n = getattr(estimator, "n_features_in_", None)
        self.input_shape = None if n is None else (int(n),)
        self._columns = getattr(estimator, "feature_names_in_", None)
        self._index = {c: i for i, c in enumerate(self.classes_.tolist())}
        self.n_queries = 0
        # a pipeline reading raw tabular data is queried on its working
        # matrix: the first step in torch, the rest of the pipeline after it
        self.codec = None
        tabular = tabular_input(estimator)
        if tabular is not None:
            self._first, self.codec, self._rest = tabular
            self.preprocess = self.codec
            self.input_shape = (self.codec.n_working,)

    @property
    def n_classes(self):
        """Number of classes."""
        return len(self.classes_)

    @contextlib.contextmanager
    def evaluating(self):
        """A no-op context (the duck type of ``DifferentiableModel``)."""
        yield self

    def _frame(self, X):
        X = np.asarray(X)
        if self._columns is not None and X.ndim == 2:
            import pandas as pd

            return pd.DataFrame(X, columns=self._columns)
        return X

    def _labels(self, pred):
        return np.fromiter((self._index[c] for c in pred.tolist()), int, len(pred))

    def scores(self, X, *, in_space=False):
        """Scores of raw ``X`` (array-like or DataFrame) as a numpy array;
        ``in_space``: ``X`` is a working matrix (see :attr:`codec`)."""
        n = len(X)
        if n == 0:
            return np.empty((0, self.n_classes))
        estimator = self.estimator
        if in_space and self.codec is not None:
            with torch.no_grad():
                X = self._first(torch.as_tensor(np.asarray(X, dtype=np.float64)))
            X, estimator = _frame_for(self._rest, X.numpy()), self._rest
        self.n_queries += n
        method = getattr(estimator, self.response_)
        if self.response_ == "predict":
            out = np.zeros((n, self.n_classes))
            out[np.arange(n), self._labels(np.asarray(method(X)))] = 1.0
            return out
        out = np.asarray(method(X), dtype=np.float64)
        if self.response_ == "predict_proba":
            return np.log(np.clip(out, 1e-12, None))
        if out.ndim == 1:  # binary decision function
            return np.stack([-out / 2, out / 2], axis=1)
        if out.shape[1] != self.n_classes:
            raise ValueError(
                f"decision_function gives {out.shape[1]} columns for "
                f"{self.n_classes} classes (one-vs-one?); use "
                "decision_function_shape='ovr' or predict_proba."
            )
        return out

    def __call__(self, x):
        """Scores of a tensor of inputs (raw, or the working matrix of a
        tabular pipeline; float64, CPU, no gradient)."""
        X = x.detach().cpu().numpy()
        if self.codec is None:
            X = self._frame(X)
        scores = self.scores(X, in_space=self.codec is not None)
        return torch.as_tensor(scores, dtype=self.dtype, device=x.device)

    def logits(self, X, *, in_space=False, batch_size=None):
        """Scores of raw ``X`` (numpy), or of a working matrix (``in_space``)."""
        return self.scores(X, in_space=in_space)

    def predict(self, X, *, in_space=False, batch_size=None):
        """The estimator's own ``predict`` on raw ``X`` (or a working matrix)."""
        if in_space and self.codec is not None:
            return self.classes_[self.scores(X, in_space=True).argmax(axis=1)]
        return np.asarray(self.estimator.predict(X))

    def __repr__(self):
        return (
            f"BlackBoxModel({type(self.estimator).__name__}, "
            f"response={self.response_!r})"
        )


def query_model(estimator, *, response="auto"):
    """The fastest gradient-free way to query ``estimator`` on raw inputs.

    The differentiable view when the whole model has one (it runs on the
    model's device, batched); otherwise a :class:`BlackBoxModel`.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PartiallyDifferentiableWarning)
        try:
            view = as_differentiable(estimator)
        except NotDifferentiableError:
            view = None
    if view is not None and view.preprocess is getattr(view, "codec", None):
        return view  # on the raw features (or the raw columns of a frame)
    return BlackBoxModel(estimator, response=response)


def _frame_for(estimator, Z):
    """``Z`` as a DataFrame when ``estimator`` was fitted on named columns."""
    first = pipeline_steps(estimator)[0][1]
    names = getattr(first, "feature_names_in_", None)
    if names is None:
        return Z
    import pandas as pd

    return pd.DataFrame(Z, columns=names)


class BlackBoxAttack(BaseAttack):
    """Base of the attacks that only query the model (no gradient).

    They act on the raw input features through the full estimator, so any
    fitted classifier can be attacked, pipelines with non-differentiable
    steps included (the raw features must be numeric). A model that is
    differentiable end to end is queried through its torch view (faster),
    never through its gradient.
    """

    _parameter_constraints = {
        **BaseAttack._parameter_constraints,
        "n_jobs": [None, Integral],
    }

    #: outputs are raw inputs of the estimator (read by the robust scorers)
    _raw_input = True
    #: what the attack reads: "auto" scores, or "predict" labels
    _response = "auto"

    def _view(self):
        return query_model(self._fitted_estimator(), response=self._response)

    @staticmethod
    def _preprocess_of(estimator):
        """The codec of a pipeline reading raw tabular data, else ``None``."""
        tabular = None if estimator is None else tabular_input(estimator)
        return None if tabular is None else tabular[1]
