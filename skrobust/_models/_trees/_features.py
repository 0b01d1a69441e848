"""How a tree model's input columns derive from the raw columns.

Trees only compare one input column with a threshold (or test a category),
so a tree after preprocessing that acts on each column alone, monotonically
(scalers, quantile / power transforms, imputers where values are present)
or by encoding a categorical column (ordinal, one-hot), still cuts the RAW
feature space into boxes. :class:`FeatureMap` records, for every column the
model sees, the raw column it comes from and whether that raw column is
numeric or categorical, and maps thresholds back to raw units exactly: the
largest raw float64 that the model still sends to the left, found by
bisection on the ordered float64 grid through the fitted preprocessing
itself (so float32 casts and clipping are reproduced bit for bit).
"""

import functools

import numpy as np
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import (
    FunctionTransformer,
    MaxAbsScaler,
    MinMaxScaler,
    OneHotEncoder,
    OrdinalEncoder,
    PowerTransformer,
    QuantileTransformer,
    RobustScaler,
    StandardScaler,
)
from sklearn.utils.validation import check_array

# per-feature, non-decreasing maps of a numeric column
MONOTONE = (
    MaxAbsScaler,
    MinMaxScaler,
    PowerTransformer,
    QuantileTransformer,
    RobustScaler,
    SimpleImputer,
    StandardScaler,
)
_MAGNITUDES = (np.finfo(np.float64).max,) + tuple(10.0**k for k in range(300, 0, -20))
_SIGN = np.int64(-(2**63))
_ARITY = 15  # points tried per round of the threshold search
_MAGNITUDE = np.int64(2**63 - 1)


class NotPerFeatureError(TypeError):
    """A preprocessing step mixes columns or is not known to be monotone."""


def _identity_function(step):
    func = step.func
    if isinstance(func, functools.partial):
        func = func.func
    return func is None or func is check_array


class _Column:
    """One column of a step's output: its raw source and kind."""

    __slots__ = ("raw", "categorical", "identity", "low")

    def __init__(self, raw, categorical=False, identity=True, low=-np.inf):
        self.raw = raw
        self.categorical = categorical
        self.identity = identity  # equal to the raw value so far
        self.low = low  # smallest raw value the steps accept (box-cox: > 0)

    def replace(self, **kwargs):
        new = _Column(self.raw, self.categorical, self.identity, self.low)
        for name, value in kwargs.items():
            setattr(new, name, value)
        return new


class FeatureMap:
    """The per-feature preprocessing in front of a tree model.

    Parameters
    ----------
    steps : list of fitted transformers
        Applied in order (``"passthrough"`` allowed); may be empty.
    n_features : int
        Number of raw columns.
    feature_names : array-like of str or None
        Raw column names (the prefix is then called on DataFrames).

    Attributes
    ----------
    source : ndarray of int of shape (n_model_features,)
        The raw column of each column the model sees.
    categorical : ndarray of bool of shape (n_model_features,)
        Whether that column encodes a categorical raw column.
    categories : list of (ndarray or None)
        For each raw column, its known categories (``None``: numeric).
    """

    def __init__(self, steps, n_features, feature_names=None):
        self.steps = [s for s in steps if s is not None and s != "passthrough"]
        self.n_features = int(n_features)
        self.feature_names = (
            None if feature_names is None else np.asarray(feature_names, dtype=object)
        )
        self.categories = [None] * self.n_features
        columns = [_Column(i) for i in range(self.n_features)]
        for step in self.steps:
            columns = self._through(step, columns)
        self.source = np.array([c.raw for c in columns], dtype=int)
        self.categorical = np.array([c.categorical for c in columns], dtype=bool)
        self._low = np.full(self.n_features, -np.inf)
        for c in columns:
            self._low[c.raw] = max(self._low[c.raw], c.low)
        for c in columns:
            if not c.categorical and self.categories[c.raw] is not None:
                raise NotPerFeatureError(
                    f"raw column {self._name(c.raw)} is used both as a number and "
                    "as a category; the tree's boxes are then not boxes in raw "
                    "units."
                )
        self.is_categorical = np.array([c is not None for c in self.categories])
        self.identity = not self.steps

    def _name(self, raw):
        if self.feature_names is not None:
            return repr(self.feature_names[raw])
        return str(raw)

    # -- symbolic pass: which raw column feeds which output column ----------

    def _through(self, step, columns):
        if step is None or (isinstance(step, str) and step == "passthrough"):
            return columns
        if isinstance(step, str) and step == "drop":
            return []
        if isinstance(step, Pipeline):
            for _, sub in step.steps:
                columns = self._through(sub, columns)
            return columns
        if isinstance(step, ColumnTransformer):
            return self._column_transformer(step, columns)
        if isinstance(step, FunctionTransformer) and _identity_function(step):
            return columns
        if isinstance(step, (OrdinalEncoder, OneHotEncoder)):
            return self._encoder(step, columns)
        if isinstance(step, MONOTONE):
            identity = isinstance(step, SimpleImputer)
            box_cox = isinstance(step, PowerTransformer) and step.method == "box-cox"
            return [
                c.replace(
                    identity=c.identity and identity,
                    low=max(c.low, np.finfo(float).tiny) if box_cox else c.low,
                )
                for c in columns
            ]
        raise NotPerFeatureError(
            f"{type(step).__name__} is not a per-feature monotone step or an "
            "encoder, so the tree's splits are not thresholds on raw features. "
            "Supported: scalers, QuantileTransformer, PowerTransformer, "
            "SimpleImputer, OrdinalEncoder, OneHotEncoder, ColumnTransformer of "
            "these, 'passthrough'."
        )

    def _column_transformer(self, ct, columns):
        out = [None] * sum(
            s.stop - s.start for s in ct.output_indices_.values() if s is not None
        )
        for name, trans, _ in ct.transformers_:
            piece = ct.output_indices_.get(name)
            if piece is None or piece.stop == piece.start:
                continue
            index = ct._transformer_to_input_indices[name]
            result = self._through(trans, [columns[i] for i in index])
            if len(result) != piece.stop - piece.start:
                raise NotPerFeatureError(
                    f"ColumnTransformer step {name!r} gives an unexpected number "
                    "of columns."
                )
            out[piece] = result
        return out

    def _encoder(self, enc, columns):
        if isinstance(enc, OneHotEncoder):
            counts = getattr(enc, "_n_features_outs", None)
            if counts is None:  # pragma: no cover (older scikit-learn)
                counts = [len(c) for c in enc.categories_]
        else:
            counts = [1] * len(columns)
        out = []
        for i, (col, n) in enumerate(zip(columns, counts)):
            if not col.identity:
                raise NotPerFeatureError(
                    f"{type(enc).__name__} encodes raw column {self._name(col.raw)} "
                    "after a transformation; encode raw categories directly."
                )
            known = np.asarray(enc.categories_[i])
            known = known[~_is_missing(known)]
            previous = self.categories[col.raw]
            if previous is not None and not np.array_equal(previous, known):
                raise NotPerFeatureError(
                    f"raw column {self._name(col.raw)} is encoded twice with "
                    "different categories."
                )
            self.categories[col.raw] = known
            out += [col.replace(categorical=True)] * n
        return out

    # -- numeric pass: evaluate the prefix ---------------------------------

    def transform(self, X):
        """The prefix's output on raw ``X``."""
        for step in self.steps:
            X = step.transform(X)
        return np.asarray(X, dtype=np.float64)

    def _probe(self, columns):
        """Raw rows holding ``columns[f]`` (equal lengths) in column ``f``;
        other columns at a valid default."""
        n = len(next(iter(columns.values())))
        cols = []
        for f in range(self.n_features):
            if f in columns:
                cols.append(np.asarray(columns[f]))
            elif self.categories[f] is not None:
                cols.append(np.repeat(self.categories[f][:1], n))
            else:
                cols.append(np.full(n, max(1.0, self._low[f])))
        if self.feature_names is not None:
            import pandas as pd

            return pd.DataFrame(dict(zip(self.feature_names, cols)))[
                list(self.feature_names)
            ]
        return np.column_stack([np.asarray(c, dtype=np.float64) for c in cols])

    def category_values(self, j):
        """Value of model column ``j`` for each category of its raw column."""
        f = self.source[j]
        return self.transform(self._probe({f: self.categories[f]}))[:, j]

    def raw_thresholds(self, thresholds, cast=None):
        """Largest raw values sent left by ``model_value <= threshold``.

        Parameters
        ----------
        thresholds : dict
            Numeric model column -> ndarray of float64 thresholds.
        cast : numpy dtype or None
            The dtype the model casts its input to before comparing
            (scikit-learn's trees: float32).

        Returns
        -------
        raw : dict
            Model column -> ndarray: ``x <= raw`` exactly when the model
            sends raw value ``x`` left; ``inf`` when every value goes left,
            ``-inf`` when none does.
        """
        if self.identity and cast is None:
            return {j: np.array(t, dtype=np.float64) for j, t in thresholds.items()}
        out = {}
        pending = dict(thresholds)
        while pending:  # columns of distinct raw sources are bisected together
            group, used = {}, set()
            for j in list(pending):
                if self.source[j] not in used:
                    used.add(self.source[j])
                    group[j] = np.asarray(pending.pop(j), dtype=np.float64)
            out.update(self._bisect(group, cast))
        return out

    def _domain(self):
        """Per raw column, the widest ``[low, high]`` the preprocessing maps to
        finite values (beyond, the model itself rejects the input)."""
        if hasattr(self, "_domain_"):
            return self._domain_
        numeric = np.flatnonzero(~self.is_categorical)
        out = []
        for sign in (-1.0, 1.0):
            bound = np.full(self.n_features, np.nan)
            for m in _MAGNITUDES:
                todo = [f for f in numeric if np.isnan(bound[f])]
                if not todo:
                    break
                value = np.maximum(sign * m, self._low)
                for cols in [todo] + [[f] for f in todo]:
                    ok = self._finite({f: value[f : f + 1] for f in cols})
                    if ok is not None:
                        for f in cols:
                            if ok[f] and np.isnan(bound[f]):
                                bound[f] = value[f]
                        break
            out.append(np.where(np.isnan(bound), self._low if sign < 0 else 1.0, bound))
        self._domain_ = (out[0], out[1])
        return self._domain_

    def _finite(self, columns):
        """Which raw columns map to finite values at ``columns`` (None: the
        preprocessing rejects the row)."""
        try:
            with np.errstate(over="ignore", invalid="ignore"):
                z = self.transform(self._probe(columns))[0]
        except ValueError:
            return None
        ok = np.ones(self.n_features, dtype=bool)
        for j, f in enumerate(self.source):
            ok[f] &= bool(np.isfinite(z[j]))
        return ok

    def _bisect(self, group, cast):
        """K-ary search on the ordered float64 grid (one transform per round)."""
        cols = list(group)
        m = max(len(t) for t in group.values())
        t = np.full((m, len(cols)), np.nan)
        for c, j in enumerate(cols):
            t[: len(group[j]), c] = group[j]
        raw = self.source[cols]
        low, high = self._domain()

        def left(keys):  # keys: (m, n_cols, k) -> same-shape booleans
            k = keys.shape[2]
            x = _unkey(keys.transpose(0, 2, 1).reshape(-1, len(cols)))
            with np.errstate(over="ignore", invalid="ignore"):
                z = self.transform(self._probe(dict(zip(raw, x.T))))[:, cols]
                if cast is not None:
                    z = z.astype(cast).astype(np.float64)
            z = z.reshape(m, k, len(cols)).transpose(0, 2, 1)
            return z <= t[:, :, None]

        lo = np.broadcast_to(_key(low[raw]), t.shape).copy()
        hi = np.broadcast_to(_key(high[raw]), t.shape).copy()
        ends = left(np.stack([lo, hi], axis=2))
        ok_lo, ok_hi = ends[..., 0], ends[..., 1]
        i = np.arange(1, _ARITY + 1, dtype=np.uint64)
        for _ in range(70):  # invariant: left(lo) and not left(hi)
            todo = (hi - 1 > lo) & ok_lo & ~ok_hi
            if not todo.any():
                break
            # modular uint64 arithmetic: the true values fit in int64
            span = hi.astype(np.uint64) - lo.astype(np.uint64)
            step = np.maximum(span // np.uint64(_ARITY + 1), np.uint64(1))
            offset = np.minimum(step[..., None] * i, span[..., None])
            points = (lo.astype(np.uint64)[..., None] + offset).view(np.int64)
            points = np.where(todo[..., None], points, lo[..., None])
            go = left(points)
            count = go.sum(axis=2)  # monotone: the first `count` go left
            new_lo = np.take_along_axis(
                points, np.maximum(count - 1, 0)[..., None], axis=2
            )[..., 0]
            new_hi = np.take_along_axis(
                points, np.minimum(count, _ARITY - 1)[..., None], axis=2
            )[..., 0]
            lo = np.where(todo & (count > 0), new_lo, lo)
            hi = np.where(todo & (count < _ARITY), new_hi, hi)
        out = np.where(ok_hi, np.inf, np.where(ok_lo, _unkey(lo), -np.inf))
        return {j: out[: len(group[j]), c] for c, j in enumerate(cols)}


def _key(x):
    """float64 -> int64 with the same order."""
    b = np.asarray(x, dtype=np.float64).view(np.int64)
    return np.where(b < 0, -(b & _MAGNITUDE), b)


def _unkey(k):
    k = np.asarray(k, dtype=np.int64)
    b = np.where(k < 0, (-k) | _SIGN, k)
    return b.view(np.float64)


def _is_missing(values):
    values = np.asarray(values)
    if values.dtype.kind == "f":
        return np.isnan(values)
    if values.dtype.kind == "O":
        return np.array(
            [v is None or (isinstance(v, float) and v != v) for v in values]
        )
    return np.zeros(len(values), dtype=bool)
