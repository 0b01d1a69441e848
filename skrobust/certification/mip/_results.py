"""The per-sample answers of the MILP routes (networks and tree ensembles),
gathered into the ``Bunch`` that :func:`verify` / :func:`minimal_distance`
return."""

import numpy as np
from sklearn.utils import Bunch


def verification_result(results, counterexample):
    """:func:`verify`'s result from per-sample ``(status, point, margin_lower,
    n_binary, seconds)`` tuples; ``counterexample`` (NaN rows) gets the points."""
    _place(results, 1, counterexample)
    status, _, lower, n_binary, seconds = _columns(results, 5)
    return Bunch(
        status=np.asarray(status, dtype=str),
        counterexample=counterexample,
        margin_lower=np.asarray(lower, dtype=float),
        seconds=np.asarray(seconds, dtype=float),
        n_binary=np.asarray(n_binary, dtype=int),
    )


def distance_result(results, boundary):
    """:func:`minimal_distance`'s result from per-sample ``(radius, exact,
    point, seconds)`` tuples; ``boundary`` (NaN rows) gets the points."""
    _place(results, 2, boundary)
    radius, exact, _, seconds = _columns(results, 4)
    return Bunch(
        radius=np.asarray(radius, dtype=float),
        exact=np.asarray(exact, dtype=bool),
        boundary=boundary,
        seconds=np.asarray(seconds, dtype=float),
    )


def _place(results, column, points):
    for i, result in enumerate(results):
        if result[column] is not None:
            points[i] = result[column]


def _columns(results, k):
    return list(zip(*results)) if len(results) else [()] * k
