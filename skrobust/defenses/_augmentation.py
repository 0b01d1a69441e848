"""Adversarial data augmentation: the training route of other scikit-learn models.

A model that is neither a skorch network, a linear model with a closed form,
nor a tree ensemble is refitted on its training data plus adversarial
examples, round after round. A model without gradients in the raw features
is attacked through a differentiable surrogate that mimics its predictions.
"""

import warnings

import numpy as np
from sklearn.base import clone

from .._models import NotDifferentiableError, as_differentiable
from ..utils import fit_weighted


def concat_rows(parts):
    """Stack arrays or DataFrames (the rounds' examples) row-wise."""
    if hasattr(parts[0], "iloc"):
        import pandas as pd

        return pd.concat(parts, ignore_index=True)
    return np.concatenate([np.asarray(part) for part in parts])


def attackable(model, X, surrogate=None):
    """``model`` if it has gradients in the raw space, else a surrogate of it."""
    try:
        view = as_differentiable(model)
        if view.preprocess is None or view.preprocess is view.codec:
            return model  # gradients in the raw features (or columns)
    except NotDifferentiableError:
        pass
    if surrogate is None:
        surrogate = default_surrogate(X)
    return clone(surrogate).fit(X, model.predict(X))


def default_surrogate(X):
    """A scaled logistic regression; on a DataFrame with non-numeric columns
    (strings, categories), one-hot encoded categories next to imputed and
    scaled numbers, so that attacks run in its raw columns."""
    from sklearn.compose import make_column_selector, make_column_transformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    model = LogisticRegression(max_iter=1000)
    dtypes = getattr(X, "dtypes", None)
    if dtypes is None or all(kind in "biuf" for kind in (d.kind for d in dtypes)):
        return make_pipeline(StandardScaler(), model)
    columns = make_column_transformer(
        (
            OneHotEncoder(handle_unknown="ignore"),
            make_column_selector(dtype_exclude="number"),
        ),
        (
            make_pipeline(SimpleImputer(), StandardScaler()),
            make_column_selector(dtype_include="number"),
        ),
    )
    return make_pipeline(columns, model)


def fit_augmented(
    estimator,
    X,
    y,
    attack,
    *,
    n_rounds,
    surrogate=None,
    sample_weight=None,
    verbose=0,
    desc=None,
):
    """A clone of ``estimator`` fitted on ``X`` and ``n_rounds`` of adversarial ``X``.

    Each round attacks the current model (or its surrogate) on ``X`` with a
    clone of ``attack`` and refits a fresh clone of ``estimator`` on the clean
    data and every round's examples so far (refitting on the last round's
    alone overfits to them and can leave the model less robust than standard
    training). ``sample_weight`` is repeated for every copy of ``X``.

    Returns
    -------
    model : fitted estimator
    robust : dict
        Robust accuracy on the training data under ``attack`` (weighted by
        ``sample_weight``) of the standard model (``"standard"``, read off
        the first round's examples) and of the trained one (``"trained"``,
        attacked once more); a warning is raised when training lowered it.
        Empty when ``n_rounds`` is 0.
    """
    model = fit_weighted(clone(estimator), X, y, sample_weight)
    y = np.asarray(y)
    X_all = [X]
    rounds = range(n_rounds)
    if verbose:
        from tqdm.auto import tqdm

        rounds = tqdm(rounds, desc=desc, unit="round")

    def robust_accuracy(model):
        target = attackable(model, X, surrogate)
        X_adv = clone(attack).set_params(estimator=target).fit(X).generate(X, y)
        correct = model.predict(X_adv) == y
        return X_adv, float(np.average(correct, weights=sample_weight))

    scores = {}
    for _ in rounds:
        X_adv, score = robust_accuracy(model)
        scores.setdefault("standard", score)
        X_all.append(X_adv)
        weight = None if sample_weight is None else np.tile(sample_weight, len(X_all))
        model = fit_weighted(
            clone(estimator), concat_rows(X_all), np.tile(y, len(X_all)), weight
        )
    if scores:  # the same attack on the trained model
        scores["trained"] = robust_accuracy(model)[1]
        if scores["trained"] < scores["standard"]:
            warnings.warn(
                "adversarial training lowered the robust accuracy of "
                f"{type(model).__name__} under the training attack on the "
                f"training data ({scores['standard']:.3f} -> "
                f"{scores['trained']:.3f}); the standard model is more robust. "
                "Try a smaller training eps, more rounds, or a model trained "
                "by gradient (a skorch net).",
                UserWarning,
                stacklevel=3,
            )
    return model, scores
