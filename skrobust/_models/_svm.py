"""Exact torch views of scikit-learn's kernel SVMs (``SVC``, ``NuSVC``)."""

import numpy as np
from sklearn.svm import SVC, NuSVC

from .._torch import torch
from ._base import NotDifferentiableError, check_converted_fitted, constant, to_torch
from ._linear import frozen_linear, linear_layer

KERNELS = ("linear", "rbf", "poly", "sigmoid")


class KernelLayer(torch.nn.Module):
    """Kernel values ``K(x, s)`` between inputs and frozen support vectors.

    Parameters
    ----------
    support_vectors : torch.Tensor of shape (n_SV, n_features)
        Stored as a buffer (a constant, no gradient).
    kernel : {"rbf", "poly", "sigmoid"}
        libsvm's kernel: ``exp(-gamma |x - s|^2)``,
        ``(gamma <x, s> + coef0) ** degree`` or ``tanh(gamma <x, s> + coef0)``.
    gamma, coef0 : float
        Kernel coefficients (the fitted ``_gamma`` and ``coef0``).
    degree : int
        Degree of the polynomial kernel.

    Examples
    --------
    >>> import torch
    >>> layer = KernelLayer(torch.zeros(1, 2), "rbf", gamma=1.0)
    >>> layer(torch.tensor([[1.0, 0.0]]))
    tensor([[0.3679]])
    """

    def __init__(self, support_vectors, kernel, *, gamma, coef0=0.0, degree=3):
        super().__init__()
        if kernel not in ("rbf", "poly", "sigmoid"):
            raise ValueError(f"unsupported kernel {kernel!r}")
        self.register_buffer("support_vectors", support_vectors)
        self.kernel = kernel
        self.gamma = float(gamma)
        self.coef0 = float(coef0)
        self.degree = int(degree)

    def forward(self, x):
        sv = self.support_vectors
        dot = x @ sv.T
        if self.kernel == "rbf":
            sq = (x * x).sum(1, keepdim=True) - 2 * dot + (sv * sv).sum(1)
            return torch.exp(-self.gamma * sq.clamp_min(0))
        inner = self.gamma * dot + self.coef0
        if self.kernel == "poly":
            return inner**self.degree
        return torch.tanh(inner)

    def extra_repr(self):
        return (
            f"n_support_vectors={len(self.support_vectors)}, kernel={self.kernel!r}, "
            f"gamma={self.gamma}, coef0={self.coef0}, degree={self.degree}"
        )


class OvrDecision(torch.nn.Module):
    """scikit-learn's one-vs-rest transform of one-vs-one decision values.

    For each pair ``(i, j)``, ``i < j`` (libsvm's order), a non-negative value
    is a vote for ``i``, a negative one a vote for ``j``; the summed
    confidences ``c`` (``+d`` for ``i``, ``-d`` for ``j``) are squashed by
    ``c / (3 (|c| + 1))`` and added to the votes, exactly as
    ``sklearn.utils.multiclass._ovr_decision_function``. The votes are
    piecewise constant: gradients flow only through the confidence term.

    Parameters
    ----------
    n_classes : int
        Number of classes; the input has ``n_classes (n_classes - 1) / 2``
        columns.
    device : torch.device, default=None
        Device of the module's (boolean) buffers.

    Examples
    --------
    >>> import torch
    >>> OvrDecision(3)(torch.tensor([[1.0, 1.0, 1.0]]))
    tensor([[ 2.2222,  1.0000, -0.2222]])
    """

    def __init__(self, n_classes, *, device=None):
        super().__init__()
        self.n_classes = int(n_classes)
        pairs = [(i, j) for i in range(n_classes) for j in range(i + 1, n_classes)]
        first = torch.zeros(len(pairs), n_classes, dtype=torch.bool, device=device)
        second = torch.zeros_like(first)
        for k, (i, j) in enumerate(pairs):
            first[k, i] = second[k, j] = True
        # Boolean incidence matrices (pair k -> class i, class j), cast to the
        # input's dtype in ``forward`` so the module works in any dtype.
        self.register_buffer("first", first)
        self.register_buffer("second", second)

    def forward(self, dec):
        first = self.first.to(dec.dtype)
        second = self.second.to(dec.dtype)
        positive = (dec >= 0).to(dec.dtype)
        votes = positive @ first + (1 - positive) @ second
        confidence = dec @ (first - second)
        return votes + confidence / (3 * (confidence.abs() + 1))

    def extra_repr(self):
        return f"n_classes={self.n_classes}"


def _dense(array):
    return np.asarray(array.toarray() if hasattr(array, "toarray") else array)


def _ovo_coefficients(estimator):
    """libsvm's one-vs-one decision values as a matrix over support vectors.

    Row ``k`` of the result (pair ``(i, j)``) holds ``dual_coef_[j - 1]`` on
    the support vectors of class ``i`` and ``dual_coef_[i]`` on those of
    class ``j``, zero elsewhere; ``intercept_[k]`` is its bias.
    """
    dual_coef = _dense(estimator.dual_coef_)
    n_classes = len(estimator.classes_)
    start = np.concatenate([[0], np.cumsum(estimator.n_support_)])
    rows = []
    for i in range(n_classes):
        for j in range(i + 1, n_classes):
            row = np.zeros(dual_coef.shape[1])
            row[start[i] : start[i + 1]] = dual_coef[j - 1, start[i] : start[i + 1]]
            row[start[j] : start[j + 1]] = dual_coef[i, start[j] : start[j + 1]]
            rows.append(row)
    return np.array(rows)


@to_torch.register(SVC)
@to_torch.register(NuSVC)
def _svc(estimator, *, dtype, device):
    """Exact logits of ``SVC`` / ``NuSVC`` (linear, rbf, poly, sigmoid kernels).

    Binary: the two logits ``[-d/2, d/2]`` of ``d = decision_function(x)``.
    Multiclass: libsvm's one-vs-one values followed by :class:`OvrDecision`,
    so the logits equal ``decision_function`` with
    ``decision_function_shape="ovr"`` whatever that parameter is. Their
    argmax is ``predict`` when ``break_ties=True`` (and up to vote ties
    otherwise); ``predict_proba`` (Platt scaling) is not their softmax. The
    votes are piecewise constant, so gradients come from the confidence term.
    """
    check_converted_fitted(estimator, "support_vectors_")
    kernel = estimator.kernel
    if callable(kernel) or kernel not in KERNELS:
        name = getattr(kernel, "__name__", kernel)
        raise NotDifferentiableError(
            f"{type(estimator).__name__} with kernel={name!r} has no "
            f"differentiable torch view (supported kernels: {', '.join(KERNELS)})."
        )
    binary = len(estimator.classes_) == 2
    # Public dual_coef_ / intercept_ are already sign-flipped for binary models.
    coef = _dense(estimator.dual_coef_) if binary else _ovo_coefficients(estimator)
    intercept = estimator.intercept_
    support_vectors = _dense(estimator.support_vectors_)
    head = linear_layer if binary else frozen_linear
    if kernel == "linear":  # fold the kernel into one linear layer
        layers = [head(coef @ support_vectors, intercept, dtype=dtype, device=device)]
    else:
        sv = constant(support_vectors, dtype=dtype, device=device)
        layers = [
            KernelLayer(
                sv,
                kernel,
                gamma=estimator._gamma,
                coef0=estimator.coef0,
                degree=estimator.degree,
            ),
            head(coef, intercept, dtype=dtype, device=device),
        ]
    if not binary:
        layers.append(OvrDecision(len(estimator.classes_), device=device))
    return torch.nn.Sequential(*layers)
