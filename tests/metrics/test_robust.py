"""Robust and certified scorers, robustness curves: equal to hand computations.

Most exact comparisons use PGD with ``random_init=False``. The scorer forces
early stopping and attacks only the points the model gets right on clean
inputs; with a random start, the noise each point draws depends on which
points share its batch, so the scorer and a run over all of ``X`` would start
from different points. Without it, every point's trajectory is a
deterministic function of that point alone: early stopping merely freezes it
at its first adversarial iterate, and ``generate(..., early_stop=True)`` on
the whole of ``X`` takes exactly the same steps.
"""

import copy
import pickle
import warnings

import numpy as np
import pytest
import torch
from scipy.special import softmax
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import (
    fbeta_score,
    get_scorer,
    log_loss,
    make_scorer,
    matthews_corrcoef,
    roc_auc_score,
)
from sklearn.model_selection import (
    GridSearchCV,
    KFold,
    cross_validate,
    validation_curve,
)
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import KBinsDiscretizer, StandardScaler
from skorch import NeuralNetClassifier
from skorch.callbacks import EpochScoring
from skorch.dataset import ValidSplit

from skrobust import (
    NotDifferentiableError,
    PartiallyDifferentiableWarning,
    SkorchClassifier,
    as_differentiable,
)
from skrobust.attacks import FGSM, PGD
from skrobust.metrics import (
    CertifiedScorer,
    RobustScorer,
    certified_accuracy_score,
    make_certified_scorer,
    make_robust_scorer,
    robust_accuracy_score,
    robustness_curve,
)
from skrobust.metrics._robust import worst_case
from skrobust.nn import MLP

N_TEST = 150  # digits test points scored (of 450)


def pgd(**kwargs):
    """Deterministic PGD (no random start): see the module docstring."""
    params = dict(n_iter=5, random_init=False)
    return PGD(**{**params, **kwargs})


def robust_mask(estimator, X, y, attack):
    """By hand: correct on the clean input and on ``attack.generate(X, y)``."""
    view = as_differentiable(estimator)
    # a shallow copy keeps the statistics of a fitted attack
    X_adv = copy.copy(attack).set_params(estimator=estimator).generate(X, y)
    return (view.predict(X) == y) & (view.predict(X_adv, in_space=True) == y)


@pytest.fixture(scope="module")
def digits(digits_data, digits_mlp):
    return digits_mlp, digits_data.X_test[:N_TEST], digits_data.y_test[:N_TEST]


@pytest.fixture(scope="module")
def cancer(cancer_data, cancer_logreg_pipeline):
    return cancer_logreg_pipeline, cancer_data.X_test, cancer_data.y_test


# -- the scorer is accuracy on the attack's output -----------------------------


@pytest.mark.parametrize("eps", [0.05, 0.1])
def test_scorer_equals_accuracy_on_pgd_output(digits, eps):
    clf, X, y = digits
    attack = pgd(eps=eps, bounds=(0.0, 1.0))
    score = make_robust_scorer(attack)(clf, X, y)

    stopped = robust_mask(clf, X, y, attack.set_params(early_stop=True))
    assert score == stopped.mean()
    assert 0 < score < clf.score(X, y)
    # pointwise: the scorer's predictions are the attacked ones
    y_pred, _, _ = worst_case(clf, X, y, [attack])
    view = as_differentiable(clf)
    X_adv = copy.copy(attack).set_params(estimator=clf).generate(X, y)
    clean = view.predict(X)
    np.testing.assert_array_equal(
        y_pred, np.where(clean == y, view.predict(X_adv), clean)
    )
    # Without early stopping a point may wander out of the adversarial region
    # before the last step, so the attack's own output can only be as strong.
    full = robust_mask(clf, X, y, attack.set_params(early_stop=False))
    assert score <= full.mean()


def test_scorer_equals_accuracy_on_fgsm_output_exactly(digits, cancer):
    for clf, X, y, eps in [(*digits, 0.1), (*cancer, 0.5)]:
        attack = FGSM(eps=eps, eps_units="std" if eps == 0.5 else "raw")
        if eps == 0.5:
            attack.fit(X)  # the scorer uses the statistics of a fitted attack
        expected = robust_mask(clf, X, y, attack).mean()
        assert robust_accuracy_score(clf, X, y, attack=attack) == expected
        assert make_robust_scorer(attack)(clf, X, y) == expected


def test_scorer_fits_data_statistics_on_scored_X_without_touching_attack(cancer):
    clf, X, y = cancer
    attack = pgd(eps=0.5, eps_units="std", bounds="data")
    before = attack.get_params()
    score = make_robust_scorer(attack)(clf, X, y)
    assert attack.get_params() == before
    assert not hasattr(attack, "data_std_")  # the user's attack stays unfitted
    hand = clone(attack).set_params(early_stop=True).fit(X)
    assert score == robust_mask(clf, X, y, hand).mean()


def test_list_of_attacks_is_pointwise_worst_case(digits):
    clf, X, y = digits
    attacks = [
        FGSM(eps=0.08, bounds=(0.0, 1.0)),
        pgd(eps=0.4, norm="l2", bounds=(0.0, 1.0), early_stop=True),
        pgd(eps=2.0, norm="l1", bounds=(0.0, 1.0), early_stop=True),
    ]
    masks = [robust_mask(clf, X, y, a) for a in attacks]
    each = [robust_accuracy_score(clf, X, y, attack=a) for a in attacks]
    assert each == [m.mean() for m in masks]
    worst = np.logical_and.reduce(masks)
    # the attacks break different points, so the worst case is stronger
    assert worst.mean() < min(each)
    assert robust_accuracy_score(clf, X, y, attack=attacks) == worst.mean()
    assert make_robust_scorer(attacks[::-1])(clf, X, y) == worst.mean()
    y_pred, _, _ = worst_case(clf, X, y, attacks)
    np.testing.assert_array_equal(y_pred == y, worst)


# -- any metric ------------------------------------------------------------------

BINARY_METRICS = [
    "accuracy",
    "balanced_accuracy",
    "f1_macro",
    "f1",
    "roc_auc",
    "neg_log_loss",
    "neg_brier_score",
    "average_precision",
]


@pytest.mark.parametrize("metric", BINARY_METRICS)
def test_metric_at_eps_zero_equals_sklearn_scorer_binary(cancer, metric):
    clf, X, y = cancer
    robust = make_robust_scorer(PGD(eps=0.0), metric=metric)
    assert robust.__name__ == f"robust_{metric}"
    expected = get_scorer(metric)(clf, X, y)
    assert robust(clf, X, y) == pytest.approx(expected, rel=1e-6, abs=1e-9)


# SkorchClassifier.predict_proba casts the net's float32 probabilities to
# float64, where sklearn finds that they do not sum to one closely enough
@pytest.mark.filterwarnings("ignore:The y_prob values do not sum to one")
@pytest.mark.parametrize("metric", ["balanced_accuracy", "f1_macro", "neg_log_loss"])
def test_metric_at_eps_zero_equals_sklearn_scorer_multiclass(digits, metric):
    clf, X, y = digits
    robust = make_robust_scorer(PGD(eps=0.0), metric=metric)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # ours are float32 probabilities that do
        score = robust(clf, X, y)
    # the network computes in float32
    expected = get_scorer(metric)(clf, X, y)
    assert score == pytest.approx(expected, rel=1e-5)


def test_callable_and_make_scorer_metrics(cancer):
    clf, X, y = cancer
    zero = PGD(eps=0.0)
    mcc = make_robust_scorer(zero, metric=matthews_corrcoef)
    assert mcc.__name__ == "robust_matthews_corrcoef"
    assert mcc(clf, X, y) == matthews_corrcoef(y, clf.predict(X))
    f2 = make_scorer(fbeta_score, beta=2, pos_label=0)
    robust_f2 = make_robust_scorer(zero, metric=f2)
    assert robust_f2.__name__ == "robust_fbeta_score"
    assert robust_f2(clf, X, y) == pytest.approx(f2(clf, X, y), rel=1e-12)


def test_probability_metrics_read_logits_at_adversarial_inputs(cancer):
    clf, X, y = cancer
    attack = pgd(eps=0.3, eps_units="std").fit(X)
    y_pred, logits, _ = worst_case(clf, X, y, [attack])
    assert (y_pred != clf.predict(X)).any()
    proba = softmax(logits, axis=1)[:, 1]
    auc = make_robust_scorer(attack, metric="roc_auc")(clf, X, y)
    assert auc == pytest.approx(roc_auc_score(y, proba), rel=1e-12)
    assert auc < get_scorer("roc_auc")(clf, X, y)
    nll = make_robust_scorer(attack, metric="neg_log_loss")(clf, X, y)
    assert nll == pytest.approx(-log_loss(y, proba), rel=1e-12)
    assert nll < get_scorer("neg_log_loss")(clf, X, y)
    for metric in ["balanced_accuracy", "f1_macro", matthews_corrcoef]:
        robust = make_robust_scorer(attack, metric=metric)(clf, X, y)
        assert robust < make_robust_scorer(PGD(eps=0.0), metric=metric)(clf, X, y)


# -- model selection ---------------------------------------------------------------


def test_grid_search_refits_on_robust_score_and_scores_each_fold_model(cancer_data):
    X, y = cancer_data.X_train, cancer_data.y_train
    robust = make_robust_scorer(FGSM(eps=0.3, eps_units="std").fit(X))
    model = make_pipeline(StandardScaler(), LogisticRegression())
    grid = {"logisticregression__C": [1e-3, 1e-1, 1e2]}
    cv = KFold(3)
    search = GridSearchCV(
        model,
        grid,
        scoring={"clean": "accuracy", "robust": robust},
        refit="robust",
        cv=cv,
        n_jobs=2,  # the scorer is pickled to the workers
    )
    search.fit(X, y)
    res = search.cv_results_
    assert np.all(res["mean_test_robust"] < res["mean_test_clean"])
    assert search.best_index_ == np.argmax(res["mean_test_robust"])
    assert search.best_score_ == res["mean_test_robust"][search.best_index_]
    # here robustness and accuracy disagree on the best C
    assert search.best_index_ != np.argmax(res["mean_test_clean"])
    # each fold's own model is attacked
    train, test = next(cv.split(X))
    for i, params in enumerate(res["params"]):
        fold_model = clone(model).set_params(**params).fit(X.iloc[train], y.iloc[train])
        expected = robust(fold_model, X.iloc[test], y.iloc[test])
        assert res["split0_test_robust"][i] == pytest.approx(expected, abs=1e-12)


def test_grid_search_over_skorch_classifier(digits_data):
    X, y = digits_data.X_train[:300], digits_data.y_train[:300]
    net = NeuralNetClassifier(
        MLP,
        module__hidden_layer_sizes=(32,),
        criterion=torch.nn.CrossEntropyLoss,
        optimizer=torch.optim.Adam,
        lr=0.01,
        max_epochs=5,
        train_split=None,
        verbose=0,
    )
    robust = make_robust_scorer(pgd(eps=0.1, bounds=(0.0, 1.0)))
    search = GridSearchCV(
        SkorchClassifier(net, random_state=0),
        {"net__max_epochs": [1, 8]},
        scoring={"clean": "accuracy", "robust": robust},
        refit="robust",
        cv=2,
    )
    search.fit(X, y)
    res = search.cv_results_
    assert np.all(res["mean_test_robust"] <= res["mean_test_clean"])
    assert search.best_index_ == np.argmax(res["mean_test_robust"])
    assert (
        search.best_estimator_.net_.max_epochs
        == res["params"][search.best_index_]["net__max_epochs"]
    )


def test_cross_validate_and_validation_curve(cancer_data):
    X, y = cancer_data.X_train, cancer_data.y_train
    robust = make_robust_scorer(pgd(eps=0.3, eps_units="std").fit(X))
    model = make_pipeline(StandardScaler(), LogisticRegression())
    out = cross_validate(
        model,
        X,
        y,
        cv=3,
        scoring={"clean": "accuracy", "robust": robust},
        return_estimator=True,
        return_indices=True,
    )
    assert np.all(out["test_robust"] < out["test_clean"])
    for est, test, score in zip(
        out["estimator"], out["indices"]["test"], out["test_robust"]
    ):
        assert score == robust(est, X.iloc[test], y.iloc[test])

    Cs = [1e-3, 1e-1, 1e2]
    curve = dict(param_name="logisticregression__C", param_range=Cs, cv=3)
    train, test = validation_curve(model, X, y, scoring=robust, **curve)
    assert train.shape == test.shape == (3, 3)
    _, clean_test = validation_curve(model, X, y, **curve)
    assert np.all(test < clean_test)


def test_scorer_pickles_with_its_name(digits):
    clf, X, y = digits
    robust = make_robust_scorer(pgd(eps=0.1), metric="balanced_accuracy")
    copy = pickle.loads(pickle.dumps(robust))
    assert isinstance(copy, RobustScorer)
    assert copy.__name__ == robust.__name__ == "robust_balanced_accuracy"
    assert make_robust_scorer(pgd(eps=0.1)).__name__ == "robust_accuracy"
    assert copy(clf, X, y) == robust(clf, X, y)
    assert "PGD" in repr(robust)


# -- the scored estimator is the one attacked ----------------------------------------


def test_scorer_attacks_the_scored_estimator(cancer_data):
    X, y = cancer_data.X_test, cancer_data.y_test
    Xt, yt = cancer_data.X_train, cancer_data.y_train
    weak = make_pipeline(StandardScaler(), LogisticRegression(C=1e-3)).fit(Xt, yt)
    strong = make_pipeline(StandardScaler(), LogisticRegression(C=1e2)).fit(Xt, yt)
    # the attack is aimed at `weak`: the scorer must override that
    attack = pgd(estimator=weak, eps=0.3, eps_units="std").fit(Xt)
    before = attack.get_params(deep=False)
    robust = make_robust_scorer(attack)
    s_weak, s_strong = robust(weak, X, y), robust(strong, X, y)
    assert s_weak != s_strong
    own = copy.copy(attack).set_params(early_stop=True)
    for model, score in [(weak, s_weak), (strong, s_strong)]:
        own.set_params(estimator=model)
        assert score == robust_mask(model, X, y, own).mean()
    # a transfer attack from `weak` is a different (higher) number for `strong`
    X_transfer = own.set_params(estimator=weak).generate(X, y)
    assert s_strong < strong.score(X_transfer, y)
    # the user's attack is untouched
    after = attack.get_params(deep=False)
    assert after["estimator"] is weak
    assert after == before


def test_pipeline_with_non_differentiable_step_scored_after_it(cancer_data):
    X, y = cancer_data.X_test, cancer_data.y_test.to_numpy()
    Xt, yt = cancer_data.X_train, cancer_data.y_train
    bins = KBinsDiscretizer(
        n_bins=3, encode="onehot-dense", quantile_method="averaged_inverted_cdf"
    )
    encode = ColumnTransformer(
        [("size", bins, ["mean radius"])], remainder="passthrough"
    )
    model = make_pipeline(encode, StandardScaler(), LogisticRegression())
    model.fit(Xt, yt)
    attack = pgd(eps=0.3, eps_units="std")
    with pytest.warns(PartiallyDifferentiableWarning, match="columntransformer"):
        score = make_robust_scorer(attack)(model, X, y)

    # by hand: attack the differentiable tail in the encoded space
    Z = model[0].transform(X)
    tail = model[1:]
    hand = clone(attack).set_params(estimator=tail, early_stop=True).fit(Z)
    Z_adv = hand.generate(Z, y)
    robust = (model.predict(X) == y) & (tail.predict(Z_adv) == y)
    assert score == robust.mean()
    assert score < model.score(X, y)


# -- skorch EpochScoring ---------------------------------------------------------


def test_epoch_scoring_on_skorch_net_is_not_clean_cached(digits_data):
    X, y = digits_data.X_train[:600], digits_data.y_train[:600].astype(np.int64)
    robust = make_robust_scorer(pgd(eps=0.1, bounds=(0.0, 1.0)))
    scoring = [
        EpochScoring(robust, name=f"robust_{c}", lower_is_better=False, use_caching=c)
        for c in (True, False)
    ]
    net = NeuralNetClassifier(
        MLP,
        module__n_features_in=64,
        module__n_classes=10,
        module__hidden_layer_sizes=(32,),
        criterion=torch.nn.CrossEntropyLoss,
        optimizer=torch.optim.Adam,
        lr=0.01,
        max_epochs=3,
        train_split=ValidSplit(0.25, stratified=True, random_state=0),
        callbacks=scoring,
        verbose=0,
    )
    net.fit(X, y)
    clean = np.array(net.history[:, "valid_acc"])
    cached = np.array(net.history[:, "robust_True"])
    fresh = np.array(net.history[:, "robust_False"])
    # with caching, skorch's net.infer would return the clean predictions
    assert np.all(cached < clean - 0.1)
    np.testing.assert_array_equal(cached, fresh)
    _, valid = net.get_split_datasets(X, y)
    X_valid, y_valid = X[valid.indices], y[valid.indices]
    assert fresh[-1] == robust(net, X_valid, y_valid)
    assert clean[-1] == pytest.approx(np.mean(net.predict(X_valid) == y_valid))


# -- robustness curves -------------------------------------------------------------


def test_robustness_curve_is_the_intersection_of_robust_sets(digits):
    clf, X, y = digits
    attack = pgd(eps=0.0, bounds=(0.0, 1.0))
    epsilons = [0.0, 0.03, 0.06, 0.1, 0.15]
    eps, curve = robustness_curve(clf, X, y, attack=attack, epsilons=epsilons)
    np.testing.assert_array_equal(eps, epsilons)
    assert curve[0] == clf.score(X, y)
    assert np.all(np.diff(curve) <= 0)
    assert curve[-1] < curve[0]

    stopped = attack.set_params(early_stop=True)
    masks = [robust_mask(clf, X, y, clone(stopped).set_params(eps=e)) for e in eps]
    independent = np.array([m.mean() for m in masks])
    # a point counts as robust at eps only if it resisted every budget up to eps
    np.testing.assert_array_equal(
        curve, np.logical_and.accumulate(masks, axis=0).mean(axis=1)
    )
    assert np.all(curve <= independent)
    assert attack.eps == 0.0  # the user's attack is untouched


def test_robustness_curve_keeps_the_order_given(cancer):
    clf, X, y = cancer
    attack = FGSM(eps=0.0, eps_units="std").fit(X)
    epsilons = np.array([0.3, 0.0, 0.1, 0.2])
    eps, curve = robustness_curve(clf, X, y, attack=attack, epsilons=epsilons)
    np.testing.assert_array_equal(eps, epsilons)
    order = np.argsort(epsilons)
    _, sorted_curve = robustness_curve(
        clf, X, y, attack=attack, epsilons=epsilons[order]
    )
    np.testing.assert_array_equal(curve[order], sorted_curve)
    assert curve[1] == clf.score(X, y)
    assert curve[0] < curve[1]


def test_robustness_curve_with_list_of_attacks(cancer):
    clf, X, y = cancer
    attacks = [
        FGSM(eps=0.0, eps_units="std").fit(X),
        pgd(eps=0.0, norm="l2", eps_units="std").fit(X),
    ]
    epsilons = [0.0, 0.2, 0.4]
    _, both = robustness_curve(clf, X, y, attack=attacks, epsilons=epsilons)
    for a in attacks:
        _, one = robustness_curve(clf, X, y, attack=a, epsilons=epsilons)
        assert np.all(both <= one)
    assert np.all(np.diff(both) <= 0)


class MinimalNormAttack(FGSM):
    """A fake minimal-norm attack: a point's smallest adversarial norm is its
    first feature (``nan``: none found)."""

    calls = []

    def generate(self, X, y=None, *, target=None):
        raise AssertionError("a minimal-norm attack runs once, not per eps")

    def minimal_norms(self, X, y):
        type(self).calls.append(len(X))
        norms = np.asarray(X, dtype=float)[:, 0].copy()
        norms[norms > 0.9] = np.nan
        return norms


def test_robustness_curve_uses_minimal_norms_in_one_call(digits):
    clf, X, y = digits
    X = X.copy()
    X[:, 0] = np.random.RandomState(0).uniform(size=len(X))
    MinimalNormAttack.calls.clear()
    epsilons = [0.5, 0.0, 0.25, 0.75, 2.0]
    eps, curve = robustness_curve(
        clf, X, y, attack=MinimalNormAttack(eps=1.0), epsilons=epsilons
    )
    correct = as_differentiable(clf).predict(X) == y
    # only the clean-correct points are attacked, once
    assert MinimalNormAttack.calls == [correct.sum()]
    norms = np.where(X[:, 0] > 0.9, np.inf, X[:, 0])
    expected = [np.mean(correct & (norms > e)) for e in epsilons]
    np.testing.assert_array_equal(curve, expected)
    assert curve[1] == clf.score(X, y)


# -- certified accuracy -------------------------------------------------------------


class RadiusCertifier(ClassifierMixin, BaseEstimator):
    """Randomized-smoothing style: ``certify(X) -> (y_pred, radius)``, and the
    certificate protocol ``certified_radius(X, y=None)`` built on it."""

    def fit(self, X, y):
        self.classes_ = np.unique(y)
        return self

    def certify(self, X):
        X = np.asarray(X, dtype=float)
        return (X[:, 0] > 0).astype(int), X[:, 1]

    def certified_radius(self, X, y=None):
        y_pred, radius = self.certify(X)
        radius = np.where(radius >= 0, radius, np.nan)  # abstained
        return radius if y is None else np.where(y_pred == y, radius, np.nan)


class BallCertifier(ClassifierMixin, BaseEstimator):
    """Bound-propagation style: ``certify(X, y, *, eps) -> bool``, and radii
    given the labels (NaN where misclassified)."""

    def fit(self, X, y):
        self.classes_ = np.unique(y)
        self.eps_seen_ = []
        self.y_seen_ = []
        return self

    def certify(self, X, y, *, eps=None):
        self.eps_seen_.append(eps)
        X = np.asarray(X, dtype=float)
        with np.errstate(invalid="ignore"):
            return ((X[:, 0] > 0) == y) & (X[:, 1] >= eps)

    def certified_radius(self, X, y=None):
        self.y_seen_.append(None if y is None else np.asarray(y).copy())
        X = np.asarray(X, dtype=float)
        with np.errstate(invalid="ignore"):
            correct = ((X[:, 0] > 0) == y) & (X[:, 1] >= 0)
        return np.where(correct, X[:, 1], np.nan)


@pytest.fixture
def certified_data():
    # columns: sign gives the prediction, second column the radius
    X = np.array(
        [
            [1.0, 0.5],  # correct, radius 0.5
            [1.0, 0.1],  # correct, radius 0.1
            [-1.0, 0.9],  # wrong, large radius
            [1.0, -1.0],  # abstains (negative radius)
            [1.0, np.nan],  # abstains (nan)
            [-1.0, 0.0],  # correct, radius 0
        ]
    )
    y = np.array([1, 1, 1, 1, 1, 0])
    return X, y


def test_certified_accuracy_from_radii(certified_data):
    X, y = certified_data
    est = RadiusCertifier().fit(X, y)
    expected = {0.0: 3 / 6, 0.05: 2 / 6, 0.1: 2 / 6, 0.3: 1 / 6, 0.6: 0.0}
    for radius, value in expected.items():
        assert certified_accuracy_score(est, X, y, radius=radius) == value
        assert make_certified_scorer(radius=radius)(est, X, y) == value


def test_certified_accuracy_from_ball_certificates(certified_data):
    X, y = certified_data
    est = BallCertifier().fit(X, y)
    assert certified_accuracy_score(est, X, y, radius=0.3) == 1 / 6
    # the certificate protocol: radii given the true labels, no certify(eps)
    assert est.eps_seen_ == [] and len(est.y_seen_) == 1
    np.testing.assert_array_equal(est.y_seen_[0], y)
    scorer = make_certified_scorer(radius=0.0)
    assert scorer(est, X, y) == 3 / 6
    weights = np.array([1.0, 1, 1, 1, 1, 3])
    assert scorer(est, X, y, sample_weight=weights) == 5 / 8
    assert len(est.y_seen_) == 3
    for r in (0.0, 0.1, 0.3, 0.6):  # the same answers as certify at each radius
        assert certified_accuracy_score(est, X, y, radius=r) == np.mean(
            est.certify(X, y, eps=r)
        )


def test_certified_scorer_pickles_and_cross_validates(certified_data):
    X, y = certified_data
    scorer = make_certified_scorer(radius=0.25)
    copy = pickle.loads(pickle.dumps(scorer))
    assert isinstance(copy, CertifiedScorer)
    assert copy.__name__ == scorer.__name__ == "certified_accuracy_at_0.25"
    scores = cross_validate(
        RadiusCertifier(), np.tile(X, (2, 1)), np.tile(y, 2), cv=2, scoring=copy
    )["test_score"]
    np.testing.assert_array_equal(scores, [1 / 6, 1 / 6])


@pytest.mark.parametrize("radius", [-0.1, np.nan, "1"])
def test_certified_bad_radius(certified_data, radius):
    X, y = certified_data
    est = RadiusCertifier().fit(X, y)
    with pytest.raises(ValueError, match="radius must be a non-negative"):
        certified_accuracy_score(est, X, y, radius=radius)
    with pytest.raises(ValueError, match="radius must be a non-negative"):
        make_certified_scorer(radius=radius)


def test_certified_needs_certify(cancer):
    clf, X, y = cancer
    with pytest.raises(TypeError, match="no `certified_radius` method"):
        certified_accuracy_score(clf, X, y, radius=0.1)
    with pytest.raises(TypeError, match="no `certified_radius` method"):
        make_certified_scorer(radius=0.1)(clf, X, y)


# -- errors ----------------------------------------------------------------------


@pytest.mark.parametrize("attack", ["pgd", LogisticRegression(), [], [PGD(eps=1), 3]])
def test_make_robust_scorer_rejects_non_attacks(attack):
    with pytest.raises(TypeError, match="must be a skrobust attack"):
        make_robust_scorer(attack)


def test_make_robust_scorer_rejects_bad_metrics():
    with pytest.raises(ValueError, match="not_a_metric"):
        make_robust_scorer(PGD(eps=0.1), metric="not_a_metric")
    with pytest.raises(TypeError, match="metric must be"):
        make_robust_scorer(PGD(eps=0.1), metric=3)


def test_non_differentiable_estimator_names_black_box_tools(cancer_data):
    X, y = cancer_data.X_test, cancer_data.y_test
    forest = RandomForestClassifier(n_estimators=3, random_state=0)
    forest.fit(cancer_data.X_train, cancer_data.y_train)
    robust = make_robust_scorer(PGD(eps=0.1))
    for call in (
        lambda: robust(forest, X, y),
        lambda: robust_accuracy_score(forest, X, y, attack=PGD(eps=0.1)),
        lambda: robustness_curve(forest, X, y, attack=PGD(eps=0), epsilons=[0.1]),
    ):
        with pytest.raises(NotDifferentiableError, match="black-box"):
            call()


@pytest.mark.parametrize("epsilons", [[-0.1, 0.2], [[0.1]], [np.inf]])
def test_robustness_curve_rejects_bad_epsilons(cancer, epsilons):
    clf, X, y = cancer
    with pytest.raises(ValueError, match="non-negative budgets"):
        robustness_curve(clf, X, y, attack=PGD(eps=0), epsilons=epsilons)


def test_no_warning_for_fully_differentiable_pipeline(cancer):
    clf, X, y = cancer
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        make_robust_scorer(FGSM(eps=0.1))(clf, X, y)
