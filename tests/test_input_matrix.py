"""Bad input to the attacks, the robust scorers and the defenses' ``fit``.

Issue 16's matrix (the certificates have theirs in
``tests/certification/test_bad_input.py``, 0 rows in ``test_zero_rows.py``):
every cell is a clear error naming the problem (and what to do where there
is a choice), raised before any work, with the inputs left as they were; or
a documented conversion with the correct answer.
"""

import numpy as np
import pytest
import torch
from sklearn.datasets import load_iris
from sklearn.ensemble import RandomForestClassifier
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.tree import DecisionTreeClassifier
from skorch import NeuralNetClassifier

from skrobust import NotDifferentiableError
from skrobust import attacks as A
from skrobust import defenses as D
from skrobust import metrics as M
from skrobust.nn import MLP

pytestmark = pytest.mark.filterwarnings(
    "ignore::sklearn.exceptions.ConvergenceWarning",
    "ignore:the DLR loss:UserWarning",
    "ignore:the closed-form robust logistic:UserWarning",
)


@pytest.fixture(scope="module")
def data():
    X, y = load_iris(return_X_y=True)
    X = (X / 8).astype(np.float32)  # inside [0, 1]
    return dict(
        X=X,
        y=y,
        lr=LogisticRegression(max_iter=500).fit(X, y),
        tree=DecisionTreeClassifier(max_depth=3, random_state=0).fit(X, y),
        forest=RandomForestClassifier(3, random_state=0).fit(X, y),
    )


def _with(X, row, col, value):
    X = X.copy()
    X[row, col] = value
    return X


# case -> (change of (data, attack parameters) -> (estimator key, params, X, y),
#          error type, message)
CASES = {
    "NaN in X": (
        lambda d, p: ("model", p, _with(d["X"], 1, 2, np.nan), d["y"]),
        ValueError,
        "NaN",
    ),
    "inf in X": (
        lambda d, p: ("model", p, _with(d["X"], 0, 0, np.inf), d["y"]),
        ValueError,
        "infinity",
    ),
    "wrong n_features": (
        lambda d, p: ("model", p, d["X"][:, :3], d["y"]),
        ValueError,
        r"shape \(3,\), but the model expects \(4,\)",
    ),
    "1-d X": (
        lambda d, p: ("model", p, d["X"][0], d["y"][:1]),
        ValueError,
        "2D array|2-d or more",
    ),
    "negative eps": (
        lambda d, p: ("model", {**p, "eps": -0.1}, d["X"], d["y"]),
        ValueError,
        "'eps' parameter",
    ),
    "NaN eps": (
        lambda d, p: ("model", {**p, "eps": np.nan}, d["X"], d["y"]),
        ValueError,
        "'eps' parameter",
    ),
    "negative per-feature eps": (
        lambda d, p: ("model", {**p, "eps": [0.1, -0.1, 0.1, 0.1]}, d["X"], d["y"]),
        ValueError,
        "eps must be a non-negative finite",
    ),
    "wrong-length eps": (
        lambda d, p: ("model", {**p, "eps": [0.1, 0.1]}, d["X"], d["y"]),
        ValueError,
        r"`eps` has shape \(2,\)",
    ),
    "unknown norm": (
        lambda d, p: ("model", {**p, "norm": "l3"}, d["X"], d["y"]),
        ValueError,
        "'norm' parameter",
    ),
    "reversed bounds": (
        lambda d, p: ("model", {**p, "bounds": (1, 0)}, d["X"], d["y"]),
        ValueError,
        "lower bounds exceed",
    ),
    "X outside bounds": (
        lambda d, p: ("model", {**p, "bounds": (0.5, 1)}, d["X"], d["y"]),
        ValueError,
        "outside `bounds`.*widen the bounds or clip X",
    ),
    "unfitted estimator": (
        lambda d, p: ("unfitted", p, d["X"], d["y"]),
        NotFittedError,
        "not fitted",
    ),
    "non-differentiable estimator": (
        lambda d, p: ("forest", p, d["X"], d["y"]),
        NotDifferentiableError,
        "no differentiable torch view.*black-box",
    ),
    "y too short": (
        lambda d, p: ("model", p, d["X"], d["y"][:-1]),
        ValueError,
        "149 (entries|labels) for 150 samples",
    ),
    "unknown label": (
        lambda d, p: ("model", p, d["X"], np.full(len(d["y"]), 7)),
        ValueError,
        "not one of the model's classes",
    ),
}

# attack -> (class, its parameters, the model it attacks, gradient-based)
ATTACKS = {
    "FGSM": (A.FGSM, dict(eps=0.1), "lr", True),
    "PGD": (A.PGD, dict(eps=0.1, n_iter=2), "lr", True),
    "APGD": (A.APGD, dict(eps=0.1, n_iter=2), "lr", True),
    "AutoAttack": (A.AutoAttack, dict(eps=0.1, n_iter=2, n_queries=5), "lr", True),
    "CarliniWagnerL2": (A.CarliniWagnerL2, dict(max_iter=2, bounds=(0, 1)), "lr", True),
    "FAB": (A.FAB, dict(n_iter=2), "lr", True),
    "LinearExactAttack": (A.LinearExactAttack, dict(eps=0.1), "lr", True),
    "HopSkipJump": (A.HopSkipJump, dict(max_iter=1), "lr", False),
    "SquareAttack": (A.SquareAttack, dict(eps=0.1, n_queries=5), "lr", False),
    "DecisionTreeExactAttack": (
        A.DecisionTreeExactAttack,
        dict(eps=0.1),
        "tree",
        False,
    ),
    "LeafTupleAttack": (A.LeafTupleAttack, dict(eps=0.1), "tree", False),
}


def _estimator(d, key, model):
    if key == "unfitted":
        return DecisionTreeClassifier() if model == "tree" else LogisticRegression()
    return d[model if key == "model" else key]


def _attack_cells():
    for name, (cls, _, _, gradient) in ATTACKS.items():
        for case in CASES:
            if case == "non-differentiable estimator" and not gradient:
                continue  # black-box and tree attacks need no gradient
            if case == "unknown norm" and cls is A.CarliniWagnerL2:
                continue  # l2 only: no norm parameter
            yield name, case


def _unchanged(before, X, y):
    np.testing.assert_array_equal(X, before[0])
    np.testing.assert_array_equal(y, before[1])


@pytest.mark.parametrize("name, case", list(_attack_cells()))
def test_attacks_refuse_bad_input(data, name, case):
    cls, params, model, _ = ATTACKS[name]
    change, error, message = CASES[case]
    key, params, X, y = change(data, params)
    before = (X.copy(), np.array(y, copy=True))
    attack = cls(_estimator(data, key, model), **params)
    with pytest.raises(error, match=message):
        attack.generate(X, y)
    _unchanged(before, X, y)


@pytest.mark.parametrize("name", list(ATTACKS))
def test_attacks_leave_inputs_alone(data, name):
    cls, params, model, _ = ATTACKS[name]
    X, y = data["X"], data["y"]
    before = (X.copy(), y.copy())
    X_adv = cls(data[model], **params).generate(X, y)
    _unchanged(before, X, y)
    assert X_adv.shape == X.shape and X_adv.dtype == X.dtype


SCORERS = {
    "robust_accuracy_score": lambda est, X, y, attack: M.robust_accuracy_score(
        est, X, y, attack=attack
    ),
    "RobustScorer": lambda est, X, y, attack: M.make_robust_scorer(attack)(est, X, y),
    "robustness_curve": lambda est, X, y, attack: M.robustness_curve(
        est, X, y, attack=attack, epsilons=[0, 0.1]
    ),
    "robust_predictions": lambda est, X, y, attack: M.robust_predictions(
        est, X, y, attack=attack
    ),
    "check_robustness_evaluation": lambda est, X, y, attack: (
        M.check_robustness_evaluation(est, X, y, attack=attack, n_random=2)
    ),
}


@pytest.mark.parametrize("case", [c for c in CASES if c != "unknown label"])
@pytest.mark.parametrize("scorer", list(SCORERS))
def test_scorers_refuse_bad_input(data, scorer, case):
    change, error, message = CASES[case]
    key, params, X, y = change(data, dict(eps=0.1, n_iter=2, random_state=0))
    before = (X.copy(), np.array(y, copy=True))
    with pytest.raises(error, match=message):
        SCORERS[scorer](_estimator(data, key, "lr"), X, y, A.PGD(**params))
    _unchanged(before, X, y)


def test_scorers_count_unknown_labels_as_errors(data):
    """Labels the model does not know: misclassified (it cannot predict
    them), never attacked, as in scikit-learn's scorers."""
    X, y, lr = data["X"], data["y"], data["lr"]
    attack = A.FGSM(eps=0.05)  # deterministic: a point's answer is its own
    robust = M.robust_predictions(lr, X, y, attack=attack) == y
    unknown = np.arange(len(y)) % 3 == 0
    y_unknown = np.where(unknown, 7, y)
    before = y_unknown.copy()
    score = M.robust_accuracy_score(lr, X, y_unknown, attack=attack)
    np.testing.assert_array_equal(y_unknown, before)
    assert 0 < score == np.mean(robust & ~unknown) < robust.mean()
    _, curve = M.robustness_curve(lr, X, y_unknown, attack=attack, epsilons=[0, 0.05])
    np.testing.assert_allclose(curve, [np.mean((lr.predict(X) == y) & ~unknown), score])


_NET = dict(
    module__hidden_layer_sizes=(8,),
    criterion=torch.nn.CrossEntropyLoss,
    max_epochs=2,
    train_split=None,
    verbose=0,
)
# defense -> (a factory of its threat parameters, the threat parameters it has)
DEFENSES = {
    "AdversarialTrainingClassifier[closed form]": lambda p: (
        D.AdversarialTrainingClassifier(
            LogisticRegression(max_iter=200), attack=A.PGD(**p)
        )
    ),
    "AdversarialTrainingClassifier[trees]": lambda p: D.AdversarialTrainingClassifier(
        DecisionTreeClassifier(max_depth=2, random_state=0),
        attack=A.PGD(**p),
        n_rounds=1,
        random_state=0,
    ),
    "AdversarialTrainingClassifier[skorch]": lambda p: D.AdversarialTrainingClassifier(
        NeuralNetClassifier(MLP, **_NET), attack=A.PGD(**p), random_state=0
    ),
    "RobustDecisionTreeClassifier": lambda p: D.RobustDecisionTreeClassifier(
        max_depth=2, **p
    ),
    "RobustRandomForestClassifier": lambda p: D.RobustRandomForestClassifier(
        n_estimators=2, max_depth=2, random_state=0, **p
    ),
}
FIT_CASES = [
    "NaN in X",
    "inf in X",
    "1-d X",
    "negative eps",
    "NaN eps",
    "negative per-feature eps",
    "wrong-length eps",
    "unknown norm",
    "reversed bounds",
    "X outside bounds",
    "y too short",
]
_TREE_PARAMETERS = {"eps"}  # the robust trees take a budget, no norm / bounds


def _defense_cells():
    for name in DEFENSES:
        for case in FIT_CASES:
            if name.startswith("Robust") and case in {
                "unknown norm",
                "reversed bounds",
                "X outside bounds",
            }:
                continue
            yield name, case


@pytest.mark.parametrize("name, case", list(_defense_cells()))
def test_defenses_fit_refuses_bad_input(data, name, case):
    change, error, message = CASES[case]
    if case == "y too short":
        message = r"inconsistent numbers of samples: \[150, 149\]"
    _, params, X, y = change(data, dict(eps=0.05))
    if name.startswith("AdversarialTraining"):
        params = {"n_iter": 2, **params}
    before = (X.copy(), np.array(y, copy=True))
    with pytest.raises(error, match=message):
        DEFENSES[name](params).fit(X, y)
    _unchanged(before, X, y)


@pytest.mark.parametrize("name", list(DEFENSES))
def test_defenses_leave_inputs_alone(data, name):
    X, y = data["X"], data["y"]
    before = (X.copy(), y.copy())
    params = dict(eps=0.05)
    if name.startswith("AdversarialTraining"):
        params["n_iter"] = 2
    fitted = DEFENSES[name](params).fit(X, y)
    _unchanged(before, X, y)
    assert fitted.predict(X[:3]).shape == (3,)
