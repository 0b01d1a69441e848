"""Certificates of fitted estimators: is the true class provably stable?"""

import numbers

import numpy as np

from ..._torch import torch
from ._bounds import Problem


def _certified(margins, labels):
    """A sample is certified when every margin to another class is positive."""
    other = torch.ones_like(margins, dtype=torch.bool)
    other[torch.arange(len(labels), device=labels.device), labels] = False
    return torch.where(other, margins, torch.inf).amin(dim=1) > 0


# cheaper bounds first: only the samples they leave undecided go further
_CASCADE = {
    "ibp": ("ibp",),
    "crown-ibp": ("ibp", "crown-ibp"),
    "crown": ("ibp", "crown-ibp", "crown"),
}


def certify_rows(problem, labels, rows, eps_sample=None):
    """Certificates of the samples ``rows`` (a slice), skipping decided ones.

    Misclassified samples are never bounded; each method only sees the
    samples the cheaper ones before it leave uncertified (CROWN methods keep
    the better of their bound and IBP's, so the result is the same).
    """
    x, y = problem.x[rows], labels[rows]
    if problem.method == "ibp":  # as cheap as the forward pass that would skip
        todo = torch.arange(len(x), device=x.device)
    else:
        with problem.view.evaluating(), torch.no_grad():
            todo = torch.nonzero(problem.view(x).argmax(dim=1) == y).flatten()
    result = torch.zeros(len(x), dtype=torch.bool, device=x.device)
    start = rows.start or 0
    for method in _CASCADE[problem.method]:
        if not len(todo):
            break
        sub_eps = None if eps_sample is None else eps_sample[todo]
        margins = problem.margins(y[todo], todo + start, sub_eps, method)
        ok = _certified(margins, y[todo])
        result[todo[ok]] = True
        todo = todo[~ok]
    return result


def certify(
    estimator, X, y, *, eps, norm="linf", bounds=None, method="crown", batch_size=256
):
    """Whether each sample is certified correct within the ``eps``-ball.

    ``True`` at sample ``x`` proves that the estimator predicts ``y`` at
    every point of the ball around ``x`` (cut by ``bounds``): the lower bound
    of every margin ``z_y - z_k`` is positive (see :func:`margin_bounds`). A
    ``False`` proves nothing: the sample may be robust or not. A sample
    misclassified at ``x`` itself is never certified.

    Parameters
    ----------
    estimator : fitted classifier
        Anything :func:`skrobust.as_differentiable` accepts, made of layers
        with bound rules (see :func:`bound_layer`).
    X : array-like of shape (n_samples, ...)
    y : array-like of shape (n_samples,)
        True labels.
    eps : float or array-like
        Radius of the ball (one value or one per feature).
    norm : {"linf", "l2", "l1"}, default="linf"
    bounds : (low, high) or None, default=None
        Valid input domain.
    method : {"ibp", "crown-ibp", "crown"}, default="crown"
        How the margins are bounded (see :func:`interval_bounds`); CROWN
        methods keep the better of their bound and IBP's.
    batch_size : int, default=256

    Returns
    -------
    certified : ndarray of bool of shape (n_samples,)

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.linear_model import LogisticRegression
    >>> from skrobust.certification import certify
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = LogisticRegression(max_iter=1000).fit(X, y)
    >>> certified = certify(clf, X, y, eps=0.05)
    >>> bool(certified.mean() <= clf.score(X, y))
    True
    """
    problem = Problem(
        estimator,
        X,
        eps=eps,
        norm=norm,
        bounds=bounds,
        method=method,
        batch_size=batch_size,
    )
    labels = problem.labels(y)
    out = [certify_rows(problem, labels, rows).cpu() for rows in problem.batches()]
    return torch.cat(out).numpy() if out else np.zeros(0, dtype=bool)


def certified_radius(
    estimator,
    X,
    y,
    *,
    norm="linf",
    bounds=None,
    method="crown",
    max_eps=1.0,
    tol=1e-3,
    batch_size=256,
):
    """The largest certified radius of each sample, by bisection on ``eps``.

    Each sample's radius is the largest ``eps`` (to ``tol``) at which
    :func:`certify` succeeds: every returned radius is certified, so it is a
    lower bound of the true robustness radius. All samples are bisected
    together, one bound computation per step.

    Parameters
    ----------
    estimator : fitted classifier
    X : array-like of shape (n_samples, ...)
    y : array-like of shape (n_samples,)
        True labels.
    norm : {"linf", "l2", "l1"}, default="linf"
    bounds : (low, high) or None, default=None
        Valid input domain.
    method : {"ibp", "crown-ibp", "crown"}, default="crown"
    max_eps : float, default=1.0
        Largest radius tried (samples certified there get ``max_eps``).
    tol : float, default=1e-3
        Width of the final bisection interval.
    batch_size : int, default=256

    Returns
    -------
    radius : ndarray of shape (n_samples,)
        Certified radius; ``-1`` for samples misclassified at ``x`` itself
        (no certificate), so ``(radius >= r).mean()`` is the certified
        accuracy at ``r``.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.linear_model import LogisticRegression
    >>> from skrobust.certification import certified_radius
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = LogisticRegression(max_iter=1000).fit(X, y)
    >>> radius = certified_radius(clf, X[:4], y[:4], max_eps=2.0)
    >>> bool((radius > 0).all())
    True
    """
    for name, value in (("max_eps", max_eps), ("tol", tol)):
        if not isinstance(value, numbers.Real) or not value > 0:
            raise ValueError(f"{name} must be a positive number; got {value!r}.")
    problem = Problem(
        estimator,
        X,
        eps=None,
        norm=norm,
        bounds=bounds,
        method=method,
        batch_size=batch_size,
    )
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
        out.append(torch.where(correct, low, -1.0).double().cpu())
    return torch.cat(out).numpy() if out else np.zeros(0)
