"""Lipschitz certificates: ``radius = margin / (Lipschitz constant of the margin)``."""

import numbers

import numpy as np

from ..._models import as_differentiable
from ..._threat import check_eps, check_norm, resolve_constraints
from ..._torch import torch
from ...utils import SHARED_DOCS, Substitution, encode_labels
from ._network import NetworkBound

METHODS = ("lipschitz",)
"""The method name of this family in :func:`skrobust.certification.certify`."""


def _network(view, input_shape=None, x=None, eps=None):
    shape = input_shape or view.input_shape
    if shape is None and x is not None:
        shape = tuple(x.shape[1:])
    if shape is None:
        raise ValueError(
            "the model does not record the shape of its inputs; pass "
            "`input_shape` (one sample's shape) or fit it as a "
            "skrobust.SkorchClassifier."
        )
    return NetworkBound(view, tuple(shape), eps=eps)


@Substitution(**SHARED_DOCS)
def lipschitz_constant(estimator, *, norm="l2", margins=False, input_shape=None):
    """Upper bound of the Lipschitz constant of a network's logits or margins.

    The network (the differentiable view of ``estimator``, see
    :func:`skrobust.as_differentiable`: skorch nets, ``MLPClassifier``,
    linear models, and pipelines of scalers / ``PCA`` before them, whose
    constants are included) is cut into affine runs and nonlinear layers.
    Each affine run is bounded by a certified upper bound of its operator
    norm (the spectral norm of the operator itself: convolutions as
    convolutions, not reshaped kernels), each activation by its constant
    (ReLU, tanh, GroupSort: 1; sigmoid: 1/4), and the constants multiply. A
    margin ``z_j - z_k`` uses the last layer exactly: ``||w_j - w_k||_q``
    times the constant of what comes before, never more than ``sqrt(2)``
    times the logits' constant. On a linear model the margin constants are
    exact.

    Parameters
    ----------
    estimator : fitted classifier
        Anything :func:`skrobust.as_differentiable` accepts, made of affine
        layers and activations with a known constant.
    norm : {"l2", "linf", "l1"}, default="l2"
        The norm of the input perturbation (and of the logits).
    margins : bool, default=False
        Return the matrix of the margins' constants instead of the logits'.
    input_shape : tuple of int, default=None
        One sample's shape, when the model does not record it.

    Returns
    -------
    constant : float or ndarray of shape (n_classes, n_classes)
        ``||z(a) - z(b)||_p <= constant * ||a - b||_p``; with ``margins``,
        ``|m_jk(a) - m_jk(b)| <= constant[j, k] * ||a - b||_p`` for the
        margin ``m_jk = z_j - z_k`` (zero diagonal).

    Raises
    ------
    TypeError
        For a layer with no known constant (the message names it).

    {examples_iris}
    >>> import numpy as np
    >>> from skrobust.certification import lipschitz_constant
    >>> K = lipschitz_constant(clf, margins=True)
    >>> bool(np.isclose(K[0, 1], np.linalg.norm(clf.coef_[0] - clf.coef_[1])))
    True
    """
    check_norm(norm)
    network = _network(as_differentiable(estimator), input_shape)
    if margins:
        return network.pairwise(norm).numpy()
    return float(network.constant(norm))


def _radius(estimator, X, y, *, norm, eps, batch_size, bounds=None, direction=None):
    """Radii in raw units (``eps=None``) or in units of the scaled norm.

    ``bounds`` and ``direction`` only shrink the set, so they are not used;
    they are checked as every certificate checks them (valid, X inside).
    """
    check_norm(norm)
    view = as_differentiable(estimator)
    x = view.to_samples(X)
    if bounds is not None or direction is not None:
        params = {"bounds": bounds, "direction": direction}
        columns = getattr(X, "columns", None)
        resolve_constraints(params, tuple(x.shape[1:]), columns).check_inside(x)
    labels = None
    if y is not None:
        labels = encode_labels(y, view.classes_, n_samples=len(x))
    scale = None
    if eps is not None:
        scale = torch.as_tensor(
            np.array(eps, dtype=float).reshape(x.shape[1:]),
            dtype=view.dtype,
            device=view.device,
        )
    network = _network(view, None, x, scale)
    K = network.pairwise(norm).to(view.device)
    radius, pred = [], []
    for start in range(0, len(x), batch_size):
        scores = network.scores(x[start : start + batch_size]).double()
        top = scores.argmax(dim=1)
        margins = scores.gather(1, top[:, None]) - scores
        constants = K[top].to(scores)
        # a margin with a zero constant never moves
        ratio = torch.where(constants > 0, margins / constants, torch.inf)
        ratio.scatter_(1, top[:, None], torch.inf)
        radius.append(ratio.amin(dim=1).cpu())
        pred.append(top.cpu())
    if not radius:
        return np.zeros(0)
    radius = torch.cat(radius).numpy()
    if labels is not None:
        radius = np.where(torch.cat(pred).numpy() == labels, radius, np.nan)
    return radius


@Substitution(**SHARED_DOCS)
def certified_radius(
    estimator,
    X,
    y=None,
    *,
    norm="l2",
    bounds=None,
    method="lipschitz",
    feature_mask=None,
    direction=None,
    max_eps=None,
    tol=None,
    batch_size="auto",
):
    """Certified radius of each sample from the margins' Lipschitz constants.

    ``radius = min_k (z_c - z_k) / K[c, k]`` at the predicted class ``c``,
    with ``K`` from :func:`lipschitz_constant`: no perturbation of norm
    below it changes the prediction. One forward pass per sample once the
    constants are known. Exact for linear models (the distance to the
    nearest decision boundary). The family of
    ``certified_radius(..., method="lipschitz")``.

    Parameters
    ----------
    estimator : fitted classifier
    X : array-like of shape (n_samples, ...)
    y : array-like of shape (n_samples,), default=None
        True labels: misclassified samples get NaN.
    norm : {"l2", "linf", "l1"}, default="l2"
    bounds : (low, high) or None, default=None
        Not used: the certificate is global (the domain can only shrink the
        set, so it stays sound); checked (valid bounds, X inside them).
    method : {"lipschitz"}, default="lipschitz"
    feature_mask : array-like, default=None
        Features that may change; the others are frozen, and the constants
        are those of the network restricted to the free features.
    direction : array-like or dict, default=None
        Not used (a direction only shrinks the set); checked.
    max_eps : float, default=None
        Report larger radii as ``max_eps`` (``None``: no cap).
    tol : float, default=None
        Not used (the radius is a closed form).
    batch_size : int or "auto", default="auto"
        Samples per forward pass (``"auto"``: 1024).

    Returns
    -------
    radius : ndarray of shape (n_samples,)
        ``inf`` when no margin can change; NaN for misclassified samples.

    {examples_iris}
    >>> import numpy as np
    >>> from skrobust.certification.lipschitz import certified_radius
    >>> radius = certified_radius(clf, X, y)
    >>> bool(np.all(np.isnan(radius) == (clf.predict(X) != y)))
    True
    """
    _check_method(method)
    batch_size = _batch_size(batch_size)
    threat = {"bounds": bounds, "direction": direction}
    eps = None
    if feature_mask is not None:
        eps = _scale(X, 1.0, feature_mask)
    radius = _radius(
        estimator, X, y, norm=norm, eps=eps, batch_size=batch_size, **threat
    )
    if max_eps is not None:
        radius = np.where(np.isnan(radius), radius, np.minimum(radius, max_eps))
    return radius


@Substitution(**SHARED_DOCS)
def certify(
    estimator,
    X,
    y,
    *,
    eps,
    norm="l2",
    bounds=None,
    method="lipschitz",
    feature_mask=None,
    direction=None,
    batch_size="auto",
):
    """Whether each sample is certified correct within the ``eps``-ball.

    ``True`` when the prediction is ``y`` and its Lipschitz radius exceeds
    ``eps``. A per-feature ``eps`` (an array, a ``{column: eps}`` dict or a
    ``feature_mask``) is the ball of the scaled norm ``||(x' - x) / eps||
    <= 1``, bounded through the network composed with the scaling. The
    family of ``certify(..., method="lipschitz")``.

    Parameters
    ----------
    estimator : fitted classifier
    X : array-like of shape (n_samples, ...)
    y : array-like of shape (n_samples,)
    eps : float, array-like or dict
        Radius (one value, one per feature, or ``{column: eps}``).
    norm : {"l2", "linf", "l1"}, default="l2"
    bounds, direction : default=None
        Not used (they only shrink the set: the certificate stays sound);
        checked (valid, X inside the bounds).
    method : {"lipschitz"}, default="lipschitz"
    feature_mask : array-like, default=None
        Features that may change (booleans, indices or column names).
    batch_size : int or "auto", default="auto"

    {certified_returns}

    {examples_iris}
    >>> from skrobust.certification.lipschitz import certify
    >>> bool(certify(clf, X, y, eps=0.1).mean() <= clf.score(X, y))
    True
    """
    _check_method(method)
    batch_size = _batch_size(batch_size)
    threat = {"bounds": bounds, "direction": direction}
    check_eps(eps)
    if feature_mask is None and np.ndim(eps) == 0 and not isinstance(eps, dict):
        radius = _radius(
            estimator, X, y, norm=norm, eps=None, batch_size=batch_size, **threat
        )
        threshold = float(eps)
    else:
        scale = _scale(X, eps, feature_mask)
        radius = _radius(
            estimator, X, y, norm=norm, eps=scale, batch_size=batch_size, **threat
        )
        threshold = 1.0
    return np.nan_to_num(radius, nan=-1.0) > threshold


def _scale(X, eps, feature_mask):
    """The per-feature budget of the threat model (zero where frozen)."""
    shape = np.shape(X)[1:]
    params = {"eps": eps, "feature_mask": feature_mask}
    return resolve_constraints(params, shape, getattr(X, "columns", None)).scale


def _check_method(method):
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}; got {method!r}.")


def _batch_size(batch_size):
    if isinstance(batch_size, str) and batch_size == "auto":
        return 1024
    if not isinstance(batch_size, numbers.Integral) or batch_size < 1:
        raise ValueError(
            f"batch_size must be a positive int or 'auto'; got {batch_size!r}."
        )
    return int(batch_size)
