"""Categorical encoders seen from their categories.

A ``OneHotEncoder`` or ``OrdinalEncoder`` is piecewise constant in a numeric
input, but at the *input* of a pipeline its input is a category. skrobust
then represents each categorical column by the one-hot vector of its category
among those the fitted encoder knows (``categories_``); the encoder becomes
an exact affine map of those vectors, whatever its ``drop``,
``handle_unknown`` and infrequent-category settings (read off its own
``transform`` of every category). Relaxed (fractional) one-hot vectors
interpolate between categories: that is what gradient attacks optimise.
"""

import warnings

import numpy as np
from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder

from ._base import NotDifferentiableError, check_converted_fitted, to_torch
from ._linear import frozen_linear

ENCODERS = (OneHotEncoder, OrdinalEncoder)

_UNKNOWN = "\x00skrobust: a category no encoder knows"


def is_missing(values):
    """Elementwise: ``None``, NaN or ``pandas.NA`` (works on object arrays)."""
    values = np.asarray(values, dtype=object)
    try:
        import pandas as pd
    except ImportError:  # pragma: no cover
        return np.frompyfunc(lambda v: v is None or v != v, 1, 1)(values).astype(bool)
    return np.asarray(pd.isna(values), dtype=bool)


def _probe_frame(encoder, columns):
    """A frame (or object array) of one row per entry of ``columns``."""
    names = getattr(encoder, "feature_names_in_", None)
    if names is None:
        return np.array(columns, dtype=object).T
    import pandas as pd

    frame = {n: pd.Series(c, dtype=_probe_dtype(c)) for n, c in zip(names, columns)}
    return pd.DataFrame(frame)


def _probe_dtype(values):
    kinds = {np.asarray(v).dtype.kind for v in values if not is_missing([v])[0]}
    return None if kinds <= set("biuf") else object


def _transform(encoder, rows):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # unknown categories, infrequent ones
        out = encoder.transform(_probe_frame(encoder, rows))
    out = out.toarray() if hasattr(out, "toarray") else np.asarray(out)
    return out.astype(np.float64)


def _unknown_like(categories):
    """A value no fitted category equals, of a type the column accepts."""
    values = [c for c in categories if not is_missing([c])[0]]
    if values and all(isinstance(v, (int, float, np.number)) for v in values):
        return float(np.max(values)) + 1.0
    return _UNKNOWN


def category_maps(encoder):
    """Each input column's categories and encoding, read off ``transform``.

    Returns
    -------
    maps : list of (categories, weights, unknown)
        ``categories`` (object array of the fitted ``categories_``),
        ``weights`` (n_categories, width): the encoder's output block for
        each category, ``unknown`` (width,): the block of a category the
        encoder does not know, or ``None`` if ``transform`` refuses those.
    """
    check_converted_fitted(encoder, "categories_")
    cats = [np.asarray(c, dtype=object) for c in encoder.categories_]
    if isinstance(encoder, OneHotEncoder):
        widths = list(encoder._n_features_outs)
    else:
        widths = [1] * len(cats)
    edges = np.r_[0, np.cumsum(widths)]
    n_rows = max(len(c) for c in cats)
    rows = [[c[min(r, len(c) - 1)] for r in range(n_rows)] for c in cats]
    encoded = _transform(encoder, rows)
    try:
        unknown = _transform(encoder, [[_unknown_like(c)] for c in cats])[0]
    except ValueError:  # handle_unknown="error"
        unknown = None
    maps = []
    for j, c in enumerate(cats):
        block = slice(edges[j], edges[j + 1])
        weights = encoded[: len(c), block]
        maps.append((c, weights, None if unknown is None else unknown[block]))
    return maps


def encoding_layer(maps, *, dtype, device, name="encoder"):
    """The affine map from the columns' one-hot vectors to the encoder's output.

    A column's output is ``p @ W + (1 - sum(p)) * u``: the category's block
    for a one-hot ``p``, the unknown block ``u`` for ``p = 0`` (a clean
    category the encoder does not know), interpolated in between.
    """
    n_in = sum(len(c) for c, _, _ in maps)
    n_out = sum(w.shape[1] for _, w, _ in maps)
    weight = np.zeros((n_in, n_out))
    bias = np.zeros(n_out)
    row = col = 0
    for categories, w, u in maps:
        u = np.zeros(w.shape[1]) if u is None else u
        if not (np.all(np.isfinite(w)) and np.all(np.isfinite(u))):
            raise NotDifferentiableError(
                f"{name} encodes some categories (or unknown ones) as NaN "
                "(unknown_value / encoded_missing_value = nan): that has no "
                "torch view. Use a finite value, or a black-box attack."
            )
        weight[row : row + len(categories), col : col + w.shape[1]] = w - u
        bias[col : col + w.shape[1]] = u
        row, col = row + len(categories), col + w.shape[1]
    return frozen_linear(weight.T, bias, dtype=dtype, device=device)


@to_torch.register(OneHotEncoder)
@to_torch.register(OrdinalEncoder)
def _encoder(estimator, *, dtype, device):
    raise NotDifferentiableError(
        f"{type(estimator).__name__} is piecewise constant in a numeric input; "
        "skrobust attacks its categories only when it reads the raw data (the "
        "pipeline's first step, alone or inside a ColumnTransformer)"
    )
