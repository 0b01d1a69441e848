"""
===================================================
Model selection for robustness: a robust scorer
===================================================

The most accurate model is not always the most robust one. This example
selects the regularisation of a logistic regression on the breast cancer data
twice: for clean accuracy and for robust accuracy under a fixed PGD attack,
with one :class:`~sklearn.model_selection.GridSearchCV` that computes both
(``scoring={"clean": "accuracy", "robust": robust}``) and refits the model of
best *robust* accuracy (``refit="robust"``).

The robust scorer, made by :func:`skrobust.metrics.make_robust_scorer`,
attacks each fold's own model on that fold's test points (white-box, with the
true labels), so cross-validation stays honest. Then
:class:`~sklearn.model_selection.ValidationCurveDisplay` shows clean and
robust accuracy along the regularisation path.
"""

# %%
# Data, model and the robust scorer
# ---------------------------------
# The attack's budget is 0.25 standard deviations of each feature
# (``eps_units="std"``), in l-infinity norm. We fit the attack on the training
# data once, so that the *evaluation* budget is the same for every fold and
# every candidate: keep it fixed, and tune the model (or, with adversarial
# training, the *training* budget) against it.
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import (
    GridSearchCV,
    StratifiedKFold,
    ValidationCurveDisplay,
    train_test_split,
)
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skrobust.attacks import PGD
from skrobust.metrics import RobustnessTradeoffDisplay, make_robust_scorer

X, y = load_breast_cancer(return_X_y=True, as_frame=True)
X_train, X_test, y_train, y_test = train_test_split(X, y, stratify=y, random_state=0)

attack = PGD(eps=0.25, eps_units="std", n_iter=10, random_state=0).fit(X_train)
robust = make_robust_scorer(attack)
print(robust.__name__)

model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
Cs = np.logspace(-3, 2, 6)
cv = StratifiedKFold(5, shuffle=True, random_state=0)

# %%
# One grid search, two scores
# ---------------------------
# The attack runs only on the points a model classifies correctly, and stops
# on a point as soon as it is misclassified, so the robust score costs little
# more than the clean one here.
search = GridSearchCV(
    model,
    {"logisticregression__C": Cs},
    scoring={"clean": "accuracy", "robust": robust},
    refit="robust",
    cv=cv,
)
search.fit(X_train, y_train)

results = pd.DataFrame(
    {
        "C": Cs,
        "clean": search.cv_results_["mean_test_clean"],
        "robust": search.cv_results_["mean_test_robust"],
    }
)
print(results.round(3).to_string(index=False))
best_clean = Cs[np.argmax(results["clean"])]
best_robust = search.best_params_["logisticregression__C"]
print(f"best C: {best_clean:g} for clean accuracy, {best_robust:g} for robust accuracy")

# %%
# On held-out data, the refitted model (the most robust candidate) against the
# most accurate one:
most_accurate = (
    make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    .set_params(logisticregression__C=best_clean)
    .fit(X_train, y_train)
)
for name, clf in [("most accurate", most_accurate), ("most robust", search)]:
    est = clf.best_estimator_ if hasattr(clf, "best_estimator_") else clf
    print(
        f"{name:>13}: clean {est.score(X_test, y_test):.3f}, "
        f"robust {robust(est, X_test, y_test):.3f}"
    )

# %%
# The trade-off
# -------------
# Each candidate as a point: clean accuracy against robust accuracy (one
# standard deviation across folds as error bars).
display = RobustnessTradeoffDisplay.from_cv_results(
    search.cv_results_, param="logisticregression__C", name="C"
)
display.ax_.set_title("Logistic regression, PGD-10 at 0.25 std")
plt.show()

# %%
# Validation curves
# -----------------
# :class:`~sklearn.model_selection.ValidationCurveDisplay` takes the robust
# scorer like any other. Clean accuracy is flat from ``C = 0.1`` on, while
# robust accuracy falls fast as ``C`` grows: the large weights of a weakly
# regularised model let a small perturbation move its decision a long way.
fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
for ax, scoring, label in [
    (axes[0], "accuracy", "Clean accuracy"),
    (axes[1], robust, "Robust accuracy"),
]:
    ValidationCurveDisplay.from_estimator(
        model,
        X_train,
        y_train,
        param_name="logisticregression__C",
        param_range=Cs,
        cv=cv,
        scoring=scoring,
        score_name=label,
        ax=ax,
    )
    ax.set_xscale("log")
    ax.set_title(label)
fig.tight_layout()
plt.show()

# %%
# Tuning a defense
# ----------------
# With :class:`skrobust.defenses.AdversarialTrainingClassifier`, tune the
# *training* budget in the same way, against the same fixed evaluation
# scorer::
#
#     from skrobust.defenses import AdversarialTrainingClassifier
#
#     defended = AdversarialTrainingClassifier(
#         model, attack=PGD(eps=0.0, eps_units="std")
#     )
#     GridSearchCV(
#         defended,
#         {"attack__eps": [0.0, 0.1, 0.25, 0.5]},
#         scoring={"clean": "accuracy", "robust": robust},
#         refit="robust",
#     )
