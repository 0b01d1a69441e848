"""Attacks keep their input's feature names: get_feature_names_out, set_output."""

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_iris
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

from skrobust.attacks import FGSM, PGD, SquareAttack

# numpy inputs to attacks fitted on frames: sklearn warns, as it should
pytestmark = pytest.mark.filterwarnings("ignore:X does not have valid feature names")


@pytest.fixture(scope="module")
def iris():
    data = load_iris(as_frame=True)
    return data.data, data.target


@pytest.mark.parametrize(
    "make",
    [
        lambda clf: PGD(clf, eps=0.2, n_iter=5, random_state=0),
        lambda clf: FGSM(clf, eps=0.2),
        lambda clf: SquareAttack(clf, eps=0.2, n_queries=20, random_state=0),
    ],
)
def test_feature_names_and_pandas_output(iris, make):
    X, y = iris
    clf = LogisticRegression(max_iter=500).fit(X, y)
    attack = make(clf).fit(X)
    np.testing.assert_array_equal(attack.get_feature_names_out(), X.columns)
    expected = attack.transform(X)  # pandas in, pandas out already
    out = attack.set_output(transform="pandas").transform(X.to_numpy())
    # numpy in, pandas out under set_output: the fitted columns, same values
    assert isinstance(out, pd.DataFrame)
    assert list(out.columns) == list(X.columns)
    np.testing.assert_allclose(out.to_numpy(), np.asarray(expected))
    numpy_out = attack.set_output(transform="default").transform(X.to_numpy())
    assert isinstance(numpy_out, np.ndarray)


def test_attack_step_in_a_pandas_pipeline(iris):
    X, y = iris
    forest = RandomForestClassifier(n_estimators=5, random_state=0).fit(X, y)
    pipe = make_pipeline(
        SquareAttack(forest, eps=0.2, n_queries=10, random_state=0),
        LogisticRegression(max_iter=500),
    ).set_output(transform="pandas")
    pipe.fit(X, y)
    Xt = pipe[0].transform(X.to_numpy())
    assert list(Xt.columns) == list(X.columns)
    assert list(pipe[:-1].get_feature_names_out()) == list(X.columns)
    assert pipe.predict(X).shape == (len(X),)


def test_feature_names_without_names(iris):
    X, y = iris
    clf = LogisticRegression(max_iter=500).fit(X.to_numpy(), y)
    attack = PGD(clf, eps=0.1).fit(X.to_numpy())
    assert list(attack.get_feature_names_out()) == ["x0", "x1", "x2", "x3"]
