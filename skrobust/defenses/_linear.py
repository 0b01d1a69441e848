"""The exact robust objective of (binary) logistic regression, in closed form.

For a linear model the worst case of a perturbation ``||delta / s||_p <= 1``
(``s`` the per-feature budget, zero for immutable features) on the margin
between classes ``y`` and ``k`` is ``eps``-free in closed form:
``min_delta (z_y - z_k)(x + delta) = (z_y - z_k)(x) - ||s * (w_y - w_k)||_q``
with ``q`` the dual norm. Training on these worst-case margins is exact
adversarial training for binary logistic regression (Goodfellow et al. 2015)
and the usual tight upper bound for multiclass (each pair's worst case).
"""

import numpy as np
from sklearn.base import clone
from sklearn.decomposition import PCA, IncrementalPCA
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import (
    MaxAbsScaler,
    MinMaxScaler,
    RobustScaler,
    StandardScaler,
)
from sklearn.utils.class_weight import compute_sample_weight

from .._models import NotDifferentiableError, to_torch
from .._torch import torch
from ..utils import encode_labels, fit_weighted

DUAL = {"linf": 1, "l2": 2, "l1": float("inf")}


AFFINE_STEPS = (
    StandardScaler,
    MinMaxScaler,
    MaxAbsScaler,
    RobustScaler,
    PCA,
    IncrementalPCA,
)


def robust_logistic_supported(estimator):
    """Whether ``estimator`` gets the closed-form objective.

    A ``LogisticRegression`` with an l2 (or no) penalty, alone or at the end
    of a pipeline of affine steps (scalers without clipping, PCA).
    """
    steps = [estimator]
    if isinstance(estimator, Pipeline):
        steps = [s for _, s in estimator.steps if s not in (None, "passthrough")]
    *prefix, final = steps
    affine = all(
        isinstance(s, AFFINE_STEPS) and not getattr(s, "clip", False) for s in prefix
    )
    if not (affine and isinstance(final, LogisticRegression)):
        return False
    # scikit-learn >= 1.8 spells the penalty with l1_ratio (0: l2) and C
    penalty = getattr(final, "penalty", "l2")
    l1_ratio = getattr(final, "l1_ratio", None)
    return penalty in ("l2", None, "deprecated") and l1_ratio in (None, 0, 0.0)


def _affine_map(prefix, X):
    """``A`` with ``prefix.transform(x) = A x + c``, or None if not affine."""
    try:
        module = torch.nn.Sequential(
            *(
                to_torch(step, dtype=torch.float64, device="cpu")
                for _, step in prefix.steps
            )
        )
    except NotDifferentiableError:
        return None
    x = torch.tensor(np.asarray(X[:5], dtype=np.float64))
    d = x.shape[1]
    with torch.no_grad():
        c = module(torch.zeros(1, d, dtype=torch.float64))[0]
        A = (module(torch.eye(d, dtype=torch.float64)) - c).T
        if not torch.allclose(module(x), x @ A.T + c, rtol=1e-8, atol=1e-8):
            return None
    return A


def fit_robust_logistic(estimator, X, y, scale, norm, *, sample_weight=None):
    """Fit ``estimator`` (see :func:`robust_logistic_supported`) on worst-case margins.

    Parameters
    ----------
    estimator : LogisticRegression or Pipeline ending in one
        Unfitted; a fitted clone is returned with the robust weights.
    X : ndarray of shape (n_samples, n_features)
    y : array-like of shape (n_samples,)
    scale : ndarray of shape (n_features,)
        Per-feature budget in raw units (zero: immutable).
    norm : {"linf", "l2", "l1"}
    sample_weight : ndarray of shape (n_samples,), default=None
        Weights of the samples' robust losses (times the class weights); the
        starting fit gets them too.

    Returns
    -------
    estimator : fitted estimator of the same kind
    """
    # attributes, classes_, warm start
    fitted = fit_weighted(clone(estimator), X, y, sample_weight)
    if isinstance(fitted, Pipeline):
        prefix = Pipeline(fitted.steps[:-1]) if len(fitted.steps) > 1 else None
        model = fitted.steps[-1][1]
        A = None if prefix is None else _affine_map(prefix, np.asarray(X))
        if prefix is not None and A is None:
            raise ValueError(
                "the pipeline's steps before the classifier are not affine; the "
                "closed-form robust objective does not apply."
            )
        Z = prefix.transform(X) if prefix is not None else np.asarray(X)
    else:
        model, Z, A = fitted, np.asarray(X, dtype=np.float64), None
    Z = torch.tensor(np.asarray(Z, dtype=np.float64))
    classes = model.classes_
    target = torch.as_tensor(encode_labels(y, classes))
    weight = torch.as_tensor(
        compute_sample_weight(model.class_weight, np.asarray(y)), dtype=torch.float64
    )
    if sample_weight is not None:
        weight = weight * torch.as_tensor(sample_weight, dtype=torch.float64)
    s = torch.as_tensor(np.asarray(scale, dtype=np.float64).reshape(-1))
    q = DUAL[norm]
    W = torch.tensor(
        np.ascontiguousarray(model.coef_), dtype=torch.float64, requires_grad=True
    )
    b = torch.tensor(
        np.atleast_1d(model.intercept_),
        dtype=torch.float64,
        requires_grad=bool(model.fit_intercept),
    )
    C = np.inf if getattr(model, "penalty", "l2") is None else model.C

    def objective():
        logits = Z @ W.T + b
        Wx = W if A is None else W @ A  # weights on the raw features
        if W.shape[0] == 1:  # binary: logits [0, d]; the pair (0, 1)
            logits = torch.cat([torch.zeros_like(logits), logits], dim=1)
            Wx = torch.cat([torch.zeros_like(Wx), Wx])
        own = logits.gather(1, target[:, None])
        diff = Wx[None, :, :] - Wx[target][:, None, :]  # (n, K, d)
        worst = (logits - own) + torch.linalg.vector_norm(diff * s, ord=q, dim=2)
        # own class: 0 in the sum
        loss = (weight * torch.logsumexp(worst, dim=1)).sum()
        reg = 0.0 if np.isinf(C) else 0.5 * (W**2).sum() / C
        return loss + reg

    optimizer = torch.optim.LBFGS(
        [W, b] if model.fit_intercept else [W],
        max_iter=max(model.max_iter, 100),
        line_search_fn="strong_wolfe",
        tolerance_grad=1e-9,
        tolerance_change=1e-12,
    )

    def closure():
        optimizer.zero_grad()
        loss = objective()
        loss.backward()
        return loss

    optimizer.step(closure)
    model.coef_ = W.detach().numpy().copy()
    if model.fit_intercept:
        model.intercept_ = b.detach().numpy().copy()
    return fitted
