"""The tree-ensemble reader: leaf boxes in raw units reproduce the model."""

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import make_column_transformer
from sklearn.datasets import load_breast_cancer, load_iris
from sklearn.decomposition import PCA
from sklearn.dummy import DummyClassifier
from sklearn.ensemble import (
    ExtraTreesClassifier,
    GradientBoostingClassifier,
    HistGradientBoostingClassifier,
    RandomForestClassifier,
)
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import (
    MinMaxScaler,
    OneHotEncoder,
    OrdinalEncoder,
    PowerTransformer,
    QuantileTransformer,
    RobustScaler,
    StandardScaler,
)
from sklearn.tree import DecisionTreeClassifier, ExtraTreeClassifier

from skrobust._models import NotPerFeatureError, TreeEnsemble


def _scores(model, X, ensemble):
    """The model's own scores in the reader's layout."""
    if ensemble.score == "probability":
        return model.predict_proba(X)
    raw = model.decision_function(X)
    return np.column_stack([np.zeros(len(raw)), raw]) if raw.ndim == 1 else raw


def _check(model, X, Z=None):
    ensemble = TreeEnsemble(model)
    Z = ensemble.encode(X) if Z is None else Z
    ours = ensemble.scores(Z)
    theirs = _scores(model, X, ensemble)
    if ensemble.score == "raw" and ours.shape[1] == 2 and theirs.shape[1] == 2:
        ours = ours - ours[:, :1]  # binary: only the difference is defined
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-12)
    pred = ensemble.classes_[ensemble.predict(Z)]
    np.testing.assert_array_equal(pred, model.predict(X))
    return ensemble


def _noisy(X, n=300, seed=0):
    rng = np.random.default_rng(seed)
    rows = X[rng.integers(0, len(X), n)]
    return rows + rng.normal(size=rows.shape) * X.std(axis=0) * 0.3


@pytest.fixture(scope="module")
def cancer():
    X, y = load_breast_cancer(return_X_y=True)
    return X[:, :6], y  # six features keep the fits tiny


@pytest.fixture(scope="module")
def iris():
    return load_iris(return_X_y=True)


MODELS = [
    DecisionTreeClassifier(max_depth=3, random_state=0),
    ExtraTreeClassifier(max_depth=3, random_state=0),
    RandomForestClassifier(n_estimators=4, max_depth=3, random_state=0),
    ExtraTreesClassifier(n_estimators=4, max_depth=3, random_state=0),
    GradientBoostingClassifier(n_estimators=4, max_depth=2, random_state=0),
    HistGradientBoostingClassifier(max_iter=4, max_depth=3, random_state=0),
]


@pytest.mark.parametrize("model", MODELS, ids=lambda m: type(m).__name__)
@pytest.mark.parametrize("data", ["cancer", "iris"])
def test_sum_of_leaves_is_the_model(model, data, request):
    X, y = request.getfixturevalue(data)
    model = model.fit(X, y)
    _check(model, _noisy(X))


@pytest.mark.parametrize(
    "scaler",
    [
        StandardScaler(),
        MinMaxScaler(clip=True),
        RobustScaler(),
        QuantileTransformer(n_quantiles=30),
        PowerTransformer(),
    ],
    ids=lambda s: type(s).__name__,
)
def test_thresholds_map_back_through_monotone_steps(cancer, scaler):
    X, y = cancer
    model = make_pipeline(
        scaler, RandomForestClassifier(n_estimators=3, max_depth=3, random_state=0)
    ).fit(X, y)
    ensemble = _check(model, _noisy(X))
    # at a raw threshold the model goes left; one float64 step above, right
    points = []
    for tree in ensemble.trees:
        for node in np.flatnonzero(~tree.is_leaf):
            f, t = tree.feature[node], tree.threshold[node]
            if np.isfinite(t):
                for value in (t, np.nextafter(t, np.inf)):
                    x = X[node % len(X)].copy()
                    x[f] = value
                    points.append(x)
    _check(model, np.array(points))


def test_float32_thresholds_are_exact_in_raw_units(cancer):
    X, y = cancer
    tree = DecisionTreeClassifier(max_depth=3, random_state=0).fit(X, y)
    ensemble = TreeEnsemble(tree)
    raw = ensemble.trees[0]
    for node in np.flatnonzero(~raw.is_leaf):
        r, t = raw.threshold[node], tree.tree_.threshold[node]
        # the largest float64 the tree still sends left (float32 compare)
        assert np.float64(np.float32(r)) <= t
        assert np.float64(np.float32(np.nextafter(r, np.inf))) > t


@pytest.mark.parametrize("model", MODELS[2:], ids=lambda m: type(m).__name__)
def test_leaf_boxes_hold_the_points_that_reach_them(cancer, model):
    X, y = cancer
    model = model.fit(X, y)
    ensemble = TreeEnsemble(model)
    Z = _noisy(X, 200, seed=1)
    leaves = ensemble.apply(Z)
    total = np.zeros((len(Z), ensemble.n_classes))
    for i in range(ensemble.n_trees):
        boxes = ensemble.leaves(i)
        at = np.searchsorted(boxes.node, leaves[:, i])
        assert (boxes.node[at] == leaves[:, i]).all()
        assert ((Z > boxes.low[at]) & (Z <= boxes.high[at])).all()
        # every other leaf's box misses the point
        above, below = Z[:, None] > boxes.low[None], Z[:, None] <= boxes.high[None]
        inside = (above & below).all(axis=2)
        assert (inside.sum(axis=1) == 1).all()
        total += boxes.value[at]
    scores = total + ensemble.base_score
    np.testing.assert_allclose(scores, ensemble.scores(Z), atol=1e-12)


def test_hist_gradient_boosting_categories_and_missing_values():
    rng = np.random.default_rng(0)
    n = 400
    a, b = rng.normal(size=n), rng.integers(0, 5, n).astype(float)
    y = ((a > 0.3) ^ (b % 2 == 1)).astype(int)
    X = np.column_stack([a, b, rng.normal(size=n)])
    X[rng.random(n) < 0.1, 0] = np.nan
    model = HistGradientBoostingClassifier(
        max_iter=5, categorical_features=[1], random_state=0
    ).fit(X, y)
    Xt = X.copy()
    Xt[rng.random(n) < 0.2, 2] = np.nan
    ensemble = _check(model, Xt)
    assert ensemble.is_categorical.tolist() == [False, True, False]
    np.testing.assert_array_equal(ensemble.categories[1], [0, 1, 2, 3, 4])
    frame = pd.DataFrame(
        {"a": a, "c": pd.Categorical(rng.choice(["x", "y", "z"], n)), "d": X[:, 2]}
    )
    y = ((a > 0) ^ (frame["c"] == "y")).astype(int)
    model = HistGradientBoostingClassifier(max_iter=5, random_state=0).fit(frame, y)
    ensemble = _check(model, frame)
    assert list(ensemble.categories[1]) == ["x", "y", "z"]
    Z = ensemble.encode(frame)
    assert set(np.unique(Z[:, 1])) == {0.0, 1.0, 2.0}
    np.testing.assert_array_equal(ensemble.decode(Z)[:, 1], frame["c"].to_numpy())


def test_column_transformer_of_encoders_and_scalers():
    rng = np.random.default_rng(1)
    n = 300
    frame = pd.DataFrame(
        {
            "a": rng.normal(size=n),
            "b": rng.integers(0, 4, n).astype(float),
            "c": rng.choice(["u", "v", "w"], n).astype(object),
            "d": rng.normal(size=n),
        }
    )
    y = ((frame["a"] > 0) ^ (frame["c"] == "v") ^ (frame["b"] > 1)).astype(int)
    pre = make_column_transformer(
        (OneHotEncoder(), ["c"]),
        (StandardScaler(), ["a", "d"]),
        (OrdinalEncoder(), ["b"]),
    )
    for model in (
        RandomForestClassifier(n_estimators=4, max_depth=3, random_state=0),
        GradientBoostingClassifier(n_estimators=4, random_state=0),
    ):
        pipe = make_pipeline(pre, model).fit(frame, y)
        ensemble = _check(pipe, frame)
        assert ensemble.is_categorical.tolist() == [False, True, True, False]
    with pytest.raises(ValueError, match="does not know"):
        ensemble.encode(frame.assign(c="zz"))


def test_errors_say_what_is_not_supported(cancer):
    X, y = cancer
    with pytest.raises(NotPerFeatureError, match="PCA is not a per-feature"):
        TreeEnsemble(make_pipeline(PCA(2), DecisionTreeClassifier()).fit(X, y))
    with pytest.raises(TypeError, match="not a tree model"):
        TreeEnsemble(DummyClassifier().fit(X, y))
    gb = GradientBoostingClassifier(
        n_estimators=2, init=make_pipeline(StandardScaler(), LogisticRegression())
    )
    with pytest.raises(ValueError, match="non-constant `init`"):
        TreeEnsemble(gb.fit(X, y))
    with pytest.raises(ValueError, match="multi-output"):
        TreeEnsemble(DecisionTreeClassifier().fit(X, np.column_stack([y, y])))


def test_ties_follow_the_model(cancer):
    X, y = cancer
    gb = GradientBoostingClassifier(n_estimators=2, random_state=0).fit(X, y)
    hgb = HistGradientBoostingClassifier(max_iter=2, random_state=0).fit(X, y)
    tie = np.array([[0.0, 0.0]])
    # GradientBoosting predicts class 1 when its decision is >= 0, HGB when > 0
    assert TreeEnsemble(gb).decide(tie)[0] == 1
    assert TreeEnsemble(hgb).decide(tie)[0] == 0
