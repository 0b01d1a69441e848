"""
==========================================================
Certified training with interval bound propagation
==========================================================

Interval bound propagation (IBP, Gowal et al. 2018) pushes the box
``[x - eps, x + eps]`` through a network layer by layer and returns bounds
on every logit that hold for *all* inputs of the box. When the lower bound of
``z_y - z_k`` is positive for every other class ``k``, no perturbation of
size ``eps`` can change the prediction: the point is *certified*. CROWN
(Zhang et al. 2018) carries linear bounds backwards instead and is tighter.

Bounds of a standard network are loose: it certifies few points with IBP.
:class:`skrobust.certification.IBPClassifier` trains the network on its
worst-case logits (Gowal et al.'s schedule, inside skorch's own loop), which
makes the bounds tight. We compare the two on the digits, at ``eps = 0.05``
(pixels in [0, 1]), with IBP and CROWN certificates, and check the
certificates with PGD.
"""

# %%
# A standard network and a certifiably trained one
# -------------------------------------------------
# The same MLP, trained for 30 epochs: once on the clean loss, once by
# ``IBPClassifier`` (2 epochs of warm-up, then 15 epochs of ramp of the
# training budget up to ``1.1 * eps`` and of the weight of the clean loss
# down to 0.5). ``bounds=(0, 1)`` is the pixel range: the boxes are cut by it.
import matplotlib.pyplot as plt
import numpy as np
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from skorch import NeuralNetClassifier

from skrobust import SkorchClassifier
from skrobust.attacks import PGD
from skrobust.certification import IBPClassifier, certified_radius, certify
from skrobust.metrics import CertifiedAccuracyDisplay
from skrobust.nn import MLP

torch.set_num_threads(1)  # tiny networks: one thread is fastest
torch.manual_seed(0)
X, y = load_digits(return_X_y=True)
X = (X / 16.0).astype(np.float32)
X_train, X_test, y_train, y_test = train_test_split(
    X, y, test_size=0.25, stratify=y, random_state=0
)
EPS = 0.05


def make_net():
    return NeuralNetClassifier(
        MLP,
        module__hidden_layer_sizes=(128,),
        criterion=torch.nn.CrossEntropyLoss,
        optimizer=torch.optim.Adam,
        lr=0.005,
        batch_size=64,
        max_epochs=30,
        train_split=None,
        verbose=0,
    )


standard = SkorchClassifier(make_net(), random_state=0).fit(X_train, y_train)
certified = IBPClassifier(make_net(), eps=EPS, bounds=(0, 1), random_state=0)
certified.fit(X_train, y_train)

# %%
# Certified accuracy at eps = 0.05
# --------------------------------
# :func:`~skrobust.certification.certify` works on any fitted model made of
# supported layers. ``method`` picks the bound: ``"ibp"`` (about two forward
# passes), ``"crown-ibp"`` (CROWN's backward pass for the output, interval
# bounds inside) or ``"crown"`` (CROWN everywhere). PGD (50 steps, 5
# restarts) gives the other side: an upper bound of robust accuracy.
attack = PGD(eps=EPS, bounds=(0, 1), n_iter=50, n_restarts=5, random_state=0)
print(f"{'':9}{'clean':>7}{'IBP':>7}{'CROWN-IBP':>11}{'CROWN':>7}{'PGD':>7}")
for name, model in [("standard", standard), ("IBP", certified)]:
    row = [model.score(X_test, y_test)]
    for method in ("ibp", "crown-ibp", "crown"):
        ok = certify(model, X_test, y_test, eps=EPS, bounds=(0, 1), method=method)
        row.append(ok.mean())
    X_adv = attack.set_params(estimator=model).generate(X_test, y_test)
    row.append(model.score(X_adv, y_test))
    print(f"{name:9}" + "".join(f"{v:>{w}.1%}" for v, w in zip(row, (7, 7, 11, 7, 7))))

# %%
# A certified point is never broken: every certified test point keeps its
# class under the attack.
ok = certified.certify(X_test, y_test)
X_adv = attack.set_params(estimator=certified).generate(X_test[ok], y_test[ok])
broken = int((certified.predict(X_adv) != y_test[ok]).sum())
print(f"{ok.sum()} certified test points, {broken} broken by PGD")

# %%
# Certified accuracy against the radius
# -------------------------------------
# :func:`~skrobust.certification.certified_radius` finds each point's largest
# certified radius by bisection on ``eps`` (NaN for misclassified points),
# which gives the whole curve at once.
fig, ax = plt.subplots(figsize=(6, 4))
for name, model, style in [("standard", standard, ":"), ("IBP", certified, "-")]:
    for method, color in (("ibp", "tab:blue"), ("crown", "tab:orange")):
        radius = certified_radius(
            model, X_test, y_test, bounds=(0, 1), method=method, max_eps=0.2, tol=2e-3
        )
        CertifiedAccuracyDisplay.from_predictions(
            y_test,
            y_test,  # a NaN radius marks the misclassified points
            radius,
            radii=np.linspace(0, 0.2, 41),
            name=f"{name} net, {method.upper()}",
            norm="linf",
            ax=ax,
            linestyle=style,
            color=color,
        )
ax.axvline(EPS, color="grey", linewidth=0.8)
ax.set_title("Digits MLP: certified accuracy (l-inf)")
plt.show()
