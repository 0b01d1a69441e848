"""The differentiable view of a fitted estimator and its converter registry."""

import functools

import numpy as np
from sklearn.utils.validation import check_is_fitted

from .._torch import torch
from ..utils import SHARED_DOCS, Substitution, check_samples
from ._steps import check_columns

BLACK_BOX_HINT = (
    "Attacks and certificates that need only `predict` / `predict_proba` still "
    "work on it: black-box attacks (score-based and decision-based) and "
    "randomized smoothing (skrobust.certification.RandomizedSmoothingClassifier)."
    " To make it differentiable, register a converter with "
    "`@skrobust.to_torch.register(YourEstimator)`."
)


class NotDifferentiableError(TypeError):
    """Raised when an estimator has no differentiable torch view.

    Examples
    --------
    >>> from sklearn.ensemble import RandomForestClassifier
    >>> from skrobust import as_differentiable, NotDifferentiableError
    >>> rf = RandomForestClassifier(n_estimators=2).fit([[0.0], [1.0]], [0, 1])
    >>> try:
    ...     as_differentiable(rf)
    ... except NotDifferentiableError:
    ...     print("no gradient")
    no gradient
    """


class PartiallyDifferentiableWarning(UserWarning):
    """Warned when a pipeline is differentiable only after a non-differentiable step.

    The view then acts on the output of that step (see
    :attr:`DifferentiableModel.preprocess`), not on the raw features.

    Examples
    --------
    >>> import warnings
    >>> from skrobust import PartiallyDifferentiableWarning
    >>> warnings.simplefilter("ignore", PartiallyDifferentiableWarning)
    """


@functools.singledispatch
def to_torch(estimator, *, dtype, device):
    """Convert one fitted estimator into a differentiable ``torch.nn.Module``.

    This is skrobust's extension point (a :func:`functools.singledispatch`
    registry). A transformer converts to the module computing its
    ``transform``; a classifier converts to the module computing its logits
    (an ``(n_samples, n_classes)`` tensor whose softmax is the class
    probability and whose argmax is ``predict``; binary linear models give the
    two logits ``[-d/2, d/2]`` from their decision value ``d``).

    Parameters
    ----------
    estimator : estimator instance
        A fitted estimator.
    dtype : torch.dtype or None
        Floating dtype of the module's constants. ``None`` lets the converter
        choose (``torch.float64`` for scikit-learn models, the parameters'
        dtype for neural networks).
    device : torch.device or None
        Device of the module's constants (``None``: the estimator's own device,
        else the CPU).

    Returns
    -------
    module : torch.nn.Module
        Differentiable in its input; it must not compute weight gradients the
        caller did not ask for, nor modify the estimator.

    Raises
    ------
    NotDifferentiableError
        When no converter is registered for the estimator's type.

    Examples
    --------
    Register a converter for your own estimator:

    >>> import torch
    >>> from sklearn.base import BaseEstimator, TransformerMixin
    >>> import skrobust
    >>> class Doubler(TransformerMixin, BaseEstimator):
    ...     def fit(self, X, y=None):
    ...         return self
    ...     def transform(self, X):
    ...         return 2 * X
    >>> @skrobust.to_torch.register(Doubler)
    ... def _(estimator, *, dtype, device):
    ...     return skrobust.TorchFunction(lambda x: 2 * x)
    >>> skrobust.to_torch(Doubler(), dtype=None, device=None)(torch.ones(1, 2))
    tensor([[2., 2.]])
    """
    raise NotDifferentiableError(
        f"{type(estimator).__name__} has no differentiable torch view, so "
        f"white-box (gradient) tools cannot use it. {BLACK_BOX_HINT}"
    )


class TorchFunction(torch.nn.Module):
    """Wrap a tensor function as a parameter-free ``torch.nn.Module``.

    Parameters
    ----------
    func : callable
        Maps a tensor to a tensor, differentiably.

    Examples
    --------
    >>> import torch
    >>> from skrobust import TorchFunction
    >>> TorchFunction(torch.tanh)(torch.zeros(2))
    tensor([0., 0.])
    """

    def __init__(self, func):
        super().__init__()
        self.func = func

    def forward(self, x):
        return self.func(x)


def constant(array, *, dtype, device):
    """A fitted attribute as a tensor constant (no gradient) of ``dtype``."""
    return torch.as_tensor(np.asarray(array), device=device).to(
        dtype=dtype or torch.float64
    )


@Substitution(**SHARED_DOCS)
class DifferentiableModel:
    """A fitted classifier seen as a differentiable torch function ``x -> logits``.

    Build it with :func:`as_differentiable`. Calling it maps a tensor of inputs
    (in the space given by :attr:`preprocess`: the raw features unless a
    pipeline holds a non-differentiable step) to an ``(n_samples, n_classes)``
    tensor of logits ordered as :attr:`classes_`: their argmax is the
    estimator's ``predict`` and their softmax its ``predict_proba`` (for
    models whose probabilities are a softmax of a decision function).

    Parameters
    ----------
    module : torch.nn.Module
        The composed torch module. For neural networks it shares the
        estimator's parameters (no copy).
    classes : ndarray of shape (n_classes,)
        The estimator's ``classes_``.
    device : torch.device
        Where the module's parameters live and inputs are sent.
    dtype : torch.dtype
        Floating dtype inputs are cast to.
    input_shape : tuple of int or None
        Shape of one sample in the view's input space, if known.
    preprocess : callable or None
        ``None`` when the view acts on the estimator's raw input. Otherwise a
        function mapping raw ``X`` to the view's input space (the leading,
        non-differentiable part of a pipeline).
    space : str
        Human-readable description of the input space.
    estimator : estimator instance
        The estimator this view was built from.
    codec : TabularCodec or None
        For a pipeline reading raw tabular data (its first step a
        ``ColumnTransformer`` or an encoder): maps raw ``X`` to the view's
        working matrix (numbers, and one-hot vectors of categories) and back
        (``codec.decode``). It is then also :attr:`preprocess`.

    {examples_iris}
    >>> from skrobust import as_differentiable
    >>> view = as_differentiable(clf)
    >>> view.logits(X[:2]).shape
    (2, 3)
    """

    def __init__(
        self,
        module,
        classes,
        *,
        device,
        dtype,
        input_shape=None,
        preprocess=None,
        space="raw input features",
        estimator=None,
        codec=None,
    ):
        self.module = module
        self.classes_ = np.asarray(classes)
        self.device = torch.device(device)
        self.dtype = dtype
        self.input_shape = None if input_shape is None else tuple(input_shape)
        self.preprocess = preprocess
        self.space = space
        self.estimator = estimator
        self.codec = codec

    @property
    def n_classes(self):
        """Number of classes (columns of the logits)."""
        return len(self.classes_)

    def __call__(self, x):
        """Logits of a tensor ``x`` already in the view's input space."""
        return self.module(x)

    def __repr__(self):
        return (
            f"DifferentiableModel({type(self.estimator).__name__}, "
            f"n_classes={self.n_classes}, device={self.device}, "
            f"dtype={self.dtype}, space={self.space!r})"
        )

    def evaluating(self):
        """Context: eval mode and frozen parameters, restored on exit.

        Inside it the module behaves deterministically (dropout off, batch
        norm statistics frozen) and no weight gradient is computed, so input
        gradients are as cheap as they can be. Every module's ``training``
        flag and every parameter's ``requires_grad`` are put back as they
        were, even on error.
        """
        return _Evaluating(self)

    def to_input(self, X, *, in_space=False):
        """``X`` (array-like or DataFrame) as a tensor in the view's space.

        Applies :attr:`preprocess` when set (unless ``in_space``: ``X`` is
        then already in the view's space, e.g. an attack's output), and casts
        to :attr:`dtype` on :attr:`device`. Never modifies ``X``.
        """
        if self.preprocess is not None and not in_space:
            X = self.preprocess(X)
        if hasattr(X, "toarray"):
            X = X.toarray()
        X = np.asarray(X)
        if not np.issubdtype(X.dtype, np.number) and X.dtype != bool:
            raise TypeError(
                f"the view's input must be numeric; got dtype {X.dtype}. "
                "Encode non-numeric columns in a pipeline step first."
            )
        # a copy in any case: also reads reversed / strided views
        return torch.tensor(
            np.ascontiguousarray(X), device=self.device, dtype=self.dtype
        )

    def to_samples(self, X):
        """``X`` as a checked batch of samples (see :meth:`to_input`).

        Certificates need what a clear error can say: samples first (2-d or
        more), one sample shaped as the model expects, and every value finite
        in the view's dtype (a float64 ``1e39`` is ``inf`` in float32).

        {examples_iris}
        >>> from skrobust import as_differentiable
        >>> view = as_differentiable(clf)
        >>> tuple(view.to_samples(X[:2]).shape)
        (2, 4)
        """
        if self.codec is None and self.estimator is not None:
            check_columns(self.estimator, X)  # reordered columns: sklearn's error
        x = self.to_input(X)
        if x.dim() < 2:
            raise ValueError(f"X must be 2-d or more (samples first); got {x.dim()}-d.")
        check_samples(x)  # scikit-learn's error for 0 rows
        if self.input_shape is not None and tuple(x.shape[1:]) != self.input_shape:
            raise ValueError(
                f"X has samples of shape {tuple(x.shape[1:])}, but the model "
                f"expects {self.input_shape}: reshape X to "
                f"{(len(x), *self.input_shape)}, as it was fitted."
            )
        if not bool(torch.isfinite(x).all()):
            raise ValueError(
                f"X contains NaN or infinity (in the model's dtype {self.dtype}: "
                "values beyond its range overflow to inf when cast); impute or "
                "drop them (a SimpleImputer in front of the model) and rescale "
                "values beyond the dtype's range."
            )
        return x

    def logits(self, X, *, in_space=False, batch_size=1024):
        """Logits of ``X`` as a numpy array (no gradient, eval mode).

        ``in_space=True`` takes ``X`` already in the view's input space.
        """
        x = self.to_input(X, in_space=in_space)
        with self.evaluating(), torch.inference_mode():
            out = [self(x[i : i + batch_size]) for i in range(0, len(x), batch_size)]
        return torch.cat(out).cpu().numpy() if out else np.empty((0, self.n_classes))

    def predict(self, X, *, in_space=False, batch_size=1024):
        """Predicted labels (values of :attr:`classes_`): argmax of the logits.

        Equals the estimator's ``predict`` (up to exact ties), and also works
        on inputs in the view's space (``in_space=True``), such as attacks'
        outputs for a pipeline split by a non-differentiable step. It never
        goes through the estimator's own ``predict``, so caches (skorch's
        ``EpochScoring``) cannot stand in for it.
        """
        logits = self.logits(X, in_space=in_space, batch_size=batch_size)
        return self.classes_[logits.argmax(axis=1)]


_TRAIN = torch.nn.Module.train
_PARAMETER = torch.nn.Parameter  # never lazy


class _Evaluating:
    """The context of :meth:`DifferentiableModel.evaluating` (a class, not a
    generator: it opens on every attack call, and costs less so)."""

    __slots__ = ("view", "modules", "params")

    def __init__(self, view):
        self.view = view

    def __enter__(self):
        modules, stack = [], [self.view.module]
        while stack:  # the modules' own dictionaries: faster than modules()
            m = stack.pop()
            modules.append((m, m.training))
            stack.extend(c for c in m._modules.values() if c is not None)
        # lazy parameters (materialized by a first forward) cannot be touched
        params = [
            p
            for m, _ in modules
            for p in m._parameters.values()
            if p is not None
            and p.requires_grad
            and (type(p) is _PARAMETER or not is_lazy(p))
        ]
        self.modules, self.params = modules, params
        try:
            if not any(training for _, training in modules):
                pass
            elif all(type(m).train is _TRAIN for m, _ in modules):
                for m, _ in modules:  # what eval() does, without its recursion
                    object.__setattr__(m, "training", False)
            else:  # a module with its own train()
                self.view.module.eval()
            for p in params:
                p.requires_grad_(False)
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self.view

    def __exit__(self, *exc_info):
        for m, training in self.modules:
            if m.training != training:
                object.__setattr__(m, "training", training)
        for p in self.params:
            p.requires_grad_(True)
        return False


def is_lazy(tensor):
    """Whether ``tensor`` is a lazy module's parameter or buffer, not yet built."""
    return torch.nn.parameter.is_lazy(tensor)


def materialize(module, example):
    """Build a module's lazy parameters (``nn.LazyLinear``...) with one dry forward.

    Lazy modules learn their input sizes from their first call; until then
    their parameters cannot be read, frozen or bounded. ``module`` runs once
    on the first sample of ``example``, in eval mode and without gradients
    (no batch norm statistic moves); training flags are restored. A module
    without lazy parts is left alone.

    Parameters
    ----------
    module : torch.nn.Module
    example : torch.Tensor of shape (n_samples, ...)
        Inputs of the right shape, dtype and device.

    Returns
    -------
    module : torch.nn.Module
        The same module.

    Examples
    --------
    >>> import torch
    >>> from skrobust._models import materialize
    >>> net = torch.nn.Sequential(torch.nn.LazyLinear(3))
    >>> materialize(net, torch.zeros(2, 5))[0].weight.shape
    torch.Size([3, 5])
    """
    lazy = any(is_lazy(t) for t in (*module.parameters(), *module.buffers()))
    if not lazy or len(example) == 0:
        return module
    modes = [(m, m.training) for m in module.modules()]
    try:
        module.eval()
        with torch.no_grad():
            module(example[:1])
    finally:
        for m, flag in modes:
            m.training = flag
    return module


def check_converted_fitted(estimator, attributes=None):
    """``check_is_fitted`` with a message aimed at attack and certificate users."""
    try:
        check_is_fitted(estimator, attributes)
    except Exception as exc:  # NotFittedError or TypeError (not an estimator)
        raise type(exc)(
            f"{exc} A differentiable view needs a fitted estimator: call "
            f"`fit` on {type(estimator).__name__} first, or give an attack an "
            "unfitted estimator and call the attack's `fit(X, y)` to train it."
        ) from exc
