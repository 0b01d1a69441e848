"""
==============================================
How robust is my gradient-boosting model?
==============================================

A gradient-boosted model has no gradient, so PGD cannot attack it, and the
black-box attacks (Square, HopSkipJump) only sample it: their robust
accuracy is an *upper bound* that can be far from the truth. A tree
ensemble is not a black box, though: skrobust reads its leaves as boxes in
the raw feature space and

* computes the **exact** smallest adversarial perturbation of each point
  (Kantchelian et al.'s mixed-integer program,
  :class:`~skrobust.attacks.DecisionTreeExactAttack`), hence the exact robust
  accuracy at every budget;
* certifies points with the same program
  (:func:`skrobust.certification.certify` with ``method="milp"``);
* attacks large ensembles fast with a leaf-tuple search
  (:class:`~skrobust.attacks.LeafTupleAttack`), whose ``verify`` also
  proves robustness with Chen et al.'s clique bound.

Budgets are in standard deviations of each feature (``eps_units="std"``).
"""

# %%
# A gradient-boosting model on breast cancer
# ------------------------------------------
import time

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_breast_cancer
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.model_selection import train_test_split

from skrobust.attacks import (
    DecisionTreeExactAttack,
    HopSkipJump,
    LeafTupleAttack,
    SquareAttack,
)
from skrobust.certification import certify
from skrobust.metrics import robustness_curve

X, y = load_breast_cancer(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(
    X, y, test_size=0.2, stratify=y, random_state=0
)
X_test, y_test = X_test[:30], y_test[:30]  # keep the example fast
gb = GradientBoostingClassifier(n_estimators=30, max_depth=3, random_state=0)
gb.fit(X_train, y_train)
print(f"clean accuracy: {gb.score(X_test, y_test):.3f}")

# %%
# The exact answer
# ----------------
# ``minimal_norms`` gives each point's exact smallest l-infinity perturbation
# (in standard deviations), so one call draws the exact robust-accuracy curve.
exact = DecisionTreeExactAttack(gb, norm="linf", eps_units="std").fit(X_train)
start = time.perf_counter()
radius = exact.minimal_norms(X_test, y_test)
seconds = (time.perf_counter() - start) / len(X_test)
print(f"exact minimal perturbations: {seconds:.3f} s per point")
for eps in (0.25, 0.5):
    print(f"exact robust accuracy at {eps} std: {np.mean(radius > eps):.3f}")

# %%
# The same program certifies: at a budget, a point is verified exactly when
# its minimal perturbation is larger.
std = X_train.std(axis=0)
certified = certify(gb, X_test, y_test, eps=0.5 * std, method="milp")
assert (certified == (radius > 0.5)).all()

# %%
# What the other attacks would have told us
# -----------------------------------------
# The leaf-tuple attack reads the trees: it should find (nearly) every
# adversarial example the exact attack finds, in a fraction of the time.
# Square and HopSkipJump query the model only.
threat = dict(norm="linf", eps_units="std")
fast = LeafTupleAttack(gb, eps=0.5, random_state=0, **threat).fit(X_train)
square = SquareAttack(gb, eps=0.5, n_queries=200, random_state=0, **threat)
hsj = HopSkipJump(gb, eps=0.5, max_iter=5, random_state=0, **threat)
for name, attack in [("leaf-tuple", fast), ("Square", square), ("HopSkipJump", hsj)]:
    start = time.perf_counter()
    X_adv = attack.fit(X_train).generate(X_test, y_test)
    print(
        f"{name:12s} robust accuracy at 0.5 std: {gb.score(X_adv, y_test):.3f} "
        f"({(time.perf_counter() - start) / len(X_test):.3f} s per point)"
    )

# %%
# ``verify`` adds a proof to the fast attack: each point is certified (the
# clique bound shows no adversarial example exists), broken (an example is
# returned) or undecided. The certified fraction is a lower bound and
# 1 - broken an upper bound of the exact robust accuracy.
report = fast.verify(X_test, y_test)
for status in ("certified", "broken", "undecided"):
    print(f"{status:9s}: {np.mean(report.status == status):.3f}")
exact_accuracy = np.mean(radius > 0.5)
assert np.mean(report.status == "certified") <= exact_accuracy
assert exact_accuracy <= 1 - np.mean(report.status == "broken")

# %%
# Robust accuracy against the budget
# ----------------------------------
# The exact curve is the truth; every attack can only sit on or above it.
epsilons = np.linspace(0, 1.0, 21)
_, fast_curve = robustness_curve(
    gb, X_test, y_test, attack=fast.set_params(eps=None), epsilons=epsilons
)
exact_curve = [np.mean(radius > eps) for eps in epsilons]
assert np.all(fast_curve >= np.array(exact_curve) - 1e-12)
fig, ax = plt.subplots(figsize=(6, 4))
ax.plot(epsilons, exact_curve, label="exact (MILP)")
ax.plot(epsilons, fast_curve, "--", label="leaf-tuple attack")
ax.set(xlabel="linf budget (std)", ylabel="robust accuracy", title="GradientBoosting")
ax.legend()
plt.show()
