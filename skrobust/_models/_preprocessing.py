"""Exact torch views of scikit-learn's differentiable transformers.

Each converter returns a module computing the transformer's ``transform``
with frozen constants (buffers or gradient-free parameters), so a
``Pipeline`` of them ending in a classifier is differentiable in the raw
features.
"""

import functools

import numpy as np
from sklearn.decomposition import PCA, IncrementalPCA
from sklearn.preprocessing import (
    FunctionTransformer,
    MaxAbsScaler,
    MinMaxScaler,
    Normalizer,
    RobustScaler,
    StandardScaler,
)

from .._torch import torch
from ._base import (
    NotDifferentiableError,
    TorchFunction,
    check_converted_fitted,
    constant,
    to_torch,
)
from ._linear import frozen_linear


def _optional(array, *, dtype, device):
    return None if array is None else constant(array, dtype=dtype, device=device)


class Standardize(torch.nn.Module):
    """Per-feature ``(x - center) / scale`` with frozen constants.

    Parameters
    ----------
    center, scale : torch.Tensor of shape (n_features,) or None
        ``None`` skips that operation (``with_mean=False`` and the like).

    Examples
    --------
    >>> import torch
    >>> Standardize(torch.tensor([1.0]), torch.tensor([2.0]))(torch.tensor([[3.0]]))
    tensor([[1.]])
    """

    def __init__(self, center=None, scale=None):
        super().__init__()
        self.register_buffer("center", center)
        self.register_buffer("scale", scale)

    def forward(self, x):
        if self.center is not None:
            x = x - self.center
        if self.scale is not None:
            x = x / self.scale
        return x


class Rescale(torch.nn.Module):
    """Per-feature ``x * scale + shift``, optionally clipped to ``[low, high]``.

    Parameters
    ----------
    scale, shift : torch.Tensor of shape (n_features,)
    clip : tuple of float or None
        ``(low, high)`` to clamp the output to (``MinMaxScaler(clip=True)``).

    Examples
    --------
    >>> import torch
    >>> Rescale(torch.tensor([2.0]), torch.tensor([1.0]), clip=(0, 2))(
    ...     torch.tensor([[0.0], [3.0]]))
    tensor([[1.],
            [2.]])
    """

    def __init__(self, scale, shift, clip=None):
        super().__init__()
        self.register_buffer("scale", scale)
        self.register_buffer("shift", shift)
        self.clip = None if clip is None else tuple(float(c) for c in clip)

    def forward(self, x):
        x = x * self.scale + self.shift
        return x if self.clip is None else x.clamp(*self.clip)


class Normalize(torch.nn.Module):
    """Scale each row to unit ``l1``, ``l2`` or ``max`` norm, as ``Normalizer``.

    Rows whose norm is (near) zero are left unchanged, like scikit-learn.

    Parameters
    ----------
    norm : {"l1", "l2", "max"}

    Examples
    --------
    >>> import torch
    >>> Normalize("l1")(torch.tensor([[1.0, -3.0], [0.0, 0.0]]))
    tensor([[ 0.2500, -0.7500],
            [ 0.0000,  0.0000]])
    """

    def __init__(self, norm="l2"):
        super().__init__()
        if norm not in ("l1", "l2", "max"):
            raise ValueError(f"norm must be 'l1', 'l2' or 'max'; got {norm!r}")
        self.norm = norm

    def forward(self, x):
        order = {"l1": 1, "l2": 2, "max": float("inf")}[self.norm]
        norms = torch.linalg.vector_norm(x, ord=order, dim=1, keepdim=True)
        # sklearn's _handle_zeros_in_scale: near-zero norms become 1.
        tiny = 10 * torch.finfo(norms.dtype).eps
        return x / torch.where(norms < tiny, torch.ones_like(norms), norms)

    def extra_repr(self):
        return f"norm={self.norm!r}"


# each scaler's fitted (centre, scale) and the flags that switch them on
_CENTRE_SCALE = {
    StandardScaler: (("mean_", "with_mean"), ("scale_", "with_std")),
    RobustScaler: (("center_", "with_centering"), ("scale_", "with_scaling")),
}


@to_torch.register(StandardScaler)
@to_torch.register(RobustScaler)
def _centre_scale(estimator, *, dtype, device):
    check_converted_fitted(estimator)
    kind = next(k for k in _CENTRE_SCALE if isinstance(estimator, k))
    # mean_ is fitted even when with_mean=False: follow the flags.
    centre, scale = (
        getattr(estimator, name) if getattr(estimator, flag) else None
        for name, flag in _CENTRE_SCALE[kind]
    )
    return Standardize(
        _optional(centre, dtype=dtype, device=device),
        _optional(scale, dtype=dtype, device=device),
    )


@to_torch.register(MaxAbsScaler)
def _max_abs_scaler(estimator, *, dtype, device):
    check_converted_fitted(estimator, "scale_")
    return Standardize(None, constant(estimator.scale_, dtype=dtype, device=device))


@to_torch.register(MinMaxScaler)
def _min_max_scaler(estimator, *, dtype, device):
    check_converted_fitted(estimator, "scale_")
    return Rescale(
        constant(estimator.scale_, dtype=dtype, device=device),
        constant(estimator.min_, dtype=dtype, device=device),
        clip=estimator.feature_range if estimator.clip else None,
    )


@to_torch.register(PCA)
@to_torch.register(IncrementalPCA)
def _pca(estimator, *, dtype, device):
    """A frozen ``nn.Linear``: ``(x - mean_) @ components_.T``, whitened."""
    check_converted_fitted(estimator, "components_")
    components = np.asarray(estimator.components_, dtype=np.float64)
    mean = np.asarray(estimator.mean_, dtype=np.float64)
    scale = np.ones(len(components))
    if estimator.whiten:  # as _BasePCA._transform: sqrt(variance), floored at eps
        scale = np.sqrt(np.asarray(estimator.explained_variance_, dtype=np.float64))
        floor = np.finfo(np.asarray(estimator.explained_variance_).dtype).eps
        scale[scale < floor] = floor
    weight = components / scale[:, None]
    bias = -(mean @ components.T) / scale
    return frozen_linear(weight, bias, dtype=dtype, device=device)


@to_torch.register(Normalizer)
def _normalizer(estimator, *, dtype, device):
    check_converted_fitted(estimator)
    return Normalize(estimator.norm)


def _torch_twin(func):
    """The torch function named like a ufunc (numpy or scipy.special), or ``func``."""
    if isinstance(func, np.ufunc):
        for namespace in (torch, torch.special):
            if callable(getattr(namespace, func.__name__, None)):
                return getattr(namespace, func.__name__)
    return func


@to_torch.register(FunctionTransformer)
def _function_transformer(estimator, *, dtype, device):
    """``FunctionTransformer`` of a function that works on torch tensors.

    ``func=None`` is the identity and a ufunc (``np.log1p``,
    ``scipy.special.expit``, ...) maps to the torch function of the same
    name. Any other callable is used as is if, called on a probe tensor that
    requires grad, it returns such a tensor.
    """
    check_converted_fitted(estimator)
    if estimator.func is None:
        return torch.nn.Identity()
    func = _torch_twin(estimator.func)
    kw_args = dict(estimator.kw_args or {})
    if kw_args:
        func = functools.partial(func, **kw_args)
    _check_torch_compatible(estimator, func, dtype=dtype, device=device)
    return TorchFunction(func)


def _check_torch_compatible(estimator, func, *, dtype, device):
    """Call ``func`` on a probe tensor; it must return a tensor with a graph."""
    n_features = int(getattr(estimator, "n_features_in_", 1))
    name = getattr(estimator.func, "__name__", repr(estimator.func))
    with torch.inference_mode(False), torch.enable_grad():
        probe = torch.linspace(0.25, 0.75, 2 * n_features, device=device)
        probe = probe.to(dtype or torch.float64).reshape(2, n_features)
        probe.requires_grad_(True)
        error = None
        try:
            out = func(probe)
        except Exception as exc:  # any failure means "not torch-compatible"
            error = exc
            reason = f"calling it on a torch tensor raised {type(exc).__name__}: {exc}"
        else:
            if isinstance(out, torch.Tensor) and out.requires_grad:
                return
            reason = f"it returned a {type(out).__name__} that carries no gradient"
    raise NotDifferentiableError(
        f"FunctionTransformer(func={name}) is not differentiable in torch: "
        f"{reason}. Its function must accept and return torch tensors (use "
        "torch operations, e.g. torch.log1p instead of np.log1p, or a numpy "
        "ufunc, which is mapped to its torch twin)."
    ) from error
