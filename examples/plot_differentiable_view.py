"""
=====================================================
The differentiable view of a scikit-learn pipeline
=====================================================

skrobust turns a fitted estimator into a torch function ``x -> logits`` that is
differentiable in the **raw input features**: the *differentiable view* that
every white-box attack and certificate works with. Here we convert a
``StandardScaler`` + ``LogisticRegression`` pipeline trained on the breast
cancer data, check that the view reproduces the pipeline's
``decision_function``, and look at the input gradient of a few samples.
"""

# %%
# Fit a pipeline
# --------------
import matplotlib.pyplot as plt
import numpy as np
import torch
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skrobust import as_differentiable

data = load_breast_cancer()
X_train, X_test, y_train, y_test = train_test_split(
    data.data, data.target, stratify=data.target, random_state=0
)
clf = make_pipeline(StandardScaler(), LogisticRegression()).fit(X_train, y_train)
print(f"test accuracy: {clf.score(X_test, y_test):.3f}")

# %%
# The view
# --------
# :func:`skrobust.as_differentiable` composes the scaler and the linear model
# into one torch module. For a binary model the two logits are ``[-d/2, d/2]``,
# so their difference is the decision function ``d``.
view = as_differentiable(clf)
print(view)

logits = view.logits(X_test)
decision = logits[:, 1] - logits[:, 0]
print(
    "max |view - decision_function| =",
    np.abs(decision - clf.decision_function(X_test)).max(),
)
np.testing.assert_allclose(
    decision, clf.decision_function(X_test), rtol=1e-5, atol=1e-8
)

# %%
# Gradients with respect to the raw features
# ------------------------------------------
# Because the scaler is part of the view, the gradient is taken with respect to
# the features as the user holds them. Its size shows which raw features a
# small perturbation moves the decision with most, per unit of the feature.
x = view.to_input(X_test[:4]).requires_grad_()
with view.evaluating():
    logits = view(x)
    margin = logits[:, 1] - logits[:, 0]
    (grad,) = torch.autograd.grad(margin.sum(), x)
grad = grad.abs().cpu().numpy()

fig, ax = plt.subplots(figsize=(8, 4))
positions = np.arange(X_test.shape[1])
width = 0.2
for i, g in enumerate(grad):
    ax.bar(positions + (i - 1.5) * width, g, width=width, label=f"sample {i}")
ax.set_yscale("log")
ax.set_xticks(positions)
ax.set_xticklabels(data.feature_names, rotation=90, fontsize=7)
ax.set_ylabel("|d decision / d raw feature|")
ax.set_title("Input-gradient magnitude through StandardScaler + LogisticRegression")
ax.legend(fontsize=8)
fig.tight_layout()
plt.show()

# %%
# For a linear model the gradient is the same for every sample:
# ``coef_ / scale_``. Features measured on a small scale (smoothness,
# fractal dimension) get the largest gradients, which is why attacks on tabular
# data usually set a budget per feature (``eps`` as an array) rather than one
# number for all.
expected = clf[-1].coef_[0] / clf[0].scale_
np.testing.assert_allclose(grad[0], np.abs(expected), rtol=1e-6)
