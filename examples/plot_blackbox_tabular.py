"""
=================================================
Black-box and exact attacks on tabular models
=================================================

A random forest has no gradient, so white-box attacks such as PGD cannot
touch it. The black-box attacks of :mod:`skrobust.attacks` only query the
model: :class:`~skrobust.attacks.SquareAttack` reads its scores
(``predict_proba``), :class:`~skrobust.attacks.HopSkipJump` only its labels
(``predict``). Both respect the tabular threat model: a budget per feature
(here in units of each feature's standard deviation), the range of the data,
immutable columns and one-way columns.

For a linear model the smallest adversarial perturbation has a closed form:
:class:`~skrobust.attacks.LinearExactAttack` gives the **exact** robust
accuracy at every budget from one call, a reference that shows how close PGD
gets.
"""

# %%
# Data, a forest and the threat model
# -----------------------------------
# ``mean radius`` and ``worst radius`` stand in for columns a patient cannot
# change; ``mean smoothness`` may only increase.
import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_breast_cancer
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skrobust.attacks import PGD, HopSkipJump, LinearExactAttack, SquareAttack
from skrobust.metrics import make_robust_scorer, robustness_curve

X, y = load_breast_cancer(return_X_y=True, as_frame=True)
X_train, X_test, y_train, y_test = train_test_split(
    X, y, test_size=0.2, stratify=y, random_state=0
)
forest = RandomForestClassifier(n_estimators=30, max_depth=6, random_state=0)
forest.fit(X_train, y_train)

mutable = [c for c in X.columns if c not in ("mean radius", "worst radius")]
threat = dict(
    eps_units="std",  # eps in standard deviations of each feature
    bounds="data",  # stay inside the range of the training data
    feature_mask=mutable,
    direction={"mean smoothness": 1},
)
print(f"clean accuracy of the forest: {forest.score(X_test, y_test):.3f}")

# %%
# Square (scores) and HopSkipJump (labels) on the forest
# -------------------------------------------------------
# Square spends at most ``n_queries`` queries per point and keeps a random
# change only when the margin of the forest's probabilities shrinks; on flat
# tabular vectors its "squares" are random subsets of the mutable features.
square = SquareAttack(
    forest, eps=0.3, norm="linf", n_queries=300, random_state=0, **threat
).fit(X_train)
X_square = square.generate(X_test, y_test)
print(f"Square, linf 0.3 std: {forest.score(X_square, y_test):.3f}")

hsj = HopSkipJump(
    forest, eps=1.0, norm="l2", max_iter=10, init_eval=50, random_state=0, **threat
).fit(X_train)
X_hsj = hsj.generate(X_test, y_test)
print(f"HopSkipJump, l2 1.0 std: {forest.score(X_hsj, y_test):.3f}")

# every constraint holds: budget, immutable columns, direction, bounds
scaled = (X_square - X_test) / square.data_std_
assert scaled.abs().to_numpy().max() <= 0.3 + 1e-9
assert (
    (
        X_square[["mean radius", "worst radius"]]
        == X_test[["mean radius", "worst radius"]]
    )
    .all()
    .all()
)
assert (X_square["mean smoothness"] >= X_test["mean smoothness"]).all()

# %%
# The robust scorer works for any classifier: it queries the forest's own
# ``predict`` and takes the pointwise worst case of both attacks.
robust = make_robust_scorer(
    [square.set_params(estimator=None), hsj.set_params(estimator=None, eps=0.3)]
)
print(f"worst case of both at 0.3 std: {robust(forest, X_test, y_test):.3f}")

# %%
# HopSkipJump returns each point's smallest adversarial perturbation it found,
# so one run draws the whole curve; Square runs once per budget.
epsilons = np.linspace(0, 1.5, 16)
_, hsj_curve = robustness_curve(
    forest,
    X_test,
    y_test,
    attack=hsj.set_params(estimator=None, eps=None, norm="linf"),
    epsilons=epsilons,
)
sq_eps = [0.1, 0.3, 0.6]
_, sq_curve = robustness_curve(
    forest,
    X_test,
    y_test,
    attack=square.set_params(estimator=None, n_queries=150),
    epsilons=sq_eps,
)

# %%
# Exact robust accuracy of a linear model, and PGD's estimate
# ------------------------------------------------------------
# ``LinearExactAttack.minimal_norms`` is exact, so its curve is the true robust
# accuracy (in the same threat model, bounds included); PGD can only match it
# from above. On a binary linear model PGD's sign steps are already optimal,
# and the two curves coincide: the exact curve certifies that PGD is tight
# here, at the cost of one closed-form call.
linear = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
linear.fit(X_train, y_train)
_, exact = robustness_curve(
    linear,
    X_test,
    y_test,
    attack=LinearExactAttack(norm="linf", **threat).fit(X_train),
    epsilons=epsilons,
)
_, pgd = robustness_curve(
    linear,
    X_test,
    y_test,
    attack=PGD(eps=0.1, norm="linf", n_iter=20, random_state=0, **threat).fit(X_train),
    epsilons=epsilons,
)
assert np.all(pgd >= exact - 1e-12)

fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
ax1.plot(epsilons, hsj_curve, label="HopSkipJump (labels, one run)")
ax1.plot(sq_eps, sq_curve, "o", label="Square (scores, 150 queries)")
ax1.set(title="Random forest", xlabel="linf budget (std)", ylabel="robust accuracy")
ax1.legend()
ax2.plot(epsilons, exact, label="exact (LinearExactAttack)")
ax2.plot(epsilons, pgd, "--", label="PGD-20")
ax2.set(title="Logistic regression", xlabel="linf budget (std)")
ax2.legend()
fig.tight_layout()
plt.show()
