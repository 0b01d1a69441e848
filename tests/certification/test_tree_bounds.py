"""Chen's clique bound, the leaf-tuple search and the public MILP route for
tree ensembles: soundness against exact answers and against other attacks."""

import itertools

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import (
    GradientBoostingClassifier,
    HistGradientBoostingClassifier,
    RandomForestClassifier,
)

from skrobust._models import CliqueBound, LeafSearch, Region, TreeEnsemble
from skrobust.attacks import HopSkipJump, SquareAttack
from skrobust.certification.mip import (
    TreeEnsembleMILP,
    certify,
    minimal_distance,
    verify,
)


def _data(seed):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(160, 3))
    return X, (X[:, 0] + X[:, 1] * X[:, 2] > 0).astype(int)


@pytest.fixture(scope="module", params=["rf", "gb"])
def tiny(request):
    X, y = _data(0)
    model = {
        "rf": RandomForestClassifier(n_estimators=5, max_depth=3, random_state=0),
        "gb": GradientBoostingClassifier(n_estimators=5, max_depth=2, random_state=0),
    }[request.param].fit(X, y)
    ensemble = TreeEnsemble(model)
    return X, y, model, ensemble, TreeEnsembleMILP(ensemble)


def _min_margin(ensemble, x0, eps, w):
    """Smallest ``w . scores`` over the l-inf ball, by enumerating leaf tuples."""
    boxes = [ensemble.leaves(i) for i in range(ensemble.n_trees)]
    best = np.inf
    for combo in itertools.product(*[range(len(b)) for b in boxes]):
        low = np.max([b.low[c] for b, c in zip(boxes, combo)], axis=0)
        high = np.min([b.high[c] for b, c in zip(boxes, combo)], axis=0)
        # (low, high] meets [x0 - eps, x0 + eps]
        if np.all((low < high) & (low < x0 + eps) & (high >= x0 - eps)):
            s = ensemble.base_score + sum(b.value[c] for b, c in zip(boxes, combo))
            best = min(best, float(s @ w))
    return best


def test_clique_bound_merged_is_the_exact_minimum(tiny):
    X, _, _, ensemble, _ = tiny
    for i in range(2):
        x0 = X[i]
        region = Region(x0, x0 - 10, x0 + 10, np.ones(3), "linf")
        bound = CliqueBound(ensemble, region, 0.5, max_cliques=10**6)
        w = np.array([1.0, -1.0])
        exact = _min_margin(ensemble, x0, 0.5, w)
        value, is_exact, witness = bound.margin(w)
        assert is_exact
        np.testing.assert_allclose(value, exact, atol=1e-12)
        low, high, _ = witness
        x = region.within(0.5).nearest(low, high)
        np.testing.assert_allclose(ensemble.scores(x[None])[0] @ w, exact, atol=1e-12)
        level0, exact0, _ = bound.margin(w, max_level=0)
        assert level0 <= exact + 1e-12
        assert not exact0 or level0 == pytest.approx(exact)


@pytest.mark.parametrize("norm", ["linf", "l2"])
def test_clique_radius_never_exceeds_the_exact_distance(tiny, norm):
    X, _, _, ensemble, milp = tiny
    for i in range(4):
        x0 = X[i]
        label = ensemble.predict(x0[None])[0]
        region = Region(x0, x0 - 4, x0 + 4, np.ones(3), norm)
        exact = milp.minimal_distance(region, label).upper
        low, high = 0.0, 4.0  # bisection on the clique-certified radius
        for _ in range(12):
            mid = (low + high) / 2
            ok = CliqueBound(ensemble, region, mid).certified(label, max_level=1)
            low, high = (mid, high) if ok else (low, mid)
        assert low <= exact


def test_verified_points_survive_square_hopskipjump_and_the_search(tiny):
    X, y, model, ensemble, milp = tiny
    eps = 0.3
    X_test, y_test = X[:25], y[:25]
    status, broken_by_search = [], []
    for x0, label in zip(X_test, np.searchsorted(model.classes_, y_test)):
        region = Region(x0, x0 - 10, x0 + 10, np.ones(3), "linf")
        status.append(milp.verify(region, label, eps).status)
        x = LeafSearch(ensemble, region, label).attack(eps, rng=0)
        broken_by_search.append(x is not None)
        if x is not None:  # valid: inside the ball, misclassified
            assert np.abs(x - x0).max() <= eps
            assert model.predict(x[None])[0] != model.classes_[label]
    status, broken_by_search = np.array(status), np.array(broken_by_search)
    verified = status == "verified"
    assert set(status) <= {"verified", "falsified"}
    assert not (verified & broken_by_search).any()
    # the search finds every counterexample the MILP finds on these models
    np.testing.assert_array_equal(broken_by_search, status == "falsified")
    for attack in (
        SquareAttack(model, eps=eps, n_queries=200, random_state=0),
        HopSkipJump(model, eps=eps, random_state=0),
    ):
        X_adv = attack.generate(X_test, y_test)
        assert np.abs(X_adv - X_test).max() <= eps + 1e-9
        fooled = model.predict(X_adv) != y_test
        assert not (verified & fooled).any()
        assert fooled.sum() <= (~verified).sum()


def test_search_minimal_distance_is_an_upper_bound(tiny):
    X, _, model, ensemble, milp = tiny
    ratios = []
    for i in range(6):
        x0 = X[i]
        label = ensemble.predict(x0[None])[0]
        region = Region(x0, x0 - 4, x0 + 4, np.ones(3), "l1")
        exact = milp.minimal_distance(region, label)
        x, size = LeafSearch(ensemble, region, label).minimal(rng=0)
        if exact.x is None:
            assert x is None
            continue
        assert size >= exact.upper - 1e-12
        assert model.predict(x[None])[0] != model.classes_[label]
        assert region.size_of(x[None])[0] >= size
        ratios.append(size / exact.upper)
    assert np.median(ratios) == pytest.approx(1.0)


def test_public_verify_and_minimal_distance_route_trees(tiny):
    X, y, model, ensemble, milp = tiny
    eps = np.array([0.3, 0.2, 0.4])
    result = verify(model, X[:15], y[:15], eps=eps, bounds=(-3, 3))
    assert set(result.status) <= {"verified", "falsified", "unknown"}
    for i, status in enumerate(result.status):
        x0 = X[i]
        if status == "falsified":
            x = result.counterexample[i]
            assert np.all(np.abs(x - x0) <= eps + 1e-12) and np.all(np.abs(x) <= 3)
            assert model.predict(x[None])[0] != y[i]
            score = ensemble.scores(x[None])[0]
            label = np.searchsorted(model.classes_, y[i])
            assert result.margin_lower[i] <= score[label] - score[1 - label] + 1e-12
        else:
            assert np.isnan(result.counterexample[i]).all()
    np.testing.assert_array_equal(
        certify(model, X[:15], y[:15], eps=eps, bounds=(-3, 3)),
        result.status == "verified",
    )
    distances = minimal_distance(model, X[:6], y[:6], eps=eps, norm="l2", max_eps=3.0)
    for i in range(6):
        x0 = X[i]
        label = np.searchsorted(model.classes_, y[i])
        if ensemble.predict(x0[None])[0] != label:
            assert np.isnan(distances.radius[i])
            continue
        region = Region(x0, x0 - np.inf, x0 + np.inf, eps, "l2")
        exact = milp.minimal_distance(region, label).upper
        assert distances.exact[i]
        np.testing.assert_allclose(distances.radius[i], min(exact, 3.0), rtol=1e-9)


def test_public_route_categorical_columns_and_max_changes():
    rng = np.random.default_rng(0)
    n = 300
    frame = pd.DataFrame(
        {
            "a": rng.normal(size=n),
            "c": pd.Categorical(rng.choice(["x", "y", "z"], n)),
            "k": rng.integers(0, 5, n),
        }
    )
    y = ((frame["a"] > 0) ^ (frame["c"] == "y") ^ (frame["k"] > 2)).astype(int)
    model = HistGradientBoostingClassifier(max_iter=6, random_state=0).fit(frame, y)
    X, y = frame[:25], y[:25]
    eps = {"a": 0.3, "k": 1}
    fixed = verify(model, X, y, eps=eps)
    free = verify(model, X, y, eps=eps, feature_mask=["a", "c", "k"])
    capped = verify(model, X, y, eps=eps, feature_mask=["a", "c", "k"], max_changes=0)
    # more freedom never verifies more
    for weak, strong in ((fixed, free), (capped, free)):
        assert not ((strong.status == "verified") & (weak.status != "verified")).any()
    assert (free.status == "falsified").sum() > (fixed.status == "falsified").sum()
    for result, may_change in ((fixed, False), (free, True), (capped, False)):
        for i in np.flatnonzero(result.status == "falsified"):
            x = result.counterexample[i]
            assert x[1] in ("x", "y", "z")
            if not may_change:
                assert x[1] == X["c"].iloc[i]
            assert float(x[2]).is_integer() and abs(x[2] - X["k"].iloc[i]) <= 1
            if result is capped:
                assert x[2] == X["k"].iloc[i]
            row = pd.DataFrame([x], columns=X.columns).astype(X.dtypes.to_dict())
            assert model.predict(row)[0] != y.iloc[i]
