"""AutoAttack: the reference configuration, stages on robust points, few classes."""

import warnings

import numpy as np
import pytest
import torch
from sklearn.datasets import load_breast_cancer, load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.preprocessing import StandardScaler
from skorch import NeuralNetClassifier

from skrobust import SkorchClassifier
from skrobust.attacks import APGD, FAB, AutoAttack, SquareAttack
from skrobust.metrics import make_robust_scorer
from skrobust.nn import MLP

FAST = dict(n_iter=10, n_queries=50, random_state=0)


def test_standard_version_uses_the_reference_constants():
    attack = AutoAttack(eps=0.1)
    assert (attack.n_iter, attack.n_queries, attack.n_target_classes) == (100, 5000, 9)
    stages = dict(attack._stages(n_classes=10))
    assert list(stages) == ["apgd-ce", "apgd-t", "fab-t", "square"]
    ce, t, fab, square = stages.values()
    assert (ce.loss, ce.n_iter, ce.n_restarts, ce.n_target_classes) == (
        "ce",
        100,
        1,
        None,
    )
    assert (t.loss, t.n_iter, t.n_restarts, t.n_target_classes) == ("dlr", 100, 1, 9)
    assert (fab.n_iter, fab.n_restarts, fab.n_target_classes) == (100, 1, 9)
    assert (square.n_queries, square.p_init) == (5000, 0.8)
    assert dict(attack._stages(n_classes=5))["apgd-t"].n_target_classes == 4
    assert dict(attack._stages(n_classes=5))["fab-t"].n_target_classes == 4
    rand = dict(AutoAttack(eps=0.1, version="rand")._stages(n_classes=10))
    assert list(rand) == ["apgd-ce", "apgd-dlr"]
    assert all(a.eot_iter == 20 and a.n_restarts == 1 for a in rand.values())


def test_stages_only_attack_still_robust_points_from_the_clean_input(
    digits_cnn, digits_data, monkeypatch
):
    X, y = digits_data.images_test[:60], digits_data.y_test[:60]
    seen = []

    def spy(cls):
        original = cls._attack_batch

        def wrapped(self, view, x0, labels, constraints, **kwargs):
            out, extras = original(self, view, x0, labels, constraints, **kwargs)
            with torch.no_grad():
                broken = view(out).argmax(dim=1) != labels
            seen.append((cls.__name__, x0.cpu().numpy().copy(), broken.cpu().numpy()))
            return out, extras

        monkeypatch.setattr(cls, "_attack_batch", wrapped)

    for cls in (APGD, FAB, SquareAttack):
        spy(cls)
    report = AutoAttack(digits_cnn, eps=0.1, bounds=(0, 1), **FAST).evaluate(X, y)
    assert [name for name, _, _ in seen] == ["APGD", "APGD", "FAB", "SquareAttack"]
    remaining = X[digits_cnn.predict(X) == y]
    accuracies = list(report.robust_accuracy.values())
    for (_, x0, broken), acc in zip(seen, accuracies[1:]):
        # each stage sees exactly the points the previous ones left robust,
        # as clean inputs, and the accuracy drops by what it breaks
        np.testing.assert_array_equal(x0, remaining)
        remaining = remaining[~broken]
        assert acc == pytest.approx(len(remaining) / len(X))
    assert accuracies == sorted(accuracies, reverse=True)
    assert accuracies[-1] == pytest.approx(digits_cnn.score(report.X_adv, y))
    assert report.robust.mean() == pytest.approx(accuracies[-1])
    assert set(report.broken_by) <= {
        "",
        "clean",
        "apgd-ce",
        "apgd-t",
        "fab-t",
        "square",
    }
    assert np.abs(report.X_adv - X).max() <= 0.1 + 1e-6
    # unbroken points come back unchanged
    np.testing.assert_array_equal(report.X_adv[report.robust], X[report.robust])


def test_first_stage_equals_apgd_ce_and_autoattack_is_at_least_as_strong(
    digits_mlp, digits_data
):
    X, y = digits_data.X_test[:100], digits_data.y_test[:100]
    kwargs = dict(eps=0.08, bounds=(0, 1), n_iter=10, random_state=0)
    apgd = APGD(digits_mlp, early_stop=True, **kwargs).generate(X, y)
    report = AutoAttack(digits_mlp, n_queries=50, **kwargs).evaluate(X, y)
    assert report.robust_accuracy["apgd-ce"] == pytest.approx(digits_mlp.score(apgd, y))
    assert digits_mlp.score(report.X_adv, y) <= digits_mlp.score(apgd, y)


def test_fused_runs_and_early_stops_leave_every_stage_unchanged(
    digits_mlp, digits_data, monkeypatch
):
    # APGD-T's targets in one batch, FAB-T's targets in one batch stopping
    # within the budget, against one run after another to the end
    import skrobust.attacks._apgd as apgd_module
    import skrobust.attacks._fab as fab_module

    X, y = digits_data.X_test[:40], digits_data.y_test[:40]
    attack = AutoAttack(digits_mlp, eps=0.05, bounds=(0, 1), **FAST)
    fast = attack.evaluate(X, y)
    stages = AutoAttack._stages

    def unoptimised(self, n_classes):
        out = stages(self, n_classes)
        for _, stage in out:
            stage._stop_in_budget = False
        return out

    monkeypatch.setattr(AutoAttack, "_stages", unoptimised)
    monkeypatch.setattr(apgd_module, "FUSE_ELEMENTS", 0)
    monkeypatch.setattr(fab_module, "FUSE_ELEMENTS", 0)
    slow = attack.evaluate(X, y)
    assert fast.robust_accuracy == slow.robust_accuracy
    np.testing.assert_array_equal(fast.broken_by, slow.broken_by)
    np.testing.assert_array_equal(fast.X_adv, slow.X_adv)
    assert 0 < fast.robust.sum() < (fast.broken_by != "clean").sum()


@pytest.fixture(scope="module")
def cancer():
    X, y = load_breast_cancer(return_X_y=True)
    X = StandardScaler().fit_transform(X).astype(np.float32)
    return X[:300], y[:300]


def test_binary_skorch_mlp(cancer):
    X, y = cancer
    net = NeuralNetClassifier(
        MLP,
        module__hidden_layer_sizes=(16,),
        criterion=torch.nn.CrossEntropyLoss,
        max_epochs=20,
        lr=0.1,
        train_split=None,
        verbose=0,
    )
    clf = SkorchClassifier(net, random_state=0).fit(X, y)
    attack = AutoAttack(clf, eps=0.5, **FAST)
    with pytest.warns(UserWarning, match="CW margin"):
        report = attack.evaluate(X[:80], y[:80])
    acc = report.robust_accuracy
    assert acc["square"] <= acc["clean"] and acc["square"] < 1.0
    assert np.abs(report.X_adv - X[:80]).max() <= 0.5 + 1e-6
    assert clf.score(report.X_adv, y[:80]) == pytest.approx(acc["square"])


def test_three_classes_fall_back_with_a_warning():
    X, y = load_iris(return_X_y=True)
    clf = LogisticRegression(max_iter=500).fit(X, y)
    with pytest.warns(UserWarning, match="DLR loss needs at least 4"):
        report = AutoAttack(clf, eps=0.4, **FAST).evaluate(X, y)
    assert report.robust_accuracy["square"] < clf.score(X, y)


def test_rand_version_with_eot_on_a_randomized_model(digits_data):
    class NoisyMLP(MLP):
        def forward(self, x):  # random at inference too (a randomized defense)
            return super().forward(x + 0.05 * torch.randn_like(x))

    net = NeuralNetClassifier(
        NoisyMLP,
        module__hidden_layer_sizes=(32,),
        criterion=torch.nn.CrossEntropyLoss,
        optimizer=torch.optim.Adam,
        lr=0.01,
        max_epochs=10,
        train_split=None,
        verbose=0,
    )
    clf = SkorchClassifier(net, random_state=0).fit(
        digits_data.X_train, digits_data.y_train
    )
    X, y = digits_data.X_test[:50], digits_data.y_test[:50]
    with pytest.warns(UserWarning, match="version='rand'"):
        AutoAttack(clf, eps=0.1, bounds=(0, 1), **FAST).evaluate(X[:5], y[:5])
    report = AutoAttack(
        clf, eps=0.1, bounds=(0, 1), version="rand", eot_iter=3, **FAST
    ).evaluate(X, y)
    assert list(report.robust_accuracy) == ["clean", "apgd-ce", "apgd-dlr"]
    assert report.robust_accuracy["apgd-dlr"] < report.robust_accuracy["clean"]


def test_verbose_report_and_transformer_contract(digits_mlp, digits_data, capsys):
    X = digits_data.X_test[:20]
    attack = AutoAttack(digits_mlp, eps=0.05, bounds=(0, 1), verbose=1, **FAST)
    out = attack.transform(X)
    printed = capsys.readouterr().out
    for stage in ("initial accuracy", "APGD-CE", "APGD-T", "FAB-T", "SQUARE"):
        assert stage in printed
    assert out.shape == X.shape and out.dtype == X.dtype
    assert not hasattr(attack, "_log")
    with pytest.raises(ValueError, match="untargeted"):
        attack.generate(X, target=np.zeros(len(X), dtype=int))


def test_robust_scorer_and_eps_zero(digits_mlp, digits_data):
    X, y = digits_data.X_test[:40], digits_data.y_test[:40]
    scorer = make_robust_scorer(AutoAttack(eps=0.1, bounds=(0, 1), **FAST))
    assert scorer(digits_mlp, X, y) < digits_mlp.score(X, y)
    report = AutoAttack(digits_mlp, eps=0.0, **FAST).evaluate(X, y)
    np.testing.assert_array_equal(report.X_adv, X)
    assert set(report.robust_accuracy.values()) == {digits_mlp.score(X, y)}


def test_fast_preset_is_apgd_ce_and_apgd_t_with_fewer_steps_and_weaker(
    digits_mlp, digits_data
):
    stages = dict(AutoAttack(eps=0.1, version="fast")._stages(n_classes=10))
    assert list(stages) == ["apgd-ce", "apgd-t"]
    ce, t = stages.values()
    assert (ce.loss, ce.n_iter, ce.n_target_classes, ce.early_stop) == (
        "ce",
        25,
        None,
        True,
    )
    assert (t.loss, t.n_iter, t.n_target_classes) == ("dlr", 25, 3)
    fast = dict(AutoAttack(eps=0.1, version="fast", n_iter=8)._stages(n_classes=3))
    assert (fast["apgd-t"].n_iter, fast["apgd-t"].n_target_classes) == (2, 2)
    X, y = digits_data.X_test[:60], digits_data.y_test[:60]
    kwargs = dict(eps=0.06, bounds=(0, 1), n_iter=12, n_queries=30, random_state=0)
    quick = AutoAttack(digits_mlp, version="fast", **kwargs).evaluate(X, y)
    full = AutoAttack(digits_mlp, **kwargs).evaluate(X, y)
    assert list(quick.robust_accuracy) == ["clean", "apgd-ce", "apgd-t"]
    assert quick.robust_accuracy["apgd-t"] >= full.robust_accuracy["square"]
    assert quick.robust_accuracy["apgd-t"] == digits_mlp.score(quick.X_adv, y)
    assert quick.robust_accuracy["apgd-t"] < digits_mlp.score(X, y)


def test_fast_preset_scores_inside_grid_search():
    X, y = load_iris(return_X_y=True)
    scorer = make_robust_scorer(
        AutoAttack(eps=0.3, version="fast", n_iter=8, random_state=0)
    )
    search = GridSearchCV(
        LogisticRegression(max_iter=300), {"C": [0.01, 10.0]}, scoring=scorer, cv=2
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # 3 classes: no DLR
        search.fit(X, y)
    scores = search.cv_results_["mean_test_score"]
    assert np.all((0 <= scores) & (scores <= 1)) and scores[0] != scores[1]
    best = search.best_estimator_
    assert search.best_params_ == {"C": [0.01, 10.0][int(np.argmax(scores))]}
    assert best.score(X, y) >= scorer(best, X, y)


@pytest.mark.gpu
def test_on_the_gpu(digits_data):
    from skrobust.nn import SmallCNN

    net = NeuralNetClassifier(
        SmallCNN,
        criterion=torch.nn.CrossEntropyLoss,
        optimizer=torch.optim.Adam,
        lr=0.01,
        max_epochs=3,
        train_split=None,
        verbose=0,
        device="cuda",
    )
    clf = SkorchClassifier(net, random_state=0).fit(
        digits_data.images_train, digits_data.y_train
    )
    X, y = digits_data.images_test[:64], digits_data.y_test[:64]
    report = AutoAttack(clf, eps=0.1, bounds=(0, 1), **FAST).evaluate(X, y)
    assert report.robust_accuracy["square"] < report.robust_accuracy["clean"]
    assert np.abs(report.X_adv - X).max() <= 0.1 + 1e-6
    out = APGD(clf, eps=2.0, norm="l1", n_iter=10, bounds=(0, 1)).generate(X, y)
    assert np.abs(out - X).reshape(len(X), -1).sum(axis=1).max() <= 2.0 + 1e-4
    norms = FAB(clf, norm="l2", n_iter=10, bounds=(0, 1)).minimal_norms(X, y)
    assert np.isfinite(norms).mean() > 0.9


class _View:
    """The least a view needs here: a torch module called on tensors."""

    n_classes = 3

    def __init__(self, module):
        self.module = module

    def __call__(self, x):
        return self.module(x)


def test_pieces_give_the_whole_batch_logits_and_gradients():
    from skrobust.attacks._autoattack import _Pieces, piece_rows

    torch.manual_seed(0)
    conv = torch.nn.Sequential(
        torch.nn.Conv2d(1, 4, 3), torch.nn.ReLU(), torch.nn.Flatten()
    ).double()
    view = _View(torch.nn.Sequential(*conv, torch.nn.Linear(4 * 4 * 4, 3)).double())
    x = torch.rand(20, 1, 6, 6, dtype=torch.float64, requires_grad=True)
    pieced = _Pieces(view, rows=7)
    whole, parts = view(x), pieced(x)
    torch.testing.assert_close(parts, whole, rtol=0, atol=1e-12)
    (g_whole,) = torch.autograd.grad(whole[:, 1].sum(), x)
    (g_parts,) = torch.autograd.grad(parts[:, 1].sum(), x)
    torch.testing.assert_close(g_parts, g_whole, rtol=0, atol=1e-12)
    assert pieced.n_classes == 3
    # rows from the activations of one sample: 64 + 64 + 64 + 3 per row
    assert piece_rows(view, x.detach()) == 2**20 // 195
    wide = _View(torch.nn.Linear(36, 100_000).double())
    assert piece_rows(wide, x.detach().flatten(1)) == 64  # at least 64 rows
    assert piece_rows(lambda x: x, x) is None  # no torch module: no pieces


def test_pieces_leave_every_stage_unchanged(digits_mlp, digits_data, monkeypatch):
    import skrobust.attacks._autoattack as autoattack_module

    X, y = digits_data.X_test[:40], digits_data.y_test[:40]
    attack = AutoAttack(digits_mlp, eps=0.05, bounds=(0, 1), **FAST)
    monkeypatch.setattr(autoattack_module, "PIECE_ACTIVATIONS", 1)  # 64 rows
    calls = []
    pieces = autoattack_module._Pieces.__call__
    monkeypatch.setattr(
        autoattack_module._Pieces,
        "__call__",
        lambda self, x: calls.append(len(x) > self.rows) or pieces(self, x),
    )
    pieced = attack.evaluate(X, y)
    assert any(calls)  # the joined batches ran in pieces
    monkeypatch.setattr(autoattack_module, "piece_rows", lambda view, x0: None)
    whole = attack.evaluate(X, y)
    assert pieced.robust_accuracy == whole.robust_accuracy
    np.testing.assert_array_equal(pieced.broken_by, whole.broken_by)
    np.testing.assert_allclose(pieced.X_adv, whole.X_adv, rtol=0, atol=1e-6)
