"""Inputs without samples: one behaviour across the library (issue 16, finding 7).

Every public entry point taking samples -- attacks' ``generate`` /
``transform`` / ``minimal_norms``, the scorers, the certificates and the
estimators' ``fit`` / ``predict`` -- refuses 0 rows with scikit-learn's
``check_array`` error, naming the entry point where skrobust raises it.
"""

import numpy as np
import pytest
import torch
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.neural_network import MLPClassifier
from sklearn.tree import DecisionTreeClassifier
from skorch import NeuralNetClassifier

from skrobust import attacks as A
from skrobust import certification as C
from skrobust import defenses as D
from skrobust import metrics as M
from skrobust.nn import MLP

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
ZERO = r"Found array with 0 sample\(s\) \(shape=\(0, 4\)\) while a minimum of 1"
_NET = dict(
    module__hidden_layer_sizes=(8,),
    criterion=torch.nn.CrossEntropyLoss,
    max_epochs=2,
    train_split=None,
    verbose=0,
)


@pytest.fixture(scope="module")
def models():
    X, y = load_iris(return_X_y=True)
    X = (X / 8).astype(np.float32)
    net = NeuralNetClassifier(MLP, **_NET)
    return dict(
        X=X,
        y=y,
        lr=LogisticRegression(max_iter=500).fit(X, y),
        mlp=MLPClassifier((8,), max_iter=300, random_state=0).fit(X, y),
        tree=DecisionTreeClassifier(max_depth=3, random_state=0).fit(X, y),
        ibp=C.IBPClassifier(net, eps=0.01, random_state=0).fit(X, y),
        lipschitz=C.LipschitzClassifier(net, random_state=0).fit(X, y),
        smoothing=C.RandomizedSmoothingClassifier(
            LogisticRegression(max_iter=500),
            sigma=0.1,
            n_samples=20,
            n_samples_select=10,
            n_samples_predict=20,
            random_state=0,
        ).fit(X, y),
    )


ATTACKS = {
    "FGSM": lambda m: A.FGSM(m["lr"], eps=0.1),
    "PGD": lambda m: A.PGD(m["lr"], eps=0.1, n_iter=2),
    "APGD": lambda m: A.APGD(m["lr"], eps=0.1, n_iter=2),
    "AutoAttack": lambda m: A.AutoAttack(m["lr"], eps=0.1, n_iter=2, n_queries=5),
    "CarliniWagnerL2": lambda m: A.CarliniWagnerL2(m["lr"], max_iter=2, bounds=(0, 1)),
    "FAB": lambda m: A.FAB(m["lr"], n_iter=2),
    "HopSkipJump": lambda m: A.HopSkipJump(m["lr"], max_iter=1),
    "SquareAttack": lambda m: A.SquareAttack(m["lr"], eps=0.1, n_queries=5),
    "LinearExactAttack": lambda m: A.LinearExactAttack(m["lr"], eps=0.1),
    "DecisionTreeExactAttack": lambda m: A.DecisionTreeExactAttack(m["tree"], eps=1),
    "LeafTupleAttack": lambda m: A.LeafTupleAttack(m["tree"], eps=0.1),
}


def _attack_calls():
    for name in ATTACKS:
        yield f"{name}.generate", name, lambda m, a: a.generate(m["X"][:0], m["y"][:0])
        yield f"{name}.transform", name, lambda m, a: a.transform(m["X"][:0])
        if name in {"CarliniWagnerL2", "FAB", "HopSkipJump"} or "Exact" in name:
            yield (
                f"{name}.minimal_norms",
                name,
                lambda m, a: a.minimal_norms(m["X"][:0], m["y"][:0]),
            )
        if name == "AutoAttack":
            yield f"{name}.evaluate", name, lambda m, a: a.evaluate(m["X"][:0])


@pytest.mark.parametrize(
    "name, call",
    [(case[1], case[2]) for case in _attack_calls()],
    ids=[case[0] for case in _attack_calls()],
)
def test_attacks_refuse_zero_rows(models, name, call):
    attack = ATTACKS[name](models)
    with pytest.raises(ValueError, match=f"{ZERO} is required by {name}\\."):
        call(models, attack)
    # one row is attacked as a batch of one
    assert attack.generate(models["X"][:1], models["y"][:1]).shape == (1, 4)


_PGD = A.PGD(eps=0.1, n_iter=2, random_state=0)
# entry point -> (call on (models, X, y), the name in the message)
SCORERS = {
    "robust_accuracy_score": lambda m, X, y: M.robust_accuracy_score(
        m["lr"], X, y, attack=_PGD
    ),
    "RobustScorer": lambda m, X, y: M.make_robust_scorer(_PGD)(m["lr"], X, y),
    "robustness_curve": lambda m, X, y: M.robustness_curve(
        m["lr"], X, y, attack=[_PGD, A.FAB(n_iter=2)], epsilons=[0, 0.1]
    ),
    "robust_predictions": lambda m, X, y: M.robust_predictions(
        m["lr"], X, y, attack=_PGD
    ),
    "check_robustness_evaluation": lambda m, X, y: M.check_robustness_evaluation(
        m["lr"], X, y, attack=_PGD
    ),
    "certified_accuracy_score": lambda m, X, y: M.certified_accuracy_score(
        m["smoothing"], X, y, radius=0.05
    ),
    "CertifiedScorer": lambda m, X, y: M.make_certified_scorer(radius=0.05)(
        m["smoothing"], X, y
    ),
}


@pytest.mark.parametrize("name", list(SCORERS))
def test_scorers_refuse_zero_rows(models, name):
    X, y = models["X"], models["y"]
    shape = r"\(0,\)" if "ertified" in name else r"\(0, 4\)"
    message = rf"0 sample\(s\) \(shape={shape}\) while a minimum of 1 is required"
    with pytest.raises(ValueError, match=f"{message} by {name}\\."):
        SCORERS[name](models, X[:0], y[:0])
    # one row scores (robustness_curve: its points the clean model gets right)
    if name not in {"robust_predictions", "check_robustness_evaluation"}:
        right = np.flatnonzero(models["lr"].predict(X) == y)[:1]
        result = SCORERS[name](models, X[right], y[right])
        assert np.all(np.isfinite(result[1] if name == "robustness_curve" else result))


# certificates: the functions (named in the message) and the certifiers' methods
CERTIFICATES = {
    **{
        f"certify[{method}]": (
            lambda m, X, y, method=method: C.certify(
                m["tree" if method == "milp-tree" else "mlp"],
                X,
                y,
                eps=0.05,
                method=method.removesuffix("-tree"),
            ),
            "certify",
        )
        for method in ("ibp", "crown", "lipschitz", "milp", "milp-tree")
    },
    **{
        f"certified_radius[{method}]": (
            lambda m, X, y, method=method: C.certified_radius(
                m["mlp"], X, y, method=method
            ),
            "certified_radius",
        )
        for method in ("ibp", "crown", "lipschitz", "milp")
    },
    "interval_bounds": (lambda m, X, y: C.interval_bounds(m["mlp"], X, eps=0.1), ""),
    "margin_bounds": (lambda m, X, y: C.margin_bounds(m["mlp"], X, y, eps=0.1), ""),
    "lipschitz.certify": (
        lambda m, X, y: C.lipschitz.certify(m["mlp"], X, y, eps=0.1),
        "",
    ),
    "mip.verify": (lambda m, X, y: C.mip.verify(m["tree"], X, y, eps=0.1), ""),
}
for _name in ("ibp", "lipschitz", "smoothing"):
    CERTIFICATES[f"{_name}.certified_radius"] = (
        lambda m, X, y, n=_name: m[n].certified_radius(X, y),
        "",
    )
    CERTIFICATES[f"{_name}.predict"] = (lambda m, X, y, n=_name: m[n].predict(X), "")
    CERTIFICATES[f"{_name}.certify"] = (
        lambda m, X, y, n=_name: (
            m[n].certify(X) if n == "smoothing" else m[n].certify(X, y, eps=0.05)
        ),
        "",
    )
CERTIFICATES["smoothing.predict_abstain"] = (
    lambda m, X, y: m["smoothing"].predict_abstain(X),
    "",
)


@pytest.mark.parametrize("name", list(CERTIFICATES))
def test_certificates_refuse_zero_rows(models, name):
    call, caller = CERTIFICATES[name]
    X, y = models["X"], models["y"]
    by = f" by {caller}\\." if caller else ""
    with pytest.raises(ValueError, match=f"{ZERO} is required{by}"):
        call(models, X[:0], y[:0])
    result = call(models, X[:1], y[:1])
    first = result[0] if isinstance(result, tuple) else result
    if isinstance(result, dict):  # mip.verify: a status per sample
        first = result["status"]
    assert len(first) == 1


DEFENSES = {
    "AdversarialTrainingClassifier[logistic]": lambda: D.AdversarialTrainingClassifier(
        LogisticRegression(max_iter=200), attack=A.PGD(eps=0.1)
    ),
    "AdversarialTrainingClassifier[tree]": lambda: D.AdversarialTrainingClassifier(
        DecisionTreeClassifier(max_depth=2, random_state=0),
        attack=A.PGD(eps=0.1, n_iter=2),
        n_rounds=1,
        random_state=0,
    ),
    "AdversarialTrainingClassifier[skorch]": lambda: D.AdversarialTrainingClassifier(
        NeuralNetClassifier(MLP, **_NET), attack=A.PGD(eps=0.1, n_iter=2)
    ),
    "AdversarialNeuralNetClassifier": lambda: D.AdversarialNeuralNetClassifier(
        MLP,
        objective=D.AdversarialObjective(A.PGD(eps=0.1, n_iter=2)),
        module__n_features_in=4,
        module__n_classes=3,
        **_NET,
    ),
    "RobustDecisionTreeClassifier": lambda: D.RobustDecisionTreeClassifier(
        eps=0.05, max_depth=2
    ),
    "RobustRandomForestClassifier": lambda: D.RobustRandomForestClassifier(
        n_estimators=2, eps=0.05, max_depth=2, random_state=0
    ),
}


@pytest.mark.parametrize("name", list(DEFENSES))
def test_defenses_refuse_zero_rows(models, name):
    X, y = models["X"], models["y"]
    with pytest.raises(ValueError, match=ZERO):
        DEFENSES[name]().fit(X[:0], y[:0])
    fitted = DEFENSES[name]().fit(X, y)
    with pytest.raises(ValueError, match=ZERO):
        fitted.predict(X[:0])
    assert fitted.predict(X[:1]).shape == (1,)
