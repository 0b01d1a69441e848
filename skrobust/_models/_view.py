"""``as_differentiable``: the single entry point from an estimator to its view."""

import warnings

from sklearn.pipeline import Pipeline

from .._torch import torch
from ._base import (
    DifferentiableModel,
    NotDifferentiableError,
    PartiallyDifferentiableWarning,
    check_converted_fitted,
    to_torch,
)
from ._columns import input_view
from ._steps import pipeline_steps, unwrap_estimator


def _module_dtype(module):
    for tensor in (*module.parameters(), *module.buffers()):
        if tensor.is_floating_point():
            return tensor.dtype
    return None


def _module_device(module):
    for tensor in (*module.parameters(), *module.buffers()):
        return tensor.device
    return None


def as_differentiable(estimator, *, device=None, dtype=None):
    """Differentiable torch view ``x -> logits`` of a fitted classifier.

    The view is what every white-box attack, certificate and adversarial
    training step in skrobust works with. Supported out of the box: skorch
    ``NeuralNetClassifier`` / ``NeuralNetBinaryClassifier`` and
    :class:`skrobust.SkorchClassifier`; ``LogisticRegression``,
    ``SGDClassifier``, ``LinearSVC``, ``RidgeClassifier``,
    ``LinearDiscriminantAnalysis``, ``MLPClassifier``, ``SVC`` (linear, RBF,
    polynomial and sigmoid kernels); ``Pipeline`` of differentiable
    transformers (``StandardScaler``, ``MinMaxScaler``, ``MaxAbsScaler``,
    ``RobustScaler``, ``PCA``, ``Normalizer``, ``FunctionTransformer`` of
    torch-compatible functions) ending in one of these, so gradients reach
    the raw features; and ``FrozenEstimator`` around any of them. Extend it
    with :func:`to_torch`.

    A pipeline whose leading steps are not differentiable (a
    ``ColumnTransformer`` with a ``OneHotEncoder``, say) is viewed in the
    space after its last non-differentiable step:
    :attr:`DifferentiableModel.preprocess` then maps raw inputs to that
    space and a :class:`PartiallyDifferentiableWarning` says so.

    The view never changes the estimator: it holds no hooks, and the
    parameters' ``requires_grad`` and the modules' training flags are only
    changed inside :meth:`DifferentiableModel.evaluating`, which restores
    them.

    Parameters
    ----------
    estimator : estimator instance
        A fitted classifier (or a pipeline ending in one).
    device : str or torch.device, default=None
        Device of the view. ``None``: the network's own device for skorch
        models, the CPU for scikit-learn models.
    dtype : torch.dtype, default=None
        Floating dtype of the view. ``None``: the network's parameter dtype
        for skorch models, ``torch.float64`` for scikit-learn models (so the
        view matches ``decision_function`` to float64 precision).

    Returns
    -------
    view : DifferentiableModel

    Raises
    ------
    NotDifferentiableError
        If the final estimator has no torch converter (trees, forests,
        nearest neighbours, ...). The message names the black-box tools that
        still work.
    sklearn.exceptions.NotFittedError
        If the estimator is not fitted.

    Examples
    --------
    >>> import torch
    >>> from sklearn.datasets import load_breast_cancer
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.preprocessing import StandardScaler
    >>> from skrobust import as_differentiable
    >>> X, y = load_breast_cancer(return_X_y=True)
    >>> clf = make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y)
    >>> view = as_differentiable(clf)
    >>> x = view.to_input(X[:3]).requires_grad_()
    >>> view(x).shape
    torch.Size([3, 2])
    >>> grad, = torch.autograd.grad(view(x)[:, 1].sum(), x)  # raw-feature gradient
    >>> grad.shape
    torch.Size([3, 30])
    """
    if isinstance(estimator, DifferentiableModel):
        return estimator
    if isinstance(dtype, str):
        dtype = getattr(torch, dtype)
    steps = pipeline_steps(estimator)
    final_name, final = steps[-1]
    check_converted_fitted(final)
    classes = getattr(final, "classes_", None)
    if classes is None:
        raise TypeError(
            f"{type(final).__name__} is not a fitted classifier (it has no "
            "`classes_`); a differentiable view needs one."
        )
    if classes.ndim != 1:
        raise NotDifferentiableError(
            "multi-output / multilabel classifiers are not supported; fit one "
            "classifier per output."
        )
    head = to_torch(final, dtype=dtype, device=device)
    dtype = dtype or _module_dtype(head) or torch.float64
    # converters place their constants on ``device``; a network stays where it is
    device = torch.device(device or _module_device(head) or "cpu")

    modules = [head]
    split = 0  # steps[:split] are applied in numpy before the view
    codec = None
    for i in range(len(steps) - 2, -1, -1):
        name, step = steps[i]
        check_converted_fitted(step)
        try:
            tabular = input_view(step, dtype=dtype, device=device) if i == 0 else None
            if tabular is not None:
                step_module, codec = tabular
            else:
                step_module = to_torch(step, dtype=dtype, device=device)
            modules.insert(0, step_module)
        except NotDifferentiableError as exc:
            split = i + 1
            reason = exc
            codec = None
            break
    module = modules[0] if len(modules) == 1 else torch.nn.Sequential(*modules)

    preprocess, space = codec, "raw input features"
    if split:
        prefix_name, prefix_step = steps[split - 1]
        pipeline = unwrap_estimator(estimator)
        prefix = Pipeline(steps[:split]) if len(steps) > 1 else None
        preprocess = _Preprocess(prefix)
        space = f"output of pipeline step {prefix_name!r}"
        warnings.warn(
            f"{type(pipeline).__name__} step {prefix_name!r} "
            f"({type(prefix_step).__name__}) is not differentiable ({reason}); "
            f"gradients are taken in the space after it, so attacks and "
            f"certificates act on its output, not on the raw features. Use "
            "`view.preprocess` to map raw inputs there.",
            PartiallyDifferentiableWarning,
            stacklevel=2,
        )

    return DifferentiableModel(
        module,
        classes,
        device=device,
        dtype=dtype,
        input_shape=_input_shape(steps[split][1], final, codec),
        preprocess=preprocess,
        space=space,
        estimator=estimator,
        codec=codec,
    )


def tabular_input(estimator, *, dtype=None, device=None):
    """The raw-column reading of a pipeline that starts with a
    ``ColumnTransformer`` or an encoder, whatever its final estimator.

    Returns
    -------
    None or (module, codec, rest)
        ``module`` maps the working matrix to the first step's output (a
        torch module, float64 by default), ``codec`` is its
        :class:`TabularCodec`, ``rest`` the fitted remaining steps (a
        ``Pipeline``, or the final estimator alone), which take that output.
    """
    steps = pipeline_steps(estimator)
    if len(steps) < 2:
        return None
    first = steps[0][1]
    check_converted_fitted(first)
    try:
        tabular = input_view(first, dtype=dtype or torch.float64, device=device)
    except NotDifferentiableError:
        return None
    if tabular is None:
        return None
    rest = [s for _, s in steps[1:]]
    if len(rest) > 1:
        rest = Pipeline([(f"step{i}", s) for i, s in enumerate(rest)])
    else:
        rest = rest[0]
    return (*tabular, rest)


class _Preprocess:
    """Picklable ``transform`` of the non-differentiable prefix of a pipeline."""

    def __init__(self, prefix):
        self.prefix = prefix

    def __call__(self, X):
        return self.prefix.transform(X)

    def __repr__(self):
        return f"{type(self).__name__}({self.prefix!r})"


def _input_shape(first, final, codec=None):
    if codec is not None:
        return (codec.n_working,)
    shape = getattr(final, "input_shape_", None)
    if shape is not None and first is final:
        return tuple(shape)
    n = getattr(first, "n_features_in_", None)
    return None if n is None else (int(n),)


__all__ = ["as_differentiable", "tabular_input"]
