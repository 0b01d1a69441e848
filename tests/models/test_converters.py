"""Every converter's view equals its estimator, with correct input gradients."""

import functools
import warnings

import numpy as np
import pandas as pd
import pytest
import scipy.special
import torch
from sklearn.compose import ColumnTransformer
from sklearn.datasets import load_breast_cancer, load_digits, load_wine
from sklearn.decomposition import PCA, IncrementalPCA
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
from sklearn.ensemble import RandomForestClassifier
from sklearn.exceptions import NotFittedError
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import LogisticRegression, RidgeClassifier, SGDClassifier
from sklearn.neighbors import KNeighborsClassifier
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import (
    FunctionTransformer,
    KBinsDiscretizer,
    MaxAbsScaler,
    MinMaxScaler,
    Normalizer,
    RobustScaler,
    StandardScaler,
)
from sklearn.svm import SVC, LinearSVC, NuSVC
from skorch import NeuralNetBinaryClassifier, NeuralNetClassifier

from skrobust import (
    NotDifferentiableError,
    PartiallyDifferentiableWarning,
    as_differentiable,
    to_torch,
)

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

RTOL, ATOL = 1e-5, 1e-8


@functools.cache
def dataset(task):
    """Standardized (X, y): binary (breast cancer) or multiclass (wine, str)."""
    if task == "binary":
        X, y = load_breast_cancer(return_X_y=True)
        X, y = X[::3], y[::3]
    else:
        X, y = load_wine(return_X_y=True)
        y = np.array(["barolo", "grignolino", "barbera"])[y]
    return StandardScaler().fit_transform(X), y


def reference_logits(estimator, X):
    """``decision_function`` as logits (binary: ``[-d/2, d/2]``)."""
    d = estimator.decision_function(X)
    return np.c_[-d / 2, d / 2] if d.ndim == 1 else d


def softmax(logits):
    return scipy.special.softmax(logits, axis=1)


def assert_gradients(view, X, n=3):
    """Input gradients of the float64 view match finite differences."""
    x = view.to_input(X[:n]).detach().clone().requires_grad_()
    assert x.dtype == torch.float64
    with view.evaluating():
        assert torch.autograd.gradcheck(view, (x,), eps=1e-6, atol=1e-6, rtol=1e-4)


def assert_view(estimator, X, *, reference="decision_function", n_grad=3):
    """Outputs equal the estimator's own, argmax is predict, gradients are right."""
    X_before = X.copy()
    view = as_differentiable(estimator)
    logits = view.logits(X)
    if reference == "decision_function":
        expected = reference_logits(estimator, X)
        np.testing.assert_allclose(logits, expected, rtol=RTOL, atol=ATOL)
    else:  # predict_proba is the softmax of the logits
        expected = estimator.predict_proba(X)
        np.testing.assert_allclose(softmax(logits), expected, rtol=RTOL, atol=ATOL)
    np.testing.assert_array_equal(view.classes_[logits.argmax(1)], estimator.predict(X))
    assert_gradients(view, X, n=n_grad)
    np.testing.assert_array_equal(X, X_before)  # the input was not modified
    return view


# ---------------------------------------------------------------- linear

LINEAR = {
    "logreg": lambda: LogisticRegression(max_iter=200),
    "sgd": lambda: SGDClassifier(random_state=0),
    "sgd_log": lambda: SGDClassifier(loss="log_loss", random_state=0),
    "linear_svc": lambda: LinearSVC(),
    "ridge": lambda: RidgeClassifier(),
    "lda": lambda: LinearDiscriminantAnalysis(),
}


@pytest.mark.parametrize("task", ["binary", "multiclass"])
@pytest.mark.parametrize("name", list(LINEAR))
def test_linear(name, task):
    X, y = dataset(task)
    assert_view(LINEAR[name]().fit(X, y), X)


@pytest.mark.parametrize("task", ["binary", "multiclass"])
@pytest.mark.parametrize(
    "estimator", [LogisticRegression(max_iter=200), LinearDiscriminantAnalysis()]
)
def test_linear_predict_proba_is_softmax(estimator, task):
    X, y = dataset(task)
    assert_view(estimator.fit(X, y), X, reference="predict_proba")


# ------------------------------------------------------------------- MLP


@pytest.mark.parametrize("task", ["binary", "multiclass"])
@pytest.mark.parametrize("activation", ["identity", "logistic", "tanh", "relu"])
def test_mlp(activation, task):
    X, y = dataset(task)
    mlp = MLPClassifier((6, 1, 5), activation=activation, max_iter=40, random_state=0)
    view = assert_view(mlp.fit(X, y), X, reference="predict_proba")
    layers = list(view.module)  # a plain Sequential of Linear + activations
    assert [type(m) for m in layers[1::2]] == [type(layers[1])] * 3
    assert all(isinstance(m, torch.nn.Linear) for m in layers[::2])
    assert not any(p.requires_grad for p in view.module.parameters())


def test_mlp_multilabel_raises():
    X, y = dataset("binary")
    Y = np.c_[y, 1 - y, X[:, 0] > 0]
    mlp = MLPClassifier((3,), max_iter=5, random_state=0).fit(X, Y)
    with pytest.raises(NotDifferentiableError, match="multilabel"):
        as_differentiable(mlp)


# ------------------------------------------------------------------- SVC


@pytest.mark.parametrize("task", ["binary", "multiclass"])
@pytest.mark.parametrize("kernel", ["linear", "rbf", "poly", "sigmoid"])
def test_svc(kernel, task):
    X, y = dataset(task)
    svc = SVC(kernel=kernel, C=0.5, coef0=0.5, break_ties=task == "multiclass")
    assert_view(svc.fit(X, y), X)


@pytest.mark.parametrize("task", ["binary", "multiclass"])
def test_nusvc(task):
    X, y = dataset(task)
    assert_view(NuSVC(nu=0.3, break_ties=task == "multiclass").fit(X, y), X)


def test_svc_logits_are_ovr_whatever_the_shape():
    X, y = dataset("multiclass")
    svc = SVC(decision_function_shape="ovo").fit(X, y)
    logits = as_differentiable(svc).logits(X)
    expected = svc.set_params(decision_function_shape="ovr").decision_function(X)
    np.testing.assert_allclose(logits, expected, rtol=RTOL, atol=ATOL)


def test_svc_multiclass_gradients_come_from_confidences():
    """With votes fixed, the logits' gradient is that of the confidence term."""
    X, y = dataset("multiclass")
    svc = SVC(kernel="linear").fit(X, y)
    view = as_differentiable(svc)
    x = view.to_input(X[:1]).requires_grad_()
    (grad,) = torch.autograd.grad(view(x)[0, 0], x)
    assert torch.count_nonzero(grad) > 0


def _linear_kernel(A, B):
    return A @ B.T


@pytest.mark.parametrize("kernel", ["precomputed", _linear_kernel])
def test_svc_unsupported_kernel(kernel):
    X, y = dataset("binary")
    svc = SVC(kernel=kernel).fit(X @ X.T if kernel == "precomputed" else X, y)
    with pytest.raises(NotDifferentiableError, match="kernel"):
        to_torch(svc, dtype=None, device=None)


# ---------------------------------------------------------- transformers


def _both(X, factor=2.0):
    """Works on numpy arrays and torch tensors alike."""
    return X * factor - 1.0


TRANSFORMERS = {
    "standard": StandardScaler(),
    "standard_no_mean": StandardScaler(with_mean=False),
    "standard_no_std": StandardScaler(with_std=False),
    "minmax": MinMaxScaler(feature_range=(-1, 2)),
    "minmax_clip": MinMaxScaler(clip=True),
    "maxabs": MaxAbsScaler(),
    "robust": RobustScaler(),
    "robust_no_center": RobustScaler(with_centering=False),
    "robust_no_scale": RobustScaler(with_scaling=False),
    "pca": PCA(n_components=6),
    "pca_whiten": PCA(n_components=6, whiten=True),
    "incremental_pca": IncrementalPCA(n_components=4),
    "normalizer_l1": Normalizer("l1"),
    "normalizer_l2": Normalizer("l2"),
    "normalizer_max": Normalizer("max"),
    "identity": FunctionTransformer(),
    "log1p": FunctionTransformer(np.log1p),
    "sqrt": FunctionTransformer(np.sqrt),
    "abs": FunctionTransformer(np.abs),
    "square": FunctionTransformer(np.square),
    "expit": FunctionTransformer(scipy.special.expit),
    "callable": FunctionTransformer(_both, kw_args={"factor": 0.5}),
}


@functools.cache
def raw_data():
    """Raw, positive breast-cancer features (scale differs per feature)."""
    X, y = load_breast_cancer(return_X_y=True)
    return X[::4], y[::4]


@pytest.mark.parametrize("name", TRANSFORMERS)
def test_transformer_in_pipeline(name):
    X, y = raw_data()
    # expit saturates on raw features (finite differences lose all digits).
    first = [StandardScaler()] if name == "expit" else []
    pipe = make_pipeline(
        *first, TRANSFORMERS[name], StandardScaler(), LogisticRegression(max_iter=500)
    ).fit(X, y)
    X_test = X.copy()
    X_test[:3] *= 1.5  # outside the fitted range: exercises MinMaxScaler(clip)
    if name.startswith("normalizer"):
        X_test = np.r_[X_test, np.zeros((1, X.shape[1]))]  # zero rows stay zero
    view = assert_view(pipe, X_test)
    assert view.space == "raw input features" and view.preprocess is None


def test_transformer_modules_respect_dtype():
    X, y = raw_data()
    for name, transformer in TRANSFORMERS.items():
        module = to_torch(transformer.fit(X, y), dtype=torch.float32, device="cpu")
        out = module(torch.as_tensor(X[:5], dtype=torch.float32))
        assert out.dtype == torch.float32, name
        np.testing.assert_allclose(
            out.numpy(), transformer.transform(X[:5]), rtol=1e-4, atol=1e-4
        )


def test_function_transformer_not_torch_compatible():
    X, y = raw_data()
    ft = FunctionTransformer(lambda X: np.asarray(X) + 1).fit(X)
    with pytest.raises(NotDifferentiableError, match="torch tensors"):
        to_torch(ft, dtype=None, device=None)
    pipe = make_pipeline(ft, LogisticRegression(max_iter=500)).fit(X, y)
    with pytest.warns(PartiallyDifferentiableWarning):
        view = as_differentiable(pipe)
    np.testing.assert_allclose(
        view.logits(X), reference_logits(pipe, X), rtol=RTOL, atol=ATOL
    )


# ------------------------------------------------------------- pipelines


def test_frozen_estimator():
    X, y = dataset("multiclass")
    frozen = FrozenEstimator(make_pipeline(PCA(5), SVC()).fit(X, y))
    view = as_differentiable(frozen)
    np.testing.assert_allclose(
        view.logits(X), frozen.decision_function(X), rtol=RTOL, atol=ATOL
    )
    assert_gradients(view, X)


def test_non_differentiable_column_transformer_is_attacked_after_it():
    X, y = raw_data()
    df = pd.DataFrame(X[:, :4], columns=list("abcd"))
    bins = KBinsDiscretizer(
        3, encode="onehot-dense", quantile_method="averaged_inverted_cdf"
    )
    encode = ColumnTransformer([("bins", bins, ["a"])], remainder="passthrough")
    pipe = make_pipeline(encode, StandardScaler(), LogisticRegression()).fit(df, y)
    with pytest.warns(PartiallyDifferentiableWarning, match="columntransformer"):
        view = as_differentiable(pipe)
    np.testing.assert_allclose(view.preprocess(df), encode.transform(df))
    np.testing.assert_allclose(
        view.logits(df), reference_logits(pipe, df), rtol=RTOL, atol=ATOL
    )
    assert view.input_shape == (6,) and view.codec is None
    assert_gradients(view, df)
    # predictions from raw inputs, and from inputs already in the view's space
    np.testing.assert_array_equal(view.predict(df), pipe.predict(df))
    np.testing.assert_array_equal(
        view.predict(encode.transform(df), in_space=True), pipe.predict(df)
    )


@pytest.mark.parametrize(
    "estimator", [RandomForestClassifier(n_estimators=3), KNeighborsClassifier()]
)
def test_not_differentiable_names_black_box_tools(estimator):
    X, y = dataset("binary")
    with pytest.raises(NotDifferentiableError, match="black-box"):
        as_differentiable(make_pipeline(StandardScaler(), estimator).fit(X, y))


@pytest.mark.parametrize(
    "estimator",
    [
        LogisticRegression(),
        MLPClassifier(),
        SVC(),
        make_pipeline(StandardScaler(), SVC()),
        NeuralNetClassifier(torch.nn.Linear(2, 2)),
        NeuralNetBinaryClassifier(torch.nn.Linear(2, 1)),
    ],
)
def test_unfitted_raises_not_fitted_with_hint(estimator):
    with pytest.raises(NotFittedError, match="call `fit`"):
        as_differentiable(estimator)


# ---------------------------------------------------------------- skorch


class TupleModule(torch.nn.Module):
    """Returns (probabilities, hidden) with the softmax inside ``forward``."""

    def __init__(self, n_in=13, n_out=3, softmax=True, dtype=torch.float64):
        super().__init__()
        self.hidden = torch.nn.Linear(n_in, 8, dtype=dtype)
        self.out = torch.nn.Linear(8, n_out, dtype=dtype)
        self.softmax = softmax

    def forward(self, x):
        h = torch.relu(self.hidden(x))
        z = self.out(h)
        return (z.softmax(-1) if self.softmax else z), h


def mlp(n_in, n_out, *, last=(), dtype=torch.float64, dropout=0.0):
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Linear(n_in, 8, dtype=dtype),
        torch.nn.Tanh(),
        torch.nn.Dropout(dropout),
        torch.nn.Linear(8, n_out, dtype=dtype),
        *last,
    )


def fit_classifier(module, **kwargs):
    X, y = dataset("multiclass")
    y = np.unique(y, return_inverse=True)[1]
    kwargs = {"max_epochs": 3, "lr": 0.1, "train_split": None, "verbose": 0, **kwargs}
    return NeuralNetClassifier(module, **kwargs).fit(X, y), X


def fit_binary(module, dtype=np.float64, **kwargs):
    X, y = dataset("binary")
    kwargs = {"max_epochs": 3, "lr": 0.1, "train_split": None, "verbose": 0, **kwargs}
    X, y = X.astype(dtype), y.astype(dtype)
    return NeuralNetBinaryClassifier(module, **kwargs).fit(X, y), X


def assert_net_view(net, X, **kwargs):
    view = as_differentiable(net, **kwargs)
    logits = view.logits(X)
    np.testing.assert_allclose(
        softmax(logits), net.predict_proba(X), rtol=RTOL, atol=1e-7
    )
    np.testing.assert_array_equal(logits.argmax(1), net.predict(X))
    return view


def test_skorch_cross_entropy_logits():
    net, X = fit_classifier(mlp(13, 3), criterion=torch.nn.CrossEntropyLoss)
    view = assert_net_view(net, X)
    np.testing.assert_allclose(view.logits(X), net.forward(X).numpy(), rtol=1e-12)
    assert view.module is net.module_  # shared, not copied, not wrapped
    assert_gradients(view, X)


def test_skorch_nll_softmax_uses_pre_softmax_logits():
    module = mlp(13, 3, last=[torch.nn.Softmax(dim=-1)])
    net, X = fit_classifier(module)  # skorch's default criterion: NLLLoss
    view = assert_net_view(net, X)
    assert not any(isinstance(m, torch.nn.Softmax) for m in view.module.modules())
    assert view.module[0] is net.module_[0]  # layers shared, softmax dropped
    logits = view.logits(X)
    np.testing.assert_allclose(logits, net.module_[:-1](torch.as_tensor(X)).detach())
    assert_gradients(view, X)


def initialized_classifier(module, **kwargs):
    """An initialized (untrained) net: skorch cannot train tuple outputs."""
    net = NeuralNetClassifier(module, classes=[0, 1, 2], **kwargs).initialize()
    return net, dataset("multiclass")[0]


def test_skorch_nll_custom_module_with_tuple_output():
    net, X = initialized_classifier(TupleModule())
    view = assert_net_view(net, X)
    eps = np.finfo(np.float64).eps
    np.testing.assert_allclose(np.exp(view.logits(X)) - eps, net.predict_proba(X))
    assert_gradients(view, X)


def test_skorch_cross_entropy_tuple_output():
    module = TupleModule(softmax=False)
    net, X = initialized_classifier(module, criterion=torch.nn.CrossEntropyLoss)
    assert_gradients(assert_net_view(net, X), X)


def test_skorch_callable_predict_nonlinearity():
    def probabilities(out):
        return torch.softmax(2 * out, dim=-1)

    net, X = fit_classifier(
        mlp(13, 3),
        criterion=torch.nn.CrossEntropyLoss,
        predict_nonlinearity=probabilities,
    )
    assert_gradients(assert_net_view(net, X), X)


@pytest.mark.parametrize("shape", ["(N,)", "(N, 1)"])
def test_skorch_binary_with_logits(shape):
    last = [torch.nn.Flatten(0)] if shape == "(N,)" else []
    net, X = fit_binary(mlp(30, 1, last=last))
    view = assert_net_view(net, X)
    z = net.forward(X).numpy().reshape(-1)
    np.testing.assert_allclose(view.logits(X), np.c_[-z / 2, z / 2], rtol=1e-12)
    assert_gradients(view, X)


def test_skorch_binary_with_probabilities():
    module = mlp(30, 1, last=[torch.nn.Sigmoid()])
    net, X = fit_binary(module, criterion=torch.nn.BCELoss)
    view = assert_net_view(net, X)
    assert not any(isinstance(m, torch.nn.Sigmoid) for m in view.module.modules())
    assert_gradients(view, X)


def test_skorch_dtype_casts_inputs_not_the_module():
    net, X = fit_binary(mlp(30, 1, dtype=torch.float32), dtype=np.float32)
    native = as_differentiable(net)
    assert native.dtype == torch.float32
    view = assert_net_view(net, X, dtype=torch.float64)
    assert view.dtype == torch.float64
    assert all(p.dtype == torch.float32 for p in net.module_.parameters())
    x64 = view.to_input(X[:4]).requires_grad_()
    x32 = native.to_input(X[:4]).requires_grad_()
    assert view(x64).dtype == torch.float64
    (g64,) = torch.autograd.grad(view(x64)[:, 1].sum(), x64)
    (g32,) = torch.autograd.grad(native(x32)[:, 1].sum(), x32)
    assert g64.dtype == torch.float64
    np.testing.assert_allclose(g64.numpy(), g32.numpy(), rtol=1e-5, atol=1e-7)


def test_skorch_view_follows_weight_updates():
    net, X = fit_classifier(mlp(13, 3), criterion=torch.nn.CrossEntropyLoss)
    view = as_differentiable(net)
    before = view.logits(X)
    net.partial_fit(X, np.unique(dataset("multiclass")[1], return_inverse=True)[1])
    after = view.logits(X)
    assert not np.allclose(before, after)
    np.testing.assert_allclose(softmax(after), net.predict_proba(X), rtol=RTOL)


def test_skorch_view_leaves_the_net_unchanged():
    module = mlp(13, 3, dropout=0.5)
    net, X = fit_classifier(module, criterion=torch.nn.CrossEntropyLoss)
    net.module_.train()
    net.module_[0].weight.requires_grad_(False)
    flags = [(m, m.training) for m in net.module_.modules()]
    grads = [(p, p.requires_grad) for p in net.module_.parameters()]
    for p, _ in grads:
        p.grad = None
    view = as_differentiable(net)
    x = view.to_input(X[:5]).requires_grad_()
    with view.evaluating():
        assert not any(m.training for m in net.module_.modules())
        out1, out2 = view(x), view(x)  # deterministic: dropout is off
        torch.testing.assert_close(out1, out2)
        out1.sum().backward()
    assert x.grad is not None and torch.count_nonzero(x.grad) > 0
    assert all(m.training == flag for m, flag in flags)
    assert all(p.requires_grad == flag for p, flag in grads)
    assert all(p.grad is None for p in net.module_.parameters())
    for m in net.module_.modules():
        assert not (m._forward_hooks or m._forward_pre_hooks or m._backward_hooks)


def test_evaluating_restores_the_net_after_an_error():
    net, X = fit_classifier(
        mlp(13, 3, dropout=0.5), criterion=torch.nn.CrossEntropyLoss
    )
    net.module_.train()
    net.module_[0].weight.requires_grad_(False)
    flags = [(m, m.training) for m in net.module_.modules()]
    grads = [(p, p.requires_grad) for p in net.module_.parameters()]
    view = as_differentiable(net)
    with pytest.raises(RuntimeError, match="inside"):
        with view.evaluating() as inside:
            assert inside is view
            assert not any(m.training for m in net.module_.modules())
            assert not any(p.requires_grad for p in net.module_.parameters())
            raise RuntimeError("inside")
    assert all(m.training == flag for m, flag in flags)
    assert all(p.requires_grad == flag for p, flag in grads)
    with view.evaluating(), view.evaluating():  # nested: the outer state back
        pass
    assert all(m.training == flag for m, flag in flags)
    assert all(p.requires_grad == flag for p, flag in grads)


def test_skorch_unknown_criterion_and_device():
    net, X = fit_binary(mlp(30, 1), criterion=torch.nn.MSELoss)
    with pytest.raises(NotDifferentiableError, match="MSELoss"):
        as_differentiable(net)
    net, X = fit_classifier(mlp(13, 3), criterion=torch.nn.CrossEntropyLoss)
    with pytest.raises(ValueError, match="shares the net's parameters"):
        as_differentiable(net, device="meta")


def test_skorch_initialized_but_untrained_is_fine():
    net, X = initialized_classifier(mlp(13, 3), criterion=torch.nn.CrossEntropyLoss)
    view = as_differentiable(net)
    np.testing.assert_allclose(view.logits(X), net.forward(X).numpy(), rtol=1e-12)


def test_digits_pipeline_end_to_end():
    """A wider input (64 pixels) through PCA, MLP and gradients."""
    X, y = load_digits(return_X_y=True)
    X, y = X[:300], y[:300]
    pipe = make_pipeline(
        MinMaxScaler(), PCA(20, whiten=True), MLPClassifier((16,), max_iter=30)
    ).fit(X, y)
    assert_view(pipe, X, reference="predict_proba", n_grad=2)


def test_no_warnings_for_fully_differentiable_pipelines():
    X, y = raw_data()
    pipe = make_pipeline(RobustScaler(), PCA(3), SVC()).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        as_differentiable(pipe)
