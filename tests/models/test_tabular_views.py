"""Views of pipelines reading raw tabular data (ColumnTransformer, encoders):
exact outputs, gradients, the raw <-> working codec and its threat layout."""

import warnings

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.compose import ColumnTransformer, make_column_selector
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import (
    MinMaxScaler,
    OneHotEncoder,
    OrdinalEncoder,
    PolynomialFeatures,
    SplineTransformer,
    StandardScaler,
)

from skrobust import (
    NotDifferentiableError,
    PartiallyDifferentiableWarning,
    as_differentiable,
    to_torch,
)
from skrobust._threat import resolve_constraints

pytestmark = pytest.mark.filterwarnings(
    "ignore::sklearn.exceptions.ConvergenceWarning",
    "ignore:Found unknown categories:UserWarning",
)

CAT, NUM = ["home", "job"], ["income", "debt", "accounts", "savings", "late", "age"]


def _is_categorical(X):
    return [c for c in X.columns if not pd.api.types.is_numeric_dtype(X[c])]


PREPROCESSORS = {
    "names": lambda: ColumnTransformer(
        [
            ("cat", OneHotEncoder(handle_unknown="ignore"), CAT),
            ("num", make_pipeline(SimpleImputer(), StandardScaler()), NUM),
        ]
    ),
    "selector_drop_infrequent": lambda: ColumnTransformer(
        [
            (
                "cat",
                make_pipeline(
                    SimpleImputer(strategy="most_frequent"),
                    OneHotEncoder(
                        drop="first",
                        min_frequency=60,
                        handle_unknown="infrequent_if_exist",
                    ),
                ),
                make_column_selector(dtype_exclude="number"),
            ),
            (
                "num",
                make_pipeline(SimpleImputer(strategy="median"), MinMaxScaler()),
                make_column_selector(dtype_include="number"),
            ),
        ],
        verbose_feature_names_out=False,
    ),
    "indices_callable_passthrough": lambda: ColumnTransformer(
        [
            (
                "ord",
                OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1),
                _is_categorical,
            ),
            ("poly", PolynomialFeatures(2), [0, 2]),
            ("spline", SplineTransformer(n_knots=4), ["age"]),
            ("imputed", SimpleImputer(), ["savings"]),
        ],
        remainder="passthrough",
    ),
    "if_binary_drop_remainder": lambda: ColumnTransformer(
        [
            ("cat", OneHotEncoder(drop="if_binary", handle_unknown="ignore"), ["home"]),
            ("n", "passthrough", [0]),
        ],
        remainder="drop",
    ),
}

MODELS = {
    "logreg": lambda: LogisticRegression(max_iter=3000),
    "mlp": lambda: MLPClassifier((8,), max_iter=400, random_state=0),
}


def fit(preprocessor, model, data):
    pipe = make_pipeline(preprocessor, StandardScaler(), model)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return pipe.fit(data.X_train, data.y_train)


def with_unknown(data):
    """Test rows, one with a category no encoder has seen."""
    X = data.X_test.copy()
    X["home"] = X["home"].astype(object)
    X.iloc[0, X.columns.get_loc("home")] = "boat"
    return X


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("name", PREPROCESSORS)
def test_view_equals_pipeline(mixed_data, name, model):
    pipe = fit(PREPROCESSORS[name](), MODELS[model](), mixed_data)
    view = as_differentiable(pipe)  # no PartiallyDifferentiableWarning
    assert view.preprocess is view.codec and view.space == "raw input features"
    X = with_unknown(mixed_data)
    if name == "indices_callable_passthrough":
        X = X.dropna()  # its passthrough columns hold no imputer
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        proba, pred = pipe.predict_proba(X), pipe.predict(X)
    logits = view.logits(X)
    softmax = torch.softmax(torch.as_tensor(logits), dim=1).numpy()
    np.testing.assert_allclose(softmax, proba, rtol=1e-7, atol=1e-10)
    np.testing.assert_array_equal(view.classes_[logits.argmax(1)], pred)
    # gradients in the working space: numbers and relaxed one-hot categories
    x = view.to_input(X.iloc[:4]).clone().requires_grad_()
    with view.evaluating():
        assert torch.autograd.gradcheck(view, (x,), eps=1e-6, atol=1e-6, rtol=1e-4)


def test_working_space_of_mixed_frame(mixed_data):
    pipe = fit(PREPROCESSORS["names"](), MODELS["logreg"](), mixed_data)
    codec = as_differentiable(pipe).codec
    X = with_unknown(mixed_data)
    Z, fixed = codec.encode(X)
    assert Z.shape == (len(X), 6 + 3 + 3) == (len(X), codec.n_working)
    layout = codec.layout(X)
    home = layout.index[list(X.columns).index("home")]
    assert list(layout.categories[1]) == ["owner", "parents", "rent"]
    expected = (X["home"].to_numpy()[:, None] == layout.categories[1]).astype(float)
    np.testing.assert_array_equal(Z[:, home], expected)
    assert Z[0, home].sum() == 0  # "boat": no category the encoder knows
    savings = layout.index[list(X.columns).index("savings")][0]
    missing = X["savings"].isna().to_numpy()
    assert missing.any()
    np.testing.assert_array_equal(fixed[:, savings], missing)
    imputer = pipe[0].named_transformers_["num"][0]
    np.testing.assert_allclose(Z[missing, savings], imputer.statistics_[3])
    assert list(layout.integer) == [False, False, False, True, False, False, True, True]


def test_codec_round_trip_keeps_types(mixed_data):
    pipe = fit(PREPROCESSORS["names"](), MODELS["logreg"](), mixed_data)
    codec = as_differentiable(pipe).codec
    X = with_unknown(mixed_data)
    back = codec.decode(codec(X), X)
    pd.testing.assert_frame_equal(back, X)  # NaN and the unknown "boat" kept


def test_codec_decodes_changes_to_known_categories(mixed_data):
    pipe = fit(PREPROCESSORS["names"](), MODELS["logreg"](), mixed_data)
    codec = as_differentiable(pipe).codec
    X = mixed_data.X_test.iloc[:5]
    layout = codec.layout(X)
    Z = codec(X)
    job = layout.index[5]
    Z[:, job] = [0.2, 0.1, 0.7]  # relaxed: the largest coordinate wins
    accounts = layout.index[3][0]
    Z[:, accounts] += 2
    Z[0, layout.index[0][0]] += 0.5
    X_new = codec.decode(Z, X)
    assert X_new["job"].dtype == X["job"].dtype  # pandas category kept
    assert (X_new["job"] == "partime").all()
    assert X_new["accounts"].dtype == np.int64
    np.testing.assert_array_equal(X_new["accounts"], X["accounts"] + 2)
    assert X_new["income"].iloc[0] == X["income"].iloc[0] + 0.5
    pd.testing.assert_series_equal(X_new["income"].iloc[1:], X["income"].iloc[1:])
    pd.testing.assert_frame_equal(X_new[["home", "savings"]], X[["home", "savings"]])


def test_reordered_columns_are_matched_by_name(mixed_data):
    pipe = fit(PREPROCESSORS["names"](), MODELS["mlp"](), mixed_data)
    view = as_differentiable(pipe)
    X = mixed_data.X_test
    X_rev = X[X.columns[::-1]]
    np.testing.assert_array_equal(view.logits(X_rev), view.logits(X))
    np.testing.assert_array_equal(view.predict(X_rev), pipe.predict(X_rev))
    Z = view.codec(X)
    Z[:, 0] += 1.0
    back = view.codec.decode(Z, X_rev)
    assert list(back.columns) == list(X_rev.columns)
    np.testing.assert_allclose(back["income"], X["income"] + 1.0)
    with pytest.raises(ValueError, match="missing:\n- debt"):
        view.logits(X.drop(columns="debt"))


def test_numpy_object_array_input(mixed_data):
    X = mixed_data.X_train.copy()
    X["job"] = X["job"].astype(object)
    ct = ColumnTransformer(
        [
            ("cat", OneHotEncoder(), [1, 5]),
            ("num", StandardScaler(), [0, 2, 3, 6, 7]),
        ]
    )
    pipe = make_pipeline(ct, LogisticRegression()).fit(
        X.to_numpy(dtype=object), mixed_data.y_train
    )
    view = as_differentiable(pipe)
    X_test = mixed_data.X_test.astype({"job": object}).to_numpy(dtype=object)
    d = pipe.decision_function(X_test)
    np.testing.assert_allclose(view.logits(X_test), np.c_[-d / 2, d / 2], atol=1e-9)
    back = view.codec.decode(view.codec(X_test), X_test)
    assert back.dtype == object
    np.testing.assert_array_equal(back[:, [0, 1, 5]], X_test[:, [0, 1, 5]])


def test_bare_encoder_first_step():
    X = pd.DataFrame({"a": list("xyzxy") * 4, "b": list("ppqqp") * 4})
    y = (X["a"] == "x").to_numpy() ^ (X["b"] == "q").to_numpy()
    pipe = make_pipeline(OneHotEncoder(), LogisticRegression()).fit(X, y)
    view = as_differentiable(pipe)
    d = pipe.decision_function(X)
    np.testing.assert_allclose(view.logits(X), np.c_[-d / 2, d / 2], atol=1e-10)
    assert view.codec.n_working == 5


def test_encoders_inside_are_not_differentiable():
    X = np.arange(20.0).reshape(10, 2)
    y = np.arange(10) % 2
    ct = ColumnTransformer([("oh", OneHotEncoder(), [0])], remainder="passthrough")
    pipe = make_pipeline(StandardScaler(), ct, LogisticRegression()).fit(X, y)
    with pytest.raises(NotDifferentiableError, match="first step"):
        to_torch(pipe[1], dtype=None, device=None)
    with pytest.raises(NotDifferentiableError, match="piecewise constant"):
        to_torch(OneHotEncoder().fit(X), dtype=None, device=None)
    numeric = ColumnTransformer([("s", StandardScaler(), [1])], remainder="passthrough")
    pipe = make_pipeline(MinMaxScaler(), numeric, LogisticRegression()).fit(X, y)
    view = as_differentiable(pipe)
    d = pipe.decision_function(X)
    np.testing.assert_allclose(view.logits(X), np.c_[-d / 2, d / 2], atol=1e-10)


def test_column_read_twice_with_two_roles_is_refused(mixed_data):
    ct = ColumnTransformer(
        [("oh", OneHotEncoder(), ["accounts"]), ("num", StandardScaler(), ["accounts"])]
    )
    pipe = make_pipeline(ct, LogisticRegression()).fit(
        mixed_data.X_train, mixed_data.y_train
    )
    with pytest.warns(PartiallyDifferentiableWarning, match="one role"):
        as_differentiable(pipe)


# ---------------------------------------------------------------- layout


@pytest.fixture(scope="module")
def layout(mixed_data):
    pipe = fit(PREPROCESSORS["names"](), MODELS["logreg"](), mixed_data)
    return as_differentiable(pipe).codec.layout(mixed_data.X_test)


def coords(layout, column):
    return layout.index[list(layout.columns).index(column)]


def test_eps_dict_leaves_other_numbers_fixed_and_categories_immutable(layout):
    c = resolve_constraints({"eps": {"income": 50.0, "late": 2}}, (12,), layout=layout)
    moving = {
        name for name in layout.columns if np.any(c.scale[coords(layout, name)] > 0)
    }
    assert moving == {"income", "late"}
    assert c.scale[coords(layout, "income")][0] == 50.0
    assert all(not g.mutable for g in c.categorical)
    # integer dtypes are integer features; categories span [0, 1]
    assert c.integer[coords(layout, "late")].all()
    assert not c.integer[coords(layout, "income")].any()
    np.testing.assert_array_equal(c.low[coords(layout, "home")], 0.0)
    np.testing.assert_array_equal(c.high[coords(layout, "home")], 1.0)


def test_categories_change_only_when_named_in_feature_mask(layout):
    c = resolve_constraints(
        {"eps": 1.0, "feature_mask": ["home", "income"]}, (12,), layout=layout
    )
    mutable = {g.column: g.mutable for g in c.categorical}
    assert mutable == {"home": True, "job": False}
    np.testing.assert_array_equal(c.scale[coords(layout, "home")], 1.0)
    assert c.scale[coords(layout, "debt")][0] == 0.0
    c = resolve_constraints({"eps": 1.0}, (12,), layout=layout)
    assert not any(g.mutable for g in c.categorical)
    assert c.scale[coords(layout, "debt")][0] == 1.0


def test_allowed_categories_and_dtype_categories(layout):
    c = resolve_constraints(
        {
            "eps": 0.0,
            "feature_mask": ["home", "job"],
            "allowed_categories": {"home": ["rent", "owner"]},
            "max_changes": 1,
        },
        (12,),
        layout=layout,
    )
    (home,) = [g for g in c.categorical if g.column == "home"]
    assert list(home.categories[home.allowed]) == ["owner", "rent"]
    assert c.max_changes == 1
    with pytest.raises(ValueError, match="does not know"):
        resolve_constraints(
            {"allowed_categories": {"home": ["castle"]}}, (12,), layout=layout
        )


@pytest.mark.parametrize(
    "params, match",
    [
        ({"eps": {"home": 1.0}}, "a category has no budget"),
        ({"direction": {"job": 1}}, "categories have no order"),
        ({"integer_features": ["home"]}, "switch category"),
        ({"allowed_categories": {"income": [1.0]}}, "not a categorical column"),
        ({"max_changes": -1}, "non-negative integer"),
    ],
)
def test_threat_model_errors(layout, params, match):
    with pytest.raises(ValueError, match=match):
        resolve_constraints(params, (12,), layout=layout)


def test_allowed_categories_need_a_tabular_model():
    with pytest.raises(ValueError, match="categorical columns"):
        resolve_constraints({"allowed_categories": {"a": ["x"]}}, (3,))


def test_missing_category_is_not_a_target_unless_allowed():
    X = pd.DataFrame({"c": ["a", "b", None, "a", "b", "a"], "n": np.arange(6.0)})
    y = [0, 1, 0, 1, 0, 1]
    ct = ColumnTransformer(
        [("oh", OneHotEncoder(), ["c"]), ("num", "passthrough", ["n"])]
    )
    pipe = make_pipeline(ct, LogisticRegression()).fit(X, y)
    layout = as_differentiable(pipe).codec.layout(X)
    assert layout.categories[0][-1] is None or layout.categories[0][-1] != "a"
    params = {"feature_mask": ["c"]}
    (group,) = resolve_constraints(params, (4,), layout=layout).categorical
    np.testing.assert_array_equal(group.allowed, [True, True, False])
    params["allowed_categories"] = {"c": ["b", np.nan]}
    (group,) = resolve_constraints(params, (4,), layout=layout).categorical
    np.testing.assert_array_equal(group.allowed, [False, True, True])
