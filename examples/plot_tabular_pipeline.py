"""
=====================================================
A real tabular pipeline: raw DataFrames, categories
=====================================================

A credit model is rarely ``StandardScaler -> MLP`` on numbers. It is a
``Pipeline(ColumnTransformer([OneHotEncoder on the string columns, imputer and
scaler on the numbers]), model)`` fed a DataFrame with string and ``category``
columns, integer counts and missing values. skrobust attacks such a pipeline
**in the raw DataFrame**: numbers move within their budget, integer columns
by whole steps, categorical columns switch to another category the encoder
knows, and every returned row is a valid row of the user's frame, checked at
every step of the attack, not only at the end.

This example

* attacks a pipeline with realistic constraints (per-column budgets, an
  immutable age, a direction, allowed categories, at most two discrete
  changes per applicant);
* shows the changed rows as a table;
* cross-validates clean and robust accuracy with the robust scorer;
* grid-searches the *training* budget of adversarial training, scored at a
  fixed evaluation budget.
"""

# %%
# A credit-like DataFrame
# -----------------------
import warnings

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.exceptions import ConvergenceWarning
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, cross_validate, train_test_split
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from skrobust.attacks import PGD
from skrobust.defenses import AdversarialTrainingClassifier
from skrobust.metrics import make_robust_scorer

warnings.simplefilter("ignore", ConvergenceWarning)
rng = np.random.default_rng(0)
n = 800
income = rng.lognormal(7.0, 0.4, n).round(1)
debt = (rng.gamma(2.0, 300.0, n) * (rng.random(n) < 0.7)).round(1)
savings = rng.normal(2000.0, 800.0, n).round(1)
savings[rng.random(n) < 0.1] = np.nan  # missing values
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
        "job": pd.Categorical(job),
        "late": late,
        "age": age,
    }
)
y = np.where(score > np.median(score), "good", "bad")
X_train, X_test, y_train, y_test = train_test_split(X, y, stratify=y, random_state=0)
print(X.dtypes)

# %%
# The pipeline
# ------------
categorical = ["home", "job"]
numeric = ["income", "debt", "accounts", "savings", "late", "age"]
preprocess = ColumnTransformer(
    [
        ("categories", OneHotEncoder(handle_unknown="ignore"), categorical),
        ("numbers", make_pipeline(SimpleImputer(), StandardScaler()), numeric),
    ]
)
model = make_pipeline(
    preprocess, MLPClassifier((16,), max_iter=500, random_state=0)
).fit(X_train, y_train)
print(f"clean test accuracy: {model.score(X_test, y_test):.3f}")

# %%
# A realistic threat model, in raw units
# --------------------------------------
# * ``eps`` as a dict: an applicant can move income, debt and savings by these
#   amounts, the number of accounts by one and late payments by two; every
#   other numeric column (age) is immutable.
# * ``feature_mask`` names what may change, including the two categorical
#   columns: a categorical column changes **only** when named here.
# * ``direction``: late payments can only go down (the past cannot be
#   undone... by the applicant), debt only up.
# * ``allowed_categories``: an applicant can become a renter or an owner, not
#   move back with their parents.
# * ``max_changes=2``: at most two discrete columns (categorical or integer)
#   change per applicant.
# * ``bounds="data"``: stay inside the range seen in training.
#
# Integer columns (their dtype says so) move by whole steps and categories are
# repaired at every step of PGD, so the search only ever scores valid rows.
eps = {"income": 150.0, "debt": 200.0, "savings": 400.0, "accounts": 1, "late": 2}
attack = PGD(
    model,
    eps=eps,
    feature_mask=[*eps, "home", "job"],
    direction={"late": -1, "debt": 1},
    allowed_categories={"home": ["rent", "owner"]},
    max_changes=2,
    bounds="data",
    n_iter=30,
    random_state=0,
).fit(X_train)
X_adv = attack.generate(X_test, y_test)
print(f"robust test accuracy: {model.score(X_adv, y_test):.3f}")
assert X_adv.dtypes.equals(X_test.dtypes) and X_adv.index.equals(X_test.index)

# %%
# The changed rows
# ----------------
# The attack returns a DataFrame like ``X_test``: same columns, order, index and
# dtypes (``job`` is still a pandas ``category``). The gallery shows, for a
# few applicants whose decision flipped, what changed.
flipped = (model.predict(X_adv) != y_test) & (model.predict(X_test) == y_test)


def changes(before, after):
    """'old -> new' where a value changed, '' elsewhere."""
    out = pd.DataFrame("", index=before.index, columns=before.columns)
    for column in before:
        moved = before[column].astype(object) != after[column].astype(object)
        moved &= ~(before[column].isna() & after[column].isna())
        out.loc[moved, column] = [
            f"{a} -> {b}" for a, b in zip(before[column][moved], after[column][moved])
        ]
    return out


gallery = changes(X_test[flipped], X_adv[flipped]).head(8)
gallery["decision"] = [
    f"{a} -> {b}"
    for a, b in zip(
        model.predict(X_test[flipped])[:8], model.predict(X_adv[flipped])[:8]
    )
]
gallery

# %%
# Robust accuracy in cross-validation
# -----------------------------------
# :func:`~skrobust.metrics.make_robust_scorer` attacks each fold's fitted
# model with the threat model above (fitted on that fold's training data for
# ``bounds="data"``), next to the clean accuracy.
threat = attack.get_params(deep=False)
threat.pop("estimator")
robust = make_robust_scorer(PGD(**threat))
scores = cross_validate(
    model, X, y, cv=3, scoring={"clean": "accuracy", "robust": robust}
)
print(f"clean  {scores['test_clean'].mean():.3f} +- {scores['test_clean'].std():.3f}")
print(f"robust {scores['test_robust'].mean():.3f} +- {scores['test_robust'].std():.3f}")

# %%
# Training for robustness: grid search of the training budget
# ------------------------------------------------------------
# :class:`~skrobust.defenses.AdversarialTrainingClassifier` trains on
# adversarial rows generated in the raw DataFrame with the same constraints
# (adversarial data augmentation; a logistic regression keeps this example
# fast). The evaluation budget stays fixed; the grid searches the training
# budget, a fraction ``s`` of it for the continuous columns.
train_attack = PGD(**{**threat, "n_iter": 10})
trained = AdversarialTrainingClassifier(
    make_pipeline(preprocess, LogisticRegression(max_iter=2000)),
    attack=train_attack,
    n_rounds=1,
    random_state=0,
)
budgets = [
    {**{k: s * v for k, v in eps.items()}, "accounts": 1, "late": 2} for s in (0.0, 1.0)
]
grid = GridSearchCV(
    trained,
    {"attack__eps": budgets},
    scoring={"clean": "accuracy", "robust": robust},
    refit="robust",
    cv=2,
)
grid.fit(X_train, y_train)
results = pd.DataFrame(grid.cv_results_)[
    ["mean_test_clean", "mean_test_robust", "rank_test_robust"]
]
results.index = ["integer columns only", "the full budget"]
results
