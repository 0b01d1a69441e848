"""Lipschitz certificates: ``radius = margin / (Lipschitz constant of the margin)``."""

import numbers

import numpy as np

from ..._models import as_differentiable
from ..._torch import torch
from ...utils import encode_labels
from ._layers import NORMS
from ._network import NetworkBound


def _check_norm(norm):
    if norm not in NORMS:
        raise ValueError(f"norm must be one of {NORMS}; got {norm!r}.")


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

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.linear_model import LogisticRegression
    >>> from skrobust.certification import lipschitz_constant
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = LogisticRegression(max_iter=1000).fit(X, y)
    >>> K = lipschitz_constant(clf, margins=True)
    >>> bool(np.isclose(K[0, 1], np.linalg.norm(clf.coef_[0] - clf.coef_[1])))
    True
    """
    _check_norm(norm)
    network = _network(as_differentiable(estimator), input_shape)
    if margins:
        return network.pairwise(norm).numpy()
    return float(network.constant(norm))


def _radius(estimator, X, y, *, norm, eps, batch_size):
    """Radii in raw units (``eps=None``) or in units of the scaled norm."""
    _check_norm(norm)
    view = as_differentiable(estimator)
    x = view.to_input(X)
    if x.dim() < 2:
        raise ValueError(f"X must be 2-d or more (samples first); got {x.dim()}-d.")
    if not bool(torch.isfinite(x).all()):
        raise ValueError("X contains NaN or infinity.")
    labels = None
    if y is not None:
        labels = encode_labels(y, view.classes_, n_samples=len(x))
    scale = None
    if eps is not None:
        scale = torch.as_tensor(
            np.broadcast_to(np.asarray(eps, dtype=float), x.shape[1:]).copy(),
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


def certified_radius(estimator, X, y=None, *, norm="l2", batch_size=1024):
    """Certified radius of each sample from the margins' Lipschitz constants.

    ``radius = min_k (z_c - z_k) / K[c, k]`` at the predicted class ``c``,
    with ``K`` from :func:`lipschitz_constant`: no perturbation of norm
    below it changes the prediction. One forward pass per sample once the
    constants are known (a global certificate: the input ``bounds`` do not
    tighten it). Exact for linear models (the distance to the nearest
    decision boundary).

    Parameters
    ----------
    estimator : fitted classifier
    X : array-like of shape (n_samples, ...)
    y : array-like of shape (n_samples,), default=None
        True labels: misclassified samples get NaN.
    norm : {"l2", "linf", "l1"}, default="l2"
    batch_size : int, default=1024

    Returns
    -------
    radius : ndarray of shape (n_samples,)
        ``inf`` when no margin can change; NaN for misclassified samples.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.linear_model import LogisticRegression
    >>> from skrobust.certification.lipschitz import certified_radius
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = LogisticRegression(max_iter=1000).fit(X, y)
    >>> radius = certified_radius(clf, X, y)
    >>> bool(np.all(np.isnan(radius) == (clf.predict(X) != y)))
    True
    """
    _check_batch_size(batch_size)
    return _radius(estimator, X, y, norm=norm, eps=None, batch_size=batch_size)


def certify(estimator, X, y, *, eps, norm="l2", batch_size=1024):
    """Whether each sample is certified correct within the ``eps``-ball.

    ``True`` when the prediction is ``y`` and its Lipschitz radius exceeds
    ``eps`` (a per-feature ``eps`` is the ball of the scaled norm
    ``||(x' - x) / eps|| <= 1``, bounded through the network composed with
    the scaling).

    Parameters
    ----------
    estimator : fitted classifier
    X : array-like of shape (n_samples, ...)
    y : array-like of shape (n_samples,)
    eps : float or array-like
        Radius (one value, or one per feature; 0 freezes a feature).
    norm : {"l2", "linf", "l1"}, default="l2"
    batch_size : int, default=1024

    Returns
    -------
    certified : ndarray of bool of shape (n_samples,)

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.linear_model import LogisticRegression
    >>> from skrobust.certification.lipschitz import certify
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = LogisticRegression(max_iter=1000).fit(X, y)
    >>> bool(certify(clf, X, y, eps=0.1).mean() <= clf.score(X, y))
    True
    """
    _check_batch_size(batch_size)
    values = np.asarray(eps, dtype=float)
    if not np.all(np.isfinite(values)) or np.any(values < 0):
        raise ValueError(
            f"eps must be a non-negative finite number or array; got {eps!r}."
        )
    if values.ndim == 0:
        radius = _radius(estimator, X, y, norm=norm, eps=None, batch_size=batch_size)
        threshold = float(values)
    else:
        radius = _radius(estimator, X, y, norm=norm, eps=values, batch_size=batch_size)
        threshold = 1.0
    with np.errstate(invalid="ignore"):
        return np.nan_to_num(radius, nan=-1.0) > threshold


def _check_batch_size(batch_size):
    if not isinstance(batch_size, numbers.Integral) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int; got {batch_size!r}.")
