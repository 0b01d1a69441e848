"""One certificate protocol: ``certified_radius(X, y=None)``, NaN where a certifier
abstains or (given labels) is wrong; metrics read it; one default method; the
method families behind ``certify`` / ``certified_radius``."""

import inspect
import re
import types

import numpy as np
import pytest
import torch
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from skorch import NeuralNetClassifier

from skrobust.certification import (
    IBPClassifier,
    RandomizedSmoothingClassifier,
    bounds,
    certified_radius,
    certify,
    interval_bounds,
    margin_bounds,
)
from skrobust.certification import _certify as dispatcher
from skrobust.metrics import CertifiedAccuracyDisplay, certified_accuracy_score
from skrobust.nn import MLP


def _wrong(labels, n_classes):
    return (np.asarray(labels) + 1) % n_classes


def _check_protocol(radius_of, predict, X, y, n_classes):
    """NaN exactly where the prediction is wrong; elsewhere the radius of the
    predicted class (the ``y=None`` radii)."""
    own = radius_of(X)
    assert own.dtype == np.float64 and own.shape == (len(X),)
    y = np.array(y, copy=True)
    y[::3] = _wrong(predict(X[::3]), n_classes)  # a third surely misclassified
    radius = radius_of(X, y)
    correct = predict(X) == y
    np.testing.assert_array_equal(np.isnan(radius) & correct, np.isnan(own) & correct)
    assert np.all(np.isnan(radius[~correct]))
    np.testing.assert_array_equal(radius[correct], own[correct])
    return radius, own, y


def test_module_radius_protocol(digits_mlp, digits_data):
    X, y = digits_data.X_test[:60], digits_data.y_test[:60]
    kw = dict(bounds=(0, 1), max_eps=0.5, tol=1e-3)
    radius, own, y = _check_protocol(
        lambda X, y=None: certified_radius(digits_mlp, X, y, **kw),
        digits_mlp.predict,
        X,
        y,
        10,
    )
    assert not np.any(np.isnan(own))  # a net without ties certifies its own class
    # the radii are certificates, tight to the bisection's tolerance
    for r in (0.01, 0.03):
        ok = certify(digits_mlp, X, y, eps=r, bounds=(0, 1))
        assert np.all(ok[radius >= r])
        assert not np.any(ok[radius < r - 2e-3])


def test_ibp_classifier_radius_protocol(digits_data):
    net = NeuralNetClassifier(
        MLP,
        module__hidden_layer_sizes=(32,),
        criterion=torch.nn.CrossEntropyLoss,
        optimizer=torch.optim.Adam,
        lr=0.01,
        max_epochs=4,
        batch_size=128,
        train_split=None,
        verbose=0,
    )
    clf = IBPClassifier(net, eps=0.03, bounds=(0, 1), random_state=0)
    clf.fit(digits_data.X_train[:600], digits_data.y_train[:600])
    X, y = digits_data.X_test[:45], digits_data.y_test[:45]
    radius, _, y = _check_protocol(
        lambda X, y=None: clf.certified_radius(X, y, max_eps=0.3),
        clf.predict,
        X,
        y,
        10,
    )
    # the same radii as the module function with the classifier's threat model
    np.testing.assert_array_equal(
        radius, certified_radius(clf, X, y, bounds=(0, 1), max_eps=0.3)
    )
    # metrics read the protocol: counted points are certified at the radius
    score = certified_accuracy_score(clf, X, y, radius=0.03)
    full = clf.certified_radius(X, y)
    assert score == np.mean(full >= 0.03)
    assert np.all(clf.certify(X, y)[full >= 0.03])


@pytest.fixture(scope="module")
def smoothed_iris():
    X, y = load_iris(return_X_y=True)
    base = LogisticRegression(max_iter=1000).fit(X, y)
    rs = RandomizedSmoothingClassifier(
        base, prefit=True, sigma=0.3, n_samples=2000, random_state=0
    )
    return rs.fit(X), X, y


def test_smoothing_radius_protocol(smoothed_iris):
    rs, X, y = smoothed_iris
    y_pred, radius = rs.certify(X)
    abstained = np.isnan(radius)
    assert 0 < abstained.sum() < len(X) // 4  # points near the boundaries
    np.testing.assert_array_equal(rs.certified_radius(X), radius)  # same draws
    with_labels = rs.certified_radius(X, y)
    np.testing.assert_array_equal(np.isnan(with_labels), abstained | (y_pred != y))
    kept = ~np.isnan(with_labels)
    np.testing.assert_array_equal(with_labels[kept], radius[kept])
    strings = np.array(["a", "b", "c"])  # labels of any type compare as labels
    rs_strings = RandomizedSmoothingClassifier(
        LogisticRegression(max_iter=1000).fit(X, strings[y]),
        prefit=True,
        sigma=0.3,
        n_samples=2000,
        random_state=0,
    ).fit(X)
    np.testing.assert_array_equal(
        np.isnan(rs_strings.certified_radius(X, strings[y])), np.isnan(with_labels)
    )
    # metrics: the same certified accuracy as Cohen's CERTIFY output gives
    for r in (0.0, 0.2, 0.5):
        expected = np.mean((y_pred == y) & ~abstained & (radius >= r))
        assert certified_accuracy_score(rs, X, y, radius=r) == expected
    display = CertifiedAccuracyDisplay.from_estimator(rs, X, y, radii=[0.0, 0.2])
    np.testing.assert_allclose(
        display.certified_accuracy,
        [certified_accuracy_score(rs, X, y, radius=r) for r in (0.0, 0.2)],
    )
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        rs.certified_radius(X, y[:-1])


def test_every_certifier_offers_the_protocol():
    for func in (
        certified_radius,
        IBPClassifier.certified_radius,
        RandomizedSmoothingClassifier.certified_radius,
    ):
        y = inspect.signature(func).parameters["y"]
        assert y.default is None, func


def test_one_default_method_and_auto_batches():
    functions = [
        interval_bounds,
        margin_bounds,
        certify,
        certified_radius,
        bounds.certify,
        bounds.certified_radius,
    ]
    for func in functions:
        params = inspect.signature(func).parameters
        assert params["method"].default == dispatcher.DEFAULT_METHOD, func
        assert params["batch_size"].default == "auto", func
    ibp = inspect.signature(IBPClassifier).parameters
    assert ibp["certify_method"].default == dispatcher.DEFAULT_METHOD
    rs = inspect.signature(RandomizedSmoothingClassifier).parameters
    assert rs["batch_size"].default == "auto"


def test_auto_batches_give_the_same_certificates(digits_cnn, digits_data):
    X, y = digits_data.images_test[:30], digits_data.y_test[:30]
    auto = margin_bounds(digits_cnn, X, y, eps=0.02, bounds=(0, 1), method="ibp")
    small = margin_bounds(
        digits_cnn, X, y, eps=0.02, bounds=(0, 1), method="ibp", batch_size=7
    )
    np.testing.assert_allclose(auto, small, atol=1e-5)
    with pytest.raises(ValueError, match="batch_size must be a positive int"):
        certify(digits_cnn, X, y, eps=0.02, batch_size=0)


def test_a_method_family_is_one_registry_entry(monkeypatch, digits_mlp, digits_data):
    calls = []

    def family_certify(estimator, X, y, **kwargs):
        calls.append(("certify", kwargs))
        return np.ones(len(X), dtype=bool)

    def family_radius(estimator, X, y=None, **kwargs):
        calls.append(("certified_radius", kwargs))
        return np.full(len(X), 0.5)

    toy = types.SimpleNamespace(
        METHODS=("toy",), certify=family_certify, certified_radius=family_radius
    )
    monkeypatch.setattr(dispatcher, "FAMILIES", (*dispatcher.FAMILIES, toy))
    X, y = digits_data.X_test[:4], digits_data.y_test[:4]
    assert certify(digits_mlp, X, y, eps=0.1, method="toy").all()
    assert np.all(certified_radius(digits_mlp, X, y, method="toy") == 0.5)
    assert [name for name, _ in calls] == ["certify", "certified_radius"]
    assert calls[0][1] == dict(
        eps=0.1,
        norm="linf",
        bounds=None,
        method="toy",
        feature_mask=None,
        direction=None,
        batch_size="auto",
    )
    assert calls[1][1]["max_eps"] == 1.0 and calls[1][1]["tol"] == 1e-3
    # the built-in family still answers its methods
    np.testing.assert_array_equal(
        certify(digits_mlp, X, y, eps=0.01, method="ibp"),
        bounds.certify(digits_mlp, X, y, eps=0.01, method="ibp"),
    )
    known = "'ibp', 'crown-ibp', 'crown', 'alpha-crown', 'lipschitz', 'milp', 'toy'"
    known = re.escape(f"({known})")
    with pytest.raises(ValueError, match=known):
        certify(digits_mlp, X, y, eps=0.1, method="exact")


def test_lipschitz_and_milp_families_answer_through_the_dispatcher():
    from skrobust.certification import lipschitz, mip

    X, y = load_iris(return_X_y=True)
    clf = LogisticRegression(max_iter=1000).fit(X, y)
    X, y = X[::15], y[::15]
    for method, family in (("lipschitz", lipschitz), ("milp", mip)):
        np.testing.assert_array_equal(
            certify(clf, X, y, eps=0.2, method=method),
            family.certify(clf, X, y, eps=0.2, norm="linf", method=method),
        )
        radius = certified_radius(clf, X, y, method=method, max_eps=2.0)
        # a linear model: both are exact, as the bisection of CROWN is
        exact = certified_radius(clf, X, y, method="crown", max_eps=2.0, tol=1e-6)
        np.testing.assert_allclose(radius, exact, atol=1e-4)
