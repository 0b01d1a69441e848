"""Randomized smoothing: closed forms, statistical guarantees, soundness, sklearn.

Statistical tests use fixed seeds, so they are deterministic; their bounds
are nevertheless set from the binomial distribution of the quantity tested
(about 4 standard deviations, or an exact tail bound), so that any seed
would pass with overwhelming probability and a real bug would not.
"""

import pickle

import numpy as np
import pandas as pd
import pytest
import torch
from scipy.stats import beta, binom, binomtest, norm
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.datasets import load_breast_cancer
from sklearn.dummy import DummyClassifier
from sklearn.ensemble import RandomForestClassifier
from sklearn.exceptions import NotFittedError
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.neural_network import MLPClassifier
from sklearn.preprocessing import StandardScaler
from skorch import NeuralNetClassifier

from skrobust import NotDifferentiableError, SkorchClassifier, as_differentiable
from skrobust.attacks import PGD
from skrobust.certification import RandomizedSmoothingClassifier
from skrobust.certification.smoothing._stats import (
    binomial_pvalue,
    lower_confidence_bound,
    max_certified_radius,
)
from skrobust.metrics import (
    certified_accuracy_score,
    make_certified_scorer,
    make_robust_scorer,
)
from skrobust.nn import MLP

SIGMA = 0.5


@pytest.fixture(scope="module")
def linear_data():
    """A 5-d Gaussian binary problem and a logistic regression fitted on it."""
    rng = np.random.RandomState(0)
    X = rng.randn(600, 5)
    y = (X @ rng.randn(5) + 0.5 * rng.randn(600) > 0).astype(int)
    clf = LogisticRegression().fit(X[:400], y[:400])
    return clf, X[400:]


def _exact_radius(clf, X):
    return np.abs(clf.decision_function(X)) / np.linalg.norm(clf.coef_)


def _linear(w, b):
    """A fitted binary LogisticRegression computing ``w.x + b`` exactly."""
    w = np.asarray(w, dtype=float)
    clf = LogisticRegression().fit(
        np.vstack([-np.ones_like(w), np.ones_like(w)]), [0, 1]
    )
    clf.coef_, clf.intercept_ = w[None], np.array([float(b)])
    return clf


@pytest.fixture(scope="module")
def cancer():
    X, y = load_breast_cancer(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.25, stratify=y, random_state=0
    )
    scaler = StandardScaler().fit(X_train)
    return scaler.transform(X_train), scaler.transform(X_test), y_train, y_test


@pytest.fixture(scope="module")
def cancer_mlp_rs(cancer):
    """A smoothed MLPClassifier trained on noisy copies (differentiable base)."""
    X_train, _, y_train, _ = cancer
    mlp = MLPClassifier((16,), max_iter=1000, random_state=0)
    rs = RandomizedSmoothingClassifier(
        mlp, sigma=SIGMA, n_samples=1000, n_noise_copies=3, random_state=0
    )
    return rs.fit(X_train, y_train)


# -- the statistics -----------------------------------------------------------


def test_statistics_match_scipy_and_the_paper():
    n_a = np.array([0, 1, 50, 99, 100])
    expected = [0.0] + [beta.ppf(0.01, k, 100 - k + 1) for k in n_a[1:]]
    np.testing.assert_allclose(lower_confidence_bound(n_a, 100, 0.01), expected)
    for a, b in [(10, 0), (7, 3), (5, 5), (60, 40), (0, 0), (3, 9)]:
        ref = binomtest(max(a, b), a + b, 0.5).pvalue if a + b else 1.0
        assert binomial_pvalue(a, b) == pytest.approx(ref)
    # Cohen et al.: the largest radius is 3.81 sigma at n = 100,000, 2.46 at 1,000
    assert max_certified_radius(1.0, 100_000, 0.001) == pytest.approx(3.81, abs=5e-3)
    assert max_certified_radius(1.0, 1_000, 0.001) == pytest.approx(2.46, abs=5e-3)


# -- closed forms ---------------------------------------------------------------


def test_linear_base_closed_form(linear_data):
    """Smoothed linear = base; radii <= |w.x+b| / ||w||, median >= 85 % of it."""
    clf, X = linear_data
    rs = RandomizedSmoothingClassifier(
        clf,
        prefit=True,
        sigma=SIGMA,
        n_samples=10_000,
        batch_size=50_000,
        random_state=0,
    ).fit(X)
    y_pred, radius = rs.certify(X)
    exact = _exact_radius(clf, X)
    certified = ~np.isnan(radius)
    # each bound fails with probability <= alpha = 0.001: none expected here
    assert np.all(radius[certified] <= exact[certified])
    np.testing.assert_array_equal(y_pred[certified], clf.predict(X)[certified])
    # certifiable range at n = 10,000: exact radius below sigma Phi^-1(alpha^(1/n))
    reachable = exact < max_certified_radius(SIGMA, 10_000, 0.001)
    ratio = np.where(certified, radius, 0.0) / exact
    assert reachable.sum() > 100
    assert np.median(ratio[reachable]) >= 0.85
    # no radius beyond the largest certifiable one
    assert np.all(radius[certified] <= max_certified_radius(SIGMA, 10_000, 0.001))
    # PREDICT returns the base's class wherever it does not abstain
    y_hat, abstained = rs.predict_abstain(X)
    np.testing.assert_array_equal(y_hat[~abstained], clf.predict(X)[~abstained])
    assert abstained.mean() < 0.1


def test_constant_base_reaches_the_largest_radius():
    X = np.random.RandomState(0).randn(20, 3)
    y = np.r_[np.zeros(10), np.ones(10)]
    base = DummyClassifier(strategy="constant", constant=1).fit(X, y)
    rs = RandomizedSmoothingClassifier(
        FrozenEstimator(base), sigma=0.3, n_samples=2000, random_state=0
    ).fit(X, y)
    y_pred, radius = rs.certify(X)
    assert np.all(y_pred == 1)
    np.testing.assert_allclose(radius, max_certified_radius(0.3, 2000, 0.001))
    np.testing.assert_array_equal(rs.predict_proba(X), np.tile([0.0, 1.0], (20, 1)))


# -- the guarantees ---------------------------------------------------------------


def test_alpha_is_honoured_on_a_known_pA():
    """P(pA_lower > pA) <= alpha: the exact failure rate, observed over 4000 runs.

    A linear base at distance m from its boundary has pA = Phi(m / sigma).
    The bound exceeds pA exactly when nA >= k* (the smallest count whose
    Clopper-Pearson bound is above pA), which happens with probability
    q = P(Binom(n, pA) >= k*) <= alpha: the observed failure count must be
    below alpha plus 4 binomial standard deviations, and match q.
    """
    n, alpha, p_a, reps = 400, 0.05, 0.8, 4000
    clf = _linear([1.0, 0.0], 0.0)
    m = SIGMA * norm.ppf(p_a)
    X = np.tile([m, 0.0], (reps, 1))
    rs = RandomizedSmoothingClassifier(
        clf,
        prefit=True,
        sigma=SIGMA,
        n_samples=n,
        n_samples_select=20,
        alpha=alpha,
        batch_size=100_000,
        random_state=1,
    ).fit(X)
    _, radius = rs.certify(X)
    p_lower = norm.cdf(radius / SIGMA)  # NaN (abstain) counts as no failure
    failures = int(np.sum(p_lower > p_a))
    k_star = next(k for k in range(n + 1) if beta.ppf(alpha, k, n - k + 1) > p_a)
    q = binom.sf(k_star - 1, n, p_a)
    assert q <= alpha
    assert failures <= reps * alpha + 4 * np.sqrt(reps * alpha * (1 - alpha))
    assert abs(failures - reps * q) <= 4 * np.sqrt(reps * q * (1 - q)) + 1


def test_predict_abstains_on_a_fifty_fifty_base():
    """On the boundary pA = pB = 1/2: PREDICT returns a class w.p. <= alpha."""
    n, alpha, reps = 100, 0.05, 3000
    clf = _linear([1.0, -1.0], 0.0)
    X = np.tile([0.3, 0.3], (reps, 1))
    rs = RandomizedSmoothingClassifier(
        clf,
        prefit=True,
        sigma=SIGMA,
        n_samples_predict=n,
        alpha=alpha,
        batch_size=100_000,
        random_state=0,
    ).fit(X)
    _, abstained = rs.predict_abstain(X)
    counts = np.arange(n + 1)
    decided = binom.pmf(counts, n, 0.5) @ (binomial_pvalue(counts, n - counts) <= alpha)
    assert decided <= alpha
    n_decided = int((~abstained).sum())
    assert abs(n_decided - reps * decided) <= 4 * np.sqrt(reps * decided) + 1
    # and predict_proba is the Monte-Carlo frequency of ~1/2
    assert rs.predict_proba(X)[:, 1].mean() == pytest.approx(0.5, abs=0.01)


def test_reproducible_with_random_state(linear_data):
    clf, X = linear_data
    params = dict(sigma=SIGMA, n_samples=500, random_state=3)
    # FrozenEstimator survives clone (a prefit=True base would be unfitted)
    rs = RandomizedSmoothingClassifier(FrozenEstimator(clf), **params).fit(X)
    first = rs.certify(X)
    np.testing.assert_array_equal(first[1], rs.certify(X)[1])
    again = clone(rs).fit(X).certify(X)
    np.testing.assert_array_equal(first[1], again[1])
    other = clone(rs).set_params(random_state=4).fit(X).certify(X)
    assert not np.array_equal(np.nan_to_num(first[1]), np.nan_to_num(other[1]))
    np.testing.assert_array_equal(rs.predict_proba(X), rs.predict_proba(X))


# -- soundness against the adaptive attack --------------------------------------


def test_attack_at_the_certified_radius_cannot_flip_a_linear_base(linear_data):
    """Exact check: PGD on the smoothed view stays on its side of w.x + b = 0."""
    clf, X = linear_data
    rs = RandomizedSmoothingClassifier(
        clf,
        prefit=True,
        sigma=SIGMA,
        n_samples=2000,
        batch_size=50_000,
        random_state=0,
    ).fit(X)
    y_pred, radius = rs.certify(X[:40])
    exact = _exact_radius(clf, X[:40])
    flipped = []
    for i in np.flatnonzero(~np.isnan(radius) & (radius > 0)):
        for eps, side in [(radius[i], "at"), (exact[i] * 1.05 + 1e-3, "beyond")]:
            attack = PGD(rs, eps=eps, norm="l2", n_iter=10, random_state=0)
            x_adv = attack.generate(X[i : i + 1], y_pred[i : i + 1])
            if clf.predict(x_adv)[0] != y_pred[i]:
                flipped.append(side)
    assert flipped.count("at") == 0
    # the attack is not vacuous: just past the exact radius it flips the base
    assert flipped.count("beyond") >= 0.9 * np.sum(~np.isnan(radius) & (radius > 0))


def test_adaptive_attack_breaks_almost_no_certified_point(cancer, cancer_mlp_rs):
    """PGD on the smoothed soft classifier, each point at its certified radius.

    A certified point counts as broken when PREDICT (n = 1,000, alpha =
    0.001) does not abstain at the attack's output and returns another
    class. That needs the certificate to be wrong (probability <= alpha) or
    PREDICT to be wrong (<= alpha): about 0.1 of 50 points expected, so one
    broken point is tolerated (two or more has probability < 0.5 %).
    """
    _, X_test, _, _ = cancer
    rs = cancer_mlp_rs
    X = X_test[:60]
    y_pred, radius = rs.certify(X)
    index = np.flatnonzero(radius > 0.05)
    assert len(index) >= 40
    broken, moved = 0, 0
    for i in index:
        attack = PGD(rs, eps=radius[i], norm="l2", n_iter=10, random_state=0)
        x_adv = attack.generate(X[i : i + 1], y_pred[i : i + 1])
        label, abstained = rs.predict_abstain(x_adv)
        broken += int(label[0] != y_pred[i] and not abstained[0])
        moved += int(np.linalg.norm(x_adv - X[i]) > 0.5 * radius[i])
    assert broken <= 1
    assert moved >= 0.9 * len(index)  # the attack does use its budget


def test_view_is_the_smoothed_soft_classifier(linear_data):
    """softmax(view) = E softmax(f(x + d)), reproducible, differentiable."""
    clf, X = linear_data
    rs = RandomizedSmoothingClassifier(
        clf, prefit=True, sigma=SIGMA, n_noise_attack=20_000, random_state=0
    ).fit(X)
    view = as_differentiable(rs)
    x = view.to_input(X[:5]).requires_grad_()
    log_p = view(x)
    (grad,) = torch.autograd.grad(log_p[:, 1].sum(), x)
    assert torch.isfinite(grad).all() and grad.abs().sum() > 0
    noisy = X[:5, None] + SIGMA * np.random.RandomState(0).randn(5, 20_000, 5)
    expected = clf.predict_proba(noisy.reshape(-1, 5)).reshape(5, 20_000, 2).mean(1)
    np.testing.assert_allclose(log_p.exp().detach().numpy(), expected, atol=0.01)
    np.testing.assert_array_equal(
        as_differentiable(rs).logits(X[:5]), as_differentiable(rs).logits(X[:5])
    )


def test_non_differentiable_base_has_no_view(cancer):
    X_train, _, y_train, _ = cancer
    rs = RandomizedSmoothingClassifier(
        RandomForestClassifier(n_estimators=3, random_state=0), n_noise_copies=1
    ).fit(X_train, y_train)
    with pytest.raises(NotDifferentiableError, match="smoothed classifier"):
        as_differentiable(rs)


# -- tabular data, scorers, model selection ----------------------------------------


def test_smoothed_random_forest_certifies_tabular_data(cancer):
    X_train, X_test, y_train, y_test = cancer
    rs = RandomizedSmoothingClassifier(
        RandomForestClassifier(n_estimators=30, random_state=0),
        sigma=SIGMA,
        n_samples=1000,
        n_noise_copies=5,
        batch_size=20_000,
        random_state=0,
    ).fit(X_train, y_train)
    assert rs.fit_method_ == "augmentation" and rs.counting_ == "predict"
    assert len(rs.estimator_.estimators_[0].tree_.value) > 0
    y_pred, radius = rs.certify(X_test[:80])
    assert certified_accuracy_score(rs, X_test[:80], y_test[:80], radius=0.25) > 0.7
    assert np.nanmax(radius) > 1.0
    assert rs.score(X_test, y_test) > 0.85


def test_certified_scorer_and_grid_search_over_sigma(cancer):
    X_train, _, y_train, _ = cancer
    rs = RandomizedSmoothingClassifier(
        LogisticRegression(),
        n_samples=300,
        n_samples_select=20,
        n_samples_predict=100,
        n_noise_copies=2,
        random_state=0,
    )
    scorer = make_certified_scorer(radius=0.5)
    search = GridSearchCV(rs, {"sigma": [0.1, 0.5, 1.0]}, scoring=scorer, cv=3)
    search.fit(X_train, y_train)
    scores = search.cv_results_["mean_test_score"]
    # at n = 300, sigma = 0.1 certifies at most 0.23 < 0.5
    assert scores[0] == 0.0 and scores[1:].max() > 0.5
    assert search.best_params_["sigma"] in (0.5, 1.0)
    best = search.best_estimator_
    y_pred, radius = best.certify(X_train[:50])
    expected = np.mean((y_pred == y_train[:50]) & (radius >= 0.5))
    assert scorer(best, X_train[:50], y_train[:50]) == expected


def test_robust_scorer_attacks_the_smoothed_model(cancer, cancer_mlp_rs):
    _, X_test, _, y_test = cancer
    robust = make_robust_scorer(PGD(eps=0.5, norm="l2", n_iter=5, random_state=0))
    score = robust(cancer_mlp_rs, X_test[:60], y_test[:60])
    clean = np.mean(
        as_differentiable(cancer_mlp_rs).predict(X_test[:60]) == y_test[:60]
    )
    assert 0.0 < score <= clean


# -- training ---------------------------------------------------------------------


class Recorder(torch.nn.Module):
    """An MLP that records the inputs it sees in training mode."""

    def __init__(self, n_features_in, n_classes):
        super().__init__()
        self.mlp = MLP(n_features_in, n_classes, hidden_layer_sizes=(8,))
        self.seen = []

    def forward(self, x):
        if self.training:
            self.seen.append(x.detach().clone())
        return self.mlp(x)


def _net(module=MLP, **kwargs):
    return NeuralNetClassifier(
        module,
        criterion=torch.nn.CrossEntropyLoss,
        optimizer=torch.optim.Adam,
        lr=0.01,
        train_split=None,
        verbose=0,
        **kwargs,
    )


def test_skorch_net_trains_on_fresh_noise_every_batch(cancer):
    X_train, _, y_train, _ = cancer
    X = X_train[:64].astype(np.float32)
    net = _net(Recorder, max_epochs=2, batch_size=64, iterator_train__shuffle=False)
    rs = RandomizedSmoothingClassifier(net, sigma=0.3, random_state=0)
    rs.fit(X, y_train[:64])
    assert rs.fit_method_ == "skorch" and isinstance(rs.estimator_, SkorchClassifier)
    assert len(rs.estimator_.net_.history) == 2
    first, second = rs.estimator_.net_.module_.seen
    noise = first.numpy() - X
    assert noise.std() == pytest.approx(0.3, rel=0.05)
    assert abs(noise.mean()) < 0.02
    assert not torch.equal(first, second)


def test_smoothadv_trains_on_perturbed_noisy_copies(cancer):
    X_train, X_test, y_train, y_test = cancer
    X = X_train[:64].astype(np.float32)
    net = _net(Recorder, max_epochs=1, batch_size=64, iterator_train__shuffle=False)
    attack = PGD(eps=0.5, norm="l2", n_iter=2)
    rs = RandomizedSmoothingClassifier(
        net,
        sigma=0.25,
        training="smoothadv",
        attack=attack,
        n_noise_attack=4,
        random_state=0,
    ).fit(X, y_train[:64])
    (seen,) = rs.estimator_.net_.module_.seen
    assert seen.shape == (4 * 64, X.shape[1])  # n_noise_attack copies per sample
    # the inner attack moves every sample inside the l2 ball of eps = 0.5
    objective = rs.estimator_.net_.objective
    x = torch.as_tensor(X)
    y = torch.as_tensor(y_train[:64])
    x_adv = objective._attack(rs.estimator_.net_, x, y, torch.randn(4 * 64, 30))
    distance = (x_adv - x).norm(dim=1)
    assert distance.max() <= 0.5 + 1e-5 and distance.min() > 0.1
    with pytest.raises(ValueError, match="smoothadv"):
        RandomizedSmoothingClassifier(LogisticRegression(), training="smoothadv").fit(
            X_train, y_train
        )


def test_smoothadv_model_certifies(digits_data):
    net = _net(MLP, module__hidden_layer_sizes=(64,), max_epochs=8, batch_size=64)
    rs = RandomizedSmoothingClassifier(
        net,
        sigma=0.25,
        n_samples=500,
        training="smoothadv",
        n_noise_attack=2,
        random_state=0,
    ).fit(digits_data.X_train, digits_data.y_train)
    X, y = digits_data.X_test[:100], digits_data.y_test[:100]
    assert certified_accuracy_score(rs, X, y, radius=0.25) > 0.5


# -- counting: batched across points, bounded batches -----------------------------


class BatchSpy(ClassifierMixin, BaseEstimator):
    """Records the sizes of the batches its ``predict`` is called with."""

    def __init__(self, clf):
        self.clf = clf

    def fit(self, X, y):
        self.classes_ = self.clf.classes_
        self.sizes_ = []
        return self

    def predict(self, X):
        self.sizes_.append(len(X))
        return self.clf.predict(X)


def test_counting_fills_batches_across_points(linear_data):
    clf, X = linear_data
    spy = BatchSpy(clf).fit(X, None)
    rs = RandomizedSmoothingClassifier(
        spy, prefit=True, n_samples=1000, n_samples_select=100, batch_size=300
    ).fit(X[:7])
    rs.certify(X[:7])
    assert max(spy.sizes_) == 300 and sum(spy.sizes_) == 7 * 1100
    assert len(spy.sizes_) == -(-7 * 1100 // 300)  # no partial batch per point


def test_torch_counting_on_the_view(digits_data, digits_mlp):
    sizes = []
    module = digits_mlp.net_.module_
    hook = module.register_forward_hook(lambda m, i, o: sizes.append(len(i[0])))
    try:
        rs = RandomizedSmoothingClassifier(
            digits_mlp,
            prefit=True,
            n_samples=500,
            n_samples_select=50,
            batch_size=256,
            random_state=0,
            verbose=1,
        ).fit(digits_data.X_test)
        assert rs.counting_ == "torch"
        y_pred, radius = rs.certify(digits_data.X_test[:9])
    finally:
        hook.remove()
    assert max(sizes) == 256 and sum(sizes) == 9 * 550
    assert not torch.is_inference_mode_enabled()
    # the smoothed prediction agrees with the base on easy points
    agree = y_pred == digits_mlp.predict(digits_data.X_test[:9])
    assert agree[~np.isnan(radius)].all()


def test_torch_counting_chunks_do_not_change_the_counts(
    digits_data, digits_mlp, monkeypatch
):
    """Count keys are laid out per chunk of batches: any chunking, same counts."""
    from skrobust.certification.smoothing import _counts as _smoothing_counts

    rs = RandomizedSmoothingClassifier(
        digits_mlp,
        prefit=True,
        sigma=0.5,
        n_samples=300,
        n_samples_select=30,
        batch_size=128,
        random_state=0,
    ).fit(digits_data.X_test)
    X = digits_data.X_test[:7]
    counts = rs._counts(X, (30, 300), 0, "x")
    np.testing.assert_array_equal(counts.sum(axis=2), [[30] * 7, [300] * 7])
    monkeypatch.setattr(_smoothing_counts, "_CHUNK_ROWS", 300)  # 2 batches a chunk
    np.testing.assert_array_equal(rs._counts(X, (30, 300), 0, "x"), counts)


@pytest.mark.gpu
def test_certify_and_attack_on_the_gpu(digits_data):
    net = _net(MLP, max_epochs=3, batch_size=64, device="cuda")
    rs = RandomizedSmoothingClassifier(
        net, sigma=0.25, n_samples=2000, batch_size=4096, random_state=0
    ).fit(digits_data.X_train, digits_data.y_train)
    assert rs.counting_ == "torch"
    assert next(rs.estimator_.net_.module_.parameters()).is_cuda
    X, y = digits_data.X_test[:50], digits_data.y_test[:50]
    y_pred, radius = rs.certify(X)
    assert certified_accuracy_score(rs, X, y, radius=0.25) > 0.4
    counts = rs._counts(X, (100, 2000), 0, "x")
    np.testing.assert_array_equal(counts.sum(axis=2), [[100] * 50, [2000] * 50])
    view = as_differentiable(rs)
    assert view.device.type == "cuda"
    X_adv = PGD(rs, eps=0.25, norm="l2", n_iter=5, random_state=0).generate(X, y)
    assert np.all(np.linalg.norm(X_adv - X, axis=1) <= 0.25 + 1e-4)


# -- scikit-learn citizenship -----------------------------------------------------


def test_string_labels_pandas_and_pickle(cancer):
    X_train, X_test, y_train, _ = cancer
    names = [f"f{i}" for i in range(X_train.shape[1])]
    X_df = pd.DataFrame(X_train, columns=names)
    labels = np.array(["benign", "malignant"])[y_train]
    rs = RandomizedSmoothingClassifier(
        LogisticRegression(), n_samples=200, n_noise_copies=2, random_state=0
    ).fit(X_df, labels)
    assert list(rs.feature_names_in_) == names
    X_new = pd.DataFrame(X_test[:10], columns=names)
    y_pred, radius = rs.certify(X_new)
    assert set(y_pred) <= {"benign", "malignant"}
    assert set(rs.predict(X_new)) <= {"benign", "malignant"}
    restored = pickle.loads(pickle.dumps(rs))
    np.testing.assert_array_equal(restored.certify(X_new)[1], radius)


def test_skorch_base_pickles(digits_data, digits_mlp):
    rs = RandomizedSmoothingClassifier(
        FrozenEstimator(digits_mlp), n_samples=200, random_state=0
    ).fit(digits_data.X_test, digits_data.y_test)
    restored = pickle.loads(pickle.dumps(rs))
    X = digits_data.X_test[:5]
    np.testing.assert_array_equal(restored.certify(X)[1], rs.certify(X)[1])


def test_errors(cancer):
    X_train, _, y_train, _ = cancer
    with pytest.raises(NotFittedError):
        RandomizedSmoothingClassifier(LogisticRegression()).certify(X_train)
    with pytest.raises(NotFittedError):
        RandomizedSmoothingClassifier(LogisticRegression(), prefit=True).fit(X_train)
    with pytest.raises(ValueError, match="sigma"):
        RandomizedSmoothingClassifier(LogisticRegression(), sigma=0).fit(
            X_train, y_train
        )
    rs = RandomizedSmoothingClassifier(
        _linear(np.ones(30), 0.0), prefit=True, n_samples=10
    ).fit(X_train)
    with pytest.raises(ValueError, match="features"):
        rs.certify(X_train[:, :5])
    with pytest.raises(ValueError, match="NaN"):
        rs.certify(np.full((2, 30), np.nan))
