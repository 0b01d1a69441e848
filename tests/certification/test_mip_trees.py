"""Kantchelian's MILP for tree ensembles against full enumeration.

The ensembles are tiny (<= 5 trees, depth <= 3, 2-3 features) so that every
combination of one leaf per tree can be enumerated: the smallest move into
an adversarial combination is the exact minimal distance.
"""

import itertools

import numpy as np
import pytest
from sklearn.ensemble import (
    GradientBoostingClassifier,
    HistGradientBoostingClassifier,
    RandomForestClassifier,
)

from skrobust._models import Region, TreeEnsemble
from skrobust.certification.mip import TreeEnsembleMILP


def _gap(low, high, x0, a, b, integer):
    """|x - x0| to the nearest x with low < x <= high and a <= x <= b (inf if
    none), written independently of the library's Region."""
    if integer:
        k_lo = max(np.floor(low - x0) + 1, np.ceil(a - x0))
        k_hi = min(np.floor(high - x0), np.floor(b - x0))
        if k_lo > k_hi:
            return np.inf
        return 0.0 if k_lo <= 0 <= k_hi else min(abs(k_lo), abs(k_hi))
    lo, hi = max(low, a), min(high, b)
    if lo > hi or (lo == hi and low >= a and lo == low):
        return np.inf
    if x0 > hi:
        return x0 - hi
    if x0 <= lo:  # the infimum of an open (low) or closed (a) side
        return lo - x0
    return 0.0


def enumerate_minimal(ensemble, x0, label, a, b, w, norm, integer, target=None):
    boxes = [ensemble.leaves(i) for i in range(ensemble.n_trees)]
    cat = np.flatnonzero(ensemble.is_categorical)
    best = np.inf
    for combo in itertools.product(*[range(len(bx)) for bx in boxes]):
        low = np.max([bx.low[c] for bx, c in zip(boxes, combo)], axis=0)
        high = np.min([bx.high[c] for bx, c in zip(boxes, combo)], axis=0)
        if any(
            not all(bx.categories[f][c][int(x0[f])] for bx, c in zip(boxes, combo))
            for f in cat
        ):
            continue  # categorical features stay put in these tests
        score = ensemble.base_score + sum(bx.value[c] for bx, c in zip(boxes, combo))
        pred = ensemble.decide(score[None])[0]
        if (pred != target) if target is not None else (pred == label):
            continue
        gaps = np.array(
            [
                0.0
                if f in cat
                else _gap(low[f], high[f], x0[f], a[f], b[f], integer[f])
                for f in range(len(x0))
            ]
        )
        if np.isinf(gaps).any() or ((gaps > 0) & (w == 0)).any():
            continue
        u = np.where(w > 0, gaps / np.where(w > 0, w, 1), 0)
        size = {"linf": u.max(), "l1": u.sum(), "l2": np.sqrt((u**2).sum())}[norm]
        best = min(best, size)
    return best


def _data(seed, n_classes=2, integer=False):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(150, 3))
    if integer:
        X[:, 2] = np.round(X[:, 2] * 2)
    y = (X[:, 0] + X[:, 1] * X[:, 2] > 0).astype(int)
    if n_classes == 3:
        y = (X[:, 0] > 0).astype(int) + (X[:, 1] > 0.5)
    return X, y


MODELS = {
    "rf": lambda s: RandomForestClassifier(n_estimators=4, max_depth=3, random_state=s),
    "gb": lambda s: GradientBoostingClassifier(
        n_estimators=5, max_depth=2, random_state=s
    ),
    "hgb": lambda s: HistGradientBoostingClassifier(
        max_iter=4, max_depth=3, random_state=s
    ),
}


def _check_point(model, milp_result, x0, label, a, b, ensemble):
    x = milp_result.x
    assert x is not None
    assert model.predict(x[None])[0] != ensemble.classes_[label]
    assert (x >= a).all() and (x <= b).all()


@pytest.mark.parametrize("name", list(MODELS))
@pytest.mark.parametrize("norm", ["linf", "l1", "l2"])
def test_minimal_distance_equals_enumeration(name, norm):
    integer_data = norm == "l1"
    X, y = _data(1, integer=integer_data)
    model = MODELS[name](0).fit(X, y)
    ensemble = TreeEnsemble(model)
    milp = TreeEnsembleMILP(ensemble)
    integer = np.array([False, False, integer_data])
    rng = np.random.default_rng(2)
    for i in range(4):
        x0 = X[i]
        label = ensemble.predict(x0[None])[0]
        a = x0 - rng.uniform(0.5, 3, 3)
        b = x0 + rng.uniform(0.5, 3, 3)
        w = np.array([1.0, 0.5, 2.0]) if i % 2 else np.ones(3)
        if i == 2:
            w[0] = 0.0  # an immutable feature
        region = Region(x0, a, b, w, norm, integer=integer)
        result = milp.minimal_distance(region, label)
        expected = enumerate_minimal(ensemble, x0, label, a, b, w, norm, integer)
        assert result.status == "optimal"
        if np.isinf(expected):
            assert result.upper == np.inf and result.x is None
            continue
        np.testing.assert_allclose(result.upper, expected, rtol=1e-9, atol=1e-12)
        assert result.lower == result.upper
        _check_point(model, result, x0, label, a, b, ensemble)
        assert region.size_of(result.x) >= result.upper  # the infimum


def test_multiclass_and_targeted_equal_enumeration():
    X, y = _data(3, n_classes=3)
    model = MODELS["rf"](1).fit(X, y)
    ensemble = TreeEnsemble(model)
    milp = TreeEnsembleMILP(ensemble)
    w, integer = np.ones(3), np.zeros(3, dtype=bool)
    for i in (1, 3):
        x0 = X[i]
        label = ensemble.predict(x0[None])[0]
        a, b = x0 - 3, x0 + 3
        region = Region(x0, a, b, w, "linf")
        result = milp.minimal_distance(region, label)
        expected = enumerate_minimal(ensemble, x0, label, a, b, w, "linf", integer)
        np.testing.assert_allclose(result.upper, expected, rtol=1e-9)
        for target in set(range(3)) - {label}:
            result = milp.minimal_distance(region, label, target=target)
            expected = enumerate_minimal(
                ensemble, x0, label, a, b, w, "linf", integer, target=target
            )
            np.testing.assert_allclose(result.upper, expected, rtol=1e-9)
            if np.isfinite(expected):
                assert model.predict(result.x[None])[0] == ensemble.classes_[target]


def test_categorical_features_change_only_when_allowed():
    rng = np.random.default_rng(0)
    n = 300
    X = np.column_stack([rng.normal(size=n), rng.integers(0, 4, n)])
    y = ((X[:, 0] > 0.5) | (X[:, 1] == 2)).astype(int)
    model = HistGradientBoostingClassifier(
        max_iter=4, max_depth=3, categorical_features=[1], random_state=0
    ).fit(X, y)
    ensemble = TreeEnsemble(model)
    milp = TreeEnsembleMILP(ensemble)
    x0 = np.array([-1.0, 0.0])  # class 0; category 2 would flip it
    label = ensemble.predict(x0[None])[0]
    fixed = milp.minimal_distance(Region(x0, x0 - 5, x0 + 5, [1.0, 0.0], "linf"), label)
    free = milp.minimal_distance(
        Region(x0, x0 - 5, x0 + 5, [1.0, 0.0], "linf", categories={1: [1, 1, 1, 1]}),
        label,
    )
    assert free.upper == 0.0 < fixed.upper  # a free category change costs nothing
    assert model.predict(free.x[None])[0] != ensemble.classes_[label]
    assert fixed.x[1] == 0.0


@pytest.mark.parametrize("name", ["rf", "gb"])
def test_verify_agrees_with_the_minimal_distance(name):
    X, y = _data(4)
    model = MODELS[name](0).fit(X, y)
    ensemble = TreeEnsemble(model)
    milp = TreeEnsembleMILP(ensemble)
    for i in range(5):
        x0 = X[i]
        label = ensemble.predict(x0[None])[0]
        region = Region(x0, x0 - 4, x0 + 4, np.ones(3), "linf")
        d = milp.minimal_distance(region, label).upper
        if not np.isfinite(d):
            continue
        below = milp.verify(region, label, d * 0.99)
        above = milp.verify(region, label, d * 1.01)
        assert below.status == "verified"
        assert above.status == "falsified"
        assert np.abs(above.x - x0).max() <= d * 1.01
        assert model.predict(above.x[None])[0] != ensemble.classes_[label]


def test_time_limit_gives_sound_bounds():
    X, y = _data(5)
    model = RandomForestClassifier(n_estimators=5, max_depth=3, random_state=0)
    ensemble = TreeEnsemble(model.fit(X, y))
    milp = TreeEnsembleMILP(ensemble)
    x0 = X[0]
    label = ensemble.predict(x0[None])[0]
    region = Region(x0, x0 - 4, x0 + 4, np.ones(3), "l2")
    exact = milp.minimal_distance(region, label)
    rushed = milp.minimal_distance(region, label, time_limit=1e-6)
    assert rushed.status in ("optimal", "unknown")
    assert rushed.lower <= exact.upper + 1e-12 <= rushed.upper + 1e-12
