"""Issue 18: an attack keeps the view of its fitted estimator between calls.

The view is rebuilt whenever the estimator is refitted, partially fitted,
changed in place or replaced; the kept view never travels with a pickle or a
clone; and the examples are those of an attack that builds the view afresh.
"""

import copy
import gc
import pickle
import re
import weakref

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression, SGDClassifier
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import KBinsDiscretizer, StandardScaler
from sklearn.utils import check_array
from skorch import NeuralNetClassifier

from skrobust import PartiallyDifferentiableWarning
from skrobust._models import fitted_state
from skrobust.attacks import PGD, _call_cache
from skrobust.nn import MLP


@pytest.fixture(scope="module")
def iris():
    X, y = load_iris(return_X_y=True)
    return X[::3], y[::3]


def _pgd(clf, **kw):
    return PGD(clf, eps=0.4, n_iter=5, random_state=0, **kw)


def _fresh(attack, X, y=None):
    """The examples of a new attack on the same estimator (a new view)."""
    return _new(attack).generate(X, y)


def _new(attack):
    return type(attack)(**attack.get_params(deep=False))


def _gradient(attack, X, y):
    view = attack._view()
    x = torch.tensor(X, dtype=view.dtype).requires_grad_()
    loss = torch.nn.functional.cross_entropy(view(x), torch.as_tensor(y))
    return torch.autograd.grad(loss, x)[0]


def test_cached_view_is_reused_and_equals_uncached(iris, monkeypatch):
    X, y = iris
    clf = make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y)
    attack = _pgd(clf)
    first = attack.generate(X, y)
    assert attack._view() is attack._view()  # one build for both
    np.testing.assert_array_equal(attack.generate(X, y), first)
    # without the cache (no state: never kept), the same examples
    monkeypatch.setattr(_call_cache, "fitted_state", lambda estimator: None)
    uncached = _pgd(clf)
    assert uncached._view() is not uncached._view()
    np.testing.assert_array_equal(uncached.generate(X, y), first)


@pytest.mark.parametrize("model", ["logistic", "mlp", "sgd"])
def test_refit_on_other_data_and_classes_is_seen(iris, model):
    X, y = iris
    make = {
        "logistic": lambda: LogisticRegression(max_iter=500),
        "mlp": lambda: MLPClassifier((6,), max_iter=300, random_state=0),
        "sgd": lambda: SGDClassifier(random_state=0),
    }[model]
    clf = make().fit(X, y)
    attack = _pgd(clf)
    before = attack.generate(X, y)
    view = attack._view()
    # refit in place on other data with two classes only
    two = y > 0
    clf.fit(X[two][:, ::-1], y[two])
    assert attack._view() is not view
    assert attack._view().n_classes == 2
    after = attack.generate(X[two], y[two])
    np.testing.assert_array_equal(after, _fresh(attack, X[two], y[two]))
    np.testing.assert_array_equal(
        _gradient(attack, X[two], y[two] - 1),
        _gradient(_new(attack), X[two], y[two] - 1),
    )
    assert not np.array_equal(after, before[two])


def test_in_place_changes_are_seen(iris):
    X, y = iris
    clf = LogisticRegression(max_iter=500).fit(X, y)
    attack = _pgd(clf)
    attack.generate(X, y)
    view = attack._view()
    clf.coef_ *= -1.0  # no refit: the arrays change in place
    assert attack._view() is not view
    np.testing.assert_array_equal(attack.generate(X, y), _fresh(attack, X, y))
    # set_params, then refit: seen
    view = attack._view()
    clf.set_params(C=1e-3).fit(X, y)
    assert attack._view() is not view
    np.testing.assert_array_equal(attack.generate(X, y), _fresh(attack, X, y))


def test_partial_fit_and_warm_start_are_seen(iris):
    X, y = iris
    clf = MLPClassifier((6,), max_iter=50, random_state=0)
    clf.partial_fit(X, y, classes=np.unique(y))
    attack = _pgd(clf)
    view = attack._view()
    clf.partial_fit(X, y)  # updates coefs_ in place
    assert attack._view() is not view
    np.testing.assert_array_equal(attack.generate(X, y), _fresh(attack, X, y))
    view = attack._view()
    clf.set_params(activation="tanh")  # a parameter the view reads
    assert attack._view() is not view
    assert isinstance(attack._view().module[1], torch.nn.Tanh)


def _iris_net():
    """An unfitted skorch MLP for the four iris features."""
    return NeuralNetClassifier(
        MLP,
        module__n_features_in=4,
        module__n_classes=3,
        module__hidden_layer_sizes=(8,),
        criterion=torch.nn.CrossEntropyLoss,
        max_epochs=1,
        lr=0.1,
        train_split=None,
        verbose=0,
    )


def test_skorch_refit_and_training_are_seen(iris):
    X, y = iris
    X = X.astype(np.float32)
    net = _iris_net()
    torch.manual_seed(0)
    net.fit(X, y)
    attack = _pgd(net)
    attack.generate(X, y)
    view = attack._view()
    assert attack._view() is view
    net.partial_fit(X, y)  # same module, weights trained in place
    assert attack._view() is not view
    np.testing.assert_array_equal(attack.generate(X, y), _fresh(attack, X, y))
    module = net.module_
    net.set_params(module__hidden_layer_sizes=(3,)).fit(X, y)  # a new module
    assert net.module_ is not module
    assert attack._view().module is net.module_
    np.testing.assert_array_equal(attack.generate(X, y), _fresh(attack, X, y))


def test_two_estimators_are_not_confused(iris):
    X, y = iris
    a = LogisticRegression(max_iter=500).fit(X, y)
    b = LogisticRegression(max_iter=500).fit(X[:, ::-1], y)  # same shapes
    attack = _pgd(a)
    out_a = attack.generate(X, y)
    attack.set_params(estimator=b)
    out_b = attack.generate(X, y)
    np.testing.assert_array_equal(out_b, _pgd(b).generate(X, y))
    assert not np.array_equal(out_a, out_b)
    attack.set_params(estimator=a)
    np.testing.assert_array_equal(attack.generate(X, y), out_a)
    # and two attacks on two estimators keep their own views
    pa, pb = _pgd(a), _pgd(b)
    pa.generate(X, y), pb.generate(X, y)
    assert pa._view().estimator is a and pb._view().estimator is b


def test_pickle_clone_and_deepcopy_drop_the_cache(iris):
    X, y = iris
    clf = MLPClassifier((6,), max_iter=200, random_state=0).fit(X, y)
    attack = _pgd(clf)
    size = len(pickle.dumps(attack))
    out = attack.generate(X, y)
    assert attack in _call_cache._VIEWS
    assert len(pickle.dumps(attack)) == size  # nothing more to pickle
    other = pickle.loads(pickle.dumps(attack))
    assert other not in _call_cache._VIEWS
    np.testing.assert_array_equal(other.generate(X, y), out)
    other = clone(attack)  # an unfitted clone of the MLP, trained alike
    assert other not in _call_cache._VIEWS
    np.testing.assert_array_equal(other.fit(X, y).generate(X, y), out)
    other = copy.deepcopy(attack)
    assert other not in _call_cache._VIEWS
    np.testing.assert_array_equal(other.generate(X, y), out)
    # the attack's attributes are unchanged by a call (scikit-learn's check)
    before = dict(vars(attack))
    attack.transform(X)
    assert vars(attack).keys() == before.keys()


def test_cache_does_not_keep_attacks_alive(iris):
    X, y = iris
    clf = LogisticRegression(max_iter=500).fit(X, y)
    attack = _pgd(clf)
    attack.generate(X, y)
    ref = weakref.ref(attack)
    del attack
    gc.collect()
    assert ref() is None


def test_fitted_state_sees_what_a_view_reads(iris):
    X, y = iris
    clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500))
    clf.fit(X, y)
    state = fitted_state(clf)
    assert fitted_state(clf) == state
    clf[0].scale_[0] *= 2.0  # a step's array, in place
    assert fitted_state(clf) != state
    state = fitted_state(clf)
    clf[-1].intercept_ = clf[-1].intercept_.copy()  # equal values, same state
    assert fitted_state(clf) == state
    clf[-1].set_params(C=0.5)  # a parameter, even without refit
    assert fitted_state(clf) != state


def test_conversion_warnings_come_on_every_call(iris):
    X, y = iris
    clf = make_pipeline(
        KBinsDiscretizer(
            n_bins=3, encode="ordinal", quantile_method="averaged_inverted_cdf"
        ),
        LogisticRegression(max_iter=500),
    ).fit(X, y)
    attack = _pgd(clf, bounds=(0, 2))
    for _ in range(2):
        with pytest.warns(PartiallyDifferentiableWarning):
            out = attack.generate(X, y)
    assert attack._view() is attack._view()
    with pytest.warns(PartiallyDifferentiableWarning):
        np.testing.assert_array_equal(out, _fresh(attack, X, y))


def _linf(out, X):
    return np.abs(out - X).max(axis=1)


def test_threat_model_is_resolved_again_when_its_content_changes(iris):
    """The resolved threat model is kept between calls only while every
    parameter and data statistic it reads has the same content."""
    X, y = iris
    clf = LogisticRegression(max_iter=500).fit(X, y)
    eps = np.full(4, 0.4)
    attack = PGD(clf, eps=eps, n_iter=5, random_state=0)
    attack.generate(X, y)
    kept = _call_cache._THREATS[attack][1]
    attack.generate(X, y)
    assert _call_cache._THREATS[attack][1] is kept  # nothing changed: kept
    eps[:] = 0.05  # in place: a new budget
    assert _linf(attack.generate(X, y), X).max() <= 0.05 + 1e-12
    attack.set_params(eps={1: 0.2})  # a dict: by item
    out = attack.generate(X, y)
    assert np.all(out[:, [0, 2, 3]] == X[:, [0, 2, 3]])
    attack.eps[1] = 0.0  # in place again
    np.testing.assert_array_equal(attack.generate(X, y), X)
    # bounds learned by fit: a refit on other data moves them
    attack.set_params(eps=5.0, bounds="data").fit(X)
    assert attack.generate(X, y).max() <= X.max()
    attack.fit(X / 2)
    assert attack.generate(X / 2, y).max() <= (X / 2).max()
    # and the examples are those of a fresh attack
    fresh = _new(attack).fit(X / 2).generate(X / 2, y)
    np.testing.assert_array_equal(attack.generate(X / 2, y), fresh)


def test_threat_model_of_immutable_parameters_follows_set_params(iris):
    """Numbers, strings and tuples of them are kept by identity: the same
    objects reuse the threat model (and its step size), any set_params
    resolves it again, and a tuple holding a list is read by content."""
    X, y = iris
    clf = LogisticRegression(max_iter=500).fit(X, y)
    attack = PGD(clf, eps=0.4, n_iter=5, step_size=0.1, bounds=(0.0, 8.0))
    attack.set_params(random_state=0).generate(X, y)
    kept = _call_cache._THREATS[attack][1]
    attack.generate(X[::-1], y[::-1])  # other values, the same shape
    assert _call_cache._THREATS[attack][1] is kept
    changes = [
        dict(eps=0.05),
        dict(step_size=0.01),
        dict(n_iter=2),
        dict(bounds=(0.1, 7.9)),
        dict(norm="l2", eps=0.3),
    ]
    for change in changes:
        attack.set_params(**change)
        out = attack.generate(X, y)
        assert _call_cache._THREATS[attack][1] is not kept
        kept = _call_cache._THREATS[attack][1]
        np.testing.assert_array_equal(out, _fresh(attack, X, y))
        other = attack.generate(X[::-1], y[::-1])  # no stale result
        np.testing.assert_array_equal(other, _fresh(attack, X[::-1], y[::-1]))
    assert out.min() >= 0.1 and out.max() <= 7.9
    assert np.linalg.norm(out - X, axis=1).max() <= 0.3 + 1e-12
    attack.set_params(norm="linf", eps=1.0)
    for d in (0.9, 0.6, 0.3):  # new tuples, maybe where the last one was
        attack.set_params(bounds=(0.1 - d, 7.7 + d))
        out = attack.generate(X, y)
        assert out.min() >= 0.1 - d and out.max() <= 7.7 + d
    low = [0.0] * 4
    attack.set_params(bounds=(low, [8.0] * 4), norm="linf").generate(X, y)
    low[0] = X[:, 0].min() + 0.5  # in place, inside the tuple: a new box
    with pytest.raises(ValueError, match="lie outside `bounds`"):
        attack.generate(X, y)


def test_labels_are_encoded_for_the_classes_of_the_current_fit(iris):
    """The label encoding kept per fitted state: a refit with other classes
    or other weights gives the examples of a fresh attack, and labels the
    new fit does not know are refused as before."""
    X, y = iris
    clf = LogisticRegression(max_iter=500).fit(X, y)  # classes 0, 1, 2
    attack = _pgd(clf)
    attack.generate(X, y)
    clf.fit(X, y + 1)  # classes 1, 2, 3: label 1 is now index 0
    out = attack.generate(X, y + 1)
    np.testing.assert_array_equal(out, _fresh(attack, X, y + 1))
    with pytest.raises(ValueError, match="not one of the model's classes"):
        attack.generate(X, y)  # 0 is no class any more
    clf.fit(X, y % 2)  # classes 0, 1 again: 2 is out of their range
    with pytest.raises(ValueError, match=r"holds .*2.*, which is not one of"):
        attack.generate(X, y)
    before = attack.generate(X, y % 2)
    np.testing.assert_array_equal(before, _fresh(attack, X, y % 2))
    clf.set_params(C=1e-3).fit(X, y % 2)  # same classes, other weights
    after = attack.generate(X, y % 2)
    np.testing.assert_array_equal(after, _fresh(attack, X, y % 2))
    assert not np.array_equal(after, before)


def test_quick_label_encoding_equals_encode_labels(iris):
    X, y = iris
    view = _pgd(LogisticRegression(max_iter=500).fit(X, y))._view()
    for labels in (y, y.astype(np.int32), y[::-1], y[::2], y.astype(np.uint8)):
        frozen = labels.copy()
        frozen.flags.writeable = False
        for given in (labels, frozen):
            got = _call_cache.encode_cached(view, given, len(given), "y")
            assert got.dtype == torch.long
            np.testing.assert_array_equal(got.numpy(), given)
            got[0] = 7  # never the caller's array
            assert given[0] != 7
    for bad, match in (
        (np.append(y[1:], -1), r"holds .*-1"),
        (np.append(y[1:], 3), r"holds .*3"),
        (np.append(y[1:], -1).astype(np.int32), r"holds .*-1"),
        (np.append(y[1:], 2**40), r"holds .*1099511627776"),
        (np.append(y[1:], -1)[::-1], r"holds .*-1"),
        (np.append(y[1:], 3).astype(np.uint8), r"holds .*3"),
        (y[:-1], "has 49 entries for 50 samples"),
    ):
        with pytest.raises(ValueError, match=match):
            _call_cache.encode_cached(view, bad, len(y), "y")


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_non_finite_inputs_get_scikit_learns_error_in_any_batch(iris, value):
    """The values of a valid float array are read once, on each batch's
    tensor: NaN or infinity anywhere still gets check_array's error, also
    in the last batch and when nothing may move."""
    X, y = iris
    clf = LogisticRegression(max_iter=500).fit(X, y)
    for dtype in (np.float64, np.float32):
        bad = X.astype(dtype)
        bad[-1, 2] = value
        with pytest.raises(ValueError) as expected:
            check_array(bad)
        message = re.escape(str(expected.value))
        for attack in (_pgd(clf), _pgd(clf, batch_size=7), PGD(clf, eps=0.0)):
            with pytest.raises(ValueError, match=message):
                attack.generate(bad, y)
            with pytest.raises(ValueError, match=message):
                attack.transform(bad)


def test_skorch_net_state_is_what_its_view_reads(iris):
    # a NeuralNet is a BaseEstimator: its state must still be the attributes
    # its view reads (module, criterion, nonlinearity, classes, device), not
    # its training history, or every training-time attribute would count
    X, y = iris
    net = _iris_net().fit(X.astype(np.float32), y)
    state = fitted_state(net)
    net.history_.record("note", 1.0)  # history and callbacks: not read
    net.callbacks_[0][1].epoch_start_time_ = -1.0
    assert fitted_state(net) == state
    with torch.no_grad():
        net.module_[1].weight[0, 0] += 1.0  # the weights, in place
    assert fitted_state(net) != state
    state = fitted_state(net)
    net.predict_nonlinearity = torch.sigmoid
    assert fitted_state(net) != state
    state = fitted_state(net)
    net.criterion_ = torch.nn.NLLLoss()
    assert fitted_state(net) != state
