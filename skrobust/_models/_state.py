"""A fitted estimator's state, to tell when a view built from it is stale.

A view copies a scikit-learn model's fitted arrays (and reads a skorch net's
module by reference), so a view cached across calls must be rebuilt when the
estimator is refitted, partially fitted, or changed in place.
:func:`fitted_state` summarises everything reachable from the estimator's
``__dict__``: scalars by value, numpy arrays by a digest of their bytes,
torch tensors and modules by identity and in-place version counter, plain
lists / tuples / dicts and nested estimators recursively, anything else by
identity. The objects behind the identities are kept alive with the state,
so an identity is never reused by a new object while the state is held.
"""

import hashlib
import numbers

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator
from skorch import NeuralNet

from .._torch import torch

#: above this many array bytes in all, a state is not worth computing
MAX_BYTES = 1 << 26
#: arrays of at most this many bytes are summarised by their bytes (cheaper
#: than a digest)
_SMALL = 256
_SCALARS = (type(None), bool, numbers.Number, str, bytes, np.generic)
#: what a skorch net's view reads (its module by reference: a refit or
#: ``initialize`` makes new modules)
_SKORCH_READS = (
    "initialized_",
    "module_",
    "criterion_",
    "predict_nonlinearity",
    "classes",
    "classes_inferred_",
    "device",
)
_LAZY = torch.nn.parameter.UninitializedTensorMixin
_DENSE = frozenset({torch.Tensor, torch.nn.Parameter})  # never lazy
_PLAIN = frozenset({type(None), bool, int, float, complex, str, bytes})


#: what :meth:`_Walker.token` does with a value, by its exact type
_CATEGORY = {}


def _categorize(kind):
    """The category of values of type ``kind`` (as the ``isinstance`` tests
    in :meth:`_Walker.token` would find it), kept for the next one."""
    if kind is list or kind is tuple:
        category = "seq"
    elif kind is dict:
        category = "dict"
    elif issubclass(kind, _SCALARS):
        category = "scalar"
    elif issubclass(kind, np.ndarray):
        category = "array"
    elif issubclass(kind, torch.Tensor):
        category = "tensor"
    elif issubclass(kind, torch.nn.Module):
        category = "module"
    elif issubclass(kind, NeuralNet):  # what its view reads (_SKORCH_READS);
        category = "net"  # before BaseEstimator: a NeuralNet is one
    elif issubclass(kind, BaseEstimator):
        category = "estimator"
    else:  # sparse matrices, estimator-like objects, anything else
        category = "other"
    _CATEGORY[kind] = category
    return category


class _Uncacheable(Exception):
    """The state is too large or too deep to summarise."""


class FittedState:
    """The summary of an estimator's state (see :func:`fitted_state`).

    Two states are equal when nothing a view could read changed between
    them. ``keep`` holds the objects whose identities the summary records.
    """

    __slots__ = ("token", "keep")

    def __init__(self, token, keep):
        self.token, self.keep = token, keep

    def __eq__(self, other):
        return isinstance(other, FittedState) and self.token == other.token

    __hash__ = None


def fitted_state(estimator):
    """The :class:`FittedState` of ``estimator``, or None if too large.

    Examples
    --------
    >>> from sklearn.linear_model import LogisticRegression
    >>> from skrobust._models import fitted_state
    >>> clf = LogisticRegression().fit([[0.0], [1.0]], [0, 1])
    >>> before = fitted_state(clf)
    >>> before == fitted_state(clf)
    True
    >>> clf.coef_[0, 0] += 1.0  # changed in place
    >>> before == fitted_state(clf)
    False
    """
    walker = _Walker()
    try:
        token = walker.token(estimator, 0)
    except _Uncacheable:
        return None
    return FittedState(token, walker.keep)


class _Walker:
    def __init__(self):
        self.keep, self.seen, self.nbytes = [], set(), 0

    def identity(self, value):
        self.keep.append(value)
        return ("id", id(value))

    def token(self, value, depth):
        kind = type(value)
        if kind in _PLAIN:
            return (kind, value)
        if depth > 12:
            raise _Uncacheable
        category = _CATEGORY.get(kind) or _categorize(kind)
        if category == "seq" and all(type(v) in _PLAIN for v in value):
            return (kind, tuple(value), tuple(map(type, value)))
        if category == "scalar":
            return (kind, value)
        if category == "array":
            return self.array(value, depth)
        if category == "tensor":
            return self.tensor(value)
        if category == "module":
            return self.module(value)
        if category == "other" and sp.issparse(value):
            parts = [getattr(value, n, None) for n in ("data", "indices", "indptr")]
            return (self.identity(value), value.shape, *map(self.token_of, parts))
        if id(value) in self.seen:  # a cycle, or an object met before
            return self.identity(value)
        self.seen.add(id(value))
        if category == "seq":
            return (kind, tuple(self.token(v, depth + 1) for v in value))
        if category == "dict":
            return (
                dict,
                tuple(
                    (self.token(k, depth + 1), self.token(v, depth + 1))
                    for k, v in value.items()
                ),
            )
        if (
            category == "estimator"
            or category == "net"
            or (hasattr(value, "get_params") and hasattr(value, "__dict__"))
        ):  # estimators, skorch nets and callbacks: their attributes
            state = vars(value)
            if category == "net":
                items = [(k, state.get(k)) for k in _SKORCH_READS]
            else:
                items = state.items()
            depth += 1
            return (
                self.identity(value),
                tuple(
                    [
                        (k, (type(v), v) if type(v) in _PLAIN else self.token(v, depth))
                        for k, v in items
                    ]
                ),
            )
        return self.identity(value)  # classes, functions, other objects

    def token_of(self, value):
        return None if value is None else self.token(value, 0)

    def array(self, value, depth):
        if value.dtype.hasobject:  # labels, feature names: element by element
            if value.size > 100_000:
                raise _Uncacheable
            items = tuple(self.token(v, depth + 1) for v in value.ravel().tolist())
            return (np.ndarray, value.shape, items)
        self.nbytes += value.nbytes
        if self.nbytes > MAX_BYTES:
            raise _Uncacheable
        if value.nbytes <= _SMALL:  # by content: the bytes themselves
            return (np.ndarray, value.shape, value.dtype, value.tobytes())
        data = np.ascontiguousarray(value).reshape(-1).view(np.uint8)
        digest = hashlib.blake2b(data, digest_size=16).digest()
        return (np.ndarray, value.shape, value.dtype, digest)  # by content

    def tensor(self, value):
        if type(value) not in _DENSE and isinstance(value, _LAZY):
            return self.identity(value)
        # ``_version`` counts the in-place changes of the tensor's data
        self.keep.append(value)
        return (id(value), value.dtype, value.device, value.shape, value._version)

    def module(self, module):
        """Every submodule, parameter and buffer (read from the modules'
        own dictionaries: much faster than ``named_modules``)."""
        out, stack, keep, tensor = [], [module], self.keep, self.tensor
        while stack:
            if len(out) > 100_000:
                raise _Uncacheable
            m = stack.pop()
            keep.append(m)
            out.append((id(m), type(m)))
            for tensors in (m._parameters, m._buffers):
                if tensors:
                    out += [
                        (name, None if t is None else tensor(t))
                        for name, t in tensors.items()
                    ]
            if m._modules:
                stack += [c for c in reversed(m._modules.values()) if c is not None]
        return tuple(out)
