"""One batch method, examples and extras: minimal norms, AutoAttack's report."""

import numpy as np
import pytest
import torch
from sklearn.datasets import load_breast_cancer, load_wine
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeClassifier

from skrobust.attacks import (
    FAB,
    AutoAttack,
    CarliniWagnerL2,
    DecisionTreeExactAttack,
    HopSkipJump,
    LinearExactAttack,
)
from skrobust.attacks._functional import hyperplane_projection, smallest_step


@pytest.fixture(scope="module")
def cancer():
    X, y = load_breast_cancer(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    clf = LogisticRegression(max_iter=1000).fit(X[:300], y[:300])
    return X[300:360], y[300:360], clf


def _size(delta, norm):
    u = delta.reshape(len(delta), -1)
    return {"linf": np.abs(u).max(axis=1), "l2": np.linalg.norm(u, axis=1)}.get(
        norm, np.abs(u).sum(axis=1)
    )


APPROXIMATE = {
    "fab-linf": lambda clf: FAB(clf, norm="linf", n_iter=20),
    "fab-l2-restarts": lambda clf: FAB(
        clf, norm="l2", n_iter=10, n_restarts=2, random_state=0
    ),
    "cw": lambda clf: CarliniWagnerL2(clf, bounds=(-20, 20), max_iter=50),
    "hsj": lambda clf: HopSkipJump(clf, max_iter=3, random_state=0),
}


@pytest.mark.parametrize("make", APPROXIMATE.values(), ids=list(APPROXIMATE))
def test_minimal_norms_are_the_sizes_of_what_generate_returns(cancer, make):
    X, y, clf = cancer
    attack = make(clf)
    norms, X_adv = attack.minimal_norms(X, y), attack.generate(X, y)
    found = np.isfinite(norms)
    assert found.mean() > 0.9
    sizes = _size(X_adv - X, attack.norm)
    np.testing.assert_allclose(sizes[found], norms[found], rtol=1e-9, atol=1e-12)
    assert (clf.predict(X_adv)[found] != y[found]).all()
    np.testing.assert_array_equal(X_adv[~found], X[~found])


def test_exact_norms_are_infima_their_examples_just_pass(cancer):
    X, y, clf = cancer
    for norm in ("linf", "l2", "l1"):
        attack = LinearExactAttack(clf, norm=norm)
        norms, X_adv = attack.minimal_norms(X, y), attack.generate(X, y)
        sizes = _size(X_adv - X, norm)
        assert (clf.predict(X_adv) != y).all()
        assert (sizes >= norms * (1 - 1e-12)).all()
        assert (sizes <= norms * (1 + 1e-6) + 1e-12).all()


def test_extras_are_concatenated_over_batches_in_order(cancer):
    X, y, clf = cancer
    X_wine, y_wine = load_wine(return_X_y=True)
    tree = DecisionTreeClassifier(max_depth=4, random_state=0).fit(X_wine, y_wine)
    for attack, X_, y_ in [
        (FAB(clf, norm="l2", n_iter=10), X, y),
        (LinearExactAttack(clf, norm="l1"), X, y),
        (DecisionTreeExactAttack(tree, norm="linf"), X_wine, y_wine),
    ]:
        whole = attack.minimal_norms(X_, y_)
        assert np.isfinite(whole).mean() > 0.9
        batched = attack.set_params(batch_size=7).minimal_norms(X_, y_)
        np.testing.assert_allclose(batched, whole, rtol=1e-9)


def test_autoattack_report_per_point_over_several_batches(digits_mlp, digits_data):
    X, y = digits_data.X_test[:50], digits_data.y_test[:50]
    attack = AutoAttack(
        digits_mlp, eps=0.06, bounds=(0, 1), n_iter=5, n_queries=20, random_state=0
    )
    report = attack.set_params(batch_size=16).evaluate(X, y)  # 4 batches
    clean = digits_mlp.predict(X) == y
    adv = digits_mlp.predict(report.X_adv) == y
    assert 0 < report.robust.sum() < clean.sum()  # some points broken, some not
    # per point, in order: the report matches what the examples do
    np.testing.assert_array_equal(report.robust, adv)
    np.testing.assert_array_equal(report.broken_by == "clean", ~clean)
    np.testing.assert_array_equal(report.broken_by == "", adv)
    np.testing.assert_array_equal(report.X_adv[report.robust], X[report.robust])
    stages = list(report.robust_accuracy)[1:]
    for k, stage in enumerate(stages):
        later = np.isin(report.broken_by, ["", *stages[k + 1 :]])
        assert report.robust_accuracy[stage] == pytest.approx(np.mean(clean & later))
    assert list(report.times) == stages
    assert all(t >= 0 for t in report.times.values())


# -- the one half-space solver -----------------------------------------------------


def test_half_space_out_of_reach_gives_the_corner_that_gains_most():
    rng = np.random.default_rng(0)
    for norm in ("linf", "l2", "l1"):
        c = torch.tensor(rng.normal(size=(50, 6)))
        low = torch.tensor(-rng.exponential(size=(50, 6)))
        high = torch.tensor(rng.exponential(size=(50, 6)))
        reach = torch.where(c > 0, c * high, c * low).sum(dim=1)
        m = reach * torch.tensor(rng.uniform(0.2, 2.0, size=50))
        u, size = smallest_step(c, m, low, high, norm)
        out = m > reach
        assert 10 < int(out.sum()) < 40
        # beyond reach: infinite size, and the box corner of largest c . u
        assert torch.isinf(size[out]).all() and torch.isfinite(size[~out]).all()
        corner = torch.where(c > 0, high, low)[out]
        torch.testing.assert_close(u[out], corner)
        torch.testing.assert_close((c * u).sum(dim=1)[~out], m[~out])
        # FAB's projection is the same solver, from either side of 0
        down = -torch.where(c > 0, c * low, c * high).sum(dim=1)
        d = hyperplane_projection(norm, c, -m, low, high)
        torch.testing.assert_close((c * d).sum(dim=1)[m <= down], -m[m <= down])
        corner = torch.where(c > 0, low, high)[m > down]
        torch.testing.assert_close(d[m > down], corner)


def _linf_by_breakpoints(c, m, low, high):
    """One row, by hand: walk the sorted rooms until the gain reaches m."""
    gain = np.abs(c)
    room = np.where(c > 0, high, np.where(c < 0, -low, 0.0))
    if m <= 0:
        return np.zeros_like(c)
    if np.where(gain > 0, gain * room, 0.0).sum() < m:
        return np.sign(c) * np.where(gain > 0, room, 0.0)  # the corner
    used, rest = 0.0, gain.sum()
    for j in np.argsort(room, kind="stable"):
        if gain[j] == 0:
            continue
        if used + room[j] * rest >= m:  # the root lies below this room
            break
        used, rest = used + gain[j] * room[j], rest - gain[j]
    t = (m - used) / rest
    return np.sign(c) * np.minimum(t, room) * (gain > 0)


def test_linf_half_space_equals_a_breakpoint_walk_on_fab_sized_rows():
    # 64 features with pinned (zero-room), unbounded and tied rooms, zero
    # gains and targets out of reach: the sort-free Newton search must land
    # on the same point as a walk over the sorted breakpoints
    rng = np.random.default_rng(1)
    n, d = 300, 64
    c = rng.normal(size=(n, d)) * (rng.random((n, d)) > 0.1)
    low = -np.round(rng.exponential(size=(n, d)), 1)
    high = np.round(rng.exponential(size=(n, d)), 1)
    low[rng.random((n, d)) < 0.3] = 0.0
    high[rng.random((n, d)) < 0.05] = np.inf
    reach = np.where(c > 0, c * high, np.where(c < 0, c * low, 0.0)).sum(axis=1)
    m = np.minimum(reach, 40.0) * rng.uniform(0.05, 1.3, size=n)
    m[:5] = 0.0
    u, size = smallest_step(*map(torch.tensor, (c, m, low, high)), "linf")
    expected = np.stack([_linf_by_breakpoints(*row) for row in zip(c, m, low, high)])
    np.testing.assert_allclose(u.numpy(), expected, rtol=1e-9, atol=1e-12)
    out = m > reach
    assert 10 < out.sum() < 100
    assert np.isinf(size[out]).all()
    np.testing.assert_allclose(size[~out], np.abs(expected[~out]).max(axis=1))


def test_tensor_loops_import_no_scikit_learn():
    import ast
    from pathlib import Path

    import skrobust.attacks._functional as functional

    for path in Path(functional.__file__).parent.glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            else:
                continue
            assert not any(n.split(".")[0] == "sklearn" for n in names), path.name
