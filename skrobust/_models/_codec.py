"""Raw tabular data <-> the working matrix that views, attacks and bounds use.

A view over a ``ColumnTransformer`` (or an encoder) reads the raw columns:
a numeric column is one working coordinate (its value), a categorical column
(strings, pandas ``category``, numbers fed to an encoder) is the one-hot
vector of its category among those the fitted encoder knows. The codec maps
a DataFrame (or array) to that matrix by column *name*, as scikit-learn does,
and maps working rows back to rows of the same type, columns, order, index
and dtypes, with only known categories.
"""

import numpy as np

from .._discrete import FeatureLayout
from ._encoders import is_missing


class ColumnSpec:
    """How one raw column enters the working matrix.

    Parameters
    ----------
    kind : {"numeric", "categorical", "unused"}
    categories : ndarray of object or None
        The categories a categorical column may take (encoder order).
    fill : float
        Working value of a missing numeric entry (the imputer's statistic);
        missing entries never move.
    """

    def __init__(self, kind, categories=None, fill=0.0):
        self.kind = kind
        self.categories = categories
        self.fill = float(fill)

    @property
    def width(self):
        if self.kind == "categorical":
            return len(self.categories)
        return int(self.kind == "numeric")


class TabularCodec:
    """Maps raw tabular ``X`` to a view's working matrix and back.

    Built by :func:`skrobust.as_differentiable` for pipelines whose first step
    is a ``ColumnTransformer`` or a categorical encoder; available as
    ``view.codec``. Calling it encodes (``codec(X)``).

    Parameters
    ----------
    specs : list of ColumnSpec
        One per raw column, in the fitted order.
    feature_names : array-like of str or None
        The fitted ``feature_names_in_``; DataFrames are matched by name.
    blocks : list of (list of int, transformer)
        Transformers applied (in numpy) to groups of categorical columns
        before their categories are read (imputers in front of an encoder).

    Examples
    --------
    >>> import pandas as pd
    >>> from sklearn.compose import make_column_transformer
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.preprocessing import OneHotEncoder
    >>> from skrobust import as_differentiable
    >>> X = pd.DataFrame({"n": [1.0, 2.0, 3.0], "c": ["a", "b", "a"]})
    >>> clf = make_pipeline(
    ...     make_column_transformer((OneHotEncoder(), ["c"]), remainder="passthrough"),
    ...     LogisticRegression(),
    ... ).fit(X, [0, 1, 0])
    >>> codec = as_differentiable(clf).codec
    >>> codec(X)  # n, then c as one-hot over ['a', 'b']
    array([[1., 1., 0.],
           [2., 0., 1.],
           [3., 1., 0.]])
    >>> codec.decode(codec(X)[::-1], X)["c"].tolist()
    ['a', 'b', 'a']
    """

    def __init__(self, specs, feature_names=None, blocks=()):
        self.specs = list(specs)
        self.feature_names = (
            None if feature_names is None else np.asarray(feature_names, dtype=object)
        )
        self.blocks = list(blocks)
        widths = [s.width for s in self.specs]
        edges = np.r_[0, np.cumsum(widths)].astype(int)
        self.index = [np.arange(a, b) for a, b in zip(edges[:-1], edges[1:])]
        self.n_working = int(edges[-1])

    @property
    def n_features(self):
        """Number of raw columns."""
        return len(self.specs)

    @property
    def has_categories(self):
        return any(s.kind == "categorical" for s in self.specs)

    def __repr__(self):
        kinds = [s.kind for s in self.specs]
        return (
            f"TabularCodec({kinds.count('numeric')} numeric, "
            f"{kinds.count('categorical')} categorical columns -> "
            f"{self.n_working} working coordinates)"
        )

    # -- raw columns ---------------------------------------------------------

    def positions(self, X):
        """Where each fitted column is in ``X`` (matched by name when both have
        names, else by position); raises sklearn's message when one is missing."""
        columns = getattr(X, "columns", None)
        n = X.shape[1] if np.ndim(X) == 2 else None
        if columns is not None and self.feature_names is not None:
            where = {c: i for i, c in enumerate(columns)}
            missing = [c for c in self.feature_names if c not in where]
            if missing:
                raise ValueError(
                    "The feature names should match those that were passed during "
                    "fit.\nFeature names seen at fit time, yet now missing:\n- "
                    + "\n- ".join(map(str, missing))
                )
            return np.array([where[c] for c in self.feature_names], dtype=int)
        if n != self.n_features:
            raise ValueError(
                f"X has {n} features, but the model is expecting {self.n_features} "
                "features as input."
            )
        return np.arange(self.n_features)

    def _columns(self, X):
        """The fitted columns of ``X`` as 1-D arrays (categorical ones after the
        pre-encoding blocks)."""
        pos = self.positions(X)
        if hasattr(X, "iloc"):
            cols = [X.iloc[:, p].to_numpy() for p in pos]
        else:
            arr = np.asarray(X)
            cols = [arr[:, p] for p in pos]
        for raw, transformer in self.blocks:
            part = np.column_stack([cols[j].astype(object) for j in raw])
            if self.feature_names is not None:
                import pandas as pd

                part = pd.DataFrame(part, columns=self.feature_names[raw])
            out = np.asarray(transformer.transform(part), dtype=object)
            for k, j in enumerate(raw):
                cols[j] = out[:, k]
        return cols

    # -- encode / decode -----------------------------------------------------

    def encode(self, X):
        """``(Z, fixed)``: the working matrix of ``X`` and the entries that may
        not move (missing numeric values), both ``(n_samples, n_working)``."""
        cols = self._columns(X)
        n = len(X)
        Z = np.zeros((n, self.n_working))
        fixed = np.zeros((n, self.n_working), dtype=bool)
        for spec, index, values in zip(self.specs, self.index, cols):
            if spec.kind == "numeric":
                missing = is_missing(values)
                values = np.where(missing, spec.fill, values)
                try:
                    Z[:, index[0]] = np.asarray(values, dtype=np.float64)
                except (TypeError, ValueError):
                    raise ValueError(
                        "a numeric column of the model holds values that are not "
                        f"numbers (e.g. {values[0]!r}); encode it in the pipeline."
                    ) from None
                fixed[:, index[0]] = missing
            elif spec.kind == "categorical":
                Z[:, index] = self._one_hot(spec, values)
        return Z, fixed

    def __call__(self, X):
        """The working matrix of ``X`` (see :meth:`encode`)."""
        return self.encode(X)[0]

    @staticmethod
    def _one_hot(spec, values):
        """Rows of zeros for categories the encoder does not know."""
        lookup = {}
        nan_at = None
        for k, c in enumerate(spec.categories):
            if is_missing([c])[0]:
                nan_at = k
            else:
                lookup.setdefault(c, k)
        missing = is_missing(values)
        out = np.zeros((len(values), len(spec.categories)))
        for i, v in enumerate(values):
            k = nan_at if missing[i] else lookup.get(v)
            if k is not None:
                out[i, k] = 1.0
        return out

    def decode(self, Z, X):
        """Rows of ``X``'s type (columns, order, index, dtypes) from working ``Z``.

        Entries whose working coordinates equal those of ``X`` keep ``X``'s
        value (missing values and unknown categories included); the others
        take ``Z``'s number (cast to the column's dtype) or the category of
        the largest coordinate.
        """
        Z = np.asarray(Z)
        clean, fixed = self.encode(X)
        changed = (Z != clean) & ~fixed
        pos = self.positions(X)
        frame = hasattr(X, "iloc")
        out = X.copy() if frame else np.array(X, copy=True)
        for spec, index, p in zip(self.specs, self.index, pos):
            if spec.kind == "unused" or not len(index):
                continue
            rows = changed[:, index].any(axis=1)
            if not rows.any():
                continue
            start = None
            if spec.kind == "numeric":
                values, start = Z[rows, index[0]], clean[rows, index[0]]
            else:
                values = spec.categories[Z[rows][:, index].argmax(axis=1)]
            if frame:
                column = out.iloc[:, p].copy()
                column.iloc[np.flatnonzero(rows)] = _cast(values, column.dtype, start)
                out.isetitem(p, column)
            else:
                out[rows, p] = _cast(values, out.dtype, start)
        return out

    def layout(self, X=None):
        """The :class:`~skrobust._threat.FeatureLayout` of ``X``'s columns:
        which are categorical (and which categories their dtype allows),
        which are integers (an integer or boolean dtype)."""
        kinds = [s.kind for s in self.specs]
        integer = np.zeros(self.n_features, dtype=bool)
        allowed = [None] * self.n_features
        if X is not None:
            pos = self.positions(X)
            dtypes = getattr(X, "dtypes", None)
            for j, p in enumerate(pos):
                dtype = dtypes.iloc[p] if dtypes is not None else np.asarray(X).dtype
                if kinds[j] == "numeric":
                    integer[j] = getattr(dtype, "kind", "O") in "iub"
                elif kinds[j] == "categorical" and hasattr(dtype, "categories"):
                    cats = self.specs[j].categories
                    allowed[j] = np.isin(
                        cats, np.asarray(dtype.categories, dtype=object)
                    )
        return FeatureLayout(
            columns=self.feature_names,
            index=self.index,
            kinds=kinds,
            categories=[s.categories for s in self.specs],
            integer=integer,
            allowed=allowed,
        )


def _cast(values, dtype, start=None):
    """``values`` in ``dtype`` (integers rounded; categories as they are).

    A float cast to a lower precision never lands farther from ``start``
    (the clean values) than ``values`` are: it rounds toward them, so a
    point inside a budget or bounds stays inside.
    """
    kind = getattr(dtype, "kind", "O")
    if kind in "iu":
        return np.rint(np.asarray(values, dtype=np.float64)).astype(dtype)
    if kind == "b":
        return np.asarray(values, dtype=np.float64) > 0.5
    if kind == "f":
        values = np.asarray(values, dtype=np.float64)
        out = values.astype(dtype)
        if start is not None and out.dtype != values.dtype:
            start = np.asarray(start, dtype=np.float64)
            away = np.abs(out - start) > np.abs(values - start)
            out[away] = np.nextafter(out[away], start[away].astype(dtype))
        return out
    return values
