"""scikit-learn's estimator checks over every public skrobust estimator.

Later issues append ``(estimator, expected_failures)`` pairs to ``ESTIMATORS``:
``expected_failures`` maps the name of each check that genuinely cannot pass
to the reason why (keep it as small as possible).
"""

import torch
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.tree import DecisionTreeClassifier
from sklearn.utils.estimator_checks import parametrize_with_checks
from skorch import NeuralNetBinaryClassifier, NeuralNetClassifier

from skrobust import SkorchClassifier
from skrobust.attacks import (
    APGD,
    FAB,
    FGSM,
    PGD,
    AutoAttack,
    CarliniWagnerL2,
    DecisionTreeExactAttack,
    HopSkipJump,
    LeafTupleAttack,
    LinearExactAttack,
    SquareAttack,
)
from skrobust.certification import (
    IBPClassifier,
    LipschitzClassifier,
    RandomizedSmoothingClassifier,
)
from skrobust.defenses import (
    AdversarialTrainingClassifier,
    RobustDecisionTreeClassifier,
    RobustRandomForestClassifier,
)
from skrobust.nn import MLP


class LazyMLP(torch.nn.Module):
    """An MLP with its own forward whose first layer learns its input size
    (``nn.LazyLinear``): the checks vary the number of features."""

    def __init__(self, n_classes=2, hidden=16):
        super().__init__()
        self.hidden = torch.nn.LazyLinear(hidden)
        self.out = torch.nn.Linear(hidden, n_classes)

    def forward(self, x):
        return self.out(torch.relu(self.hidden(torch.flatten(x, 1))))


_LAZY_NET = dict(max_epochs=20, lr=0.1, train_split=None, verbose=0)

# Tiny nets: each fit takes a fraction of a second on the checks' data.
_NET = dict(
    module__hidden_layer_sizes=(16,),
    max_epochs=20,
    lr=0.1,
    train_split=None,
    verbose=0,
)

FLOAT32_BATCH_DEPENDENCE = (
    "float32 network: torch's CPU matrix products use different kernels for "
    "different batch sizes, so scores computed on a subset differ from those "
    "on the full batch by ~1e-7 (the check's atol); the float64 variant passes."
)

RANDOM_START_PER_POSITION = (
    "the random start is drawn per batch position from one seeded generator, so "
    "reordering the samples gives each one a different (equally valid) random "
    "start; per-sample generators would cost more than the guarantee is worth."
)

NOISE_PER_BATCH_POSITION = (
    "randomized smoothing draws its Monte-Carlo noise for a batch of points from "
    "one seeded generator, so a point's noise (and its estimated class "
    "frequencies) depends on its position among the points predicted together; "
    "per-point generators would break batching across points, the main cost."
)

FLOAT32_WEIGHT_SUMS = (
    "float32 network: the weighted batch loss sum(w * l) / sum(w) and the loss "
    "of the repeated rows add up in different orders, so the trained weights "
    "agree only to ~1e-7 (above the check's tolerance); the float64 variant "
    "passes, i.e. integer weights equal repeated rows."
)

NOISE_PER_ROW = (
    "the training noise is drawn per row: repeating a row gives it new noise "
    "draws, so the fit on repeated rows differs from the weighted fit by its "
    "random noise, not by the weights (the weights are passed on; see "
    "tests/test_sample_weight.py)."
)

_SMOOTHING_COUNTS = dict(n_samples=100, n_samples_select=10, n_samples_predict=100)
_SMOOTHING_FAILURES = {
    "check_methods_subset_invariance": NOISE_PER_BATCH_POSITION,
    "check_methods_sample_order_invariance": NOISE_PER_BATCH_POSITION,
    "check_sample_weight_equivalence_on_dense_data": NOISE_PER_ROW,
}
_FLOAT32_NET = {
    "check_methods_subset_invariance": FLOAT32_BATCH_DEPENDENCE,
    "check_sample_weight_equivalence_on_dense_data": FLOAT32_WEIGHT_SUMS,
}

ESTIMATORS = [
    # attacks carry an unfitted surrogate so that the checks' `fit` trains it
    (FGSM(LogisticRegression(), eps=0.1), {}),
    (
        PGD(LogisticRegression(), eps=0.1, n_iter=3, random_state=0),
        {"check_methods_sample_order_invariance": RANDOM_START_PER_POSITION},
    ),
    (
        SkorchClassifier(
            NeuralNetClassifier(MLP, criterion=torch.nn.CrossEntropyLoss, **_NET)
        ),
        _FLOAT32_NET,
    ),
    (
        SkorchClassifier(
            NeuralNetClassifier(MLP, criterion=torch.nn.CrossEntropyLoss, **_NET),
            dtype="float64",
        ),
        {},
    ),
    (
        SkorchClassifier(NeuralNetBinaryClassifier(MLP, **_NET)),
        _FLOAT32_NET,
    ),
    (
        RandomizedSmoothingClassifier(
            LogisticRegression(), **_SMOOTHING_COUNTS, random_state=0
        ),
        _SMOOTHING_FAILURES,
    ),
    (
        RandomizedSmoothingClassifier(
            NeuralNetClassifier(MLP, criterion=torch.nn.CrossEntropyLoss, **_NET),
            sigma=0.1,
            **_SMOOTHING_COUNTS,
            random_state=0,
        ),
        _SMOOTHING_FAILURES,
    ),
    (
        RandomizedSmoothingClassifier(
            NeuralNetClassifier(
                LazyMLP, criterion=torch.nn.CrossEntropyLoss, **_LAZY_NET
            ),
            sigma=0.1,
            **_SMOOTHING_COUNTS,
            random_state=0,
        ),
        _SMOOTHING_FAILURES,
    ),
]


# adversarial training: a skorch net (PGD-2 inside skorch's loop), the closed
# form of logistic regression, and augmentation of a tree through a surrogate
_PGD_TRAINING = {
    "check_sample_weight_equivalence_on_dense_data": (
        "PGD's random start is drawn per row: repeated rows get new starts; "
        + FLOAT32_WEIGHT_SUMS
    )
}
ESTIMATORS += [
    (
        AdversarialTrainingClassifier(
            NeuralNetClassifier(MLP, criterion=torch.nn.CrossEntropyLoss, **_NET),
            attack=PGD(eps=0.1, n_iter=2),
            random_state=0,
        ),
        _PGD_TRAINING,
    ),
    (
        AdversarialTrainingClassifier(
            NeuralNetClassifier(
                LazyMLP, criterion=torch.nn.CrossEntropyLoss, **_LAZY_NET
            ),
            attack=PGD(eps=0.1, n_iter=2),
            random_state=0,
        ),
        _PGD_TRAINING,
    ),
    (AdversarialTrainingClassifier(LogisticRegression(), attack=PGD(eps=0.1)), {}),
    (
        AdversarialTrainingClassifier(
            DecisionTreeClassifier(random_state=0),
            attack=PGD(eps=0.1, n_iter=2),
            n_rounds=1,
            random_state=0,
        ),
        {},
    ),
]


# certified training: IBP inside skorch's loop (a float32 and a float64 net)
ESTIMATORS += [
    (
        IBPClassifier(
            NeuralNetClassifier(MLP, criterion=torch.nn.CrossEntropyLoss, **_NET),
            eps=0.01,
            random_state=0,
        ),
        _FLOAT32_NET,
    ),
    (
        IBPClassifier(
            NeuralNetClassifier(MLP, criterion=torch.nn.CrossEntropyLoss, **_NET),
            eps=0.01,
            dtype="float64",
            random_state=0,
        ),
        {},
    ),
    (  # its own forward, traced for the bounds; the features vary by check
        IBPClassifier(
            NeuralNetClassifier(
                LazyMLP, criterion=torch.nn.CrossEntropyLoss, **_LAZY_NET
            ),
            eps=0.01,
            dtype="float64",
            random_state=0,
        ),
        {},
    ),
]

# Lipschitz training: AOL-constrained weights, GroupSort, a margin loss
ESTIMATORS += [
    (
        LipschitzClassifier(NeuralNetClassifier(MLP, **_NET), random_state=0),
        _FLOAT32_NET,
    ),
    (
        LipschitzClassifier(
            NeuralNetClassifier(MLP, **_NET),
            loss="hinge-kr",
            dtype="float64",
            random_state=0,
        ),
        {},
    ),
]


# strong attacks: APGD, FAB (minimal norm, deterministic) and AutoAttack; a
# point adversarial at APGD's random start keeps that start, so the start's
# position in the batch shows in the output
_RANDOM_START = {
    "check_methods_sample_order_invariance": RANDOM_START_PER_POSITION,
    "check_methods_subset_invariance": RANDOM_START_PER_POSITION,
}
ESTIMATORS += [
    (APGD(LogisticRegression(), eps=0.1, n_iter=3, random_state=0), _RANDOM_START),
    (FAB(LogisticRegression(), n_iter=3), {}),
    (FAB(LogisticRegression(), eps=0.1, norm="l2", n_iter=3), {}),
    (
        AutoAttack(
            LogisticRegression(), eps=0.1, n_iter=2, n_queries=5, random_state=0
        ),
        {},  # points left robust come back clean, the others adversarial
    ),
]


# Carlini-Wagner, black-box and exact attacks
RANDOM_QUERIES_PER_POSITION = (
    "the random start (Square: its windows are shared by the batch, drawn after "
    "it) or probe directions (HopSkipJump) are drawn per batch position from one "
    "seeded generator, so reordering or subsetting the samples changes each "
    "one's (equally valid) random search"
)
BATCH_STARTING_POINTS = (
    "HopSkipJump starts each point from the nearest differently-labelled sample "
    "of its batch, so a subset of the samples can start elsewhere"
)
BOOTSTRAP_WEIGHTS = (
    "bootstrap samples are drawn uniformly and weighted by sample_weight, so a "
    "weight of 2 is not the same draw as a repeated sample (as in scikit-learn's "
    "RandomForestClassifier)."
)

NO_ITERATIONS_IN_FIT = (
    "`max_iter` bounds the attack's own optimisation in transform; fit trains "
    "nothing iterative, so there is no `n_iter_`"
)
ESTIMATORS += [
    (
        SquareAttack(LogisticRegression(), eps=0.1, n_queries=20, random_state=0),
        {
            "check_methods_sample_order_invariance": RANDOM_QUERIES_PER_POSITION,
            "check_methods_subset_invariance": RANDOM_QUERIES_PER_POSITION,
        },
    ),
    (
        SquareAttack(
            DecisionTreeClassifier(random_state=0),
            eps=0.1,
            norm="l2",
            n_queries=20,
            random_state=0,
        ),
        {
            "check_methods_sample_order_invariance": RANDOM_QUERIES_PER_POSITION,
            "check_methods_subset_invariance": RANDOM_QUERIES_PER_POSITION,
        },
    ),
    (
        HopSkipJump(
            DecisionTreeClassifier(random_state=0),
            max_iter=2,
            init_eval=10,
            random_state=0,
        ),
        {
            "check_transformer_n_iter": NO_ITERATIONS_IN_FIT,
            "check_methods_sample_order_invariance": RANDOM_QUERIES_PER_POSITION,
            "check_methods_subset_invariance": BATCH_STARTING_POINTS,
        },
    ),
    (
        CarliniWagnerL2(LogisticRegression(), max_iter=10, n_binary_search=2),
        {"check_transformer_n_iter": NO_ITERATIONS_IN_FIT},
    ),
    (LinearExactAttack(LogisticRegression()), {}),
    (DecisionTreeExactAttack(DecisionTreeClassifier(random_state=0), norm="linf"), {}),
    (
        DecisionTreeExactAttack(
            RandomForestClassifier(n_estimators=2, max_depth=2, random_state=0),
            norm="linf",
        ),
        {},
    ),
    (
        LeafTupleAttack(
            RandomForestClassifier(n_estimators=3, max_depth=3, random_state=0),
            eps=0.5,
            random_state=0,
        ),
        {},
    ),
    (RobustDecisionTreeClassifier(eps=0.1, max_depth=4), {}),
    (
        RobustRandomForestClassifier(n_estimators=3, eps=0.1, max_depth=3),
        {"check_sample_weight_equivalence_on_dense_data": BOOTSTRAP_WEIGHTS},
    ),
]


def _expected_failed_checks(estimator):
    return next(failures for est, failures in ESTIMATORS if est is estimator)


@parametrize_with_checks(
    [estimator for estimator, _ in ESTIMATORS],
    expected_failed_checks=_expected_failed_checks,
)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)
