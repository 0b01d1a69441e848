"""What an attack's calls share: the view of its fitted estimator, its
validated parameters, and a quick path for already valid arrays.

Kept per attack in weak dictionaries, outside the attack's ``__dict__``: never
pickled nor cloned, and ``transform`` leaves the attack's attributes as they
were (scikit-learn checks it).
"""

import math
import warnings
import weakref

import numpy as np
from sklearn.utils.validation import check_array, validate_data

from .._models import as_differentiable, fitted_state
from .._torch import torch
from ..utils import encode_labels

FLOATS = (np.float64, np.float32, np.float16)
_VIEWS = weakref.WeakKeyDictionary()  # attack -> _Entry
_VALID = weakref.WeakKeyDictionary()  # attack -> parameter values validated
_THREATS = weakref.WeakKeyDictionary()  # attack -> (key, constraints)
_RANGES = weakref.WeakKeyDictionary()  # view -> its classes are 0, ..., k - 1
_PARAM_NAMES = {}  # attack class -> its __init__ parameters
_REGISTRY = {}  # of the warnings given again ("default" shows each once)
_UNSEEN = object()
_SIGNED = (np.dtype(np.int64), np.dtype(np.int32))  # labels torch reads as is


class _Entry:
    __slots__ = ("estimator", "state", "view", "caught")

    def __init__(self, estimator, state, view, caught):
        self.estimator, self.state = estimator, state
        self.view, self.caught = view, caught


def cached_view(attack, estimator, check=None):
    """``as_differentiable(estimator)``, built once per fitted state.

    The view is kept per attack and used again while ``estimator`` is the
    same object in the same :func:`~skrobust._models.fitted_state` (a refit,
    a ``partial_fit``, a changed parameter or an in-place change of a
    fitted array or a network's weights makes a new one). The warnings the
    conversion gave are given again on every use. ``check(estimator)``
    (raising for an estimator that cannot be attacked) runs before a view is
    built: a kept view passed it in the same state.
    """
    try:
        entry = _VIEWS.get(attack)
    except TypeError:  # an unhashable attack: no cache
        entry, attack = None, None
    state = _UNSEEN
    if entry is not None and entry.estimator is estimator:
        state = fitted_state(estimator)
        if state is not None and entry.state == state:
            _replay(entry.caught)
            return entry.view
    if check is not None:
        check(estimator)
    if attack is None:
        return as_differentiable(estimator)
    _VIEWS.pop(attack, None)
    if state is _UNSEEN:
        state = fitted_state(estimator)
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


def encode_cached(view, labels, n, name):
    """``encode_labels(labels, view.classes_, ...)`` as a long tensor.

    Whether the view's classes are the integers ``0, ..., k - 1`` is kept per
    view (a refit makes a new view); integer labels of such classes are
    their own indices (one numpy pass checks them). Anything else, and
    any label out of range, goes through :func:`~skrobust.utils.encode_labels`
    (and its errors).
    """
    try:
        k = _RANGES.get(view)
    except TypeError:  # not weakly referable: no cache
        k = None
    else:
        if k is None:
            classes = np.asarray(view.classes_)
            k = len(classes)
            if classes.dtype.kind not in "iu" or not np.array_equal(
                classes, np.arange(k)
            ):
                k = 0
            _RANGES[view] = k
    if (
        k
        and type(labels) is np.ndarray
        and labels.dtype.kind in "iu"
        and labels.shape == (n,)
        and n
    ):
        if (
            labels.dtype in _SIGNED
            and labels.flags.writeable
            and labels.strides[0] >= 0  # torch reads no reversed view
        ):
            # in torch, whose kernels the attack's loop keeps warm: a copy,
            # never y itself, and its range in one pass
            index = torch.from_numpy(labels).to(torch.int64, copy=True)
            low, high = map(int, torch.aminmax(index))
            if low >= 0 and high < k:
                return index
        else:
            index = labels.astype(np.int64)  # a new array: never y itself
            # one pass: a negative label (or one past int64) is a huge uint64
            if index.view(np.uint64).max() < k:
                return torch.from_numpy(index)
    index = encode_labels(labels, view.classes_, name=name, n_samples=n)
    return torch.as_tensor(index, dtype=torch.long)


def param_names(cls, names):
    """``cls``'s parameter names, read from its signature once (``names``:
    the uncached reader)."""
    if cls not in _PARAM_NAMES:
        _PARAM_NAMES[cls] = names()
    return list(_PARAM_NAMES[cls])


def validate_params(attack, params=None):
    """``attack._validate_params()``, skipped when every parameter is the
    object last validated (the constraints read types and immutable values,
    which an in-place change of an array or a list cannot alter).
    ``params``: ``attack.get_params(deep=False)`` if already read."""
    if params is None:
        params = attack.get_params(deep=False)
    values = list(params.values())
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


def cached_constraints(attack, sample_shape, columns, layout, threat, params=None):
    """``attack._constraints(...)``, resolved once per content of the
    attack's parameters, data statistics, sample shape and columns.

    The key holds every parameter by value (arrays by their bytes, lists and
    dicts item by item; an estimator or a generator by identity): an in-place
    change of an ``eps`` array makes a new threat model. Parameters that are
    all immutable are first compared by identity, without that key. Raw
    tabular data (``layout``) and parameters of other types are resolved on
    every call.
    ``params``: ``attack.get_params(deep=False)`` if already read.
    """
    key = quick = None
    if layout is None:
        if params is None:
            params = attack.get_params(deep=False)
        values = tuple(params.values())
        if columns is None and not threat and _no_statistics(attack):
            # the very objects of the last call (the entry keeps them alive)
            quick = (tuple(sample_shape), tuple(map(id, values)))
        try:
            entry = _THREATS.get(attack)
        except TypeError:  # an unhashable attack
            entry = quick = None
        if quick is not None and entry is not None and entry[2] == quick:
            return entry[1]
        try:
            key = _threat_key(attack, sample_shape, columns, threat, params)
        except _Unfrozen:
            pass
        else:
            if not _immutable(params):  # the same objects, maybe changed
                quick = None
            if entry is not None and entry[0] == key:
                _THREATS[attack] = (key, entry[1], quick, values)
                return entry[1]
    constraints = attack._constraints(sample_shape, columns, layout=layout, **threat)
    if key is not None:
        _THREATS[attack] = (key, constraints, quick, values)
    return constraints


def _no_statistics(attack):
    return all(getattr(attack, name, None) is None for name in _STATS)


def _immutable(params):
    """Whether every parameter that shapes the threat is immutable (a
    number, a string, a tuple of them...): the same objects then have the
    same content."""
    for name, v in params.items():
        kind = type(v)
        if not (
            kind in _PLAIN
            or name in _OPAQUE
            or (kind is tuple and all(type(item) in _PLAIN for item in v))
        ):
            return False
    return True


class _Unfrozen(Exception):
    """A value without a content key."""


_OPAQUE = ("estimator", "random_state")  # by identity: they shape no threat
_STATS = ("data_min_", "data_max_", "data_std_")


def _threat_key(attack, sample_shape, columns, threat, params):
    stats = tuple(_freeze(getattr(attack, name, None)) for name in _STATS)
    return (
        tuple(sample_shape),
        None if columns is None else _freeze(list(columns)),
        tuple(
            [
                (
                    name,
                    (type(v), v)  # most parameters: a plain value
                    if type(v) in _PLAIN
                    else ("id", id(v))
                    if name in _OPAQUE
                    else _freeze(v),
                )
                for name, v in params.items()
            ]
        ),
        _freeze(threat),
        stats,
        # identities stay valid while the values are alive
        tuple(v for name, v in params.items() if name in _OPAQUE),
    )


_PLAIN = frozenset({type(None), bool, int, float, str})


def _freeze(value):
    kind = type(value)
    if kind in _PLAIN:
        return (kind, value)
    if isinstance(value, np.generic):
        return (kind, value.item())
    if kind is np.ndarray and not value.dtype.hasobject and value.nbytes <= 1 << 16:
        return (kind, value.shape, value.dtype.str, value.tobytes())
    if kind in (list, tuple) or (kind is np.ndarray and value.size <= 1 << 12):
        return (kind, tuple(map(_freeze, value)))
    if kind is dict:
        return (kind, tuple((_freeze(k), _freeze(v)) for k, v in value.items()))
    raise _Unfrozen


def check_input(attack, Xw, finite=True):
    """scikit-learn's validation of an attack's input; a plain float array
    with finite values and the expected features is returned as is.

    ``finite=False``: such an array is returned without reading its values;
    the caller then checks them with :func:`refuse_nonfinite`.
    """
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
        if not finite:
            return Xw
        with np.errstate(over="ignore"):
            if np.isfinite(Xw.sum()):
                return Xw
    if fitted:  # sklearn's feature checks
        return validate_data(attack, Xw, reset=False, allow_nd=True, dtype=FLOATS)
    return check_array(Xw, allow_nd=True, dtype=FLOATS)


def refuse_nonfinite(attack, Xa, extremes):
    """scikit-learn's error for NaN or infinite values in an input that
    :func:`check_input` passed unread, when the ``(min, max)`` of (a batch
    of) it, read on its tensor, is not finite."""
    if math.isfinite(extremes[0]) and math.isfinite(extremes[1]):
        return
    check_input(attack, Xa)  # raises scikit-learn's error
    raise ValueError("Input X contains NaN or infinity.")  # pragma: no cover
