"""Exact torch views of scikit-learn's linear classifiers."""

import numpy as np
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
from sklearn.linear_model import LogisticRegression, RidgeClassifier, SGDClassifier
from sklearn.svm import LinearSVC

from .._torch import torch
from ._base import check_converted_fitted, constant, to_torch


def binary_logits(decision):
    """Two logits ``[-d/2, d/2]`` from a binary decision value ``d``.

    Their softmax is ``[1 - sigmoid(d), sigmoid(d)]`` and their margin is ``d``.
    """
    decision = decision.reshape(len(decision), -1)[:, :1]
    return torch.cat([-0.5 * decision, 0.5 * decision], dim=1)


def frozen_linear(weight, bias, *, dtype, device):
    """A ``torch.nn.Linear`` holding ``weight`` and ``bias`` without gradients.

    Unlike :func:`linear_layer` it never turns a one-row weight into two
    logits (a hidden layer may have one unit).
    """
    weight = constant(weight, dtype=dtype, device=device)
    bias = constant(bias, dtype=dtype, device=device)
    # skip_init: no random initialisation, so the global torch RNG is untouched
    layer = torch.nn.utils.skip_init(
        torch.nn.Linear,
        weight.shape[1],
        weight.shape[0],
        device=weight.device,
        dtype=weight.dtype,
    )
    with torch.no_grad():
        layer.weight.copy_(weight)
        layer.bias.copy_(bias)
    return layer.requires_grad_(False)


def linear_layer(coef, intercept, *, dtype, device):
    """A ``torch.nn.Linear`` with frozen weights giving ``X @ coef.T + intercept``.

    A binary model (one row of ``coef``) becomes the two-logit layer
    ``[-d/2, d/2]`` directly, so interval and linear bound methods see a plain
    linear layer.
    """
    weight = np.asarray(coef).reshape(-1, coef.shape[-1])
    bias = np.broadcast_to(np.asarray(intercept).reshape(-1), weight.shape[:1]).copy()
    if weight.shape[0] == 1:  # halving is exact in any float dtype
        weight = np.concatenate([-0.5 * weight, 0.5 * weight])
        bias = np.concatenate([-0.5 * bias, 0.5 * bias])
    return frozen_linear(weight, bias, dtype=dtype, device=device)


@to_torch.register(LogisticRegression)
@to_torch.register(SGDClassifier)
@to_torch.register(LinearSVC)
@to_torch.register(RidgeClassifier)
@to_torch.register(LinearDiscriminantAnalysis)
def _linear_classifier(estimator, *, dtype, device):
    check_converted_fitted(estimator, "coef_")
    coef = estimator.coef_.reshape(-1, estimator.coef_.shape[-1])  # 1-D if binary
    if coef.shape[0] not in (1, len(estimator.classes_)):
        raise ValueError(
            f"{type(estimator).__name__} has {coef.shape[0]} rows in "
            f"coef_ for {len(estimator.classes_)} classes; expected 1 (binary) "
            "or one per class."
        )
    return linear_layer(coef, estimator.intercept_, dtype=dtype, device=device)
