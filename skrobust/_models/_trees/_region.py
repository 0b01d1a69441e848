"""Where an attacker may move one point, and its geometry against leaf boxes.

A :class:`Region` is the threat model around one encoded raw point ``x0``
(see :meth:`TreeEnsemble.encode`): a closed box ``[low, high]`` for the
numeric features (bounds, direction and immutable features already folded
in), integer features that move by whole steps, and the categories each
categorical feature may take. Sizes are ``||(x - x0) / w||_p`` with the
per-feature unit ``w`` (categorical changes cost nothing in the norm).

A leaf box holds ``low < x_f <= high``: its lower side is open, so the
distance to it is an infimum and a concrete point sits one float64 step
above the lower side.
"""

import numpy as np

from ..._threat import check_norm


class Region:
    """The threat model around one encoded raw point.

    Parameters
    ----------
    x0 : ndarray of shape (n_features,)
    low, high : ndarray of shape (n_features,)
        Closed box of the numeric features (``low == high == x0`` freezes).
    weights : ndarray of shape (n_features,)
        Unit of measure of each feature (0: the feature may not move).
    norm : {"linf", "l2", "l1"}
    integer : ndarray of bool, default=None
        Features that move from ``x0`` by whole steps.
    categories : dict, default=None
        Categorical feature -> boolean mask of the categories it may take
        (absent: only its current category).
    max_changes : int, default=None
        At most this many discrete features (integer or categorical) may
        change (an L0 cap).
    """

    def __init__(
        self,
        x0,
        low,
        high,
        weights,
        norm,
        integer=None,
        categories=None,
        max_changes=None,
    ):
        check_norm(norm)
        self.x0 = np.asarray(x0, dtype=np.float64)
        d = len(self.x0)
        self.weights = np.broadcast_to(np.asarray(weights, dtype=np.float64), (d,))
        frozen = self.weights <= 0
        self.low = np.where(frozen, self.x0, np.asarray(low, dtype=np.float64))
        self.high = np.where(frozen, self.x0, np.asarray(high, dtype=np.float64))
        self.norm = norm
        self.integer = (
            np.zeros(d, dtype=bool) if integer is None else np.asarray(integer, bool)
        )
        self.categories = dict(categories or {})
        self.max_changes = max_changes

    def within(self, radius):
        """This region cut to the box of moves of size at most ``radius``
        (a box holds every such move in any of the norms)."""
        step = self.weights * radius
        return Region(
            self.x0,
            np.maximum(self.low, self.x0 - step),
            np.minimum(self.high, self.x0 + step),
            self.weights,
            self.norm,
            self.integer,
            self.categories,
            self.max_changes,
        )

    def allowed(self, f, n_categories):
        """Categories feature ``f`` may take (boolean mask)."""
        if f in self.categories:
            return np.asarray(self.categories[f], dtype=bool)
        mask = np.zeros(n_categories, dtype=bool)
        mask[int(self.x0[f])] = True
        return mask

    # -- boxes ---------------------------------------------------------------

    def _steps(self, box_low, box_high):
        """Integer steps ``[k_min, k_max]`` from x0 into an open-closed box."""
        x0 = self.x0
        with np.errstate(invalid="ignore"):
            k_min = np.maximum(np.floor(box_low - x0) + 1, np.ceil(self.low - x0))
            k_max = np.minimum(np.floor(box_high - x0), np.floor(self.high - x0))
        return k_min, k_max

    def clip(self, box_low, box_high):
        """``(lowest, highest)`` point of each box ``low < x <= high`` inside the
        region (arrays of shape ``(..., n_features)``): the box's points in
        the region are those with ``lowest <= x <= highest`` (empty when
        ``lowest > highest`` somewhere). The lower end is the true float64
        point, one step above an open side."""
        above = np.nextafter(box_low, np.inf)
        lowest = np.maximum(above, self.low)
        highest = np.minimum(box_high, self.high)
        if self.integer.any():
            k_min, k_max = self._steps(box_low, box_high)
            lowest = np.where(self.integer, self.x0 + k_min, lowest)
            highest = np.where(self.integer, self.x0 + k_max, highest)
        return lowest, highest

    def reachable(self, box_low, box_high, categories=None):
        """Whether each box (open below) meets the region, ignoring the budget."""
        lowest, highest = self.clip(box_low, box_high)
        ok = (lowest <= highest).all(axis=-1)
        for f, mask in (categories or {}).items():
            ok &= (mask & self.allowed(f, mask.shape[-1])).any(axis=-1)
        return ok

    def gap(self, box_low, box_high):
        """Per-feature ``|x - x0|`` to the nearest point of each box: the
        infimum (the open lower side itself), ``inf`` where the box misses the
        region."""
        lowest, highest = self.clip(box_low, box_high)
        infimum = np.maximum(box_low, self.low)
        if self.integer.any():
            infimum = np.where(self.integer, lowest, infimum)
        below = np.where(self.x0 < lowest, infimum - self.x0, 0.0)
        above = np.where(self.x0 > highest, self.x0 - highest, 0.0)
        out = np.maximum(below, above)
        return np.where(lowest <= highest, out, np.inf)

    def size(self, gaps):
        """Weighted norm of per-feature gaps ``(..., n_features)``."""
        w = self.weights
        moved = gaps > 0
        u = np.where(w > 0, gaps / np.where(w > 0, w, 1.0), np.where(moved, np.inf, 0))
        if self.norm == "linf":
            return u.max(axis=-1, initial=0.0)
        if self.norm == "l1":
            return u.sum(axis=-1)
        return np.sqrt((u**2).sum(axis=-1))

    def distance(self, box_low, box_high, categories=None):
        """Infimum size of the move into each box (``inf``: unreachable)."""
        d = self.size(self.gap(box_low, box_high))
        if categories:
            d = np.where(self.reachable(box_low, box_high, categories), d, np.inf)
        return d

    def nearest(self, box_low, box_high, categories=None):
        """The point of one box (in the region) nearest to ``x0``.

        Numeric features are clipped into the box (one float64 step above an
        open lower side); a categorical feature keeps its category when the
        box allows it, else takes the first allowed one. ``None`` if the box
        misses the region.
        """
        lowest, highest = self.clip(box_low, box_high)
        if (lowest > highest).any():
            return None
        x = np.minimum(np.maximum(self.x0, lowest), highest)
        for f, mask in (categories or {}).items():
            ok = mask & self.allowed(f, len(mask))
            if not ok.any():
                return None
            if not ok[int(self.x0[f])]:
                x[f] = float(np.flatnonzero(ok)[0])
        return x

    def n_changes(self, x):
        """Discrete features (integer or categorical) that differ from ``x0``."""
        x = np.atleast_2d(x)
        discrete = self.integer.copy()
        discrete[list(self.categories)] = True
        return (x[:, discrete] != self.x0[discrete]).sum(axis=1)

    def size_of(self, x):
        """Weighted norm of ``x - x0`` (rows of ``x``)."""
        return self.size(np.abs(np.asarray(x, dtype=np.float64) - self.x0))


def tree_regions(constraints, Z, norm, categorical):
    """One :class:`Region` per row of encoded raw ``Z`` from resolved
    :class:`~skrobust._threat.Constraints` (a tree ensemble's layout: one
    coordinate per raw column; ``categorical`` flags the category columns).

    The unit of measure is the constraints' ``scale`` (the per-feature
    budget); a categorical column named by ``feature_mask`` may take any
    category its group allows.
    """
    scale = np.asarray(constraints.scale, dtype=np.float64).ravel()
    integer = constraints.integer
    integer = None if integer is None else np.asarray(integer, bool).ravel()
    direction = constraints.direction
    cats = {}
    for group in getattr(constraints, "categorical", ()):
        if group.mutable:
            (f,) = group.index
            n = len(group.categories)
            cats[int(f)] = np.broadcast_to(group.allowed, (n,)).copy()
    out = []
    for z in np.asarray(Z, dtype=np.float64):
        low, high = constraints.bounds_for(z)
        low, high = np.array(low, dtype=float), np.array(high, dtype=float)
        if direction is not None:
            d = np.asarray(direction, dtype=float).ravel()
            low = np.where(d > 0, np.maximum(low, z), low)
            high = np.where(d < 0, np.minimum(high, z), high)
        low = np.where(categorical, z, low)
        high = np.where(categorical, z, high)
        weights = np.where(categorical, 0.0, scale)
        mine = {f: m | (np.arange(len(m)) == int(z[f])) for f, m in cats.items()}
        out.append(
            Region(
                z,
                low,
                high,
                weights,
                norm,
                integer=integer,
                categories=mine,
                max_changes=getattr(constraints, "max_changes", None),
            )
        )
    return out
