"""
==============================================================
Adversarial training: Madry PGD, TRADES and fast FGSM training
==============================================================

:class:`skrobust.defenses.AdversarialTrainingClassifier` trains a skorch
network on adversarial inputs, inside skorch's own training loop. Here we
train a small CNN on scikit-learn's 8x8 digits four ways -- standard
training, PGD adversarial training (Madry et al.), TRADES and fast FGSM
training -- and compare their robust accuracy against the budget of a PGD
attack. Then we choose the *training* budget by cross-validation: a
:class:`~sklearn.model_selection.GridSearchCV` over ``attack__eps`` that
scores clean and robust accuracy and refits the most robust model, and a
:class:`~sklearn.model_selection.ValidationCurveDisplay` along the same
parameter.
"""

# %%
# Data and network
# ----------------
# Pixels are scaled to [0, 1] and shaped as images; ``bounds=(0, 1)`` keeps
# every adversarial image a valid image. The training attack is PGD with 7
# steps at ``eps=0.1`` (every pixel may move by a tenth of its range).
import matplotlib.pyplot as plt
import numpy as np
import torch
from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.model_selection import (
    GridSearchCV,
    ValidationCurveDisplay,
    train_test_split,
)
from skorch import NeuralNetClassifier

from skrobust import SkorchClassifier
from skrobust.attacks import PGD
from skrobust.defenses import AdversarialTrainingClassifier
from skrobust.metrics import (
    RobustnessCurveDisplay,
    RobustnessTradeoffDisplay,
    make_robust_scorer,
)
from skrobust.nn import SmallCNN

torch.set_num_threads(1)  # tiny networks: one thread is fastest

X, y = load_digits(return_X_y=True)
X = (X / 16.0).astype(np.float32).reshape(-1, 1, 8, 8)
X_train, X_test, y_train, y_test = train_test_split(
    X, y, test_size=450, stratify=y, random_state=0
)

net = NeuralNetClassifier(
    SmallCNN,
    criterion=torch.nn.CrossEntropyLoss,
    optimizer=torch.optim.Adam,
    lr=0.01,
    max_epochs=6,
    batch_size=64,
    train_split=None,
    verbose=0,
)
train_attack = PGD(eps=0.1, n_iter=7, bounds=(0.0, 1.0))

# %%
# Four ways to train
# ------------------
# ``loss`` selects the objective of each batch: ``"madry"`` trains on the PGD
# examples, ``"trades"`` adds ``beta`` times the KL divergence between the
# clean and the adversarial predictions to the clean loss, and ``"fast"``
# replaces PGD by one FGSM step of ``1.25 eps`` from a random start, at about
# twice the cost of standard training (with a guard that stops training if its
# PGD accuracy collapses). The attack runs on the batch's tensors, in eval
# mode, in the middle of skorch's loop.
models = {"standard": SkorchClassifier(net, random_state=0)}
for loss in ("madry", "trades", "fast"):
    models[loss] = AdversarialTrainingClassifier(
        net, attack=train_attack, loss=loss, random_state=0
    )
for name, model in models.items():
    model.fit(X_train, y_train)
    print(f"{name:8s} clean test accuracy: {model.score(X_test, y_test):.3f}")

# %%
# Fast training records the guard's check in skorch's history:
history = models["fast"].estimator_.net_.history
print("fast: PGD accuracy on a training batch per epoch:")
print(np.round(history[:, "pgd_train_acc"], 3))

# %%
# Robust accuracy against the budget
# ----------------------------------
# :class:`~skrobust.metrics.RobustnessCurveDisplay` attacks each model with
# PGD-20 at every budget. All three defenses hold up far better than standard
# training around the training budget 0.1; beyond it robustness falls off for
# all of them.
epsilons = [0.0, 0.05, 0.1, 0.15, 0.2]
evaluate = PGD(eps=0.1, n_iter=20, bounds=(0.0, 1.0), random_state=0)
ax = None
for name, model in models.items():
    display = RobustnessCurveDisplay.from_estimator(
        model, X_test, y_test, attack=evaluate, epsilons=epsilons, name=name, ax=ax
    )
    ax = display.ax_
ax.axvline(0.1, color="grey", linestyle=":", label="training eps")
ax.set_title("SmallCNN on digits: PGD-20 robust accuracy")
ax.legend()
plt.show()

# %%
# Choosing the training budget by cross-validation
# ------------------------------------------------
# The attack is a nested parameter, so ``GridSearchCV`` searches the training
# budget as ``attack__eps``. The robust scorer keeps the evaluation budget
# fixed (PGD-10 at 0.1): it attacks each fold's own model on that fold's test
# points. ``attack__eps=0`` is standard training, so the search also shows the
# price in clean accuracy. To keep the example short, the search uses 900
# training images, fewer epochs and a 3-step attack; a two-epoch warm-up of
# the budget (``eps_warmup=2``) keeps the larger budgets from stalling such a
# short training.
X_search, y_search = X_train[:900], y_train[:900]
search_net = clone(net).set_params(max_epochs=4)
defended = AdversarialTrainingClassifier(
    search_net,
    attack=PGD(eps=0.1, n_iter=3, bounds=(0.0, 1.0)),
    eps_warmup=2,
    random_state=0,
)
robust = make_robust_scorer(PGD(eps=0.1, n_iter=10, bounds=(0.0, 1.0), random_state=0))
train_epsilons = [0.0, 0.05, 0.1, 0.15]
search = GridSearchCV(
    defended,
    {"attack__eps": train_epsilons},
    scoring={"clean": "accuracy", "robust": robust},
    refit="robust",
    cv=2,
    n_jobs=2,
).fit(X_search, y_search)
for eps, clean, rob in zip(
    train_epsilons,
    search.cv_results_["mean_test_clean"],
    search.cv_results_["mean_test_robust"],
):
    print(f"training eps {eps:.2f}: clean {clean:.3f}, robust {rob:.3f}")
print("best:", search.best_params_)
score = robust(search.best_estimator_, X_test, y_test)
print(f"refitted model, robust test accuracy: {score:.3f}")

# %%
# The same search as a clean-against-robust trade-off: one point per training
# budget, the Pareto front highlighted.
RobustnessTradeoffDisplay.from_cv_results(
    search.cv_results_, clean="clean", robust="robust", param="attack__eps"
)
plt.show()

# %%
# Robust accuracy grows with the training budget up to and beyond the
# evaluation budget, for little or no clean accuracy on these short runs:
# training somewhat above the budget you evaluate at often pays.
#
# The validation curve along the training budget, scored by the robust
# scorer: the training score is the robust accuracy on the folds' training
# points, the test score on their held-out points.
ValidationCurveDisplay.from_estimator(
    defended,
    X_search,
    y_search,
    param_name="attack__eps",
    param_range=train_epsilons,
    scoring=robust,
    cv=2,
    n_jobs=2,
    score_name="PGD-10 robust accuracy at eps 0.1",
)
plt.show()
