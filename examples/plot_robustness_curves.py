"""
====================================================
Robustness curves and adversarial examples of models
====================================================

How fast does a model's accuracy fall as the attacker's budget grows? A
*robustness curve* plots robust accuracy against the perturbation budget
``eps``. :class:`skrobust.metrics.RobustnessCurveDisplay` computes and draws
it in scikit-learn's Display pattern: ``from_estimator`` attacks a fitted
model at every budget (one line per attack), and a second model's curves go
on the same axes with ``ax=display.ax_``.

Here we compare a small convolutional network and a multi-layer perceptron
trained on scikit-learn's 8x8 digits, under the one-step FGSM and the
iterative PGD attacks, then look at the adversarial images with
:class:`skrobust.metrics.AdversarialExamplesDisplay`.
"""

# %%
# Two small networks on the digits
# --------------------------------
# Pixels are scaled to [0, 1]. The CNN takes images ``(n, 1, 8, 8)``, the MLP
# the flat 64 pixels; :class:`skrobust.SkorchClassifier` makes both
# scikit-learn classifiers.
import matplotlib.pyplot as plt
import numpy as np
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from skorch import NeuralNetClassifier

from skrobust import SkorchClassifier
from skrobust.attacks import FGSM, PGD
from skrobust.metrics import AdversarialExamplesDisplay, RobustnessCurveDisplay
from skrobust.nn import MLP, SmallCNN

X, y = load_digits(return_X_y=True)
X = (X / 16.0).astype(np.float32)
X_train, X_test, y_train, y_test = train_test_split(
    X, y, test_size=200, stratify=y, random_state=0
)
images_train, images_test = X_train.reshape(-1, 1, 8, 8), X_test.reshape(-1, 1, 8, 8)


def small_net(module, **params):
    net = NeuralNetClassifier(
        module,
        criterion=torch.nn.CrossEntropyLoss,
        optimizer=torch.optim.Adam,
        lr=0.01,
        batch_size=64,
        train_split=None,
        verbose=0,
        **params,
    )
    return SkorchClassifier(net, random_state=0)


cnn = small_net(SmallCNN, module__channels=(8, 16), max_epochs=8)
cnn.fit(images_train, y_train)
mlp = small_net(MLP, module__hidden_layer_sizes=(64,), max_epochs=15)
mlp.fit(X_train, y_train)
print(f"clean accuracy: CNN {cnn.score(images_test, y_test):.3f}, ", end="")
print(f"MLP {mlp.score(X_test, y_test):.3f}")

# %%
# Robustness curves: FGSM against PGD, CNN against MLP
# -----------------------------------------------------
# ``attack`` takes one attack or a dict ``{label: attack}``; each attack's
# ``eps`` is replaced by every budget in ``epsilons`` (l-infinity, in pixel
# units here), and ``bounds=(0, 1)`` keeps the images valid. The curves come
# from :func:`skrobust.metrics.robustness_curve`: budgets are swept in
# increasing order and a point broken at a small budget counts as broken at
# every larger one, so each curve only goes down. ``worst_case=True`` would
# add the pointwise worst case over the attacks.
#
# The second call draws on the first display's axes: that is how models are
# compared on one plot.
attacks = {
    "FGSM": FGSM(eps=0.0, bounds=(0.0, 1.0)),
    "PGD-10": PGD(eps=0.0, n_iter=10, bounds=(0.0, 1.0), random_state=0),
}
epsilons = [0.0, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2]

display = RobustnessCurveDisplay.from_estimator(
    cnn, images_test, y_test, attack=attacks, epsilons=epsilons, name="CNN"
)
RobustnessCurveDisplay.from_estimator(
    mlp,
    X_test,
    y_test,
    attack=attacks,
    epsilons=epsilons,
    name="MLP",
    ax=display.ax_,
    linestyle="--",
)
display.ax_.set_title("Robust accuracy on the digits test set")
display.ax_.grid(alpha=0.3)

# %%
# Every display keeps its numbers: ``epsilons``, ``robust_accuracy`` (one
# array per attack) and the names. PGD is at least as strong as FGSM at every
# budget; neither undefended network survives a budget of a tenth of the
# pixel range.
for label, accuracy in zip(display.attack_name, display.robust_accuracy):
    print(f"CNN, {label:7s}", np.round(accuracy, 3))

# %%
# The same curve from numbers computed beforehand
# -----------------------------------------------
# :meth:`~skrobust.metrics.RobustnessCurveDisplay.from_curve` plots a curve
# you already have, e.g. from :func:`~skrobust.metrics.robustness_curve` or a
# published table.
curve = RobustnessCurveDisplay.from_curve(
    display.epsilons,
    display.robust_accuracy[1],
    name="CNN",
    attack_name="PGD-10",
    norm="linf",
)

# %%
# What the adversarial images look like
# -------------------------------------
# :class:`~skrobust.metrics.AdversarialExamplesDisplay` attacks the first
# ``n_examples`` test images and shows each clean image (titled with the
# prediction and the true label), the perturbation (a diverging colormap
# centred on 0) and the adversarial image (its prediction in red when wrong).
# It takes images ``(n, 1, H, W)``, ``(n, H, W)``, ``(n, H, W, 3)`` or flat
# pixels with ``image_shape``, as for the MLP below.
pgd = PGD(eps=0.15, n_iter=10, bounds=(0.0, 1.0), random_state=0)
AdversarialExamplesDisplay.from_estimator(
    cnn,
    images_test,
    y_test,
    attack=pgd,
    n_examples=8,
    cmap="gray_r",
    name="CNN: PGD-10, l-infinity eps = 0.15",
)

# %%
AdversarialExamplesDisplay.from_estimator(
    mlp,
    X_test,
    y_test,
    attack=pgd,
    n_examples=8,
    image_shape=(8, 8),
    cmap="gray_r",
    name="MLP: PGD-10, l-infinity eps = 0.15",
)
plt.show()
