"""The threat model: budget, domain and feature constraints, resolved to tensors.

Everything here runs once per call (not per step). The attack loop then sees
only ``scale`` (the per-feature budget, zero for immutable features) and a
per-sample box in unit-ball coordinates.
"""

import numbers

import numpy as np

from ._torch import torch

NORMS = ("linf", "l2", "l1")


def check_norm(norm):
    """Validate ``norm`` (one of :data:`NORMS`)."""
    if not isinstance(norm, str) or norm not in NORMS:
        raise ValueError(f"norm must be one of {NORMS}; got {norm!r}.")


def _n_features(sample_shape):
    return int(np.prod(sample_shape)) if sample_shape else 1


def directions(value, sample_shape, columns=None):
    """Per-feature directions: -1 (may only decrease), 0 (free), +1 (may only
    increase); a scalar, one per feature or a ``{column: direction}`` dict."""
    out = per_feature(value, sample_shape, "direction", columns, default=0.0)
    bad = ~np.isin(out, (-1.0, 0.0, 1.0))
    if bad.any():
        raise ValueError(
            "`direction` must hold -1 (may only decrease), 0 (free) or +1 (may "
            f"only increase) per feature; got {np.unique(out[bad]).tolist()}."
        )
    return np.array(out, dtype=float)


def feature_selection(spec, sample_shape, columns, name):
    """A boolean array of ``sample_shape`` from booleans, indices or column names."""
    if spec is None:
        return None
    n = _n_features(sample_shape)
    arr = np.asarray(spec)
    if arr.dtype == bool:
        if arr.size != n:
            raise ValueError(
                f"`{name}` has {arr.size} booleans for samples with {n} features."
            )
        return arr.reshape(sample_shape)
    arr = arr.ravel()
    if arr.dtype.kind in "iu" and arr.size == n and np.isin(arr, (0, 1)).all():
        raise ValueError(
            f"`{name}`={spec!r} is ambiguous: one 0 or 1 per feature reads as a "
            "mask, but integers are read as indices. Pass booleans for a mask "
            "(np.asarray(mask, dtype=bool)), or the indices of the features."
        )
    if arr.dtype.kind in "OUS":
        if columns is None:
            raise ValueError(
                f"`{name}` names columns {list(arr)} but X has no column names; "
                "pass booleans or integer indices, or a DataFrame."
            )
        position = {c: i for i, c in enumerate(columns)}
        missing = [c for c in arr if c not in position]
        if missing:
            raise ValueError(f"`{name}` names unknown columns {missing}.")
        arr = np.array([position[c] for c in arr], dtype=int)
    if arr.size and (arr.dtype.kind not in "iu" or arr.min() < -n or arr.max() >= n):
        raise ValueError(
            f"`{name}` must hold booleans, integer indices in [0, {n}) or column "
            f"names; got {spec!r}."
        )
    out = np.zeros(n, dtype=bool)
    out[arr] = True
    return out.reshape(sample_shape)


def per_feature(value, sample_shape, name, columns=None, default=None):
    """A scalar or per-feature array broadcast to ``sample_shape`` (float64).

    A ``pandas.Series`` indexed by column names is read by name, as a
    ``{column: value}`` dict (not by position).
    """
    index = getattr(value, "index", None)
    if (
        hasattr(value, "to_dict")
        and getattr(index, "dtype", np.dtype(float)).kind == "O"
    ):
        value = value.to_dict()
    if isinstance(value, dict):
        out = np.full(_n_features(sample_shape), default, dtype=float)
        for key, v in value.items():
            out[feature_selection([key], sample_shape, columns, name).ravel()] = v
        return out.reshape(sample_shape)
    arr = np.asarray(value, dtype=float)
    if arr.ndim == 0:
        return np.broadcast_to(arr, sample_shape)
    try:
        if arr.size == _n_features(sample_shape) and arr.ndim == 1:
            return arr.reshape(sample_shape)
        return np.broadcast_to(arr, sample_shape)
    except ValueError:
        raise ValueError(
            f"`{name}` has shape {arr.shape}; expected a scalar or one value per "
            f"feature (shape {sample_shape})."
        ) from None


class Constraints:
    """Resolved threat model for samples of one shape (numpy, float64).

    Attributes
    ----------
    scale : ndarray of sample shape
        Per-feature budget (``eps``, in raw units), zero where a feature may
        not move.
    low, high : ndarray of sample shape
        Box bounds (``-inf`` / ``inf`` when unbounded).
    direction : ndarray of sample shape or None
        +1: may only increase, -1: may only decrease, 0: free.
    integer : ndarray of bool or None
        Features that must stay integer steps away from the clean value.
    one_hot : list of ndarray of int
        Flat indices of each one-hot group.
    eps : ndarray of sample shape
        The budget in the user's units (before ``eps_units`` and the mask),
        which step sizes are relative to.
    lenient : bool
        Clean values outside ``[low, high]`` are allowed (and stay reachable);
        used for bounds learned from data, which test points may exceed.
    categorical : list of CategoricalGroup
        Categorical columns of a tabular view (see :mod:`skrobust._discrete`):
        their coordinates are a one-hot vector that may switch category.
    max_changes : int or None
        At most this many discrete features (categorical columns, one-hot
        groups, integer features) may change per sample.
    pinned : ndarray of bool or None
        Per-sample entries of one batch that never move (missing values of
        raw tabular data), shaped like the batch; see :meth:`with_pinned`.
    """

    pinned = None

    def __init__(
        self,
        scale,
        low,
        high,
        direction=None,
        integer=None,
        one_hot=(),
        eps=None,
        lenient=False,
        categorical=(),
        max_changes=None,
    ):
        self.lenient = lenient
        self.categorical = list(categorical)
        self.max_changes = max_changes
        self.scale = scale
        self.eps = scale if eps is None else eps
        self.low, self.high = low, high
        self.direction = direction
        self.integer = integer
        self.one_hot = list(one_hot)

    def with_pinned(self, pinned):
        """A copy for one batch whose entries ``pinned`` (a boolean array
        shaped like the batch) never move; ``self`` when none is pinned."""
        if pinned is None or not np.any(pinned):
            return self
        copy = object.__new__(type(self))
        copy.__dict__.update(self.__dict__)
        copy.pinned = np.asarray(pinned, dtype=bool)
        return copy

    @property
    def any_mobile(self):
        """Whether some feature may move (a positive budget)."""
        cache = self.__dict__.setdefault("_tensors", {})  # dropped with scale
        if "any_mobile" not in cache:
            cache["any_mobile"] = bool(np.any(np.asarray(self.scale) > 0))
        return cache["any_mobile"]

    @property
    def needs_repair(self):
        """Whether outputs need rounding, one-hot or category repair."""
        if self.categorical or self.max_changes is not None or self.pinned is not None:
            return True
        return bool(self.one_hot) or (
            self.integer is not None and bool(self.integer.any())
        )

    def check_inside(self, x0, offset=0, extremes=None):
        """Raise if clean samples (a batch tensor) lie outside strict bounds.

        ``extremes``: ``(min, max)`` of ``x0`` if known (floats).
        """
        if self.lenient or x0.numel() == 0:
            return
        cache = self.__dict__.setdefault("_tensors", {})
        key = ("tolerant", x0.device, x0.dtype)
        if key not in cache:  # tolerate rounding (a min-max scaled 1.0000000000000002)
            low, high = self._tensor("low", x0), self._tensor("high", x0)
            low, high = low - 1e-9 * (1 + low.abs()), high + 1e-9 * (1 + high.abs())
            cache[key] = low, high, float(low.max()), float(high.min())
        low, high, lowest, highest = cache[key]
        if extremes is None:  # one pass over all, then per feature
            extremes = tuple(map(float, torch.aminmax(x0)))
        if extremes[0] >= lowest and extremes[1] <= highest:
            return
        least, most = torch.aminmax(x0, dim=0)
        if bool(((least < low) | (most > high)).any()):
            bad = (x0 < low) | (x0 > high)
            flat = bad.reshape(len(bad), -1)
            row = int(flat.any(dim=1).nonzero()[0, 0])
            col = int(flat[row].nonzero()[0, 0])
            value = float(x0.reshape(len(x0), -1)[row, col])
            raise ValueError(
                f"{int(flat.any(dim=1).sum())} samples lie outside `bounds` (e.g. "
                f"sample {offset + row}, feature {col}: {value!r} not in "
                f"[{self.low.ravel()[col]}, {self.high.ravel()[col]}]); widen the "
                "bounds or clip X first."
            )

    def _tensor(self, name, like):
        """``self.<name>`` as a tensor like ``like`` (cached per device, dtype)."""
        cache = self.__dict__.setdefault("_tensors", {})
        key = (name, like.device, like.dtype)
        if key not in cache:
            value = np.array(getattr(self, name))
            cache[key] = torch.tensor(value, dtype=like.dtype, device=like.device)
        return cache[key]

    def bounds_for(self, x0):
        """Per-sample ``(low, high)`` around clean samples (numpy or torch)."""
        if torch.is_tensor(x0):
            low, high = (
                self._tensor(name, x0).expand_as(x0) for name in ("low", "high")
            )
            if self.lenient:
                low, high = torch.minimum(low, x0), torch.maximum(high, x0)
            return low, high
        low, high = (
            np.broadcast_to(self.low, x0.shape),
            np.broadcast_to(self.high, x0.shape),
        )
        if self.lenient:
            low, high = np.minimum(low, x0), np.maximum(high, x0)
        return low, high

    def input_box(self, x0, *, shared=False):
        """``(low, high)`` tensors shaped like the clean batch ``x0``.

        The bounds, tightened to ``x0`` by the direction constraints and for
        features that may not move (the ball is not included). Clamping into
        it makes the bounds hold exactly in the working dtype. ``shared``:
        the caller only reads them, so they may be views of cached tensors.
        """
        low, high = self.bounds_for(x0)
        if self.direction is not None:
            d = self._tensor("direction", x0).expand_as(x0)
            low = torch.where(d > 0, torch.maximum(low, x0), low)
            high = torch.where(d < 0, torch.minimum(high, x0), high)
        cache = self.__dict__.setdefault("_tensors", {})  # dropped with scale
        if "any_frozen" not in cache:
            cache["any_frozen"] = bool(np.any(np.asarray(self.scale) <= 0))
        if shared and not cache["any_frozen"]:
            return low, high
        frozen = (self._tensor("scale", x0) <= 0).expand_as(x0)
        return torch.where(frozen, x0, low), torch.where(frozen, x0, high)

    def box(self, x0, dtype, factor=1.0, *, shared=False):
        """``(scale, low, high)``: :meth:`budget` and :meth:`input_box`."""
        low, high = self.input_box(x0, shared=shared)
        return self.budget(x0, dtype, factor, shared=shared), low, high

    def budget(self, x0, dtype, factor=1.0, *, shared=False):
        """Per-feature ``scale`` tensor times ``factor`` (an eps warm-up, a sweep)."""
        scale = self._tensor("scale", x0).to(dtype)
        if factor != 1 or not shared:  # else the cached tensor, only read
            scale = scale * factor
        return scale

    def tensors(self, x0, dtype, factor=1.0):
        """Per-batch tensors: ``scale`` and the box ``[u_low, u_high]`` in ``u``.

        The same box as :meth:`box`, in unit-ball coordinates ``u = (x - x0) /
        scale`` (zero for features that may not move).
        """
        scale, low, high = self.box(x0, dtype, factor)
        mobile = scale > 0
        safe = torch.where(mobile, scale, torch.ones_like(scale))
        u_low = torch.where(mobile, (low - x0) / safe, torch.zeros_like(x0))
        u_high = torch.where(mobile, (high - x0) / safe, torch.zeros_like(x0))
        return scale, u_low, u_high


def resolve_bounds(bounds, sample_shape, data_min=None, data_max=None):
    """``bounds`` parameter -> (low, high) arrays of ``sample_shape``."""
    if bounds is None:
        return (np.full(sample_shape, -np.inf), np.full(sample_shape, np.inf))
    if isinstance(bounds, str):
        if bounds != "data":
            raise ValueError(
                f"bounds={bounds!r} is not understood; use None, (low, high) or 'data'."
            )
        if data_min is None:
            raise ValueError(
                "bounds='data' uses the per-feature min / max seen in `fit`: call "
                "the attack's fit(X_train) first."
            )
        return data_min.reshape(sample_shape), data_max.reshape(sample_shape)
    try:
        low, high = bounds
    except (TypeError, ValueError):
        raise ValueError(
            f"bounds must be None, 'data' or a (low, high) pair; got {bounds!r}."
        ) from None
    low = per_feature(-np.inf if low is None else low, sample_shape, "bounds[0]")
    high = per_feature(np.inf if high is None else high, sample_shape, "bounds[1]")
    if np.any(low > high):
        raise ValueError("bounds: some lower bounds exceed their upper bounds.")
    return low, high


def check_eps(eps):
    """Validate ``eps`` (a non-negative finite scalar or array)."""
    if type(eps) is float or type(eps) is int:  # the common case, quickly
        if 0 <= eps < float("inf"):
            return
    if isinstance(eps, dict):
        values = np.asarray(list(eps.values()), dtype=float)
    elif isinstance(eps, numbers.Real) or np.ndim(eps) == 0:
        values = np.asarray(eps, dtype=float)
    else:
        values = np.asarray(eps, dtype=float)
    if not np.all(np.isfinite(values)) or np.any(values < 0):
        raise ValueError(
            f"eps must be a non-negative finite number or array of them; got {eps!r}."
        )


THREAT_DEFAULTS = {
    "eps": 0.0,
    "bounds": None,
    "feature_mask": None,
    "direction": None,
    "integer_features": None,
    "one_hot_groups": None,
    "eps_units": "raw",
    "max_changes": None,
    "allowed_categories": None,
}


def needs_data_statistics(params):
    """Whether threat-model ``params`` use statistics of training data.

    ``eps_units="std"`` reads budgets in standard deviations and
    ``bounds="data"`` uses the per-feature min / max, both learned by ``fit``.
    """
    bounds = params.get("bounds")
    return params.get("eps_units", "raw") == "std" or (
        isinstance(bounds, str) and bounds == "data"
    )


def resolve_constraints(params, sample_shape, columns=None, *, stats=None, layout=None):
    """Threat-model parameters -> :class:`Constraints` for one sample shape.

    Parameters
    ----------
    params : mapping
        Any of ``eps``, ``bounds``, ``feature_mask``, ``direction``,
        ``integer_features``, ``one_hot_groups``, ``eps_units`` (missing keys
        take their defaults; other keys are ignored).
    sample_shape : tuple of int
    columns : array-like of str, default=None
        Column names, to resolve constraints given by name.
    stats : object, default=None
        Holds ``data_min_``, ``data_max_``, ``data_std_`` (an attack fitted on
        training data): needed for ``eps_units="std"`` and ``bounds="data"``.
    layout : FeatureLayout, default=None
        The raw tabular columns behind a view's working matrix (a view's
        ``codec.layout(X)``): parameters are then given per raw column and
        categorical columns switch category.

    Returns
    -------
    constraints : Constraints
    """
    p = {**THREAT_DEFAULTS, **{k: v for k, v in params.items() if k in THREAT_DEFAULTS}}
    if needs_data_statistics(p) and getattr(stats, "data_std_", None) is None:
        raise ValueError(
            "eps_units='std' and bounds='data' use per-feature statistics of "
            "the training data: fit the attack on training data first."
        )
    max_changes = p["max_changes"]
    if max_changes is not None and (
        not isinstance(max_changes, numbers.Integral) or max_changes < 0
    ):
        raise ValueError(
            f"max_changes must be None or a non-negative integer; got {max_changes!r}."
        )
    if layout is not None:
        return layout.resolve(p, stats=stats)
    if p["allowed_categories"] is not None:
        raise ValueError(
            "allowed_categories applies to categorical columns, which only a model "
            "reading raw tabular data has (a pipeline starting with a "
            "ColumnTransformer or an encoder)."
        )
    if p["eps"] is not None:  # every consumer: attacks, certificates, trees
        check_eps(p["eps"])
    user_eps = per_feature(p["eps"], sample_shape, "eps", columns, default=0.0)
    eps = user_eps
    if p["eps_units"] == "std":
        eps = eps * stats.data_std_.reshape(sample_shape)
    mask = feature_selection(p["feature_mask"], sample_shape, columns, "feature_mask")
    scale = eps if mask is None else np.where(mask, eps, 0.0)
    low, high = resolve_bounds(
        p["bounds"],
        sample_shape,
        getattr(stats, "data_min_", None),
        getattr(stats, "data_max_", None),
    )
    direction = None
    if p["direction"] is not None:
        direction = directions(p["direction"], sample_shape, columns)
    integer = feature_selection(
        p["integer_features"], sample_shape, columns, "integer_features"
    )
    groups = [
        np.flatnonzero(feature_selection(g, sample_shape, columns, "one_hot_groups"))
        for g in (p["one_hot_groups"] or [])
    ]
    return Constraints(
        np.array(scale, dtype=float),
        low,
        high,
        direction,
        integer,
        groups,
        eps=user_eps,
        lenient=isinstance(p["bounds"], str),
        max_changes=max_changes,
    )
