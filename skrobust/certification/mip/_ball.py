"""The perturbation set of one sample as MILP variables.

Variables are the offsets ``delta = x - x0`` (flat): bounds give the box
(the valid domain, directions and frozen features, already tightened by the
threat model) and the l-inf ball; an l1 ball adds ``t >= |delta| / scale``.
Integer features take integer offsets, one-hot groups stay one-hot, and
``max_changes`` caps how many of these discrete units move (one binary per
unit). For a minimal-distance problem the radius ``rho`` is a variable to
minimise.
"""

import numpy as np

_INTEGRAL = 1e-9  # slack when rounding the box of integer offsets


class Perturbation:
    """Offsets ``delta`` of one sample in a norm ball cut by its box.

    Parameters
    ----------
    model : MILP
    x0 : ndarray of shape (n_features,)
    scale : ndarray of shape (n_features,)
        Per-feature budget of a unit ball (0 freezes the feature).
    low, high : ndarray of shape (n_features,)
        The box around ``x0`` (``-inf`` / ``inf`` when open).
    norm : {"linf", "l1"}
    radius : float
        Size of the ball in units of ``scale``; with ``minimize`` it is the
        largest radius searched.
    integer : ndarray of bool or None
        Features whose offset must be an integer.
    one_hot : list of ndarray of int
        Flat indices of one-hot groups (values stay in {0, 1}, one 1).
    max_changes : int or None, default=None
        At most this many of ``units`` move.
    units : list of ndarray of int, default=()
        The discrete units ``max_changes`` counts (one-hot groups, integer
        features).
    minimize : bool, default=False
        Add the variable ``rho`` (the scaled norm of ``delta``).

    Attributes
    ----------
    delta : ndarray of int
        Indices of the offset variables.
    rho : int or None
        Index of the radius variable (``minimize`` only).
    """

    def __init__(
        self,
        model,
        x0,
        scale,
        low,
        high,
        *,
        norm,
        radius,
        integer=None,
        one_hot=(),
        max_changes=None,
        units=(),
        minimize=False,
    ):
        if norm not in ("linf", "l1"):
            raise ValueError(
                f"exact verification supports the 'linf' and 'l1' balls (linear "
                f"constraints); got norm={norm!r}."
            )
        self.x0 = x0 = np.asarray(x0, dtype=float)
        scale = np.asarray(scale, dtype=float)
        reach = scale * radius
        lower = np.maximum(np.asarray(low, float) - x0, -reach)
        upper = np.minimum(np.asarray(high, float) - x0, reach)
        is_int = np.zeros(len(x0), bool) if integer is None else integer.copy()
        for group in one_hot:
            is_int[group] = True
            lower[group] = np.maximum(lower[group], -x0[group])
            upper[group] = np.minimum(upper[group], 1 - x0[group])
        lower = np.where(is_int, np.ceil(lower - _INTEGRAL), lower)
        upper = np.where(is_int, np.floor(upper + _INTEGRAL), upper)
        lower = np.minimum(lower, 0.0)  # rounding never excludes x0 itself
        upper = np.maximum(upper, 0.0)
        self.lower, self.upper, self.is_int = lower, upper, is_int
        self.radius = float(radius)
        self.delta = model.add_variables(lower, upper, integer=is_int)
        for group in one_hot:
            k = len(group)
            model.add_rows(
                np.zeros(k), self.delta[group], np.ones(k), lower=[0.0], upper=[0.0]
            )
        if max_changes is not None:
            self._cap_changes(model, units, max_changes)
        self.scale, self.norm = scale, norm
        self.rho = None
        mobile = np.flatnonzero(scale > 0)
        if norm == "l1":
            self._l1(model, mobile, radius, minimize)
        elif minimize:
            self.rho = int(model.add_variables([0.0], [radius])[0])
            # |delta_i| <= scale_i * rho
            n = len(mobile)
            rows = np.repeat(np.arange(2 * n), 2)
            cols = np.column_stack(
                [np.concatenate([self.delta[mobile]] * 2), np.full(2 * n, self.rho)]
            ).ravel()
            vals = np.column_stack(
                [np.repeat([1.0, -1.0], n), -np.concatenate([scale[mobile]] * 2)]
            ).ravel()
            model.add_rows(rows, cols, vals, upper=np.zeros(2 * n))

    def _cap_changes(self, model, units, max_changes):
        """``|delta_i| <= reach_i b_u`` for ``i`` in unit ``u``, ``sum b <= cap``."""
        reach = np.maximum(-self.lower, self.upper)
        units = [u[reach[u] > 0] for u in map(np.asarray, units)]
        units = [u for u in units if len(u)]
        if not units:
            return
        moved = model.add_variables(np.zeros(len(units)), 1.0, integer=True)
        for b, u in zip(moved, units):
            k = len(u)
            rows = np.repeat(np.arange(2 * k), 2)
            cols = np.column_stack(
                [np.concatenate([self.delta[u]] * 2), np.full(2 * k, b)]
            ).ravel()
            vals = np.column_stack(
                [np.repeat([1.0, -1.0], k), -np.concatenate([reach[u]] * 2)]
            ).ravel()
            model.add_rows(rows, cols, vals, upper=np.zeros(2 * k))
        model.add_rows(
            np.zeros(len(units)), moved, np.ones(len(units)), upper=[max_changes]
        )

    def _l1(self, model, mobile, radius, minimize):
        """``t_i >= |delta_i| / scale_i`` and ``sum t <= radius`` (or ``= rho``)."""
        n = len(mobile)
        s = self.scale[mobile]
        t = model.add_variables(
            np.zeros(n), np.maximum(-self.lower[mobile], self.upper[mobile]) / s
        )
        # +-delta_i - scale_i t_i <= 0
        rows = np.repeat(np.arange(2 * n), 2)
        cols = np.column_stack(
            [np.concatenate([self.delta[mobile]] * 2), np.concatenate([t, t])]
        ).ravel()
        vals = np.column_stack(
            [np.repeat([1.0, -1.0], n), -np.concatenate([s, s])]
        ).ravel()
        model.add_rows(rows, cols, vals, upper=np.zeros(2 * n))
        if minimize:
            self.rho = int(model.add_variables([0.0], [radius])[0])
            cols = np.append(t, self.rho)
            vals = np.append(np.ones(n), -1.0)
            model.add_rows(np.zeros(n + 1), cols, vals, lower=[0.0], upper=[0.0])
        else:
            model.add_rows(np.zeros(n), t, np.ones(n), upper=[radius])

    def point(self, solution_x):
        """The perturbed sample of a solution, snapped into the set exactly.

        The solver meets constraints up to its tolerances: offsets are
        clipped to the box, integer offsets rounded, and an l1 ball is
        restored by shrinking the continuous offsets.
        """
        delta = np.clip(solution_x[self.delta], self.lower, self.upper)
        delta = np.where(self.is_int, np.round(delta), delta)
        delta = np.clip(delta, self.lower, self.upper)
        if self.norm == "l1":
            weight = np.divide(
                1.0, self.scale, out=np.zeros_like(delta), where=self.scale > 0
            )
            size = np.abs(delta) @ weight
            if size > self.radius:
                free = (self.scale > 0) & ~self.is_int
                fixed = np.abs(delta[~free]) @ weight[~free]
                moving = np.abs(delta[free]) @ weight[free]
                if moving > 0:
                    delta[free] *= max(self.radius - fixed, 0.0) / moving
        return self.x0 + delta
