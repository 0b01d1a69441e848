"""Black-box attacks: the query wrapper, SquareAttack and HopSkipJump."""

import warnings

import numpy as np
import pytest
import torch
from sklearn.datasets import load_breast_cancer, load_iris
from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import KBinsDiscretizer, StandardScaler
from sklearn.svm import SVC

from skrobust import DifferentiableModel, NotDifferentiableError
from skrobust.attacks import (
    PGD,
    HopSkipJump,
    LinearExactAttack,
    SquareAttack,
)
from skrobust.attacks._blackbox import BlackBoxModel, query_model
from skrobust.attacks._functional import p_selection
from skrobust.metrics import make_robust_scorer, robustness_curve


@pytest.fixture(scope="module")
def cancer():
    X, y = load_breast_cancer(return_X_y=True)
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, stratify=y, random_state=0)
    forest = RandomForestClassifier(n_estimators=10, max_depth=6, random_state=0)
    return X_tr, X_te[:60], y_tr, y_te[:60], forest.fit(X_tr, y_tr)


def _scaled(X_adv, X, attack):
    return (X_adv - X) / attack.data_std_


# -- the query wrapper ------------------------------------------------------------


def test_black_box_model_scores_match_the_estimator(cancer):
    X_tr, X, y_tr, _, forest = cancer
    x = torch.as_tensor(X)
    proba = BlackBoxModel(forest)
    np.testing.assert_allclose(
        proba(x).exp().numpy(), np.clip(forest.predict_proba(X), 1e-12, None)
    )
    svc = SVC().fit(X_tr, y_tr)
    d = svc.decision_function(X)
    scores = BlackBoxModel(svc)(x).numpy()
    np.testing.assert_allclose(scores[:, 1] - scores[:, 0], d)
    labels = BlackBoxModel(forest, response="predict")
    one_hot = labels(x).numpy()
    np.testing.assert_array_equal(forest.classes_[one_hot.argmax(1)], forest.predict(X))
    assert set(np.unique(one_hot)) <= {0.0, 1.0}
    assert labels.n_queries == len(X)
    with pytest.raises(ValueError, match="has no 'decision_function'"):
        BlackBoxModel(forest, response="decision_function")


def test_black_box_model_passes_feature_names(cancer_data):
    forest = RandomForestClassifier(n_estimators=3, random_state=0)
    forest.fit(cancer_data.X_train, cancer_data.y_train)
    model = BlackBoxModel(forest)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model(torch.tensor(cancer_data.X_test.to_numpy()[:5]))


def test_query_model_prefers_the_torch_view(cancer):
    X_tr, _, y_tr, _, forest = cancer
    linear = make_pipeline(StandardScaler(), LogisticRegression()).fit(X_tr, y_tr)
    assert isinstance(query_model(linear), DifferentiableModel)
    assert isinstance(query_model(forest), BlackBoxModel)
    binned = make_pipeline(
        KBinsDiscretizer(n_bins=4, quantile_method="averaged_inverted_cdf"),
        LogisticRegression(),
    ).fit(X_tr, y_tr)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no partial-view warning either
        assert isinstance(query_model(binned), BlackBoxModel)


def test_p_selection_follows_the_reference_schedule():
    got = [p_selection(0.8, it, 10000) for it in (0, 10, 11, 51, 201, 9000, 10001)]
    assert got == [0.8, 0.8, 0.4, 0.2, 0.1, 0.8 / 512, 0.8]
    assert p_selection(0.8, 50, 100) == 0.8 / 128  # rescaled to 10,000 queries


# -- SquareAttack -----------------------------------------------------------------


@pytest.mark.parametrize("norm", ["linf", "l2"])
def test_square_lowers_forest_accuracy_within_budget_and_bounds(cancer, norm):
    X_tr, X, _, y, forest = cancer
    eps = {"linf": 0.3, "l2": 1.0}[norm]
    mask = np.ones(X.shape[1], dtype=bool)
    mask[:3] = False
    attack = SquareAttack(
        forest,
        eps=eps,
        norm=norm,
        eps_units="std",
        bounds="data",
        feature_mask=mask,
        n_queries=150,
        random_state=0,
    ).fit(X_tr)
    X_adv = attack.generate(X, y)
    assert forest.score(X_adv, y) < forest.score(X, y) - 0.1
    u = _scaled(X_adv, X, attack)
    size = np.abs(u).max(1) if norm == "linf" else np.linalg.norm(u, axis=1)
    assert size.max() <= 1 + 1e-9 and eps * size.max() > 0
    np.testing.assert_array_equal(X_adv[:, :3], X[:, :3])
    low = np.minimum(attack.data_min_, X)
    high = np.maximum(attack.data_max_, X)
    assert (X_adv >= low).all() and (X_adv <= high).all()


def test_square_on_images_uses_squares_and_never_gradients(digits_cnn, digits_data):
    X, y = digits_data.images_test[:40], digits_data.y_test[:40]
    grad_modes = []
    hook = digits_cnn.net_.module_.register_forward_hook(
        lambda *_: grad_modes.append(torch.is_grad_enabled())
    )
    try:
        attack = SquareAttack(
            digits_cnn, eps=0.15, bounds=(0, 1), n_queries=150, random_state=0
        )
        X_adv = attack.generate(X, y)
    finally:
        hook.remove()
    assert grad_modes and not any(grad_modes)
    assert digits_cnn.score(X_adv, y) < digits_cnn.score(X, y)
    assert np.abs(X_adv - X).max() <= 0.15 + 1e-6
    assert X_adv.min() >= 0 and X_adv.max() <= 1 and X_adv.dtype == X.dtype


def test_square_perturb_counts_queries_per_point(cancer):
    _, X, _, y, forest = cancer
    attack = SquareAttack(forest, eps=0.5, n_queries=7, random_state=0)
    model = BlackBoxModel(forest)
    x0 = torch.as_tensor(X)
    labels = torch.as_tensor(y)
    constraints = attack._constraints(X.shape[1:], None)
    _, queries = attack.perturb(model, x0, labels, constraints)
    assert queries.max() <= 7
    wrong = forest.predict(X) != y
    assert (queries[torch.as_tensor(wrong)] == 0).all()
    assert model.n_queries <= len(X) + 7 * int((~wrong).sum())


def test_square_targeted_and_direction():
    X, y = load_iris(return_X_y=True)
    knn = KNeighborsClassifier(5).fit(X, y)
    target = (y + 1) % 3
    attack = SquareAttack(knn, eps=1.5, n_queries=200, random_state=0)
    hit = knn.predict(attack.generate(X, y, target=target)) == target
    assert hit.mean() > 0.5
    up = SquareAttack(knn, eps=1.0, direction=[1, 1, 0, -1], random_state=0)
    delta = up.set_params(n_queries=50).generate(X, y) - X
    assert (delta[:, :2] >= 0).all() and (delta[:, 3] <= 0).all()
    assert (delta[:, 2] < 0).any() and (delta[:, 2] > 0).any()  # 0: free


def test_square_on_pipeline_with_non_differentiable_step(cancer):
    X_tr, X, y_tr, y, _ = cancer
    binned = make_pipeline(
        KBinsDiscretizer(n_bins=5, quantile_method="averaged_inverted_cdf"),
        LogisticRegression(max_iter=1000),
    ).fit(X_tr, y_tr)
    attack = SquareAttack(
        binned, eps=0.5, eps_units="std", n_queries=100, random_state=0
    ).fit(X_tr)
    X_adv = attack.generate(X, y)  # raw features, through the whole pipeline
    assert X_adv.shape == X.shape
    assert binned.score(X_adv, y) < binned.score(X, y)


def test_white_box_attacks_still_refuse_non_differentiable_models(cancer):
    _, X, _, y, forest = cancer
    with pytest.raises(NotDifferentiableError, match="black-box"):
        PGD(forest, eps=0.1).generate(X, y)


# -- HopSkipJump ------------------------------------------------------------------


@pytest.mark.parametrize("norm", ["l2", "linf"])
def test_hopskipjump_lowers_forest_accuracy_within_budget_and_bounds(cancer, norm):
    X_tr, X, _, y, forest = cancer
    attack = HopSkipJump(
        forest,
        eps=0.5 if norm == "linf" else 1.5,
        norm=norm,
        eps_units="std",
        bounds="data",
        max_iter=8,
        init_eval=50,
        random_state=0,
    ).fit(X_tr)
    X_adv = attack.generate(X, y)
    assert forest.score(X_adv, y) < forest.score(X, y) - 0.1
    u = _scaled(X_adv, X, attack)
    size = np.abs(u).max(1) if norm == "linf" else np.linalg.norm(u, axis=1)
    assert size.max() <= attack.eps + 1e-9
    low = np.minimum(attack.data_min_, X)
    high = np.maximum(attack.data_max_, X)
    assert (X_adv >= low).all() and (X_adv <= high).all()


def test_hopskipjump_minimal_norms_near_the_exact_ones(cancer):
    X_tr, X, y_tr, y, _ = cancer
    clf = make_pipeline(StandardScaler(), LogisticRegression()).fit(X_tr, y_tr)
    exact = LinearExactAttack(clf).minimal_norms(X, y)
    found = HopSkipJump(clf, max_iter=15, random_state=0).minimal_norms(X, y)
    ok = np.isfinite(exact) & (exact > 0)
    ratio = found[ok] / exact[ok]
    assert ratio.min() >= 1 - 1e-6  # the exact norm is a lower bound
    assert np.median(ratio) < 1.05
    X_adv = HopSkipJump(clf, max_iter=15, random_state=0).generate(X, y)
    sizes = np.linalg.norm(X_adv - X, axis=1)
    np.testing.assert_allclose(sizes[ok], found[ok], rtol=1e-6)


def test_hopskipjump_mask_direction_and_labels_only(cancer):
    X_tr, X, y_tr, y, _ = cancer
    boosting = GradientBoostingClassifier(n_estimators=10, random_state=0)
    boosting.fit(X_tr, y_tr)
    mask = np.zeros(X.shape[1], dtype=bool)
    mask[[0, 2, 3, 20, 22, 23]] = True  # the size features only
    direction = np.where(np.arange(X.shape[1]) == 0, -1, 0)
    attack = HopSkipJump(
        boosting, feature_mask=mask, direction=direction, max_iter=3, random_state=0
    )
    X_adv = attack.generate(X, y)
    delta = X_adv - X
    assert (delta[:, ~mask] == 0).all() and (delta[:, 0] <= 0).all()
    assert boosting.score(X_adv, y) < boosting.score(X, y)


def test_early_stop_stops_inside_the_budget(cancer):
    X_tr, X, _, y, forest = cancer
    kwargs = dict(eps=1.0, eps_units="std", max_iter=6, random_state=0)
    slow = HopSkipJump(forest, **kwargs).fit(X_tr)
    fast = HopSkipJump(forest, early_stop=True, **kwargs).fit(X_tr)
    assert forest.score(fast.generate(X, y), y) <= forest.score(X, y)
    assert (fast.minimal_norms(X, y) >= slow.minimal_norms(X, y) - 1e-9).all()


# -- scoring any classifier -------------------------------------------------------


def test_robust_scorer_scores_a_forest_with_black_box_attacks(cancer):
    X_tr, X, _, y, forest = cancer
    square = SquareAttack(
        eps=0.3, eps_units="std", bounds="data", n_queries=100, random_state=0
    ).fit(X_tr)
    score = make_robust_scorer(square)(forest, X, y)
    X_adv = square.set_params(estimator=forest).generate(X, y)
    assert score == forest.score(X_adv, y) < forest.score(X, y)
    hsj = HopSkipJump(eps=0.3, eps_units="std", max_iter=4, random_state=0).fit(X_tr)
    both = make_robust_scorer([square, hsj])(forest, X, y)
    assert both <= score
    auc = make_robust_scorer(square, metric="roc_auc")(forest, X, y)
    assert 0 <= auc < 1


def test_robustness_curve_of_a_forest_from_minimal_norms(cancer):
    X_tr, X, _, y, forest = cancer
    attack = HopSkipJump(eps_units="std", max_iter=4, random_state=0).fit(X_tr)
    eps, curve = robustness_curve(
        forest, X, y, attack=attack, epsilons=[0.0, 0.5, 1.0, 4.0]
    )
    assert curve[0] == forest.score(X, y)
    assert np.all(np.diff(curve) <= 0) and curve[-1] < curve[0]


def test_square_repairs_integer_and_one_hot_features():
    rng = np.random.RandomState(0)
    counts = rng.randint(0, 5, size=(200, 1)).astype(float)
    category = np.eye(3)[rng.randint(0, 3, size=200)]
    noise = rng.normal(size=(200, 2))
    X = np.hstack([counts, category, noise])
    y = (counts[:, 0] + category[:, 1] * 2 + noise[:, 0] > 2.5).astype(int)
    forest = RandomForestClassifier(n_estimators=5, random_state=0).fit(X, y)
    attack = SquareAttack(
        forest,
        eps=np.array([2.0, 1.0, 1.0, 1.0, 0.5, 0.5]),
        integer_features=[0],
        one_hot_groups=[[1, 2, 3]],
        n_queries=50,
        random_state=0,
    )
    X_adv = attack.generate(X, y)
    steps = X_adv[:, 0] - X[:, 0]
    np.testing.assert_array_equal(steps, np.round(steps))
    assert set(np.unique(X_adv[:, 1:4])) <= {0.0, 1.0}
    np.testing.assert_array_equal(X_adv[:, 1:4].sum(axis=1), 1.0)
    assert forest.score(X_adv, y) <= forest.score(X, y)
