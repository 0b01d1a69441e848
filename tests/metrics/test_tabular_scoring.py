"""Scorers, per-point results and curves on raw mixed DataFrames."""

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_validate
from sklearn.pipeline import make_pipeline

from skrobust.attacks import PGD
from skrobust.metrics import (
    make_robust_scorer,
    robust_accuracy_score,
    robust_predictions,
    robustness_curve,
)

EPS = {"income": 150.0, "debt": 200.0, "accounts": 1, "late": 2}
MUTABLE = [*EPS, "home", "job"]


@pytest.fixture(scope="module")
def pipe(mixed_data):
    model = make_pipeline(mixed_data.preprocessor(), LogisticRegression(max_iter=2000))
    return model.fit(mixed_data.X_train, mixed_data.y_train)


def pgd(**kwargs):
    return PGD(eps=EPS, feature_mask=MUTABLE, bounds="data", n_iter=10, **kwargs)


def test_robust_predictions_return_valid_rows_the_model_agrees_with(pipe, mixed_data):
    X, y = mixed_data.X_test, mixed_data.y_test
    attack = pgd(random_state=0)
    y_adv, X_adv = robust_predictions(pipe, X, y, attack=attack, return_inputs=True)
    assert isinstance(X_adv, pd.DataFrame)
    pd.testing.assert_series_equal(X_adv.dtypes, X.dtypes)
    assert X_adv.index.equals(X.index)
    # the returned rows are what the predictions were made at, by the model
    np.testing.assert_array_equal(pipe.predict(X_adv), y_adv)
    assert (y_adv == y).mean() == robust_accuracy_score(pipe, X, y, attack=attack)
    assert (y_adv == y).mean() < pipe.score(X, y)
    # chunked scoring joins the frames back in order
    y_chunks, X_chunks = robust_predictions(
        pipe, X, y, attack=attack, return_inputs=True, n_jobs=1, chunk_size=40
    )
    np.testing.assert_array_equal(pipe.predict(X_chunks), y_chunks)
    pd.testing.assert_series_equal(X_chunks.dtypes, X.dtypes)
    assert X_chunks.index.equals(X.index)


def test_robust_scorer_in_cross_validate_scores_each_fold_model(mixed_data):
    X, y = mixed_data.X_train, mixed_data.y_train
    model = make_pipeline(mixed_data.preprocessor(), LogisticRegression(max_iter=2000))
    cv = StratifiedKFold(3, shuffle=True, random_state=0)
    attack = pgd(random_state=0)
    scores = cross_validate(
        model,
        X,
        y,
        cv=cv,
        scoring={"clean": "accuracy", "robust": make_robust_scorer(attack)},
    )
    for k, (train, test) in enumerate(cv.split(X, y)):  # hand-written folds
        fitted = clone(model).fit(X.iloc[train], y.iloc[train])
        expected = robust_accuracy_score(
            fitted, X.iloc[test], y.iloc[test], attack=attack
        )
        assert scores["test_robust"][k] == pytest.approx(expected)
        assert scores["test_robust"][k] < scores["test_clean"][k]


def test_curve_scales_a_per_column_budget(pipe, mixed_data):
    X, y = mixed_data.X_test, mixed_data.y_test
    attack = pgd(random_state=0)
    with pytest.warns(UserWarning, match="below one step"):  # 0.5 of one step
        eps, acc = robustness_curve(pipe, X, y, attack=attack, epsilons=[0, 0.5, 1])
    assert acc[0] == pipe.score(X, y)
    assert acc[0] >= acc[1] >= acc[2]
    # the curve at 1 is the attack's own budget (a point must survive every
    # smaller budget too, so it never exceeds the score at that budget)
    assert acc[2] <= robust_accuracy_score(pipe, X, y, attack=attack)
    assert attack.eps == EPS  # the user's attack is left alone


def test_certificates_refuse_raw_tabular_pipelines_clearly(pipe, mixed_data):
    from skrobust.certification import certified_radius, certify, interval_bounds

    X, y = mixed_data.X_test.iloc[:5], mixed_data.y_test.iloc[:5]
    for method in ("crown", "lipschitz", "milp"):
        with pytest.raises(ValueError, match="raw tabular columns"):
            certify(pipe, X, y, eps=0.1, method=method)
        with pytest.raises(ValueError, match="raw tabular columns"):
            certified_radius(pipe, X, y, method=method)
    with pytest.raises(ValueError, match="raw tabular columns"):
        interval_bounds(pipe, X, eps=0.1)
    # the suggested route: the model on the encoded features
    encoded = pipe[0].transform(X)
    assert certify(pipe[1:], encoded, y, eps=0.0).dtype == bool


def test_curve_display_says_the_units_of_the_budget(pipe, mixed_data):
    from skrobust.metrics import RobustnessCurveDisplay

    pytest.importorskip("matplotlib")
    X, y = mixed_data.X_test.iloc[:30], mixed_data.y_test.iloc[:30]
    with pytest.warns(UserWarning, match="below one step"):
        display = RobustnessCurveDisplay.from_estimator(
            pipe, X, y, attack=pgd(random_state=0), epsilons=[0.0, 0.5, 1.0]
        )
    assert display.ax_.get_xlabel() == "eps (linf, x per-feature budget)"
    scaled = PGD(eps=0.3, eps_units="std", n_iter=5, random_state=0)
    display = RobustnessCurveDisplay.from_estimator(
        pipe, X, y, attack=scaled, epsilons=[0.0, 0.3]
    )
    assert display.ax_.get_xlabel() == "eps (linf, std units)"
