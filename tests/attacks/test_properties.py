"""Property-based checks of every attack x norm x estimator kind (hypothesis)."""

import numpy as np
import pandas as pd
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from skrobust.attacks import APGD, FAB, FGSM, PGD, AutoAttack

MODELS = ["digits_cnn", "digits_mlp", "cancer_logreg_pipeline", "cancer_mlp_pipeline"]
NORMS = ["linf", "l2", "l1"]


def examples(n):
    """``n`` examples, or the loaded profile's when it asks for more
    (``HYPOTHESIS_PROFILE=deep``: tests/conftest.py)."""
    return max(n, settings.default.max_examples)


def _data(request, name):
    if name.startswith("digits"):
        d = request.getfixturevalue("digits_data")
        X = d.images_test if name == "digits_cnn" else d.X_test
        return X, d.y_test, (0.0, 1.0), 1.0
    d = request.getfixturevalue("cancer_data")
    return d.X_test, d.y_test, "data", float(d.X_train.std().median())


def _sizes(delta, scale, norm):
    flat = delta.reshape(len(delta), -1)
    scale = np.broadcast_to(scale, delta.shape[1:]).reshape(-1)
    assert not flat[:, scale == 0].any(), "an immutable feature moved"
    u = flat[:, scale > 0] / scale[scale > 0]
    return {
        "linf": np.abs(u).max(axis=1, initial=0),
        "l2": np.linalg.norm(u, axis=1),
        "l1": np.abs(u).sum(axis=1),
    }[norm]


def _check_invariants(attack, model, X, y, eps, mask, norm, bounds, unit):
    """Attack ``X`` and check what every attack guarantees; return numpy arrays.

    Robust accuracy <= clean accuracy; type, shape, dtype, index and columns
    kept; the input untouched; inside the ball (immutable features fixed)
    and the bounds (test points may lie outside bounds learned from data);
    eps = 0 is the identity.
    """
    if bounds == "data":
        low, high = attack.data_min_, attack.data_max_
    else:
        low, high = bounds
    before = X.copy()
    out = attack.generate(X, y)
    assert model.score(out, y) <= model.score(X, y) + 1e-12
    assert type(out) is type(X)
    if isinstance(X, pd.DataFrame):
        assert out.index.equals(X.index) and out.columns.equals(X.columns)
        pd.testing.assert_frame_equal(X, before)
        X, out = X.to_numpy(), out.to_numpy()
    else:
        assert out.dtype == X.dtype
        np.testing.assert_array_equal(X, before)
    assert out.shape == X.shape
    scale = np.broadcast_to(eps, X.shape[1:]) * mask.reshape(X.shape[1:])
    tol = 1e-5 * max(unit, 1.0)
    sizes = _sizes((out - X).astype(np.float64), scale, norm)
    assert (sizes <= 1 + 1e-4).all() or not scale.any()
    low, high = np.broadcast_to(low, X.shape), np.broadcast_to(high, X.shape)
    if bounds == "data":
        low, high = np.minimum(low, X), np.maximum(high, X)
    assert (out >= low - tol).all() and (out <= high + tol).all()
    if not scale.any():
        np.testing.assert_array_equal(out, X)
    return X, out


@pytest.mark.parametrize("model_name", MODELS)
@settings(max_examples=examples(12))
@given(data=st.data())
def test_attack_invariants(request, model_name, data):
    model = request.getfixturevalue(model_name)
    X_all, y_all, bounds, unit = _data(request, model_name)
    n = data.draw(st.integers(1, 24), label="n")
    start = data.draw(st.integers(0, len(y_all) - n), label="start")
    X = X_all[start : start + n]
    y = np.asarray(y_all)[start : start + n]
    n_features = int(np.prod(X.shape[1:]))
    attack_cls = data.draw(
        st.sampled_from([FGSM, PGD, APGD, FAB, AutoAttack]), label="attack"
    )
    norms = ["linf", "l2"] if attack_cls is AutoAttack else NORMS
    norm = data.draw(st.sampled_from(norms), label="norm")
    eps = data.draw(st.sampled_from([0.0]) | st.floats(0.01, 2.0), label="eps")
    eps *= unit  # budgets below float32 resolution are not meaningful
    per_feature = data.draw(st.booleans(), label="per_feature_eps")
    if per_feature:
        factors = data.draw(
            st.lists(
                st.sampled_from([0.0]) | st.floats(0.05, 1.0),
                min_size=n_features,
                max_size=n_features,
            ),
            label="factors",
        )
        eps = eps * np.asarray(factors).reshape(X.shape[1:])
    mask = np.asarray(
        data.draw(
            st.lists(st.booleans(), min_size=n_features, max_size=n_features),
            label="mask",
        )
    )
    kwargs = dict(eps=eps, norm=norm, bounds=bounds, feature_mask=mask, early_stop=True)
    if attack_cls is PGD:
        kwargs.update(
            n_iter=data.draw(st.integers(1, 5), label="n_iter"),
            random_init=False,
            random_state=0,
        )
    if attack_cls in (APGD, FAB, AutoAttack):
        kwargs.update(
            n_iter=data.draw(st.integers(1, 4), label="n_iter"), random_state=0
        )
    if attack_cls in (FAB, AutoAttack):
        del kwargs["early_stop"]  # minimal norm / always stops on success
    if attack_cls is AutoAttack:
        kwargs.update(n_queries=5, n_target_classes=3)
    attack = attack_cls(model, **kwargs)
    if bounds == "data":
        attack.fit(request.getfixturevalue("cancer_data").X_train)
    _check_invariants(attack, model, X, y, eps, mask, norm, bounds, unit)


@pytest.mark.parametrize("norm", NORMS)
def test_pgd_equals_reference_torch_loop_on_skorch_cnn(digits_cnn, digits_data, norm):
    """PGD without random start = a hand-written loop of the same steps."""
    X, y = digits_data.images_test[:64], digits_data.y_test[:64]
    eps, alpha, n_iter = {"linf": 0.1, "l2": 1.0, "l1": 4.0}[norm], None, 5
    alpha = 0.25 * eps
    module = digits_cnn.net_.module_
    module.eval()
    x0 = torch.as_tensor(X)
    x = x0.clone()
    target = torch.as_tensor(y)
    for _ in range(n_iter):
        x.requires_grad_(True)
        loss = torch.nn.functional.cross_entropy(module(x), target, reduction="sum")
        (g,) = torch.autograd.grad(loss, x)
        flat_g = g.reshape(len(g), -1)
        if norm == "linf":
            step = flat_g.sign()
        elif norm == "l2":
            step = flat_g / flat_g.norm(dim=1, keepdim=True)
        else:  # top 1 % of 64 coordinates = the single largest
            top = flat_g.abs().argmax(dim=1)
            step = torch.zeros_like(flat_g)
            step[torch.arange(len(g)), top] = flat_g.sign()[torch.arange(len(g)), top]
        x = x.detach() + alpha * step.reshape(x.shape)
        delta = (x - x0).reshape(len(x), -1) / eps
        if norm == "linf":
            delta = delta.clamp(-1, 1)
        elif norm == "l2":
            delta = delta / delta.norm(dim=1, keepdim=True).clamp_min(1)
        else:
            from skrobust.attacks._functional._norms import L1

            delta = L1().project(delta)
        x = (x0 + eps * delta.reshape(x.shape)).clamp(0, 1)
    got = PGD(
        digits_cnn,
        eps=eps,
        norm=norm,
        n_iter=n_iter,
        step_size=alpha,
        random_init=False,
        bounds=(0, 1),
    ).generate(X, y)
    np.testing.assert_allclose(got, x.detach().numpy(), atol=1e-5)


def test_cnn_view_left_as_found(digits_cnn, digits_data):
    module = digits_cnn.net_.module_
    module.train()
    module.zero_grad(set_to_none=True)  # training leaves the last batch's grads
    flags = [p.requires_grad for p in module.parameters()]
    PGD(digits_cnn, eps=0.1, n_iter=2, random_state=0).generate(
        digits_data.images_test[:8], digits_data.y_test[:8]
    )
    assert module.training
    assert [p.requires_grad for p in module.parameters()] == flags
    assert all(p.grad is None for p in module.parameters())
    module.eval()


# -- black-box attacks (score- and decision-based) ----------------------------


@pytest.fixture(scope="module")
def cancer_forest(cancer_data):
    from sklearn.ensemble import RandomForestClassifier

    forest = RandomForestClassifier(n_estimators=5, max_depth=4, random_state=0)
    return forest.fit(cancer_data.X_train, cancer_data.y_train)


@pytest.mark.parametrize("model_name", [*MODELS, "cancer_forest"])
@settings(max_examples=examples(10))
@given(data=st.data())
def test_black_box_attack_invariants(request, model_name, data):
    from skrobust.attacks import HopSkipJump, SquareAttack

    model = request.getfixturevalue(model_name)
    X_all, y_all, bounds, unit = _data(request, model_name)
    n = data.draw(st.integers(1, 16), label="n")
    start = data.draw(st.integers(0, len(y_all) - n), label="start")
    X = X_all[start : start + n]
    y = np.asarray(y_all)[start : start + n]
    n_features = int(np.prod(X.shape[1:]))
    attack_cls = data.draw(st.sampled_from([SquareAttack, HopSkipJump]), label="attack")
    norm = data.draw(st.sampled_from(["linf", "l2"]), label="norm")
    eps = data.draw(st.sampled_from([0.0]) | st.floats(0.01, 2.0), label="eps")
    eps *= unit
    if data.draw(st.booleans(), label="per_feature_eps"):
        factors = data.draw(
            st.lists(
                st.sampled_from([0.0]) | st.floats(0.05, 1.0),
                min_size=n_features,
                max_size=n_features,
            ),
            label="factors",
        )
        eps = eps * np.asarray(factors).reshape(X.shape[1:])
    mask = np.asarray(
        data.draw(
            st.lists(st.booleans(), min_size=n_features, max_size=n_features),
            label="mask",
        )
    )
    direction = np.asarray(
        data.draw(
            st.lists(
                st.sampled_from([-1, 0, 1]), min_size=n_features, max_size=n_features
            ),
            label="direction",
        )
    ).reshape(X.shape[1:])
    kwargs = dict(
        eps=eps,
        norm=norm,
        bounds=bounds,
        feature_mask=mask,
        direction=direction,
        random_state=data.draw(st.integers(0, 3), label="seed"),
    )
    if attack_cls is SquareAttack:
        kwargs.update(n_queries=data.draw(st.integers(1, 30), label="n_queries"))
    else:
        kwargs.update(
            max_iter=data.draw(st.integers(0, 2), label="max_iter"),
            init_eval=10,
            init_size=5,
            early_stop=data.draw(st.booleans(), label="early_stop"),
        )
    attack = attack_cls(model, **kwargs)
    if bounds == "data":
        attack.fit(request.getfixturevalue("cancer_data").X_train)
    X, out = _check_invariants(attack, model, X, y, eps, mask, norm, bounds, unit)
    delta = (out - X).astype(np.float64)
    tol = 1e-5 * max(unit, 1.0)
    d = np.broadcast_to(direction, X.shape)
    assert (delta[d > 0] >= -tol).all() and (delta[d < 0] <= tol).all()
