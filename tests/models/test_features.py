"""Views of the nonlinear feature transformers equal ``transform``, gradients
match finite differences."""

import warnings

import numpy as np
import pytest
import torch
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import (
    KBinsDiscretizer,
    PolynomialFeatures,
    PowerTransformer,
    QuantileTransformer,
    SplineTransformer,
    StandardScaler,
)

from skrobust import (
    NotDifferentiableError,
    PartiallyDifferentiableWarning,
    as_differentiable,
    to_torch,
)


def data(seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(120, 3)) * [1.0, 3.0, 0.5] + [0.0, 2.0, 1.0]
    # test points inside and far outside the fitted range
    X_test = np.r_[X[:40], X[:10] * 4 + 1, X[10:20] * -4]
    return X, X_test


def assert_transform(transformer, X_test, rtol=1e-10, atol=1e-10):
    module = to_torch(transformer, dtype=torch.float64, device="cpu")
    out = module(torch.as_tensor(X_test)).numpy()
    expected = transformer.transform(X_test)
    assert out.shape == expected.shape
    np.testing.assert_allclose(out, expected, rtol=rtol, atol=atol)
    # gradients: finite differences away from knots / quantiles (a.e. smooth)
    x = torch.as_tensor(X_test[::7] + 1e-3).clone().requires_grad_()
    assert torch.autograd.gradcheck(module, (x,), eps=1e-7, atol=1e-5, rtol=1e-4)
    return module


@pytest.mark.parametrize(
    "transformer",
    [
        PolynomialFeatures(3),
        PolynomialFeatures(2, interaction_only=True, include_bias=False),
        QuantileTransformer(n_quantiles=30),
        QuantileTransformer(n_quantiles=30, output_distribution="normal"),
        PowerTransformer(),
        PowerTransformer(standardize=False),
    ],
    ids=repr,
)
def test_transformer_view(transformer):
    X, X_test = data()
    assert_transform(transformer.fit(X), X_test)


def test_polynomial_gradient_at_zero_is_finite():
    """x ** 0 must not poison the gradient at x = 0."""
    poly = PolynomialFeatures(2).fit(np.ones((3, 2)))
    x = torch.zeros(1, 2, dtype=torch.float64, requires_grad=True)
    out = to_torch(poly, dtype=torch.float64, device="cpu")(x)
    (grad,) = torch.autograd.grad(out.sum(), x)
    np.testing.assert_array_equal(grad.numpy(), [[1.0, 1.0]])  # from x1 and x2


@pytest.mark.parametrize("include_bias", [True, False])
@pytest.mark.parametrize("degree", [0, 1, 2, 3])
@pytest.mark.parametrize(
    "extrapolation", ["constant", "linear", "continue", "periodic", "error"]
)
def test_spline_view(extrapolation, degree, include_bias):
    if degree == 0 and extrapolation in ("constant", "linear"):
        pytest.skip("scikit-learn's own transform fails for degree 0 there")
    X, X_test = data()
    if extrapolation == "error":
        X_test = X[5:60]
    # scikit-learn reuses degree + 1 for the boundaries of every feature after
    # the first when degree=1 and extrapolation="linear" (its loop mutates
    # `degree`); the view follows the documented one-feature behaviour
    one = degree == 1 and extrapolation == "linear"
    columns = [1] if one else slice(None)
    spline = SplineTransformer(
        n_knots=5,
        degree=degree,
        extrapolation=extrapolation,
        include_bias=include_bias,
    ).fit(X[:, columns])
    assert_transform(spline, X_test[:, columns])


def test_spline_quantile_knots_and_missing_values():
    X, X_test = data()
    spline = SplineTransformer(knots="quantile", n_knots=4).fit(X)
    assert_transform(spline, X_test)
    X_nan = X_test.copy()
    X_nan[::5, 1] = np.nan
    spline = SplineTransformer(n_knots=4, handle_missing="zeros").fit(X)
    out = to_torch(spline, dtype=torch.float64, device="cpu")(torch.as_tensor(X_nan))
    np.testing.assert_allclose(out.numpy(), spline.transform(X_nan), atol=1e-12)


def test_box_cox_view():
    X, _ = data()
    X = np.abs(X) + 0.1
    assert_transform(PowerTransformer(method="box-cox").fit(X), X * 1.5)


@pytest.mark.parametrize(
    "imputer",
    [
        SimpleImputer(),
        SimpleImputer(strategy="median", add_indicator=True),
        SimpleImputer(keep_empty_features=True),
        SimpleImputer(strategy="constant", fill_value=3),
        SimpleImputer(missing_values=-1.0, strategy="most_frequent"),
    ],
    ids=repr,
)
def test_simple_imputer_view(imputer):
    X, X_test = data()
    X, X_test = X.copy(), X_test.copy()
    marker = imputer.missing_values
    X[::4, 1] = X_test[::3, 1] = marker
    X[:, 2] = marker  # no value seen in fit: dropped unless keep_empty_features
    X_test[0, 2] = marker
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "Skipping features ..."
        imputer.fit(X)
        expected = imputer.transform(X_test)
    module = to_torch(imputer, dtype=torch.float64, device="cpu")
    x = torch.as_tensor(X_test).clone().requires_grad_()
    out = module(x)
    np.testing.assert_allclose(out.detach().numpy(), expected)
    # identity where values are present, zero gradient where they are imputed
    (grad,) = torch.autograd.grad(out[:, 0].sum(), x)
    np.testing.assert_array_equal(grad[:, 0].numpy(), np.ones(len(x)))
    (grad,) = torch.autograd.grad(module(x)[:, 1].sum(), x)
    present = X_test[:, 1] != marker if marker == marker else ~np.isnan(X_test[:, 1])
    np.testing.assert_array_equal(grad[:, 1].numpy(), present.astype(float))


def test_simple_imputer_of_strings_is_not_differentiable():
    imputer = SimpleImputer(strategy="most_frequent")
    imputer.fit(np.array([["a"], ["b"], ["a"]], dtype=object))
    with pytest.raises(NotDifferentiableError, match="encoder on categorical"):
        to_torch(imputer, dtype=None, device=None)


def test_pipeline_of_features_is_differentiable_end_to_end():
    X, X_test = data()
    y = (X[:, 0] * X[:, 1] > 1).astype(int)
    pipe = make_pipeline(
        SimpleImputer(),
        SplineTransformer(n_knots=4),
        PolynomialFeatures(2, interaction_only=True),
        StandardScaler(),
        LogisticRegression(max_iter=2000),
    ).fit(X, y)
    view = as_differentiable(pipe)
    assert view.preprocess is None and view.codec is None
    d = pipe.decision_function(X_test)
    np.testing.assert_allclose(view.logits(X_test), np.c_[-d / 2, d / 2], atol=1e-8)


def test_kbins_discretizer_names_the_black_box_route():
    X, _ = data()
    y = (X[:, 0] > 0).astype(int)
    kbins = KBinsDiscretizer(n_bins=4, quantile_method="averaged_inverted_cdf")
    with pytest.raises(NotDifferentiableError, match="SquareAttack"):
        to_torch(kbins.fit(X), dtype=None, device=None)
    pipe = make_pipeline(kbins, LogisticRegression()).fit(X, y)
    with pytest.warns(PartiallyDifferentiableWarning, match="piecewise constant"):
        view = as_differentiable(pipe)
    np.testing.assert_array_equal(view.predict(X), pipe.predict(X))
