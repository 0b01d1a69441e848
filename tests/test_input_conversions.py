"""The bad-input matrix's conversion cells (issue 16): inputs that are not
errors but conversions, each with a correct answer, for every attack and the
robust scorer (the error cells are in tests/test_input_matrix.py).

One sample, one class, string labels, float16 / integer / object arrays are
attacked as their float values: the examples come back as an array of the
same shape, float16 for float16 and float64 otherwise (the documented
dtypes), finite, inside the ball and the bounds, the input untouched, and
the model's answers on them are its classes. Sparse input is refused with
scikit-learn's message naming the fix (``.toarray()``).
"""

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

from skrobust import attacks as A
from skrobust.metrics import robust_accuracy_score

EPS, BOUNDS = 0.1, (0.0, 1.0)
ATTACKS = {
    "FGSM": lambda: A.FGSM(eps=EPS),
    "PGD": lambda: A.PGD(eps=EPS, n_iter=2),
    "APGD": lambda: A.APGD(eps=EPS, n_iter=2),
    "FAB": lambda: A.FAB(eps=EPS, n_iter=2),
    "CarliniWagnerL2": lambda: A.CarliniWagnerL2(max_iter=2),
    "SquareAttack": lambda: A.SquareAttack(eps=EPS, n_queries=5),
    "HopSkipJump": lambda: A.HopSkipJump(max_iter=1, init_eval=5),
    "AutoAttack": lambda: A.AutoAttack(eps=EPS, n_iter=2, n_queries=5),
}
IN_BALL = {"FGSM", "PGD", "APGD", "FAB", "SquareAttack", "AutoAttack"}


@pytest.fixture(scope="module")
def cases():
    X, y = load_iris(return_X_y=True)
    X = X / 8.0  # in [0, 1]
    names = np.array(["setosa", "versicolor", "virginica"])
    model = LogisticRegression(max_iter=500).fit(X, y)
    by_name = LogisticRegression(max_iter=500).fit(X, names[y])
    few = slice(None, None, 10)
    return {
        "one sample": (model, X[:1], y[:1], np.float64),
        "one class": (model, X[y == 0][:10], y[y == 0][:10], np.float64),
        "string labels": (by_name, X[few], names[y][few], np.float64),
        "float16 X": (model, X[few].astype(np.float16), y[few], np.float16),
        "integer X": (model, (X[few] > 0.4).astype(np.int64), y[few], np.float64),
        "object X": (model, X[few].astype(object), y[few], np.float64),
    }


@pytest.mark.parametrize("case", ["one sample", "one class", "string labels",
                                  "float16 X", "integer X", "object X"])  # fmt: skip
@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_attacks_convert(cases, name, case):
    model, X, y, dtype = cases[case]
    before = X.copy()
    attack = ATTACKS[name]().set_params(estimator=model, bounds=BOUNDS, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # budgets below a dtype's step, ...
        out = attack.generate(X, y)
    np.testing.assert_array_equal(X, before)
    assert isinstance(out, np.ndarray) and out.shape == X.shape
    assert out.dtype == dtype
    assert np.isfinite(out).all()
    assert out.min() >= BOUNDS[0] and out.max() <= BOUNDS[1]
    if name in IN_BALL:  # exact in the returned dtype
        clean = np.asarray(X, dtype=np.float64)
        assert np.abs(out.astype(np.float64) - clean).max() <= EPS
    assert set(model.predict(out)) <= set(model.classes_)


@pytest.mark.parametrize("case", ["one sample", "string labels", "float16 X"])
def test_robust_score_converts(cases, case):
    model, X, y, _ = cases[case]
    attack = A.PGD(eps=EPS, n_iter=2, bounds=BOUNDS, random_state=0)
    robust = robust_accuracy_score(model, X, y, attack=attack)
    clean = model.score(np.asarray(X, dtype=np.float64), y)
    assert 0 <= robust <= clean


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_sparse_input_is_refused_naming_the_fix(cases, name):
    model, X, y, _ = cases["one class"]
    attack = ATTACKS[name]().set_params(estimator=model, bounds=BOUNDS)
    with pytest.raises(TypeError, match=r"dense data is required.*toarray"):
        attack.generate(sp.csr_matrix(X), y)
