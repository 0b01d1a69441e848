"""Adversarial training of a network behind a ``ColumnTransformer``, in raw columns.

A ``Pipeline`` whose first step reads raw tabular columns (a
``ColumnTransformer`` or an encoder) and whose final step is a network
trained by gradient (``MLPClassifier`` or a :class:`skrobust.SkorchClassifier`)
is trained epoch by epoch: the preprocessing is fitted once on the clean
rows, the network trains one clean epoch, then before every further epoch
the training attack (white-box, through the differentiable view of the
pipeline) perturbs the raw rows against the current weights, with the
categorical / integer / one-hot constraints repaired inside its loop, and
the network trains one epoch on the transformed adversarial rows.
"""

import numpy as np
from sklearn.base import clone
from sklearn.compose import ColumnTransformer
from sklearn.neural_network import MLPClassifier
from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder

from .._models import NotDifferentiableError, as_differentiable
from .._skorch import SkorchClassifier, weighted_input


def reads_raw_columns(estimator):
    """Whether ``estimator`` starts with a step reading raw tabular columns
    by name (a ``ColumnTransformer`` or an encoder): strings and categories
    are then valid inputs, which attacks perturb in those raw columns."""
    steps = getattr(estimator, "steps", None)
    first = steps[0][1] if steps else estimator
    return isinstance(first, (ColumnTransformer, OneHotEncoder, OrdinalEncoder))


def raw_gradient_supported(estimator):
    """Whether ``estimator`` is a raw-column pipeline ending in a network that
    trains epoch by epoch (``MLPClassifier`` with a stochastic solver, or a
    ``SkorchClassifier``)."""
    steps = getattr(estimator, "steps", None)
    if not steps or len(steps) < 2 or not reads_raw_columns(estimator):
        return False
    final = steps[-1][1]
    if isinstance(final, MLPClassifier):
        return final.solver in ("sgd", "adam")
    return isinstance(final, SkorchClassifier)


def _n_epochs(final):
    if isinstance(final, MLPClassifier):
        return final.max_iter
    return final.net.max_epochs


def _train_epoch(final, Z, y, sample_weight, classes):
    """One epoch of ``final`` on the encoded rows ``Z`` (the first fits it)."""
    if isinstance(final, MLPClassifier):
        first = not hasattr(final, "coefs_")
        final.partial_fit(
            Z, y, sample_weight=sample_weight, classes=classes if first else None
        )
        return
    if not hasattr(final, "net_"):  # one epoch of the net's own fit
        max_epochs = final.net.max_epochs
        final.net.set_params(max_epochs=1)
        try:
            final.fit(Z, y, sample_weight=sample_weight)
        finally:
            final.net.set_params(max_epochs=max_epochs)
        return
    Z = np.asarray(Z, dtype=final.dtype)
    targets = final._encode_labels(y)[1]
    if sample_weight is not None:
        Z = weighted_input(Z, sample_weight.astype(final.dtype))
    final.net_.partial_fit(Z, targets, epochs=1)


def fit_raw_gradient(estimator, X, y, attack, *, sample_weight=None, verbose=0):
    """Train a clone of the pipeline ``estimator`` against ``attack`` in raw columns.

    Returns the fitted pipeline and the robust accuracy on the training rows
    under the training attack before each adversarial epoch (``"epochs"``),
    or ``None`` when the fitted pipeline has no differentiable view (then
    train it by augmentation).
    """
    model = clone(estimator)
    front, final = model[:-1], model.steps[-1][1]
    y = np.asarray(y)
    classes = np.unique(y)
    Z = front.fit_transform(X, y)
    _train_epoch(final, Z, y, sample_weight, classes)
    try:
        view = as_differentiable(model)
    except NotDifferentiableError:
        return None
    if view.preprocess is not None and view.preprocess is not view.codec:
        return None  # a step without gradients: no attack in raw columns
    epochs = range(1, _n_epochs(final))
    if verbose:
        from tqdm.auto import tqdm

        epochs = tqdm(epochs, desc="adversarial epochs", unit="epoch")
    scores = []
    for _ in epochs:
        # the attack reads the current weights (a fresh view per generate)
        X_adv = clone(attack).set_params(estimator=model).fit(X).generate(X, y)
        correct = model.predict(X_adv) == y
        scores.append(float(np.average(correct, weights=sample_weight)))
        _train_epoch(final, front.transform(X_adv), y, sample_weight, classes)
    return model, {"epochs": scores}
