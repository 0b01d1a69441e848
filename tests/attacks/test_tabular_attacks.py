"""Attacks on raw mixed DataFrames through ColumnTransformer pipelines.

Outputs are valid rows of the user's frame (dtypes, known categories,
integers, bounds, immutable columns, budgets, at most ``max_changes``
discrete changes), the pipeline scores them, and on a discrete threat model
small enough to enumerate the attacks reach the exact robust accuracy.
"""

import itertools
import warnings

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from skorch import NeuralNetClassifier

from skrobust import SkorchClassifier
from skrobust.attacks import FGSM, PGD, SquareAttack
from skrobust.metrics import robust_accuracy_score
from skrobust.nn import MLP

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

EPS = {"income": 150.0, "debt": 200.0, "savings": 400.0, "accounts": 1, "late": 2}
MUTABLE = ["income", "debt", "savings", "accounts", "late", "home", "job"]


def skorch_net():
    net = NeuralNetClassifier(
        MLP,
        module__hidden_layer_sizes=(16,),
        criterion=torch.nn.CrossEntropyLoss,
        optimizer=torch.optim.Adam,
        lr=0.01,
        max_epochs=30,
        batch_size=64,
        train_split=None,
        verbose=0,
    )
    return SkorchClassifier(net, random_state=0)


MODELS = {
    "logreg": lambda: LogisticRegression(max_iter=2000),
    "mlp": lambda: MLPClassifier((16,), max_iter=1000, random_state=0),
    "skorch": skorch_net,
    "hgb": lambda: HistGradientBoostingClassifier(max_iter=30, random_state=0),
}

_FITTED = {}


def fitted(name, data):
    if name not in _FITTED:
        pipe = make_pipeline(data.preprocessor(), MODELS[name]())
        _FITTED[name] = pipe.fit(data.X_train, data.y_train)
    return _FITTED[name]


def attack_for(name, **kwargs):
    params = dict(
        eps=EPS, feature_mask=MUTABLE, bounds="data", random_state=0, **kwargs
    )
    if name == "hgb":  # no gradient: the score-based attack
        return SquareAttack(n_queries=300, **params)
    return PGD(n_iter=30, **params)


def assert_valid(X_adv, X, data, *, eps=EPS, mutable=MUTABLE, max_changes=None):
    """Every returned row is a valid row of X's frame under the threat model."""
    assert isinstance(X_adv, pd.DataFrame)
    assert list(X_adv.columns) == list(X.columns)
    assert X_adv.index.equals(X.index)
    pd.testing.assert_series_equal(X_adv.dtypes, X.dtypes)
    low, high = data.X_train.min(numeric_only=True), data.X_train.max(numeric_only=True)
    for column in X.columns:
        new, old = X_adv[column], X[column]
        moved = ~((new == old) | (new.isna() & old.isna()))
        if column not in mutable:
            assert not moved.any(), column
            continue
        if column in data.categorical:
            known = set(data.X_train[column].dropna())
            assert set(new[moved]) <= known, column
            continue
        assert not (old.isna() & moved).any()  # missing values stay missing
        delta = (new - old)[moved].abs()
        assert (delta <= eps.get(column, 0) * (1 + 1e-9)).all(), column
        inside = (new[moved] >= min(low[column], old.min())) & (
            new[moved] <= max(high[column], old.max())
        )
        assert inside.all(), column
        if X[column].dtype.kind == "i":
            assert (new == np.round(new)).all()
    if max_changes is not None:
        discrete = ["accounts", "late", *data.categorical]
        changes = sum((X_adv[c] != X[c]).astype(int) for c in discrete)
        assert (changes <= max_changes).all()


@pytest.mark.parametrize("name", MODELS)
def test_mixed_frame_attack_is_valid_and_lowers_accuracy(mixed_data, name):
    pipe = fitted(name, mixed_data)
    X, y = mixed_data.X_test, mixed_data.y_test
    X_before = X.copy()
    attack = attack_for(name).set_params(estimator=pipe).fit(mixed_data.X_train)
    X_adv = attack.generate(X, y)
    pd.testing.assert_frame_equal(X, X_before)  # input untouched
    assert_valid(X_adv, X, mixed_data)
    clean, robust = pipe.score(X, y), pipe.score(X_adv, y)
    assert robust < clean
    # the scorer attacks the same threat model through the same route
    scored = robust_accuracy_score(pipe, X, y, attack=attack)
    assert scored <= clean and scored < clean


@pytest.mark.parametrize("name", ["mlp", "hgb"])
def test_max_changes_caps_discrete_changes(mixed_data, name):
    pipe = fitted(name, mixed_data)
    X, y = mixed_data.X_test, mixed_data.y_test
    attack = attack_for(name, max_changes=1).set_params(estimator=pipe)
    X_adv = attack.fit(mixed_data.X_train).generate(X, y)
    assert_valid(X_adv, X, mixed_data, max_changes=1)
    uncapped = attack_for(name).set_params(estimator=pipe)
    uncapped = uncapped.fit(mixed_data.X_train).generate(X, y)
    assert pipe.score(X_adv, y) >= pipe.score(uncapped, y) - 0.02


def test_allowed_categories_are_respected(mixed_data):
    X, y = mixed_data.X_test, mixed_data.y_test
    attack = attack_for("logreg", allowed_categories={"home": ["rent"]})
    attack.set_params(estimator=fitted("logreg", mixed_data))
    X_adv = attack.fit(mixed_data.X_train).generate(X, y)
    switched = X_adv["home"] != X["home"]
    assert switched.any() and (X_adv["home"][switched] == "rent").all()


def test_reordered_columns_give_identical_attacks_and_scores(mixed_data):
    pipe = fitted("mlp", mixed_data)
    X, y = mixed_data.X_test, mixed_data.y_test
    X_rev = X[X.columns[::-1]]
    for attack in (attack_for("mlp"), attack_for("hgb")):
        attack = attack.set_params(estimator=pipe).fit(mixed_data.X_train)
        X_adv = attack.generate(X, y)
        X_adv_rev = attack.generate(X_rev, y)
        assert list(X_adv_rev.columns) == list(X_rev.columns)
        pd.testing.assert_frame_equal(X_adv_rev[X.columns], X_adv)
        assert robust_accuracy_score(pipe, X_rev, y, attack=attack) == (
            robust_accuracy_score(pipe, X, y, attack=attack)
        )


def test_categorical_columns_are_immutable_unless_named(mixed_data):
    pipe = fitted("logreg", mixed_data)
    X = mixed_data.X_test
    X_adv = PGD(pipe, eps=EPS, bounds="data").fit(mixed_data.X_train).generate(X)
    pd.testing.assert_frame_equal(X_adv[["home", "job"]], X[["home", "job"]])
    moved = (X_adv[["income", "debt"]] != X[["income", "debt"]]).any(axis=None)
    assert moved


def test_budget_below_one_step_of_an_integer_warns(mixed_data):
    pipe = fitted("logreg", mixed_data)
    attack = PGD(pipe, eps={"accounts": 0.5, "income": 100.0})
    with pytest.warns(UserWarning, match="below one step"):
        attack.generate(mixed_data.X_test)


def test_fgsm_outputs_valid_rows(mixed_data):
    pipe = fitted("mlp", mixed_data)
    X, y = mixed_data.X_test, mixed_data.y_test
    attack = FGSM(pipe, eps=EPS, feature_mask=MUTABLE, bounds="data")
    assert_valid(attack.fit(mixed_data.X_train).generate(X, y), X, mixed_data)


# -------------------------------------------------- exactness by enumeration

FREE = {"accounts": 1, "late": 1}  # small integer ranges, one step each way
CATEGORIES = ["home", "job"]


def exact_robust(pipe, X, y, data):
    """Robust per row: every reachable row (categories x integer steps inside
    the data's range) is still classified right."""
    low = data.X_train[list(FREE)].min()
    high = data.X_train[list(FREE)].max()
    options = [sorted(set(data.X_train[c].dropna())) for c in CATEGORIES]
    owner, combos = [], []
    for i, (_, row) in enumerate(X[list(FREE)].iterrows()):
        steps = [
            range(int(max(low[c], row[c] - s)), int(min(high[c], row[c] + s)) + 1)
            for c, s in FREE.items()
        ]
        for combo in itertools.product(*options, *steps):
            owner.append(i)
            combos.append(combo)
    frame = X.iloc[owner].copy()
    values = list(zip(*combos))
    for k, column in enumerate(CATEGORIES + list(FREE)):
        frame[column] = pd.Series(values[k], index=frame.index).astype(X[column].dtype)
    correct = pipe.predict(frame) == np.asarray(y)[owner]
    return np.logical_and.reduceat(
        correct, np.r_[0, np.flatnonzero(np.diff(owner)) + 1]
    )


@pytest.mark.parametrize("name", ["logreg", "mlp", "hgb"])
def test_attack_reaches_the_enumerated_exact_robust_accuracy(mixed_data, name):
    pipe = fitted(name, mixed_data)
    X, y = mixed_data.X_test, mixed_data.y_test
    exact = exact_robust(pipe, X, y, mixed_data).mean()
    params = dict(
        eps=FREE, feature_mask=[*FREE, *CATEGORIES], bounds="data", random_state=0
    )
    if name == "hgb":
        attack = SquareAttack(pipe, n_queries=400, **params)
    else:
        attack = PGD(pipe, n_iter=20, n_restarts=3, **params)
    attack.fit(mixed_data.X_train)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # budgets allow one step
        found = robust_accuracy_score(pipe, X, y, attack=attack)
    assert exact <= found <= exact + 0.02, (exact, found)
    assert found < pipe.score(X, y)
    # the returned rows are in the enumerated set: never below the exact value
    assert_valid(
        attack.generate(X, y),
        X,
        mixed_data,
        eps=FREE,
        mutable=[*FREE, *CATEGORIES],
    )


@pytest.mark.parametrize("name", ["logreg", "mlp"])
def test_one_free_categorical_column_is_searched_completely(mixed_data, name):
    """With one categorical column free the reachable set is its categories;
    the gradient attacks polish categories by trying each, so they are exact."""
    pipe = fitted(name, mixed_data)
    X, y = mixed_data.X_test, mixed_data.y_test
    correct = np.ones(len(X), dtype=bool)
    for category in sorted(set(mixed_data.X_train["home"])):
        correct &= pipe.predict(X.assign(home=category)) == y
    exact = correct.mean()
    assert exact < pipe.score(X, y)
    for attack in (FGSM(pipe, eps=0.0), PGD(pipe, eps=0.0, n_iter=3)):
        attack.set_params(feature_mask=["home"], random_state=0)
        assert robust_accuracy_score(pipe, X, y, attack=attack) == exact
        X_adv = attack.generate(X, y)
        pd.testing.assert_frame_equal(
            X_adv.drop(columns="home"), X.drop(columns="home")
        )


def test_pgd_with_integer_features_is_within_three_points_of_square(mixed_data):
    """Integer features repaired inside the loop: PGD no longer overestimates
    robustness against a black-box attack on the same threat model."""
    pipe = fitted("mlp", mixed_data)
    X, y = mixed_data.X_test, mixed_data.y_test
    params = dict(
        eps={"income": 150.0, "debt": 200.0, "accounts": 1, "late": 2},
        feature_mask=["income", "debt", "accounts", "late"],
        bounds="data",
        random_state=0,
    )
    pgd = PGD(pipe, n_iter=20, **params).fit(mixed_data.X_train)
    square = SquareAttack(pipe, n_queries=300, **params).fit(mixed_data.X_train)
    by_pgd = robust_accuracy_score(pipe, X, y, attack=pgd)
    by_square = robust_accuracy_score(pipe, X, y, attack=square)
    assert by_pgd < pipe.score(X, y)
    assert abs(by_pgd - by_square) <= 0.03, (by_pgd, by_square)


@pytest.mark.parametrize("attack_class", [PGD, SquareAttack])
def test_lower_precision_columns_keep_dtype_and_budget_exactly(attack_class):
    """float32 / int32 / category / string columns come back in their dtype,
    and casting to float32 never leaves the budget (it rounds toward clean)."""
    from sklearn.compose import make_column_transformer
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    rng = np.random.default_rng(0)
    n = 60
    X = pd.DataFrame(
        {
            "a": rng.normal(size=n).astype(np.float32),
            "k": rng.integers(0, 5, n).astype(np.int32),
            "c": pd.Categorical(rng.choice(["x", "y", "z"], n)),
            "s": rng.choice(["u", "v"], n),
        }
    )
    y = (X["a"] + (X["c"] == "x") + 0.3 * X["k"] > 1).astype(int)
    ct = make_column_transformer(
        (OneHotEncoder(), ["c", "s"]), (StandardScaler(), ["a", "k"])
    )
    pipe = make_pipeline(ct, LogisticRegression()).fit(X, y)
    before = X.copy()
    attack = attack_class(
        pipe, eps={"a": 0.5, "k": 1}, feature_mask=["a", "k", "c", "s"]
    )
    if attack_class is SquareAttack:  # the default 5,000 queries: ~40 s here
        attack.set_params(n_queries=300)
    X_adv = attack.set_params(random_state=0).generate(X, y)
    pd.testing.assert_frame_equal(X, before)
    pd.testing.assert_series_equal(X_adv.dtypes, X.dtypes)
    assert (np.abs(X_adv["a"] - X["a"]) <= np.float32(0.5)).all()
    assert (np.abs(X_adv["k"] - X["k"]) <= 1).all()
    assert pipe.score(X_adv, y) < pipe.score(X, y)
