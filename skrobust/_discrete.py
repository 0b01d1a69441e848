"""Discrete features of the threat model: layout, categories, repair.

Tabular data mixes numbers with integer counts, one-hot groups and
categorical columns. :class:`FeatureLayout` says where each raw column lives
in a view's working matrix (one coordinate for a number, one per category
for a categorical column) and resolves threat-model parameters given per raw
column. :class:`Repair` maps a relaxed iterate (fractional counts, fractional
one-hot vectors) to the nearest valid example: the operator every attack
applies at each step and to what it returns.
"""

import warnings

import numpy as np

from ._threat import (
    THREAT_DEFAULTS,
    Constraints,
    directions,
    feature_selection,
    per_feature,
    resolve_bounds,
)


class CategoricalGroup:
    """The working coordinates of one categorical column.

    Attributes
    ----------
    column : str or int
    index : ndarray of int
        Working coordinates (one per category, the encoder's order).
    categories : ndarray of object
    allowed : ndarray of bool
        Categories an example may switch to (the clean one always stays);
        by default every category but a missing value.
    mutable : bool
        Whether the column may change at all (named in ``feature_mask``).
    """

    def __init__(self, column, index, categories, allowed, mutable):
        self.column = column
        self.index = np.asarray(index, dtype=int)
        self.categories = categories
        self.allowed = np.asarray(allowed, dtype=bool)
        self.mutable = bool(mutable)

    def __repr__(self):
        return (
            f"CategoricalGroup({self.column!r}, {int(self.allowed.sum())}/"
            f"{len(self.index)} categories allowed, mutable={self.mutable})"
        )


def _missing(values):
    """Elementwise: ``None`` or NaN (the missing-value category)."""
    return np.array(
        [
            v is None
            or (isinstance(v, float) and v != v)
            or type(v).__name__ in ("NAType", "NaTType")
            for v in values
        ],
        dtype=bool,
    )


def _name(columns, j):
    return j if columns is None else columns[j]


def _dict_eps(eps):
    """A ``pandas.Series`` of budgets indexed by column names -> dict."""
    index = getattr(eps, "index", None)
    if index is not None and any(isinstance(c, str) for c in index):
        return dict(eps.items())
    return eps


class FeatureLayout:
    """Raw tabular columns and their coordinates in a view's working matrix.

    Parameters
    ----------
    columns : ndarray of str or None
        Raw column names (the fitted ``feature_names_in_``).
    index : list of ndarray of int
        Each raw column's working coordinates (empty if the model ignores it).
    kinds : list of {"numeric", "categorical", "unused"}
    categories : list of ndarray or None
    integer : ndarray of bool
        Numeric columns of integer or boolean dtype.
    allowed : list of ndarray of bool or None
        Categories each categorical column's dtype can hold (pandas
        ``category`` columns), ``None`` for all.
    """

    def __init__(self, *, columns, index, kinds, categories, integer, allowed):
        self.columns = columns
        self.index = list(index)
        self.kinds = list(kinds)
        self.categories = list(categories)
        self.integer = np.asarray(integer, dtype=bool)
        self.allowed = list(allowed)

    @property
    def n_features(self):
        return len(self.kinds)

    @property
    def n_working(self):
        return int(sum(len(i) for i in self.index))

    def _kind(self, kind):
        return np.array([k == kind for k in self.kinds])

    def _spread(self, raw, fill=0.0, dtype=float):
        """Per-raw-column values onto the numeric working coordinates."""
        out = np.full(self.n_working, fill, dtype=dtype)
        for j, kind in enumerate(self.kinds):
            if kind == "numeric":
                out[self.index[j]] = raw[j]
        return out

    def _refuse_categorical(self, selected, name, hint):
        bad = [_name(self.columns, j) for j in np.flatnonzero(selected)]
        if bad:
            raise ValueError(f"`{name}` names categorical columns {bad}; {hint}")

    def resolve(self, params, *, stats=None):
        """Threat-model ``params`` given per raw column -> :class:`Constraints`.

        Numeric columns take the budget, bounds, direction and integer
        constraints; a categorical column may switch category only when
        ``feature_mask`` names it (its coordinates then span ``[0, 1]``).
        """
        p = {**THREAT_DEFAULTS, **params}
        shape, cols = (self.n_features,), self.columns
        numeric, categorical = self._kind("numeric"), self._kind("categorical")
        eps = _dict_eps(p["eps"])
        if isinstance(eps, dict):
            self._refuse_categorical(
                categorical & feature_selection(list(eps), shape, cols, "eps"),
                "eps",
                "a category has no budget: name the column in `feature_mask` "
                "to let it switch category.",
            )
        raw_eps = per_feature(eps, shape, "eps", cols, default=0.0)
        mask = feature_selection(p["feature_mask"], shape, cols, "feature_mask")
        cat_mobile = categorical & (mask if mask is not None else False)
        mobile = self._spread(numeric & (True if mask is None else mask), False, bool)
        user_eps = self._spread(raw_eps)
        eps_w = user_eps
        if p["eps_units"] == "std":
            eps_w = user_eps * stats.data_std_.reshape(-1)
        scale = np.where(mobile, eps_w, 0.0)
        if isinstance(p["bounds"], str):
            low, high = resolve_bounds(
                p["bounds"], (self.n_working,), stats.data_min_, stats.data_max_
            )
            low, high = np.array(low, dtype=float), np.array(high, dtype=float)
        else:
            raw_low, raw_high = resolve_bounds(p["bounds"], shape)
            low, high = self._spread(raw_low, -np.inf), self._spread(raw_high, np.inf)
        direction = None
        if p["direction"] is not None:
            raw_dir = directions(p["direction"], shape, cols)
            self._refuse_categorical(
                categorical & (raw_dir != 0), "direction", "categories have no order."
            )
            direction = self._spread(raw_dir)
        integer = feature_selection(
            p["integer_features"], shape, cols, "integer_features"
        )
        integer = self.integer.copy() if integer is None else integer | self.integer
        self._refuse_categorical(
            categorical & integer, "integer_features", "they switch category."
        )
        one_hot = []
        for g in p["one_hot_groups"] or []:
            raw = feature_selection(g, shape, cols, "one_hot_groups")
            self._refuse_categorical(
                categorical & raw, "one_hot_groups", "they are one-hot encoded already."
            )
            one_hot.append(np.concatenate([self.index[j] for j in np.flatnonzero(raw)]))
        allowed_by_user = self._allowed(p.get("allowed_categories"))
        groups = []
        for j in np.flatnonzero(categorical):
            idx = self.index[j]
            # a missing value is no category to switch to, unless allowed
            allowed = allowed_by_user.get(j, ~_missing(self.categories[j]))
            if self.allowed[j] is not None:
                allowed = allowed & self.allowed[j]
            groups.append(
                CategoricalGroup(
                    _name(cols, j), idx, self.categories[j], allowed, cat_mobile[j]
                )
            )
            scale[idx] = user_eps[idx] = 1.0 if cat_mobile[j] else 0.0
            low[idx], high[idx] = 0.0, 1.0
        return Constraints(
            scale,
            low,
            high,
            direction,
            self._spread(integer, False, bool),
            one_hot,
            eps=user_eps,
            lenient=isinstance(p["bounds"], str),
            categorical=groups,
            max_changes=p["max_changes"],
        )

    def _allowed(self, spec):
        """``allowed_categories`` ({column: values}) -> {raw index: bool mask};
        ``None`` or NaN among the values allows the missing-value category."""
        if spec is None:
            return {}
        if not isinstance(spec, dict):
            raise ValueError(
                "allowed_categories must be a dict {column: categories it may "
                f"take}}; got {spec!r}."
            )
        out = {}
        shape = (self.n_features,)
        for key, values in spec.items():
            (j,) = np.flatnonzero(
                feature_selection([key], shape, self.columns, "allowed_categories")
            )
            if self.kinds[j] != "categorical":
                raise ValueError(
                    f"allowed_categories names {key!r}, which is not a categorical "
                    "column of the model."
                )
            cats = np.asarray(self.categories[j], dtype=object)
            values = list(values)
            missing = _missing(values)
            known = [v for v, m in zip(values, missing) if not m]
            unknown = [v for v in known if v not in list(cats)]
            if missing.any() and not _missing(cats).any():
                unknown.append(values[int(np.flatnonzero(missing)[0])])
            if unknown:
                raise ValueError(
                    f"allowed_categories[{key!r}] holds {unknown}, which the "
                    f"model's encoder does not know; it knows {list(cats)}."
                )
            out[j] = np.isin(cats, known) | (_missing(cats) & missing.any())
        return out


def coordinate_names(columns, layout=None):
    """A name per working coordinate: the column's, and ``column=category``
    for the coordinates of a categorical column (``None`` without names)."""
    if layout is None:
        return None if columns is None else list(columns)
    names = [None] * layout.n_working
    for j, index in enumerate(layout.index):
        column = _name(layout.columns, j)
        for k, i in enumerate(index):
            cats = layout.categories[j]
            names[i] = column if cats is None else f"{column}={cats[k]}"
    return names


def discrete_units(constraints):
    """Index arrays of the discrete features ``max_changes`` counts: each
    categorical column, each one-hot group, each integer coordinate."""
    units = [g.index for g in constraints.categorical]
    units += [np.asarray(g) for g in constraints.one_hot]
    if constraints.integer is not None:
        units += [np.array([i]) for i in np.flatnonzero(constraints.integer.ravel())]
    return units


def frozen_discrete(constraints, norm):
    """Names (indices) of mobile discrete features whose budget is below one
    step, so that no valid example can change them."""
    if constraints.integer is None and not constraints.one_hot:
        return []  # no discrete feature
    scale = np.asarray(constraints.scale, dtype=float).ravel()
    out = []
    if constraints.integer is not None:
        ints = constraints.integer.ravel() & (scale > 0) & (scale < 1)
        out += [int(i) for i in np.flatnonzero(ints)]
    order = {"linf": np.inf, "l2": 2, "l1": 1}[norm]
    for group in constraints.one_hot:
        s = scale[np.asarray(group)]
        if not np.any(s > 0):
            continue
        s = np.sort(s[s > 0])[::-1]
        cost = np.inf if len(s) < 2 else np.linalg.norm(1 / s[:2], ord=order)
        if cost > 1 + 1e-12:
            out += [int(i) for i in group]
    return out


def warn_frozen_discrete(constraints, norm, names=None, stacklevel=3):
    """Warn when a discrete feature's budget is too small to change it."""
    frozen = frozen_discrete(constraints, norm)
    if not frozen:
        return
    shown = [names[i] if names is not None else i for i in frozen]
    warnings.warn(
        f"the budget of the discrete features {shown} is below one step "
        f"({norm} ball): an integer feature needs eps >= 1, a one-hot switch "
        "moves two coordinates by 1. They cannot change; raise their eps (a "
        "dict {column: eps}) or leave them out of the threat model.",
        UserWarning,
        stacklevel=stacklevel,
    )
