"""
=============================================
AutoAttack, APGD and FAB on a digits network
=============================================

A fixed-step PGD attack can overestimate how robust a model is: its step size
may suit some points and not others. :class:`skrobust.attacks.AutoAttack`,
Croce & Hein's reference evaluation, runs four parameter-free attacks in
turn -- APGD with cross-entropy, targeted APGD on the DLR loss, targeted FAB
and the black-box Square attack -- each on the points the previous ones left
robust, and reports the robust accuracy after each.

:class:`skrobust.attacks.FAB` is a *minimal-norm* attack: it returns, for
every point, the smallest perturbation it found that flips the prediction.
One FAB run therefore gives robust accuracy at every budget at once.

.. note::
   To keep this example under a minute on a CPU, AutoAttack runs with 20
   iterations and 500 Square queries instead of the reference's 100 and
   5,000 (``AutoAttack(clf, eps=...)`` uses the reference values).
"""

# %%
# A small convolutional network on the digits
# -------------------------------------------
# Pixels are scaled to [0, 1] and the images kept as ``(n, 1, 8, 8)``;
# :class:`skrobust.SkorchClassifier` makes the skorch network a scikit-learn
# classifier.
import matplotlib.pyplot as plt
import numpy as np
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from skorch import NeuralNetClassifier

from skrobust import SkorchClassifier
from skrobust.attacks import FAB, PGD, AutoAttack
from skrobust.metrics import RobustnessCurveDisplay
from skrobust.nn import SmallCNN

X, y = load_digits(return_X_y=True)
X = (X / 16.0).astype(np.float32).reshape(-1, 1, 8, 8)
X_train, X_test, y_train, y_test = train_test_split(
    X, y, test_size=200, stratify=y, random_state=0
)
torch.manual_seed(0)
net = NeuralNetClassifier(
    SmallCNN,
    criterion=torch.nn.CrossEntropyLoss,
    optimizer=torch.optim.Adam,
    lr=0.01,
    batch_size=64,
    max_epochs=8,
    train_split=None,
    verbose=0,
)
cnn = SkorchClassifier(net, random_state=0).fit(X_train, y_train)
print(f"clean accuracy: {cnn.score(X_test, y_test):.3f}")

# %%
# AutoAttack against PGD at the same budget
# -----------------------------------------
# ``evaluate`` returns the adversarial examples and the robust accuracy after
# each attack (``verbose=1`` prints it as it goes). Every attack starts from
# the clean images and only sees the points still robust, so the accuracy
# can only go down from stage to stage.
eps = 0.1
pgd = PGD(cnn, eps=eps, n_iter=20, bounds=(0, 1), random_state=0)
pgd_accuracy = cnn.score(pgd.generate(X_test, y_test), y_test)

autoattack = AutoAttack(
    cnn, eps=eps, bounds=(0, 1), n_iter=20, n_queries=500, random_state=0
)
report = autoattack.evaluate(X_test, y_test)
for stage, accuracy in report.robust_accuracy.items():
    print(f"{stage:>8}: {accuracy:.3f}  ({report.times.get(stage, 0):.1f} s)")
print(f"  PGD-20: {pgd_accuracy:.3f}")

fig, ax = plt.subplots(figsize=(6, 3.5))
stages = list(report.robust_accuracy)
ax.bar(stages, list(report.robust_accuracy.values()), color="tab:blue")
ax.axhline(pgd_accuracy, color="tab:orange", linestyle="--", label="PGD-20")
ax.set_ylabel("robust accuracy")
ax.set_title(f"AutoAttack, stage by stage (linf eps = {eps})")
ax.legend()
fig.tight_layout()

# %%
# A robustness curve from one FAB run
# -----------------------------------
# A minimal-norm attack exposes ``minimal_norms(X, y)``: a point is robust
# within ``eps`` exactly when its minimal norm exceeds ``eps``. The curve
# functions of :mod:`skrobust.metrics` use it, so the FAB curve below costs
# one attack, while the PGD curve attacks once per budget. The AutoAttack
# point sits at or below both curves.
norms = FAB(cnn, n_iter=50, bounds=(0, 1)).minimal_norms(X_test, y_test)
print(f"median minimal linf perturbation: {np.median(norms):.3f}")

display = RobustnessCurveDisplay.from_estimator(
    cnn,
    X_test,
    y_test,
    attack={
        "FAB (one run)": FAB(n_iter=50, bounds=(0, 1)),
        "PGD-20": PGD(eps=0.0, n_iter=20, bounds=(0, 1), random_state=0),
    },
    epsilons=np.linspace(0.0, 0.2, 11),
)
display.ax_.plot(
    [eps], [report.robust_accuracy["square"]], "k*", markersize=12, label="AutoAttack"
)
display.ax_.legend()
plt.show()
