"""Exact torch view of scikit-learn's ``MLPClassifier``."""

from sklearn.neural_network import MLPClassifier

from .._torch import torch
from ._base import NotDifferentiableError, check_converted_fitted, to_torch
from ._linear import frozen_linear, linear_layer

# scikit-learn's hidden-layer activations and their torch modules.
ACTIVATIONS = {
    "identity": torch.nn.Identity,
    "logistic": torch.nn.Sigmoid,
    "tanh": torch.nn.Tanh,
    "relu": torch.nn.ReLU,
}


@to_torch.register(MLPClassifier)
def _mlp_classifier(estimator, *, dtype, device):
    """``MLPClassifier`` as an ``nn.Sequential`` of frozen linear layers.

    Hidden layers are ``nn.Linear`` followed by the estimator's activation
    module; the output layer gives logits whose softmax is ``predict_proba``
    (binary: the two logits ``[-z/2, z/2]`` of the single logistic unit).
    """
    check_converted_fitted(estimator, "coefs_")
    if estimator.out_activation_ != "softmax" and estimator.n_outputs_ > 1:
        raise NotDifferentiableError(
            f"this MLPClassifier was fitted on multilabel targets "
            f"({estimator.n_outputs_} independent logistic outputs), which has "
            "no single logit vector per sample. Fit one classifier per label "
            "(or a multiclass target) to get a differentiable view."
        )
    if estimator.activation not in ACTIVATIONS:
        raise NotDifferentiableError(
            f"MLPClassifier activation {estimator.activation!r} is not supported; "
            f"expected one of {sorted(ACTIVATIONS)}."
        )
    *hidden, last = zip(estimator.coefs_, estimator.intercepts_)
    layers = []
    for coef, intercept in hidden:
        layers.append(frozen_linear(coef.T, intercept, dtype=dtype, device=device))
        layers.append(ACTIVATIONS[estimator.activation]())
    # One output unit (binary) becomes the two logits [-z/2, z/2].
    layers.append(linear_layer(last[0].T, last[1], dtype=dtype, device=device))
    return torch.nn.Sequential(*layers)
