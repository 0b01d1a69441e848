"""Shared fixtures: small data sets and fitted models, built once per session.

The fitted models are shared by every test that asks for them: use them as
they are (attack them, score them, view them) and ``clone`` them before
fitting. Each builds in well under 5 s on 2 CPU cores.

* ``digits_data``: scikit-learn's 8x8 digits scaled to [0, 1], float32, a
  stratified 75/25 split; ``X_train`` / ``X_test`` are flat ``(n, 64)``,
  ``images_train`` / ``images_test`` the same samples as ``(n, 1, 8, 8)``.
* ``digits_mlp`` / ``digits_cnn``: fitted :class:`skrobust.SkorchClassifier`
  (``skrobust.nn.MLP`` on the flat digits, ``skrobust.nn.SmallCNN`` on the
  images), cross-entropy loss, so the nets output logits.
* ``cancer_data``: breast cancer as pandas (DataFrame ``X_*``, Series
  ``y_*``), a stratified 75/25 split.
* ``cancer_logreg_pipeline`` / ``cancer_mlp_pipeline``: ``StandardScaler``
  followed by ``LogisticRegression`` / a small ``MLPClassifier``, fitted.
* ``mixed_data``: a small credit-like DataFrame with float, integer, string
  and pandas ``category`` columns and missing values, a 75/25 split, and
  ``preprocessor()``: an unfitted ``ColumnTransformer`` (``OneHotEncoder`` on
  the categories, imputer and ``StandardScaler`` on the numbers).

Tests marked ``gpu`` are skipped when CUDA is not available.

Property tests (hypothesis) run under a profile: ``ci`` (the default) keeps
each test's own small number of examples; ``HYPOTHESIS_PROFILE=deep`` runs
1,200 per property test, over 10,000 in all (docs/developers/testing.rst).
"""

import os
import random

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, settings
from sklearn.compose import ColumnTransformer
from sklearn.datasets import load_breast_cancer, load_digits
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from sklearn.utils import Bunch
from skorch import NeuralNetClassifier

from skrobust import SkorchClassifier
from skrobust.nn import MLP, SmallCNN

SEED = 0

# hypothesis profiles: fitted models are session fixtures (hence the health
# check), and an attack's first call may take longer than any deadline
settings.register_profile(
    "ci",
    max_examples=10,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
# 1,200 examples for each of the 11 parametrised property tests: 13,200 cases
settings.register_profile("deep", settings.get_profile("ci"), max_examples=1_200)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def pytest_configure(config):
    # The test models are tiny: one thread is faster than several, and the
    # CI / development machines are small and shared. Override with
    # SKROBUST_TEST_NUM_THREADS.
    torch.set_num_threads(int(os.environ.get("SKROBUST_TEST_NUM_THREADS", "1")))


def pytest_collection_modifyitems(config, items):
    if torch.cuda.is_available():
        return
    skip_gpu = pytest.mark.skip(reason="needs a CUDA device; none is available")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip_gpu)


@pytest.fixture(autouse=True)
def _seed_global_rngs():
    """Every test starts from the same global RNG states (order-independent)."""
    random.seed(SEED)
    np.random.seed(SEED)  # noqa: NPY002  (the legacy global RNG, on purpose)
    torch.manual_seed(SEED)


@pytest.fixture(scope="session")
def digits_data():
    """Digits in [0, 1] as float32: flat ``X_*`` and ``images_*`` (n, 1, 8, 8)."""
    X, y = load_digits(return_X_y=True)
    X = (X / 16.0).astype(np.float32)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.25, stratify=y, random_state=SEED
    )
    return Bunch(
        X_train=X_train,
        X_test=X_test,
        y_train=y_train,
        y_test=y_test,
        images_train=X_train.reshape(-1, 1, 8, 8).copy(),
        images_test=X_test.reshape(-1, 1, 8, 8).copy(),
    )


def _digits_net(module, **kwargs):
    return NeuralNetClassifier(
        module,
        criterion=torch.nn.CrossEntropyLoss,
        optimizer=torch.optim.Adam,
        lr=0.01,
        batch_size=64,
        train_split=None,
        verbose=0,
        **kwargs,
    )


@pytest.fixture(scope="session")
def digits_mlp(digits_data):
    """``SkorchClassifier`` with a 64-unit MLP fitted on the flat digits."""
    net = _digits_net(MLP, module__hidden_layer_sizes=(64,), max_epochs=20)
    clf = SkorchClassifier(net, random_state=SEED)
    return clf.fit(digits_data.X_train, digits_data.y_train)


@pytest.fixture(scope="session")
def digits_cnn(digits_data):
    """``SkorchClassifier`` with ``SmallCNN`` fitted on the (n, 1, 8, 8) digits."""
    net = _digits_net(SmallCNN, max_epochs=10)
    clf = SkorchClassifier(net, random_state=SEED)
    return clf.fit(digits_data.images_train, digits_data.y_train)


@pytest.fixture(scope="session")
def cancer_data():
    """Breast cancer as a DataFrame ``X_*`` and a Series ``y_*``."""
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.25, stratify=y, random_state=SEED
    )
    return Bunch(X_train=X_train, X_test=X_test, y_train=y_train, y_test=y_test)


@pytest.fixture(scope="session")
def cancer_logreg_pipeline(cancer_data):
    """``make_pipeline(StandardScaler(), LogisticRegression())``, fitted."""
    model = make_pipeline(StandardScaler(), LogisticRegression())
    return model.fit(cancer_data.X_train, cancer_data.y_train)


@pytest.fixture(scope="session")
def cancer_mlp_pipeline(cancer_data):
    """``make_pipeline(StandardScaler(), MLPClassifier((16,)))``, fitted."""
    mlp = MLPClassifier(hidden_layer_sizes=(16,), max_iter=1000, random_state=SEED)
    model = make_pipeline(StandardScaler(), mlp)
    return model.fit(cancer_data.X_train, cancer_data.y_train)


def mixed_frame(n=400, seed=SEED):
    """A credit-like frame: floats (one with missing values), small integer
    counts, an integer age, a string column and a ``category`` column."""
    import pandas as pd

    rng = np.random.default_rng(seed)
    income = rng.lognormal(7.0, 0.4, n).round(1)
    debt = (rng.gamma(2.0, 300.0, n) * (rng.random(n) < 0.7)).round(1)
    savings = rng.normal(2000.0, 800.0, n).round(1)
    savings[rng.random(n) < 0.1] = np.nan
    accounts = rng.integers(0, 5, n)
    late = rng.poisson(0.8, n).clip(0, 4)
    age = rng.integers(20, 70, n)
    home = rng.choice(["rent", "owner", "parents"], n, p=[0.45, 0.4, 0.15])
    job = rng.choice(["fixed", "freelance", "partime"], n, p=[0.6, 0.25, 0.15])
    score = (
        (income - 1100) / 450
        - debt / 600
        + np.nan_to_num(savings - 2000) / 1500
        - 0.5 * late
        + 0.3 * accounts
        + np.select([home == "owner", home == "parents"], [0.8, -0.4], 0.0)
        + np.select([job == "fixed", job == "partime"], [0.6, -0.8], 0.0)
        + rng.normal(0, 0.7, n)
    )
    X = pd.DataFrame(
        {
            "income": income,
            "home": home,
            "debt": debt,
            "accounts": accounts,
            "savings": savings,
            "job": pd.Categorical(job, categories=["fixed", "freelance", "partime"]),
            "late": late,
            "age": age,
        }
    )
    y = np.where(score > np.median(score), "good", "bad")
    return X, pd.Series(y, name="status")


MIXED_CATEGORICAL = ["home", "job"]
MIXED_NUMERIC = ["income", "debt", "accounts", "savings", "late", "age"]


def mixed_preprocessor():
    """OneHotEncoder on the categories, imputer + scaler on the numbers."""
    numeric = make_pipeline(SimpleImputer(), StandardScaler())
    return ColumnTransformer(
        [
            ("categories", OneHotEncoder(handle_unknown="ignore"), MIXED_CATEGORICAL),
            ("numbers", numeric, MIXED_NUMERIC),
        ]
    )


@pytest.fixture(scope="session")
def mixed_data():
    """The mixed frame, split 75/25, with the standard ``preprocessor()``."""
    X, y = mixed_frame()
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.25, stratify=y, random_state=SEED
    )
    return Bunch(
        X_train=X_train,
        X_test=X_test,
        y_train=y_train,
        y_test=y_test,
        categorical=MIXED_CATEGORICAL,
        numeric=MIXED_NUMERIC,
        preprocessor=mixed_preprocessor,
    )
