"""A mixed-integer linear program built block by block, solved by HiGHS.

:class:`MILP` collects variables (bounds, integrality) and sparse constraint
rows ``lower <= A x <= upper``; :meth:`MILP.solve` minimises a linear
objective with :func:`scipy.optimize.milp` under a time limit and returns a
:class:`Solution` that says what is proven: the optimum, a lower bound of it
(the dual bound, also when time runs out), or infeasibility.
"""

import time

import numpy as np
from scipy import sparse
from scipy.optimize import Bounds, LinearConstraint, milp


class Solution:
    """Outcome of one solve.

    Attributes
    ----------
    status : {"optimal", "infeasible", "time_limit", "error"}
    x : ndarray or None
        The best feasible point found (``None`` if none).
    value : float or None
        Its objective value.
    bound : float
        A proven lower bound of the minimum (``inf`` when infeasible,
        ``-inf`` when nothing is proven).
    seconds : float
        Wall time of the solve.
    """

    def __init__(self, status, x, value, bound, seconds):
        self.status, self.x, self.value = status, x, value
        self.bound, self.seconds = bound, seconds

    def __repr__(self):
        return (
            f"Solution(status={self.status!r}, value={self.value}, "
            f"bound={self.bound}, seconds={self.seconds:.3f})"
        )


class MILP:
    """A MILP under construction: variables first, then constraint rows.

    Examples
    --------
    >>> import numpy as np
    >>> model = MILP()
    >>> v = model.add_variables([0, 0], [5, 5], integer=True)
    >>> model.add_rows([0, 0], v, [1.0, 1.0], lower=[1.5])
    >>> model.solve(np.array([1.0, 2.0])).value
    2.0
    """

    def __init__(self):
        self.lower, self.upper, self.integer = [], [], []
        self.n_variables = 0
        self._rows, self._cols, self._vals = [], [], []
        self.row_lower, self.row_upper = [], []

    @property
    def n_rows(self):
        return len(self.row_lower)

    @property
    def n_integer(self):
        return int(sum(np.count_nonzero(i) for i in self.integer))

    def add_variables(self, lower, upper, *, integer=False):
        """Add variables with bounds; returns their indices."""
        lower = np.atleast_1d(np.asarray(lower, dtype=float))
        upper = np.broadcast_to(np.asarray(upper, dtype=float), lower.shape)
        integer = np.broadcast_to(np.asarray(integer, dtype=bool), lower.shape)
        index = np.arange(self.n_variables, self.n_variables + len(lower))
        self.n_variables += len(lower)
        self.lower.append(lower)
        self.upper.append(upper.copy())
        self.integer.append(integer.copy())
        return index

    def add_rows(self, rows, cols, vals, *, lower=None, upper=None):
        """Add constraint rows ``lower <= A x <= upper`` from COO triplets.

        ``rows`` are numbered from 0 for the new block; ``lower`` / ``upper``
        give one value per new row (``None``: unbounded on that side).
        """
        rows = np.asarray(rows, dtype=np.int64)
        n_new = len(lower if lower is not None else upper)
        self._rows.append(rows + self.n_rows)
        self._cols.append(np.asarray(cols, dtype=np.int64))
        self._vals.append(np.asarray(vals, dtype=float))
        inf = np.full(n_new, np.inf)
        self.row_lower.extend(-inf if lower is None else np.asarray(lower, float))
        self.row_upper.extend(inf if upper is None else np.asarray(upper, float))

    def add_dense_rows(self, matrix, cols, *, lower=None, upper=None):
        """Add rows ``matrix @ x[cols]`` (zeros dropped) with their bounds."""
        matrix = np.asarray(matrix, dtype=float).reshape(-1, len(cols))
        r, c = np.nonzero(matrix)
        self.add_rows(r, np.asarray(cols)[c], matrix[r, c], lower=lower, upper=upper)

    def solve(self, objective, *, time_limit=None, rel_gap=1e-6, extra=None):
        """Minimise ``objective . x``.

        Parameters
        ----------
        objective : ndarray of shape (n_variables,)
        time_limit : float, default=None
            Seconds; ``None``: no limit.
        rel_gap : float, default=1e-6
            Relative optimality gap at which HiGHS stops.
        extra : tuple of (rows, cols, vals, lower, upper), default=None
            Rows added for this solve only.
        """
        rows = list(self._rows)
        cols, vals = list(self._cols), list(self._vals)
        row_lower, row_upper = list(self.row_lower), list(self.row_upper)
        if extra is not None:
            r, c, v, lo, up = extra
            rows.append(np.asarray(r, dtype=np.int64) + self.n_rows)
            cols.append(np.asarray(c, dtype=np.int64))
            vals.append(np.asarray(v, dtype=float))
            row_lower.extend(lo)
            row_upper.extend(up)
        n_rows = len(row_lower)
        constraints = ()
        if n_rows:
            A = sparse.csr_array(
                (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                shape=(n_rows, self.n_variables),
            )
            constraints = LinearConstraint(A, row_lower, row_upper)
        options = {"mip_rel_gap": rel_gap}
        if time_limit is not None:
            options["time_limit"] = max(float(time_limit), 1e-3)
        start = time.perf_counter()
        result = milp(
            np.asarray(objective, dtype=float),
            constraints=constraints,
            integrality=np.concatenate(self.integer).astype(np.uint8),
            bounds=Bounds(np.concatenate(self.lower), np.concatenate(self.upper)),
            options=options,
        )
        seconds = time.perf_counter() - start
        return _solution(result, seconds)


def _solution(result, seconds):
    dual = getattr(result, "mip_dual_bound", None)
    if result.status == 0:
        value = float(result.fun)
        bound = value if dual is None or not np.isfinite(dual) else min(value, dual)
        return Solution("optimal", result.x, value, bound, seconds)
    if result.status == 2:
        return Solution("infeasible", None, None, np.inf, seconds)
    if result.status == 1:
        x = result.x
        value = None if x is None else float(result.fun)
        bound = -np.inf if dual is None or not np.isfinite(dual) else float(dual)
        return Solution("time_limit", x, value, bound, seconds)
    return Solution("error", None, None, -np.inf, seconds)
