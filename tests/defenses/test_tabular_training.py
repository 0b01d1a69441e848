"""Adversarial training of pipelines reading raw mixed DataFrames (networks by
gradient in raw columns, other models by augmentation), and the closed-form
route's honesty about what it ignores."""

import pickle
import warnings

import numpy as np
import pytest
import torch
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.compose import ColumnTransformer
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import KBinsDiscretizer, OneHotEncoder, StandardScaler
from skorch import NeuralNetClassifier

from skrobust import SkorchClassifier
from skrobust.attacks import PGD
from skrobust.defenses import AdversarialTrainingClassifier
from skrobust.metrics import robust_accuracy_score
from skrobust.nn import MLP

EPS = {"income": 150.0, "debt": 200.0, "accounts": 1, "late": 2}


def test_training_on_a_mixed_frame_uses_raw_adversarial_rows(mixed_data):
    X, y = mixed_data.X_train, mixed_data.y_train
    X_test, y_test = mixed_data.X_test, mixed_data.y_test
    model = make_pipeline(mixed_data.preprocessor(), LogisticRegression(max_iter=2000))
    attack = PGD(eps=EPS, feature_mask=[*EPS, "home", "job"], bounds="data", n_iter=10)
    robust = AdversarialTrainingClassifier(model, attack=attack, random_state=0)
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=".*lowered the robust accuracy")
        robust.fit(X, y)
    assert robust.fit_method_ == "augmentation"
    assert list(robust.feature_names_in_) == list(X.columns)
    pred = robust.predict(X_test)
    assert set(pred) <= set(robust.classes_)
    # columns are read by name, as the pipeline does
    np.testing.assert_array_equal(robust.predict(X_test[X_test.columns[::-1]]), pred)
    standard = clone(model).fit(X, y)
    attack.set_params(random_state=0)
    before = robust_accuracy_score(standard, X_test, y_test, attack=attack)
    after = robust_accuracy_score(robust, X_test, y_test, attack=attack)
    assert after > before + 0.1, (before, after)
    assert robust.robust_scores_["trained"] > robust.robust_scores_["standard"]


def test_closed_form_says_what_it_ignores():
    X, y = load_breast_cancer(return_X_y=True)
    X, y = X[:200], y[:200]
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    threat = dict(integer_features=[0], bounds=(0.0, 1e4), direction=[1] * 30)
    with pytest.warns(UserWarning, match="ignores") as record:
        AdversarialTrainingClassifier(model, attack=PGD(eps=0.1, **threat)).fit(X, y)
    message = str(record[0].message)
    assert all(name in message for name in ("integer", "direction", "bounds"))
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        AdversarialTrainingClassifier(model, attack=PGD(eps=0.1)).fit(X, y)


class _Forgetful(ClassifierMixin, BaseEstimator):
    """A logistic regression that learns shuffled labels when fitted on more
    than ``n_clean`` rows (adversarial augmentation): less robust by design."""

    def __init__(self, n_clean=0):
        self.n_clean = n_clean

    def fit(self, X, y):
        y = np.asarray(y)
        if len(y) > self.n_clean:
            y = np.random.default_rng(0).permutation(y)
        self.model_ = make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y)
        self.classes_ = self.model_.classes_
        return self

    def predict(self, X):
        return self.model_.predict(X)


def test_augmentation_that_makes_a_model_less_robust_warns():
    X, y = load_breast_cancer(return_X_y=True)
    X, y = X[:200], y[:200]
    training = AdversarialTrainingClassifier(
        _Forgetful(n_clean=len(y)),
        attack=PGD(eps=0.1, eps_units="std", n_iter=5),
        n_rounds=1,
        random_state=0,
    )
    with pytest.warns(UserWarning, match="lowered the robust accuracy") as record:
        training.fit(X, y)
    scores = training.robust_scores_
    assert scores["trained"] < scores["standard"]
    assert f"{scores['standard']:.3f} -> {scores['trained']:.3f}" in str(
        record[0].message
    )


def _skorch_net(max_epochs):
    net = NeuralNetClassifier(
        MLP,
        module__hidden_layer_sizes=(16,),
        criterion=torch.nn.CrossEntropyLoss,
        optimizer=torch.optim.Adam,
        lr=0.01,
        max_epochs=max_epochs,
        batch_size=64,
        train_split=None,
        verbose=0,
    )
    return SkorchClassifier(net, random_state=0)


NETS = {
    "mlp": lambda: MLPClassifier((16,), max_iter=40, random_state=0),
    "skorch": lambda: _skorch_net(20),
}


def _epochs_trained(final):
    if isinstance(final, MLPClassifier):
        return len(final.loss_curve_)  # one entry per partial_fit
    return len(final.net_.history)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("name", NETS)
def test_network_pipelines_train_by_gradient_in_raw_columns(mixed_data, name):
    X, y = mixed_data.X_train, mixed_data.y_train
    X_test, y_test = mixed_data.X_test, mixed_data.y_test
    model = make_pipeline(mixed_data.preprocessor(), NETS[name]())
    mutable = [*EPS, "home", "job"]
    attack = PGD(eps=EPS, feature_mask=mutable, bounds="data", n_iter=5)
    robust = AdversarialTrainingClassifier(model, attack=attack, random_state=0)
    robust.fit(X, y)
    # not augmentation: one network, trained for its own number of epochs,
    # every epoch after the first on rows attacked against its current weights
    assert robust.fit_method_ == "raw_gradient"
    final = robust.estimator_[-1]
    n_epochs = 40 if name == "mlp" else 20
    assert _epochs_trained(final) == n_epochs
    training = robust.robust_scores_["epochs"]
    assert len(training) == n_epochs - 1
    assert training[-1] > training[0] + 0.1, training
    # a stronger attack on held-out rows: the trained net resists it better
    test_attack = PGD(eps=EPS, feature_mask=mutable, bounds="data", n_iter=20)
    test_attack.set_params(random_state=0)
    standard = clone(model).fit(X, y)
    before = robust_accuracy_score(standard, X_test, y_test, attack=test_attack)
    after = robust_accuracy_score(robust, X_test, y_test, attack=test_attack)
    assert after > before + 0.1, (before, after)
    assert robust.score(X_test, y_test) > 0.7
    pred = robust.predict(X_test)
    np.testing.assert_array_equal(robust.predict(X_test[X_test.columns[::-1]]), pred)
    np.testing.assert_array_equal(
        pickle.loads(pickle.dumps(robust)).predict(X_test), pred
    )
    copy = clone(robust)
    assert not hasattr(copy, "estimator_")
    assert copy.get_params()["attack"].get_params() == attack.get_params()


def test_network_behind_a_step_without_gradients_is_augmented(mixed_data):
    X, y = mixed_data.X_train, mixed_data.y_train
    front = ColumnTransformer(
        [
            ("categories", OneHotEncoder(handle_unknown="ignore"), ["home", "job"]),
            (
                "bins",
                KBinsDiscretizer(n_bins=4, quantile_method="averaged_inverted_cdf"),
                ["income", "debt"],
            ),
        ]
    )
    model = make_pipeline(front, MLPClassifier((8,), max_iter=50, random_state=0))
    attack = PGD(eps={"income": 150.0}, feature_mask=["income"], n_iter=3)
    # the attack runs on a differentiable surrogate reading the same columns
    surrogate = make_pipeline(
        ColumnTransformer(
            [
                ("categories", OneHotEncoder(), ["home", "job"]),
                ("numbers", StandardScaler(), ["income", "debt"]),
            ]
        ),
        LogisticRegression(),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        robust = AdversarialTrainingClassifier(
            model, attack=attack, n_rounds=1, surrogate=surrogate
        )
        robust.fit(X, y)
    assert robust.fit_method_ == "augmentation"


# augmenting a kNN may lower its robustness (the route warns): not tested here
@pytest.mark.filterwarnings("ignore:adversarial training lowered:UserWarning")
def test_default_surrogate_reads_string_columns(mixed_data):
    # a model without gradients on a frame with string and category columns:
    # the default surrogate encodes them (it failed on "rent" before)
    X, y = mixed_data.X_train, mixed_data.y_train
    model = make_pipeline(mixed_data.preprocessor(), KNeighborsClassifier())
    attack = PGD(eps=EPS, feature_mask=[*EPS, "home", "job"], bounds="data", n_iter=5)
    robust = AdversarialTrainingClassifier(
        model, attack=attack, n_rounds=1, random_state=0
    )
    robust.fit(X, y)
    assert robust.fit_method_ == "augmentation"
    # the first round's attack breaks some rows of the standard model
    assert robust.robust_scores_["standard"] < model.fit(X, y).score(X, y)
    X_test = mixed_data.X_test
    np.testing.assert_array_equal(
        robust.predict(X_test[X_test.columns[::-1]]), robust.predict(X_test)
    )
