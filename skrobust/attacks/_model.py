"""The attacked model and the data boundary of an attack.

Whether an estimator is fitted, the space an attack acts in (after a
pipeline's last non-differentiable step), the view called on a wider working
dtype, and the output returned in the caller's type.
"""

from sklearn.exceptions import NotFittedError
from sklearn.utils.validation import check_is_fitted

from .._models import NotDifferentiableError, as_differentiable


class CastView:
    """A view called on inputs of a wider dtype (the attack's working dtype).

    Behaves as the view (same attributes) except that inputs of ``dtype``
    are cast to the view's own dtype on the way in.
    """

    def __init__(self, view, dtype):
        self.view = view
        self.dtype = dtype

    def __getattr__(self, name):
        if name == "view":  # not set yet (unpickling): no recursion
            raise AttributeError(name)
        return getattr(self.view, name)

    def __call__(self, x):
        return self.view(x.to(self.view.dtype))


def is_fitted(estimator):
    """Whether ``estimator`` is fitted (scikit-learn's test, as a boolean)."""
    try:
        check_is_fitted(estimator)
    except NotFittedError:
        return False
    return True


def preprocess_of(estimator):
    """The non-differentiable front of ``estimator``'s view, or None."""
    if estimator is None:
        return None
    try:
        return as_differentiable(estimator).preprocess
    except NotDifferentiableError:  # black-box models act on raw inputs
        return None


def working_space(X, preprocess):
    """Raw X in the space the attack acts in: after the last
    non-differentiable step of a pipeline, else X itself."""
    return X if preprocess is None else preprocess(X)


def as_output(out, X, Xw, codec):
    """``out`` as the caller's type: raw rows of ``X`` for tabular data, a
    DataFrame for a DataFrame working matrix."""
    if codec is not None:
        return codec.decode(out, X)
    if hasattr(Xw, "iloc") and out.ndim == 2:
        return type(Xw)(out, index=Xw.index, columns=Xw.columns)
    return out
