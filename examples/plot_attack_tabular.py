"""
=========================================
Attacking a tabular pipeline with PGD
=========================================

Tabular data needs more than an l-infinity ball: features have different units,
some cannot be changed, some can only move one way, some are counts. This
example attacks two scikit-learn pipelines trained on the breast cancer data,
held in a pandas DataFrame, with :class:`skrobust.attacks.PGD`:

* with a budget in raw units, then in units of each feature's standard
  deviation (``eps_units="std"``);
* inside the range of the data (``bounds="data"``), with an immutable column
  named in ``feature_mask``, a column that may only increase (``direction``)
  and an integer column (``integer_features``).

The attacks act on the **raw** features the user holds: the ``StandardScaler``
is part of the differentiable model, not of the threat model.
"""

# %%
# Data and models
# ---------------
# The data set has no integer column, so we make one: ``mean texture`` rounded
# to whole units stands in for a count such as a number of visits.
import warnings

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from sklearn.datasets import load_breast_cancer
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skrobust.attacks import PGD

X, y = load_breast_cancer(return_X_y=True, as_frame=True)
X["mean texture"] = X["mean texture"].round()
X_train, X_test, y_train, y_test = train_test_split(X, y, stratify=y, random_state=0)

models = {
    "logistic regression": make_pipeline(StandardScaler(), LogisticRegression()),
    "MLP": make_pipeline(
        StandardScaler(),
        MLPClassifier(hidden_layer_sizes=(32,), max_iter=300, random_state=0),
    ),
}
with warnings.catch_warnings():
    warnings.simplefilter("ignore", ConvergenceWarning)
    for model in models.values():
        model.fit(X_train, y_train)
for name, model in models.items():
    print(f"{name}: clean test accuracy {model.score(X_test, y_test):.3f}")
clf = models["logistic regression"]

# %%
# A budget in raw units
# ---------------------
# ``eps`` is in the units of the raw features. A single number is rarely what
# one wants on tabular data: ``mean area`` is in the hundreds while
# ``mean smoothness`` is about 0.1, so ``eps=0.5`` is nothing for the first and
# enormous for the second. The DataFrame comes back with the same columns and
# index.
X_adv = PGD(clf, eps=0.5, n_iter=20, random_state=0).generate(X_test, y_test)
assert isinstance(X_adv, pd.DataFrame)
assert X_adv.columns.equals(X_test.columns) and X_adv.index.equals(X_test.index)
print(f"eps=0.5 (raw, every feature): robust accuracy {clf.score(X_adv, y_test):.3f}")
print((X_adv - X_test).abs().max().loc[["mean area", "mean smoothness"]])

# %%
# One budget per feature works better: an array, a ``pandas.Series`` or a dict
# ``{column: eps}`` (columns left out of the dict are immutable). Here every
# feature may move by 5 % of its range.
eps_raw = 0.05 * (X_train.max() - X_train.min())
X_adv = PGD(clf, eps=eps_raw, n_iter=20, random_state=0).generate(X_test, y_test)
delta = (X_adv - X_test).abs()
assert (delta <= eps_raw + 1e-9).all().all()
print(f"5 % of each range: robust accuracy {clf.score(X_adv, y_test):.3f}")

# %%
# A budget in standard deviations
# -------------------------------
# ``eps_units="std"`` reads ``eps`` in units of each feature's standard
# deviation, learned by the attack's :meth:`~skrobust.attacks.PGD.fit` (the
# model is already fitted: ``fit`` only learns the data statistics).
attack = PGD(clf, eps=0.25, eps_units="std", n_iter=20, random_state=0)
attack.fit(X_train)
X_adv = attack.generate(X_test, y_test)
ratio = (X_adv - X_test).abs() / attack.data_std_
print(f"eps=0.25 std: robust accuracy {clf.score(X_adv, y_test):.3f}")
print(f"largest move, in standard deviations: {ratio.max().max():.3f}")

# %%
# The full tabular threat model
# -----------------------------
# * ``bounds="data"``: each feature stays inside the min / max the attack saw
#   in ``fit`` (here the training data). A test value outside that range is
#   kept as it is: the attack may move it back toward the range, not further
#   out.
# * ``feature_mask``: the features that may change, here every column but
#   ``mean radius`` (booleans, indices or column names all work).
# * ``direction={"worst area": 1}``: ``worst area`` may only increase.
# * ``integer_features=["mean texture"]``: it moves by whole units (rounded
#   toward its clean value, so the result stays in the budget).
#
# Every adversarial example returned satisfies all of them.
constraints = dict(
    eps_units="std",
    bounds="data",
    feature_mask=[c for c in X.columns if c != "mean radius"],
    direction={"worst area": 1},
    integer_features=["mean texture"],
    n_iter=20,
    random_state=0,
)
attack = PGD(clf, eps=0.5, **constraints).fit(X_train)
X_adv = attack.generate(X_test, y_test)
delta = X_adv - X_test

assert (delta["mean radius"] == 0).all()
assert (delta["worst area"] >= 0).all()
assert np.array_equal(X_adv["mean texture"], X_adv["mean texture"].round())
# the training range, widened to include each clean test value
low = X_test.clip(upper=X_train.min(), axis=1)
high = X_test.clip(lower=X_train.max(), axis=1)
assert ((X_adv >= low) & (X_adv <= high)).all().all()
assert ((delta.abs() / attack.data_std_) <= 0.5 + 1e-9).all().all()
print(f"constrained, eps=0.5 std: robust accuracy {clf.score(X_adv, y_test):.3f}")
print("moves of mean texture:", sorted(delta["mean texture"].unique().tolist()))
X_adv.head()

# %%
# Without labels
# --------------
# ``transform`` attacks the model's own predictions, so it needs no labels
# (and cannot leak them); it is what runs when the attack is a step of a
# ``Pipeline``.
X_adv = attack.transform(X_test)
agree = (clf.predict(X_adv) == clf.predict(X_test)).mean()
print(f"predictions unchanged by the label-free attack: {agree:.3f}")

# %%
# Robust accuracy against the budget
# ----------------------------------
# The same constrained attack at growing budgets, on both pipelines.
epsilons = [0.0, 0.1, 0.25, 0.5, 0.75, 1.0]
fig, ax = plt.subplots(figsize=(5, 3.5))
for name, model in models.items():
    accuracy = [
        model.score(
            PGD(model, eps=eps, **constraints).fit(X_train).generate(X_test, y_test),
            y_test,
        )
        for eps in epsilons
    ]
    print(name, np.round(accuracy, 3))
    ax.plot(epsilons, accuracy, "o-", label=name)
ax.set_xlabel("eps (standard deviations per feature, l-infinity)")
ax.set_ylabel("robust accuracy")
ax.set_ylim(0, 1.02)
ax.grid(alpha=0.3)
ax.legend()
ax.set_title("PGD-20 on breast cancer, constrained")
fig.tight_layout()
plt.show()
