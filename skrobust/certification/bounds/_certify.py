"""Bound propagation's certificates: is the label provably stable in the ball?

The ``"ibp"``, ``"crown-ibp"``, ``"crown"`` and ``"alpha-crown"`` method family of
:func:`skrobust.certification.certify` and
:func:`skrobust.certification.certified_radius`.
"""

import numbers

import numpy as np

from ..._torch import torch
from ...utils import SHARED_DOCS, Substitution
from ._bounds import Problem
from ._graph_certify import certify_margins


def certify_rows(problem, labels, rows, eps_sample=None):
    """Certificates of the samples ``rows`` (a slice), skipping decided ones.

    Misclassified samples are never bounded (CROWN methods; IBP bounds them
    all, as cheap as the forward pass that would skip them). Each margin
    ``z_y - z_k`` comes from the cheapest method that proves it, IBP first
    (:func:`~._graph_certify.certify_margins`): CROWN methods keep the better
    of their bound and IBP's, so the result is the same as bounding every
    margin with ``problem.method``.
    """
    x, y = problem.x[rows], labels[rows]
    clean = None
    with problem.view.evaluating(), torch.no_grad():
        if problem.method == "ibp":
            todo = torch.arange(len(x), device=x.device)
        else:
            clean = problem.view(x)
            todo = torch.nonzero(clean.argmax(dim=1) == y).flatten()
            clean = clean[todo]
        result = torch.zeros(len(x), dtype=torch.bool, device=x.device)
        if not len(todo):
            return result
        sub_eps = None if eps_sample is None else eps_sample[todo]
        region = problem.region(todo + (rows.start or 0), sub_eps)
        graph, method = problem.graph, problem.method
        view = problem.view
        ok = certify_margins(graph, region, y[todo], method, clean=clean, model=view)
    result[todo[ok]] = True
    return result


@Substitution(**SHARED_DOCS)
def certify(
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
    stats=None,
):
    """Bound propagation's certificates: is each sample certified within ``eps``?

    The ``"ibp"``, ``"crown-ibp"`` and ``"crown"`` family behind
    :func:`skrobust.certification.certify` (see there): ``True`` when the
    lower bound of every margin ``z_y - z_k`` over the perturbation set is
    positive (see :func:`margin_bounds`). ``stats``: an estimator fitted on
    the training data, whose ``data_min_`` / ``data_max_`` give
    ``bounds="data"``.

    {certified_returns}

    {examples_iris}
    >>> from skrobust.certification import bounds
    >>> bool(bounds.certify(clf, X, y, eps=0.05, method="ibp").mean() > 0.5)
    True
    """
    args = (eps, norm, bounds, method, batch_size, feature_mask, direction, stats)
    problem = Problem(estimator, X, *args)
    labels = problem.labels(y)
    out = [certify_rows(problem, labels, rows).cpu() for rows in problem.batches()]
    return torch.cat(out).numpy() if out else np.zeros(0, dtype=bool)


@Substitution(**SHARED_DOCS)
def certified_radius(
    estimator,
    X,
    y=None,
    *,
    norm="linf",
    bounds=None,
    method="crown",
    feature_mask=None,
    direction=None,
    max_eps=1.0,
    tol=1e-3,
    batch_size="auto",
    stats=None,
):
    """Bound propagation's certified radii, by bisection on ``eps``.

    The family behind :func:`skrobust.certification.certified_radius` (see
    there). Each sample's radius is the largest ``eps`` (to ``tol``, at most
    ``max_eps``) at which :func:`certify` succeeds; all samples are bisected
    together, one bound computation per step. NaN where no radius is
    certified: the sample is misclassified (``y`` given) or on a tie of
    its top classes.

    {radius_returns}

    {examples_breast_cancer}
    >>> from skrobust.certification import bounds
    >>> model = model.fit(X, y)
    >>> radius = bounds.certified_radius(model, X[:3], method="ibp", max_eps=5.0)
    >>> bool((radius > 0).all())  # in raw units, through the scaler
    True
    """
    for name, value in (("max_eps", max_eps), ("tol", tol)):
        if not isinstance(value, numbers.Real) or not value > 0:
            raise ValueError(f"{name} must be a positive number; got {value!r}.")
    args = (None, norm, bounds, method, batch_size, feature_mask, direction, stats)
    problem = Problem(estimator, X, *args)  # eps None: a unit budget per feature
    labels = problem.labels(y)
    n_steps = max(1, int(np.ceil(np.log2(max_eps / tol))))
    out = []
    for rows in problem.batches():
        x = problem.x[rows]

        def ok(eps, rows=rows):
            return certify_rows(problem, labels, rows, eps)

        zero = x.new_zeros(len(x))
        correct = ok(zero)
        low, high = zero, zero + max_eps
        top = ok(high)
        low = torch.where(top, high, low)
        for _ in range(n_steps):
            mid = (low + high) / 2
            better = ok(mid) & ~top
            low, high = torch.where(better, mid, low), torch.where(better, high, mid)
        out.append(torch.where(correct, low, torch.nan).double().cpu())
    return torch.cat(out).numpy() if out else np.zeros(0)
