"""Bounds on the logits and margins of any differentiable estimator.

The public functions take an estimator and arrays. The estimator's
differentiable view is traced into a graph of bound rules
(:func:`~._graph.bound_graph`), and :func:`~._graph_crown.bound_tensors`,
the tensor-level core shared with certified training, bounds it.
"""

import numpy as np

from ..._models import as_differentiable, materialize
from ..._threat import check_eps, check_norm, needs_data_statistics, resolve_constraints
from ..._torch import torch
from ...utils import SHARED_DOCS, Substitution, encode_labels, resolve_batch_size
from ._graph import bound_graph
from ._graph_crown import bound_tensors
from ._graph_rules import Spec
from ._region import Region

METHODS = ("ibp", "crown-ibp", "crown", "alpha-crown")


def output_dtype(X):
    """The input's float dtype (float64 for any other input)."""
    dtype = getattr(X, "dtype", None)
    if dtype is None and hasattr(X, "dtypes"):  # a DataFrame of one dtype
        dtypes = set(X.dtypes)
        dtype = dtypes.pop() if len(dtypes) == 1 else None
    floats = (np.float16, np.float32, np.float64)
    return np.dtype(dtype) if dtype is not None and dtype in floats else np.float64


def outward(bound, dtype, direction):
    """``bound`` in ``dtype``, rounded towards ``direction`` where the cast
    rounds (a float64 bound stays sound in float32)."""
    out = bound.astype(dtype)
    moved = out > bound if direction < 0 else out < bound
    if moved.any():
        out[moved] = np.nextafter(out[moved], np.asarray(direction, dtype=dtype))
    return out


def check_method(method):
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}; got {method!r}.")


def margin_spec(labels, n_classes, dtype):
    """The rows ``e_y - e_k`` of each sample (``k`` over every class), as a Spec."""
    eye = torch.eye(n_classes, dtype=dtype, device=labels.device)
    rows = (eye.unsqueeze(1) - eye.unsqueeze(0)).reshape(-1, n_classes)
    classes = torch.arange(n_classes, device=labels.device)
    return Spec(rows, labels.unsqueeze(1) * n_classes + classes)


class Problem:
    """Validated inputs of a bound computation: the view, the tensor, the region.

    The perturbation set is the threat model of the attacks
    (:func:`skrobust._threat.resolve_constraints`): the budget ``eps`` (a
    scalar, one value per feature or a ``{column: eps}`` dict), ``bounds``,
    ``feature_mask`` and ``direction``. ``stats`` holds the training data's
    ``data_min_`` / ``data_max_`` for ``bounds="data"`` (an estimator fitted
    on that data); ``eps=None`` is a unit budget for every feature.
    """

    def __init__(
        self,
        estimator,
        X,
        eps,
        norm,
        bounds,
        method,
        batch_size,
        feature_mask=None,
        direction=None,
        stats=None,
    ):
        check_norm(norm)
        check_method(method)
        if eps is not None:
            check_eps(eps)
        threat = {
            "eps": 1.0 if eps is None else eps,
            "bounds": bounds,
            "feature_mask": feature_mask,
            "direction": direction,
        }
        if needs_data_statistics(threat) and stats is None:
            raise ValueError(
                "bounds='data' uses the per-feature min / max of training data, "
                "which this function has no fit to learn: pass (low, high), or "
                "use IBPClassifier(bounds='data'), which learns them in fit."
            )
        self.view = view = as_differentiable(estimator)
        if view.codec is not None:
            raise ValueError(
                "bounds do not cover pipelines that read raw tabular columns "
                "through a ColumnTransformer or an encoder (categorical and "
                "integer columns are discrete); bound the model on the encoded "
                "features instead: pipeline[1:] on pipeline[0].transform(X)."
            )
        x = view.to_samples(X)
        shape = tuple(x.shape[1:])
        columns = getattr(X, "columns", None)
        if columns is None:
            columns = getattr(estimator, "feature_names_in_", None)
        constraints = resolve_constraints(threat, shape, columns, stats=stats)
        constraints.check_inside(x)
        # each sample's box (bounds, direction, pinned features); it holds
        # x itself (data bounds, rounding), so the region is never empty
        scale, low, high = constraints.box(x, view.dtype)
        self.eps = scale
        self.low, self.high = torch.minimum(low, x), torch.maximum(high, x)
        self.x, self.norm, self.method = x, norm, method
        values = int(np.prod(shape)) * max(1, view.n_classes)
        self.batch_size = resolve_batch_size(batch_size, len(x), values)
        materialize(view.module, x)  # lazy layers learn their sizes first
        self.graph = bound_graph(view.module, shape, x.dtype, x.device)

    def labels(self, y=None):
        """Labels (values of ``classes_``) as class indices; ``None``: predictions."""
        if y is not None:
            index = encode_labels(y, self.view.classes_, n_samples=len(self.x))
            return torch.as_tensor(index, dtype=torch.long, device=self.view.device)
        with self.view.evaluating(), torch.no_grad():
            predicted = [
                self.view(self.x[rows]).argmax(dim=1) for rows in self.batches()
            ]
        if not predicted:
            return torch.zeros(0, dtype=torch.long, device=self.view.device)
        return torch.cat(predicted)

    def batches(self):
        for start in range(0, len(self.x), self.batch_size):
            yield slice(start, start + self.batch_size)

    def region(self, rows, eps_sample=None):
        return Region(
            self.x[rows],
            self.eps,
            self.norm,
            eps_sample,
            self.low[rows],
            self.high[rows],
        )

    def margins(self, labels, rows, eps_sample=None, method=None):
        """Lower bounds of ``z_y - z_k`` (a tensor) for the samples ``rows``.

        ``rows`` is a slice or an index tensor; ``labels`` and ``eps_sample``
        are those of the selected samples.
        """
        region = self.region(rows, eps_sample)
        spec = margin_spec(labels, self.view.n_classes, self.view.dtype)
        with self.view.evaluating(), torch.no_grad():
            lower, _ = bound_tensors(
                self.graph,
                region,
                method=method or self.method,
                spec=spec,
                upper=False,
            )
        return lower


@Substitution(**SHARED_DOCS)
def interval_bounds(
    estimator,
    X,
    *,
    eps,
    norm="linf",
    bounds=None,
    method="crown",
    feature_mask=None,
    direction=None,
    batch_size="auto",
):
    """Lower and upper bounds on the logits over a perturbation set around ``X``.

    For every sample ``x`` and every ``x'`` with ``||x' - x|| <= eps`` (and
    within ``bounds``, moving only the features of ``feature_mask`` in their
    ``direction``: the attacks' threat model), the logits of ``x'`` (the
    differentiable view's, see :func:`skrobust.as_differentiable`) lie
    between ``lower`` and ``upper``. The view's module is traced (``torch.fx``,
    else ``torch.export``) into a graph of operations, so any network works
    whose operations have bound rules: layers with a rule (see
    :func:`bound_layer`; your own layers once registered) and, in a
    ``forward`` of your own, residual additions, ``torch.cat``, functional
    activations, ``view`` / ``flatten``, sums and means; skorch networks,
    :class:`skrobust.SkorchClassifier`, linear models, ``MLPClassifier``,
    and pipelines of scalers and ``PCA`` ending in one of them go the same
    way. It runs in batches on the estimator's device and leaves the model
    as it was.

    Parameters
    ----------
    estimator : fitted classifier
        Anything :func:`skrobust.as_differentiable` accepts.
    X : array-like of shape (n_samples, ...)
        Clean inputs (raw features; for a pipeline split by a
        non-differentiable step, the space after it).
    eps : float, array-like or dict
        Radius of the ball: one value, one per feature (the ball of the
        scaled norm ``||(x' - x) / eps|| <= 1``; features with ``eps = 0``
        stay fixed), or a dict ``{column: eps}`` (other columns fixed;
        columns of a DataFrame ``X`` or the estimator's
        ``feature_names_in_``).
    norm : {"linf", "l2", "l1"}, default="linf"
        The ball. IBP maps an l2 / l1 ball exactly through the affine layers
        before the first activation, then goes on with intervals; CROWN
        handles the ball exactly at the input.
    bounds : (low, high) or None, default=None
        Valid input domain, scalars or per-feature arrays (``None`` for an
        open side): the ball is cut by it (e.g. ``(0, 1)`` for images),
        which tightens the bounds. Clean points outside it are an error.
    method : {"ibp", "crown-ibp", "crown", "alpha-crown"}, default="crown"
        Interval bound propagation (Gowal et al. 2018: cheapest, about two
        forward passes); CROWN-IBP (CROWN's linear relaxation for the output,
        interval bounds inside); full CROWN (Zhang et al. 2018: linear
        relaxations everywhere); alpha-CROWN (Xu et al. 2021: CROWN with
        the ReLU lower slopes of the last pass optimised by gradient steps,
        tightest and most expensive). CROWN methods keep the tighter of
        their bound and IBP's, so the default is never looser than IBP;
        pass ``"ibp"`` where speed matters more.
    feature_mask : array-like, default=None
        Features that may change (booleans, indices or column names); the
        others stay fixed. ``None``: all may change.
    direction : array-like or dict, default=None
        Per-feature sign constraint: +1 may only increase, -1 only
        decrease, 0 free (e.g. ``{"debt": 1}``).
    batch_size : int or "auto", default="auto"
        Samples bounded together; ``"auto"``: about 4 million values of
        input times classes per batch (the size of CROWN's coefficients).

    Returns
    -------
    lower, upper : ndarray of shape (n_samples, n_classes)
        Logit bounds, columns ordered as the view's ``classes_``, in the
        input's float dtype (float64 for other input; computed in the
        network's dtype and rounded outwards where the cast rounds).

    Raises
    ------
    TypeError
        If the model holds an operation without a bound rule (the message
        names it and the node of the traced graph where it occurs).

    See Also
    --------
    margin_bounds : tighter bounds on the margins ``z_y - z_k``.
    certify : whether the true class provably wins.

    {examples_iris}
    >>> from skrobust.certification import interval_bounds
    >>> lower, upper = interval_bounds(clf, X[:5], eps=0.1)
    >>> logits = clf.decision_function(X[:5])
    >>> bool(((lower <= logits) & (logits <= upper)).all())
    True
    """
    args = (eps, norm, bounds, method, batch_size, feature_mask, direction)
    problem = Problem(estimator, X, *args)
    view = problem.view
    lowers, uppers = [], []
    with view.evaluating(), torch.no_grad():
        for rows in problem.batches():
            lower, upper = bound_tensors(
                problem.graph, problem.region(rows), method=method
            )
            lowers.append(lower.cpu())
            uppers.append(upper.cpu())
    dtype = output_dtype(X)
    if not lowers:
        empty = np.empty((0, view.n_classes), dtype=dtype)
        return empty, empty.copy()
    lower, upper = torch.cat(lowers).numpy(), torch.cat(uppers).numpy()
    return outward(lower, dtype, -np.inf), outward(upper, dtype, np.inf)


@Substitution(**SHARED_DOCS)
def margin_bounds(
    estimator,
    X,
    y,
    *,
    eps,
    norm="linf",
    bounds=None,
    method="crown",
    feature_mask=None,
    direction=None,
    batch_size="auto",
):
    """Lower bounds on the margins ``z_y - z_k`` over a perturbation set.

    The specification ``e_y - e_k`` is multiplied into the last linear
    layers before bounding (for CROWN, carried back through the whole
    network), which is tighter than ``lower_y - upper_k`` from
    :func:`interval_bounds`: the two logits share the uncertainty of the
    layer before. A sample is certified when all its margins to the other
    classes are positive.

    Parameters
    ----------
    estimator : fitted classifier
    X : array-like of shape (n_samples, ...)
    y : array-like of shape (n_samples,)
        True labels (values of the estimator's ``classes_``).
    eps, norm, bounds, method, feature_mask, direction, batch_size
        The perturbation set and the computation, as in
        :func:`interval_bounds`.

    Returns
    -------
    margins : ndarray of shape (n_samples, n_classes)
        ``margins[i, k]``: a lower bound of ``z_y - z_k`` at sample ``i``
        (0 in the column of the true class); the input's float dtype, as in
        :func:`interval_bounds`.

    {examples_iris}
    >>> from skrobust.certification import margin_bounds
    >>> margins = margin_bounds(clf, X[:3], y[:3], eps=0.05)
    >>> margins.shape
    (3, 3)
    """
    args = (eps, norm, bounds, method, batch_size, feature_mask, direction)
    problem = Problem(estimator, X, *args)
    labels = problem.labels(y)
    out = [problem.margins(labels[rows], rows).cpu() for rows in problem.batches()]
    dtype = output_dtype(X)
    if not out:
        return np.empty((0, problem.view.n_classes), dtype=dtype)
    return outward(torch.cat(out).numpy(), dtype, -np.inf)
