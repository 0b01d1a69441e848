"""
===============================================
Four certificates of one network, side by side
===============================================

A certificate proves that no perturbation within a radius changes a
prediction. skrobust has four, and they trade cost for tightness:

* the **Lipschitz** bound: the margin divided by the margin's Lipschitz
  constant, one forward pass;
* **IBP** and **CROWN**: bounds propagated through the layers over the
  ball, a few forward passes per radius (bisection gives the largest);
* **MILP**: the exact minimal adversarial distance of a ReLU network, by
  mixed-integer programming, seconds per sample;
* **randomized smoothing**: a probabilistic l2 certificate of the *smoothed*
  network (the majority vote under Gaussian noise), converted here to l-inf
  by ``||d||_2 <= sqrt(64) ||d||_inf``.

We certify one small digits MLP (16 ReLUs) under l-inf perturbations (pixels in
[0, 1]) with all four and plot certified accuracy against the radius: the
fraction of test samples whose certified radius is at least ``r``.
"""

# %%
# One network
# -----------
import matplotlib.pyplot as plt
import numpy as np
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from skorch import NeuralNetClassifier

from skrobust import SkorchClassifier
from skrobust.certification import (
    RandomizedSmoothingClassifier,
    certified_radius,
    lipschitz,
    mip,
)
from skrobust.nn import MLP

X, y = load_digits(return_X_y=True)
X = (X / 16).astype(np.float32)
X_train, X_test, y_train, y_test = train_test_split(
    X, y, test_size=0.25, stratify=y, random_state=0
)
net = NeuralNetClassifier(
    MLP,
    module__hidden_layer_sizes=(16,),
    criterion=torch.nn.CrossEntropyLoss,
    optimizer=torch.optim.Adam,
    lr=0.01,
    max_epochs=20,
    train_split=None,
    verbose=0,
)
clf = SkorchClassifier(net, random_state=0).fit(X_train, y_train)
X_eval, y_eval = X_test[:40], y_test[:40]
print(f"clean accuracy on the {len(y_eval)} samples: {clf.score(X_eval, y_eval):.2f}")

# %%
# Four radii per sample
# ---------------------
# Each certificate returns a radius per sample (NaN or -1 where the sample is
# misclassified). MILP's is the exact distance to the nearest point where
# another class ties; the others are lower bounds of it.
radii = {
    "Lipschitz": lipschitz.certified_radius(clf, X_eval, y_eval, norm="linf"),
    "IBP": certified_radius(
        clf, X_eval, y_eval, bounds=(0, 1), method="ibp", max_eps=0.15
    ),
    "CROWN": certified_radius(
        clf, X_eval, y_eval, bounds=(0, 1), method="crown", max_eps=0.15
    ),
    "MILP (exact)": mip.certified_radius(
        clf, X_eval, y_eval, bounds=(0, 1), max_eps=0.15, time_limit=20
    ),
}
smooth = RandomizedSmoothingClassifier(
    clf, sigma=0.25, prefit=True, n_samples=1000, random_state=0
).fit(X_train, y_train)
y_smooth, r_l2 = smooth.certify(X_eval)
radii["smoothing (l2 / 8)"] = np.where(y_smooth == y_eval, r_l2 / 8, np.nan)

# %%
# Certified accuracy against the radius
# -------------------------------------
# Sound certificates never exceed the exact curve (except smoothing, which
# certifies a different classifier, the smoothed one).
grid = np.linspace(0, 0.15, 76)
fig, ax = plt.subplots(figsize=(6, 4))
for name, radius in radii.items():
    radius = np.nan_to_num(np.asarray(radius, dtype=float), nan=-1.0)
    ax.plot(grid, [(radius >= r).mean() for r in grid], label=name)
ax.set_xlabel("l-inf radius")
ax.set_ylabel("certified accuracy")
ax.legend()
ax.set_title("One digits MLP, four certificates")
plt.show()

exact = np.nan_to_num(radii["MILP (exact)"], nan=-1.0)
for name in ("Lipschitz", "IBP", "CROWN"):
    bound = np.nan_to_num(np.asarray(radii[name], dtype=float), nan=-1.0)
    print(
        f"{name:9s} radius <= exact radius on every sample: "
        f"{bool(np.all(bound <= exact + 1e-6))}"
    )
