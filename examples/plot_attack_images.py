"""
==========================================
FGSM and PGD on a small image classifier
==========================================

Attacks in skrobust are scikit-learn transformers. Here we train a small
convolutional network (:class:`skrobust.nn.SmallCNN`, wrapped as a
scikit-learn classifier by :class:`skrobust.SkorchClassifier`) on
scikit-learn's 8x8 digits, attack it with :class:`skrobust.attacks.FGSM` and
:class:`skrobust.attacks.PGD` at several l-infinity budgets, and plot its
robust accuracy against the budget, then a few adversarial images.
"""

# %%
# Train a small CNN on the digits
# -------------------------------
# Pixels are scaled to [0, 1] and shaped as images ``(n_samples, channels,
# height, width)``. :class:`skrobust.SkorchClassifier` takes such arrays as
# they are and returns the labels from ``predict``.
import matplotlib.pyplot as plt
import numpy as np
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from skorch import NeuralNetClassifier

from skrobust import SkorchClassifier
from skrobust.attacks import FGSM, PGD
from skrobust.nn import SmallCNN

X, y = load_digits(return_X_y=True)
X = (X / 16.0).reshape(-1, 1, 8, 8)
X_train, X_test, y_train, y_test = train_test_split(
    X, y, test_size=300, stratify=y, random_state=0
)

net = NeuralNetClassifier(
    SmallCNN,
    module__channels=(8, 16),
    criterion=torch.nn.CrossEntropyLoss,
    optimizer=torch.optim.Adam,
    lr=0.01,
    max_epochs=8,
    batch_size=64,
    train_split=None,
    verbose=0,
)
clf = SkorchClassifier(net, random_state=0).fit(X_train, y_train)
print(f"clean test accuracy: {clf.score(X_test, y_test):.3f}")

# %%
# Attack at several budgets
# -------------------------
# ``generate(X, y)`` attacks the true labels; ``transform(X)`` would attack the
# model's own predictions instead, without labels. ``bounds=(0, 1)`` keeps the
# adversarial images valid images. ``eps`` is the l-infinity budget in pixel
# units: 0.1 lets every pixel move by a tenth of the full intensity range.
# PGD takes ``n_iter`` steps of ``2.5 * eps / n_iter`` from a random point of
# the ball; ``random_state`` makes it reproducible.
epsilons = [0.0, 0.025, 0.05, 0.1, 0.15, 0.2, 0.3]
fgsm_acc, pgd_acc = [], []
for eps in epsilons:
    fgsm = FGSM(clf, eps=eps, bounds=(0.0, 1.0))
    pgd = PGD(clf, eps=eps, n_iter=10, bounds=(0.0, 1.0), random_state=0)
    fgsm_acc.append(clf.score(fgsm.generate(X_test, y_test), y_test))
    pgd_acc.append(clf.score(pgd.generate(X_test, y_test), y_test))
    print(f"eps={eps:<6} FGSM {fgsm_acc[-1]:.3f}   PGD-10 {pgd_acc[-1]:.3f}")

# %%
# PGD, the iterative attack, is at least as strong as the one-step FGSM at
# every budget: an undefended network loses most of its accuracy to
# perturbations far smaller than the gap between two digits.
fig, ax = plt.subplots(figsize=(5, 3.5))
ax.plot(epsilons, fgsm_acc, "o-", label="FGSM")
ax.plot(epsilons, pgd_acc, "s-", label="PGD, 10 steps")
ax.set_xlabel("l-infinity budget eps (pixel intensity)")
ax.set_ylabel("robust accuracy")
ax.set_ylim(0, 1.02)
ax.grid(alpha=0.3)
ax.legend()
ax.set_title("SmallCNN on digits")
fig.tight_layout()

# %%
# What the adversarial images look like
# -------------------------------------
# The output of an attack has the input's shape and dtype, so it goes straight
# back into ``predict``. Each column shows a clean test image, the perturbation
# PGD found (at most ``eps`` per pixel) and the adversarial image, with the
# network's prediction above each image.
eps = 0.15
pgd = PGD(clf, eps=eps, n_iter=10, bounds=(0.0, 1.0), random_state=0)
shown = X_test[:6]
X_adv = pgd.generate(shown, y_test[:6])
assert X_adv.shape == shown.shape and X_adv.dtype == shown.dtype
assert np.abs(X_adv - shown).max() <= eps + 1e-6
assert X_adv.min() >= 0.0 and X_adv.max() <= 1.0
clean_pred, adv_pred = clf.predict(shown), clf.predict(X_adv)

fig, axes = plt.subplots(3, len(shown), figsize=(1.6 * len(shown), 5.2))
for j in range(len(shown)):
    delta = X_adv[j, 0] - shown[j, 0]
    axes[0, j].imshow(shown[j, 0], cmap="gray_r", vmin=0, vmax=1)
    axes[0, j].set_title(f"clean: {clean_pred[j]}")
    axes[1, j].imshow(delta, cmap="RdBu_r", vmin=-eps, vmax=eps)
    axes[1, j].set_title("perturbation")
    axes[2, j].imshow(X_adv[j, 0], cmap="gray_r", vmin=0, vmax=1)
    axes[2, j].set_title(f"adv: {adv_pred[j]}")
for ax in axes.ravel():
    ax.set_xticks([])
    ax.set_yticks([])
fig.suptitle(f"PGD, l-infinity eps = {eps}")
fig.tight_layout()
plt.show()
