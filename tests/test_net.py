"""SkorchClassifier: a skorch net as a scikit-learn classifier."""

import pickle

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils._param_validation import InvalidParameterError
from skorch import NeuralNetBinaryClassifier, NeuralNetClassifier, NeuralNetRegressor

from skrobust import SkorchClassifier, as_differentiable
from skrobust.nn import MLP


def _net(cls=NeuralNetClassifier, module=MLP, **kwargs):
    params = dict(
        module__hidden_layer_sizes=(16,),
        optimizer=torch.optim.Adam,
        lr=0.01,
        batch_size=32,
        max_epochs=5,
        train_split=None,
        verbose=0,
    )
    if cls is NeuralNetClassifier:
        params["criterion"] = torch.nn.CrossEntropyLoss
    if module is not MLP:
        del params["module__hidden_layer_sizes"]
    params.update(kwargs)
    return cls(module, **params)


@pytest.fixture(scope="module")
def small(digits_data):
    """400 training digits (flat) and 100 test digits."""
    return (
        digits_data.X_train[:400],
        digits_data.y_train[:400],
        digits_data.X_test[:100],
        digits_data.y_test[:100],
    )


def _weights(clf):
    return [p.detach().clone() for p in clf.net_.module_.parameters()]


def _same_weights(a, b):
    return all(torch.equal(x, y) for x, y in zip(_weights(a), _weights(b)))


# -- shared fixtures keep their promises ---------------------------------------


def test_fixture_models_are_accurate(
    digits_data, digits_mlp, digits_cnn, cancer_data, cancer_logreg_pipeline,
    cancer_mlp_pipeline,
):  # fmt: skip
    d, c = digits_data, cancer_data
    assert d.X_train.dtype == np.float32 and d.X_train.shape[1] == 64
    assert 0.0 <= d.X_train.min() and d.X_train.max() <= 1.0
    assert digits_mlp.score(d.X_test, d.y_test) >= 0.85
    assert digits_cnn.input_shape_ == (1, 8, 8)
    assert digits_cnn.score(d.images_test, d.y_test) >= 0.85
    assert isinstance(c.X_train, pd.DataFrame) and isinstance(c.y_train, pd.Series)
    assert cancer_logreg_pipeline.score(c.X_test, c.y_test) >= 0.95
    assert cancer_mlp_pipeline.score(c.X_test, c.y_test) >= 0.93


# -- labels ----------------------------------------------------------------------


def test_string_labels_round_trip(small):
    X, y, X_test, y_test = small
    names = np.array([f"digit {d}" for d in range(10)], dtype=object)  # sorted
    clf = SkorchClassifier(_net(), random_state=0).fit(X, names[y])
    np.testing.assert_array_equal(clf.classes_, names)
    y_pred = clf.predict(X_test)
    assert y_pred.dtype == object and set(y_pred) <= set(names)
    # The same training on integer labels: the same predictions, as labels.
    ints = SkorchClassifier(_net(), random_state=0).fit(X, y)
    np.testing.assert_array_equal(y_pred, names[ints.predict(X_test)])
    assert clf.score(X_test, names[y_test]) == ints.score(X_test, y_test) > 0.7


def test_predict_returns_classes_values(small):
    X, y, X_test, _ = small
    labels = np.array([-5, 3, 7, 100, 2, 11, 42, 8, 9, 1000])
    clf = SkorchClassifier(_net(), random_state=0).fit(X, labels[y])
    np.testing.assert_array_equal(clf.classes_, np.sort(labels))
    proba = clf.predict_proba(X_test)
    np.testing.assert_array_equal(
        clf.predict(X_test), clf.classes_[proba.argmax(axis=1)]
    )
    assert set(clf.predict(X_test)) <= set(labels)


def test_net_classes_parameter_sets_classes_order(small):
    X, y, X_test, _ = small
    letters = np.array(list("abcdefghij"))
    classes = list("jihgfedcba")
    clf = SkorchClassifier(_net(classes=classes), random_state=0)
    clf.fit(X, letters[y])
    np.testing.assert_array_equal(clf.classes_, classes)
    proba = clf.predict_proba(X_test)
    np.testing.assert_array_equal(clf.predict(X_test), np.array(classes)[
        proba.argmax(axis=1)])  # fmt: skip
    assert clf.score(X, letters[y]) > 0.5
    with pytest.raises(ValueError, match="not in the net's `classes`"):
        SkorchClassifier(_net(classes=["a", "b"])).fit(X, letters[y])


def test_binary_net_with_string_labels(cancer_data):
    X = StandardScaler().fit_transform(cancer_data.X_train)
    y = np.where(cancer_data.y_train == 1, "benign", "malignant")
    clf = SkorchClassifier(
        _net(NeuralNetBinaryClassifier, max_epochs=10), random_state=0
    )
    clf.fit(X, y)
    assert clf.net_.module_[-1].out_features == 1  # one logit for the binary net
    np.testing.assert_array_equal(clf.classes_, ["benign", "malignant"])
    assert clf.score(X, y) > 0.9
    decision = clf.decision_function(X)
    assert decision.shape == (len(X),)
    np.testing.assert_array_equal(clf.predict(X), clf.classes_[(decision > 0) * 1])
    proba = clf.predict_proba(X)
    np.testing.assert_allclose(proba[:, 1], 1 / (1 + np.exp(-decision)), atol=1e-6)
    with pytest.raises(ValueError, match="Only binary classification"):
        clf.fit(X[:30], np.arange(30) % 3)


# -- inputs ----------------------------------------------------------------------


def test_float64_input_is_cast(small):
    X, y, X_test, _ = small
    a = SkorchClassifier(_net(), random_state=0).fit(X.astype(np.float64), y)
    b = SkorchClassifier(_net(), random_state=0).fit(X, y)
    assert _same_weights(a, b)
    np.testing.assert_array_equal(
        a.predict(X_test.astype(np.float64)), b.predict(X_test)
    )
    assert a.predict_proba(X_test).dtype == np.float64


def test_dtype_float64_converts_the_module(small):
    X, y, X_test, _ = small
    clf = SkorchClassifier(_net(), dtype="float64", random_state=0).fit(X, y)
    assert all(p.dtype == torch.float64 for p in clf.net_.module_.parameters())
    assert clf.score(X, y) > 0.8
    assert clf.decision_function(X_test).shape == (100, 10)


def test_dataframe_input(cancer_data):
    X, y = cancer_data.X_train, cancer_data.y_train
    X = StandardScaler().set_output(transform="pandas").fit_transform(X)
    clf = SkorchClassifier(_net(), random_state=0).fit(X, y)
    np.testing.assert_array_equal(clf.feature_names_in_, X.columns)
    assert clf.n_features_in_ == X.shape[1] == clf.input_shape_[0]
    from_numpy = SkorchClassifier(_net(), random_state=0).fit(
        X.to_numpy(), y.to_numpy()
    )
    np.testing.assert_array_equal(clf.predict(X), from_numpy.predict(X.to_numpy()))
    with pytest.raises(ValueError, match="feature names"):
        clf.predict(X.rename(columns=lambda c: c + "!"))


def test_image_input(digits_data, digits_cnn):
    d = digits_data
    assert digits_cnn.input_shape_ == (1, 8, 8) and digits_cnn.n_features_in_ == 1
    assert digits_cnn.predict(d.images_test).shape == (len(d.images_test),)
    with pytest.raises(ValueError, match="shape"):
        digits_cnn.predict(d.images_test.reshape(-1, 1, 4, 16))
    with pytest.raises(ValueError):
        digits_cnn.predict(d.X_test)
    # The MLP flattens images; n_features_in is their size.
    mlp = SkorchClassifier(_net(max_epochs=3), random_state=0)
    mlp.fit(d.images_train[:300], d.y_train[:300])
    assert mlp.net_.module_[1].in_features == 64


def test_invalid_input_errors(small):
    X, y, _, _ = small
    X_nan = X.copy()
    X_nan[3, 4] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        SkorchClassifier(_net()).fit(X_nan, y)
    X_inf = X.copy()
    X_inf[0, 0] = np.inf
    with pytest.raises(ValueError, match="infinity"):
        SkorchClassifier(_net()).fit(X_inf, y)
    clf = SkorchClassifier(_net(max_epochs=1)).fit(X, y)
    with pytest.raises(ValueError, match="NaN"):
        clf.predict(X_nan)
    with pytest.raises(ValueError, match="features"):
        clf.predict(X[:, :10])


def test_users_X_is_not_modified(small):
    class Destructive(torch.nn.Module):
        """Overwrites its input in place before a linear layer."""

        def __init__(self, n_features_in, n_classes):
            super().__init__()
            self.linear = torch.nn.Linear(n_features_in, n_classes)

        def forward(self, x):
            return self.linear(x.mul_(0.0))

    X, y, _, _ = small
    X = X.astype(np.float32)  # already the net's dtype: no cast to hide behind
    X_copy = X.copy()
    clf = SkorchClassifier(_net(module=Destructive, max_epochs=1)).fit(X, y)
    clf.predict(X)
    clf.predict_proba(X)
    clf.decision_function(X)
    np.testing.assert_array_equal(X, X_copy)


# -- the net parameter -----------------------------------------------------------


def test_net_must_be_a_skorch_classifier(small):
    X, y, _, _ = small
    for bad in (NeuralNetRegressor(MLP), "mlp", MLP(64, 10)):
        with pytest.raises(InvalidParameterError, match="NeuralNetClassifier"):
            SkorchClassifier(bad).fit(X, y)


def test_given_net_is_cloned_not_trained(small):
    X, y, _, _ = small
    net = _net(module__n_features_in=64, module__n_classes=10).initialize()
    before = [p.detach().clone() for p in net.module_.parameters()]
    clf = SkorchClassifier(net, random_state=0).fit(X, y)
    assert clf.net_ is not net and clf.net_.module_ is not net.module_
    assert all(torch.equal(a, b) for a, b in zip(before, net.module_.parameters()))
    assert not hasattr(net, "history_") or len(net.history) == 0


def test_module_arguments_set_from_data(small, cancer_data):
    X, y, _, _ = small
    clf = SkorchClassifier(_net(max_epochs=1)).fit(X[:, :20], y % 3)
    assert clf.net_.module_[1].in_features == 20
    assert clf.net_.module_[-1].out_features == 3
    assert "module__n_classes" not in clf.net.get_params()  # self.net untouched
    # What the net sets wins (here: more outputs than classes, an error).
    clf = SkorchClassifier(_net(max_epochs=1, module__n_classes=12)).fit(X, y)
    assert clf.net_.module_[-1].out_features == 12
    with pytest.raises(ValueError, match="12 outputs"):
        clf.predict_proba(X)
    # A module instance is used as is.
    module = MLP(64, 10, hidden_layer_sizes=(8,))
    clf = SkorchClassifier(_net(module=module, max_epochs=1)).fit(X, y)
    assert clf.net_.module_[1].out_features == 8


def test_decision_function_availability(small):
    X, y, X_test, _ = small
    assert hasattr(SkorchClassifier(_net()), "decision_function")
    assert hasattr(
        SkorchClassifier(_net(NeuralNetBinaryClassifier)), "decision_function"
    )

    class SoftmaxMLP(torch.nn.Sequential):
        def __init__(self, n_features_in, n_classes):
            super().__init__(MLP(n_features_in, n_classes), torch.nn.Softmax(dim=-1))

    probabilistic = _net(module=SoftmaxMLP, criterion=torch.nn.NLLLoss)
    clf = SkorchClassifier(probabilistic, random_state=0)
    assert not hasattr(clf, "decision_function")
    clf.fit(X, y)
    assert not hasattr(clf, "decision_function")
    assert clf.score(X, y) > 0.7  # NLLLoss on probabilities trains too

    clf = SkorchClassifier(_net(), random_state=0).fit(X, y)
    decision = clf.decision_function(X_test)
    assert decision.shape == (100, 10) and decision.dtype == np.float64
    np.testing.assert_array_equal(clf.classes_[decision.argmax(axis=1)],
                                  clf.predict(X_test))  # fmt: skip
    softmax = np.exp(decision - decision.max(axis=1, keepdims=True))
    softmax /= softmax.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(clf.predict_proba(X_test), softmax, atol=1e-6)

    # Two classes with a two-logit net: one score per sample, like sklearn.
    two = SkorchClassifier(_net(), random_state=0).fit(X, y % 2 == 0)
    d2 = two.decision_function(X_test)
    logits = two.net_.forward(X_test).numpy()
    assert d2.shape == (100,)
    np.testing.assert_allclose(d2, logits[:, 1] - logits[:, 0], rtol=1e-6)
    np.testing.assert_array_equal(two.predict(X_test), two.classes_[(d2 > 0) * 1])


# -- reproducibility and the global RNG ------------------------------------------


def test_random_state_makes_fits_reproducible(small):
    X, y, _, _ = small
    net = _net(module__dropout=0.2, max_epochs=2)
    a = SkorchClassifier(net, random_state=0).fit(X, y)
    b = SkorchClassifier(net, random_state=0).fit(X, y)
    c = SkorchClassifier(net, random_state=1).fit(X, y)
    assert _same_weights(a, b)
    assert not _same_weights(a, c)
    d = SkorchClassifier(net, random_state=np.random.RandomState(0)).fit(X, y)
    e = SkorchClassifier(net, random_state=np.random.RandomState(0)).fit(X, y)
    assert _same_weights(d, e)
    # Refitting the same estimator is idempotent.
    assert _same_weights(a.fit(X, y), b)


def test_fit_with_random_state_leaves_global_rng_alone(small):
    X, y, _, _ = small
    torch.manual_seed(123)
    state = torch.get_rng_state()
    SkorchClassifier(_net(max_epochs=1), random_state=0).fit(X, y)
    assert torch.equal(torch.get_rng_state(), state)
    expected = torch.rand(3)
    torch.set_rng_state(state)
    SkorchClassifier(_net(max_epochs=1), random_state=None).fit(X, y)
    assert not torch.equal(torch.rand(3), expected)  # None draws from it


# -- sklearn integration ---------------------------------------------------------


def test_clone_and_pickle_round_trip(digits_data, digits_mlp):
    X_test = digits_data.X_test
    restored = pickle.loads(pickle.dumps(digits_mlp))
    np.testing.assert_array_equal(restored.predict(X_test), digits_mlp.predict(X_test))
    np.testing.assert_array_equal(
        restored.predict_proba(X_test), digits_mlp.predict_proba(X_test)
    )
    refit = clone(digits_mlp).fit(digits_data.X_train, digits_data.y_train)
    assert not hasattr(clone(digits_mlp), "net_")
    np.testing.assert_array_equal(refit.predict_proba(X_test),
                                  digits_mlp.predict_proba(X_test))  # fmt: skip


def test_pipeline_and_grid_search(cancer_data):
    X, y = cancer_data.X_train, cancer_data.y_train
    model = make_pipeline(StandardScaler(), SkorchClassifier(_net(), random_state=0))
    grid = GridSearchCV(
        model,
        {
            "skorchclassifier__net__module__hidden_layer_sizes": [(4,), (16,)],
            "skorchclassifier__net__lr": [0.01, 0.02],
        },
        cv=2,
    ).fit(X, y)
    assert grid.best_params_["skorchclassifier__net__lr"] in (0.01, 0.02)
    assert grid.score(cancer_data.X_test, cancer_data.y_test) > 0.9
    best = grid.best_estimator_[-1]
    hidden = grid.best_params_["skorchclassifier__net__module__hidden_layer_sizes"]
    assert best.net_.module_[1].out_features == hidden[0]


def test_tags(small):
    assert SkorchClassifier(_net()).__sklearn_tags__().classifier_tags.multi_class
    binary = SkorchClassifier(_net(NeuralNetBinaryClassifier))
    assert not binary.__sklearn_tags__().classifier_tags.multi_class


# -- the differentiable view -----------------------------------------------------


def test_differentiable_view(digits_data, digits_mlp, digits_cnn):
    view = as_differentiable(digits_mlp)
    np.testing.assert_array_equal(view.classes_, digits_mlp.classes_)
    assert view.input_shape == (64,)
    # The view shares the trained parameters (no copy).
    shared = {id(p) for p in digits_mlp.net_.module_.parameters()}
    assert {id(p) for p in view.module.parameters()} == shared
    X = digits_data.X_test[:20]
    np.testing.assert_allclose(
        view.logits(X), digits_mlp.decision_function(X), rtol=1e-5, atol=1e-5
    )
    cnn_view = as_differentiable(digits_cnn)
    assert cnn_view.input_shape == (1, 8, 8)
    images = digits_data.images_test[:20]
    np.testing.assert_allclose(
        cnn_view.logits(images), digits_cnn.decision_function(images), rtol=1e-5,
        atol=1e-5,
    )  # fmt: skip


def test_view_of_string_labelled_binary_net(cancer_data):
    X = StandardScaler().fit_transform(cancer_data.X_train).astype(np.float32)
    y = np.where(cancer_data.y_train == 1, "benign", "malignant")
    clf = SkorchClassifier(_net(NeuralNetBinaryClassifier), random_state=0).fit(X, y)
    view = as_differentiable(clf)
    np.testing.assert_array_equal(view.classes_, ["benign", "malignant"])
    logits = torch.as_tensor(view.logits(X[:30]))
    np.testing.assert_allclose(
        torch.softmax(logits, dim=1).numpy(), clf.predict_proba(X[:30]), atol=1e-5
    )


def test_view_needs_a_fitted_wrapper():
    with pytest.raises(NotFittedError, match="fit"):
        as_differentiable(SkorchClassifier(_net()))


# -- GPU -------------------------------------------------------------------------


@pytest.mark.gpu
def test_fit_predict_and_view_on_cuda(small):
    X, y, X_test, _ = small
    net = _net(device="cuda", module__dropout=0.1)
    torch.cuda.manual_seed(5)
    cuda_state = torch.cuda.get_rng_state()
    clf = SkorchClassifier(net, random_state=0).fit(X, y)
    assert torch.equal(torch.cuda.get_rng_state(), cuda_state)  # forked, restored
    assert all(p.is_cuda for p in clf.net_.module_.parameters())
    again = SkorchClassifier(net, random_state=0).fit(X, y)
    np.testing.assert_allclose(
        again.predict_proba(X_test), clf.predict_proba(X_test), atol=1e-5
    )
    assert clf.score(X, y) > 0.7
    decision = clf.decision_function(X_test)
    assert isinstance(decision, np.ndarray) and decision.shape == (100, 10)
    view = as_differentiable(clf)
    assert view.device.type == "cuda"
    np.testing.assert_allclose(view.logits(X_test), decision, rtol=1e-4, atol=1e-4)
    restored = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(restored.predict(X_test), clf.predict(X_test))
