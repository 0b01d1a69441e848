"""What an attack's calls share: the view of its fitted estimator, its
validated parameters, and a quick path for already valid arrays.

Kept per attack in weak dictionaries, outside the attack's ``__dict__``: never
pickled nor cloned, and ``transform`` leaves the attack's attributes as they
were (scikit-learn checks it).
"""

import warnings
import weakref

import numpy as np
from sklearn.utils.validation import check_array, validate_data

from .._models import as_differentiable, fitted_state

FLOATS = (np.float64, np.float32, np.float16)
_VIEWS = weakref.WeakKeyDictionary()  # attack -> _Entry
_VALID = weakref.WeakKeyDictionary()  # attack -> parameter values validated
_PARAM_NAMES = {}  # attack class -> its __init__ parameters
_REGISTRY = {}  # of the warnings given again ("default" shows each once)


class _Entry:
    __slots__ = ("estimator", "state", "view", "caught")

    def __init__(self, estimator, state, view, caught):
        self.estimator, self.state = estimator, state
        self.view, self.caught = view, caught


def cached_view(attack, estimator):
    """``as_differentiable(estimator)``, built once per fitted state.

    The view is kept per attack and used again while ``estimator`` is the
    same object in the same :func:`~skrobust._models.fitted_state` (a refit,
    a ``partial_fit``, a changed parameter or an in-place change of a
    fitted array or a network's weights makes a new one). The warnings the
    conversion gave are given again on every use.
    """
    try:
        entry = _VIEWS.get(attack)
    except TypeError:  # an unhashable attack: no cache
        return as_differentiable(estimator)
    state = fitted_state(estimator)
    if (
        entry is not None
        and entry.estimator is estimator
        and state is not None
        and entry.state == state
    ):
        _replay(entry.caught)
        return entry.view
    _VIEWS.pop(attack, None)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        view = as_differentiable(estimator)
    _replay(caught)
    if state is not None:
        _VIEWS[attack] = _Entry(estimator, state, view, caught)
    return view


def _replay(caught):
    for w in caught:
        warnings.warn_explicit(
            w.message, w.category, w.filename, w.lineno, registry=_REGISTRY
        )


def param_names(cls, names):
    """``cls``'s parameter names, read from its signature once (``names``:
    the uncached reader)."""
    if cls not in _PARAM_NAMES:
        _PARAM_NAMES[cls] = names()
    return list(_PARAM_NAMES[cls])


def validate_params(attack):
    """``attack._validate_params()``, skipped when every parameter is the
    object last validated (the constraints read types and immutable values,
    which an in-place change of an array or a list cannot alter)."""
    values = list(attack.get_params(deep=False).values())
    key = tuple(map(id, values))
    try:
        last = _VALID.get(attack)
    except TypeError:  # an unhashable attack
        last = None
    if last is not None and last[0] == key:
        return
    attack._validate_params()
    try:
        _VALID[attack] = (key, values)  # the values keep their ids unique
    except TypeError:
        pass


def check_input(attack, Xw):
    """scikit-learn's validation of an attack's input; a plain float array
    with finite values and the expected features is returned as is."""
    fitted = hasattr(attack, "n_features_in_")
    quick = (
        type(Xw) is np.ndarray
        and Xw.dtype in FLOATS
        and Xw.ndim >= 2
        and Xw.shape[0] > 0
        and Xw.shape[1] > 0
        and (
            not fitted
            or (
                getattr(attack, "feature_names_in_", None) is None
                and Xw.shape[1] == attack.n_features_in_
            )
        )
    )
    if quick:
        with np.errstate(over="ignore"):
            if np.isfinite(Xw.sum()):
                return Xw
    if fitted:  # sklearn's feature checks
        return validate_data(attack, Xw, reset=False, allow_nd=True, dtype=FLOATS)
    return check_array(Xw, allow_nd=True, dtype=FLOATS)
