"""Readers of scikit-learn's tree models: their trees in the model's own units.

:func:`read_trees` is a :func:`functools.singledispatch` registry (register a
reader for another tree model with ``@read_trees.register(MyModel)``). A
reader returns a :class:`ModelTrees`: every tree's nodes, each leaf's
contribution to the class scores, the constant base score, how the model
compares (float32 casts) and how it breaks ties, so that
``argmax(base + sum of the leaves reached)`` is the model's ``predict``.
"""

import functools

import numpy as np
from sklearn.dummy import DummyClassifier
from sklearn.ensemble import (
    ExtraTreesClassifier,
    GradientBoostingClassifier,
    HistGradientBoostingClassifier,
    RandomForestClassifier,
)
from sklearn.tree import BaseDecisionTree
from sklearn.utils.validation import check_is_fitted

from .._steps import pipeline_steps


class Tree:
    """One tree's nodes (arrays indexed by node id; the root is node 0).

    Parameters
    ----------
    feature : ndarray of int
        The column a node tests; -1 at leaves.
    threshold : ndarray of float64
        Numeric nodes send ``x <= threshold`` left.
    left, right : ndarray of int
        Children (-1 at leaves).
    value : ndarray of shape (n_nodes, n_classes)
        A leaf's contribution to the class scores.
    missing_left : ndarray of bool, default=None
        Where a missing value (NaN) goes.
    category_left : dict, default=None
        Categorical nodes: node id -> boolean mask of the categories (codes
        in the model's units, category indices in raw units) sent left.
    """

    def __init__(
        self,
        feature,
        threshold,
        left,
        right,
        value,
        missing_left=None,
        category_left=None,
    ):
        self.feature = np.asarray(feature, dtype=np.intp)
        self.threshold = np.asarray(threshold, dtype=np.float64)
        self.left = np.asarray(left, dtype=np.intp)
        self.right = np.asarray(right, dtype=np.intp)
        self.value = np.asarray(value, dtype=np.float64)
        n = len(self.feature)
        self.missing_left = (
            np.zeros(n, dtype=bool)
            if missing_left is None
            else np.asarray(missing_left, dtype=bool)
        )
        self.category_left = dict(category_left or {})
        self.feature[self.left < 0] = -1

    @property
    def n_nodes(self):
        return len(self.feature)

    @property
    def is_leaf(self):
        return self.feature < 0


class ModelTrees:
    """What a reader returns (see :func:`read_trees`).

    Attributes
    ----------
    trees : list of Tree
        In the model's input units (thresholds as stored by the model).
    base : ndarray of shape (n_classes,)
        Constant score added to the leaves' contributions.
    classes : ndarray
    cast : numpy dtype or None
        The dtype the model casts its input to before comparing (float32 for
        scikit-learn's ``DecisionTree``-based models).
    tie_order : ndarray of int of shape (n_classes,)
        Among classes of equal score, the one of smallest order is predicted.
    score : str
        What the scores are (``"probability"`` or ``"raw"``).
    n_features : int
        Number of input columns of the model.
    steps : list of transformers
        Preprocessing the model applies itself before its trees (the
        categorical encoder of ``HistGradientBoostingClassifier``).
    weight : float
        The scores are ``(base + sum of the leaves reached) * weight`` (a
        forest's average: ``1 / n_trees``), summed in tree order as the model
        does.
    """

    def __init__(
        self,
        trees,
        base,
        classes,
        *,
        cast,
        n_features,
        score,
        tie_order=None,
        steps=(),
        weight=1.0,
    ):
        self.trees = trees
        self.weight = float(weight)
        self.steps = list(steps)
        self.base = np.asarray(base, dtype=np.float64)
        self.classes = np.asarray(classes)
        self.cast = cast
        self.n_features = int(n_features)
        self.score = score
        k = len(self.base)
        self.tie_order = np.arange(k) if tie_order is None else np.asarray(tie_order)


@functools.singledispatch
def read_trees(estimator):
    """The trees of a fitted tree model, in its own input units.

    Parameters
    ----------
    estimator : fitted classifier
        ``DecisionTreeClassifier``, ``ExtraTreeClassifier``,
        ``RandomForestClassifier``, ``ExtraTreesClassifier``,
        ``GradientBoostingClassifier``, ``HistGradientBoostingClassifier``, or
        a model registered with ``@read_trees.register``.

    Returns
    -------
    model_trees : ModelTrees
    """
    raise TypeError(
        f"{type(estimator).__name__} is not a tree model skrobust can read; "
        "supported: DecisionTreeClassifier, ExtraTreeClassifier, "
        "RandomForestClassifier, ExtraTreesClassifier, GradientBoostingClassifier, "
        "HistGradientBoostingClassifier (register others with "
        "`@read_trees.register`)."
    )


def is_tree_model(estimator):
    """Whether ``estimator`` (or the last step of its pipeline) is a tree model
    :func:`read_trees` reads."""
    final = pipeline_steps(estimator)[-1][1]
    return read_trees.dispatch(type(final)) is not read_trees.dispatch(object)


def _single_output(estimator):
    if getattr(estimator, "n_outputs_", 1) != 1:
        raise ValueError(
            f"multi-output {type(estimator).__name__} is not supported; fit one "
            "classifier per output."
        )


def _sklearn_tree(t, value, missing=True):
    return Tree(
        t.feature,
        t.threshold,
        t.children_left,
        t.children_right,
        value,
        missing_left=t.missing_go_to_left if missing else None,
    )


def _probability_tree(tree, n_classes):
    t = tree.tree_
    value = t.value[:, 0, :n_classes].astype(np.float64)
    total = value.sum(axis=1, keepdims=True)
    value = np.divide(value, total, out=np.zeros_like(value), where=total > 0)
    return _sklearn_tree(t, value)


@read_trees.register(BaseDecisionTree)
def _read_decision_tree(estimator):
    check_is_fitted(estimator)
    _single_output(estimator)
    if not hasattr(estimator, "classes_"):
        raise TypeError(f"{type(estimator).__name__} is a regressor, not a classifier.")
    k = len(estimator.classes_)
    return ModelTrees(
        [_probability_tree(estimator, k)],
        np.zeros(k),
        estimator.classes_,
        cast=np.float32,
        n_features=estimator.n_features_in_,
        score="probability",
    )


@read_trees.register(RandomForestClassifier)
@read_trees.register(ExtraTreesClassifier)
def _read_forest(estimator):
    check_is_fitted(estimator)
    _single_output(estimator)
    k = len(estimator.classes_)
    n = len(estimator.estimators_)
    return ModelTrees(
        [_probability_tree(tree, k) for tree in estimator.estimators_],
        np.zeros(k),
        estimator.classes_,
        cast=np.float32,
        n_features=estimator.n_features_in_,
        score="probability",
        weight=1.0 / n,
    )


@read_trees.register(GradientBoostingClassifier)
def _read_gradient_boosting(estimator):
    check_is_fitted(estimator)
    init = estimator.init_
    constant = isinstance(init, str) and init == "zero"
    if isinstance(init, DummyClassifier):
        constant = init.strategy in ("prior", "most_frequent", "constant")
    if not constant:
        raise ValueError(
            "GradientBoostingClassifier with a non-constant `init` estimator "
            f"({type(init).__name__}) is not a sum of trees; use init=None."
        )
    k = len(estimator.classes_)
    lr = estimator.learning_rate
    stages = estimator.estimators_
    binary = stages.shape[1] == 1
    trees = []
    for stage in stages:
        for c, reg in enumerate(stage):
            raw = reg.tree_.value[:, 0, 0].astype(np.float64) * lr
            value = np.zeros((len(raw), k))
            value[:, 1 if binary else c] = raw
            trees.append(_sklearn_tree(reg.tree_, value))
    zero = np.zeros((1, estimator.n_features_in_))
    probe = zero
    names = getattr(estimator, "feature_names_in_", None)
    if names is not None:
        import pandas as pd

        probe = pd.DataFrame(zero, columns=names)
    decision = np.atleast_1d(estimator.decision_function(probe).ravel())
    leaves = sum(_leaf_values(t, zero) for t in trees)[0]
    if binary:
        base = np.array([0.0, decision[0] - leaves[1]])
    else:
        base = decision - leaves
    # binary: class 1 when the decision is >= 0 (ties go to class 1)
    return ModelTrees(
        trees,
        base,
        estimator.classes_,
        cast=np.float32,
        n_features=estimator.n_features_in_,
        score="raw",
        tie_order=np.array([1, 0]) if binary else None,
    )


def _leaf_values(tree, X):
    """Contributions of the leaves reached by ``X`` (model units, no cast
    needed at the probe points used here)."""
    node = np.zeros(len(X), dtype=np.intp)
    for _ in range(tree.n_nodes):
        f = tree.feature[node]
        inner = f >= 0
        if not inner.any():
            break
        go = X[np.arange(len(X)), np.where(inner, f, 0)] <= tree.threshold[node]
        node = np.where(inner, np.where(go, tree.left[node], tree.right[node]), node)
    return tree.value[node]


@read_trees.register(HistGradientBoostingClassifier)
def _read_hist_gradient_boosting(estimator):
    check_is_fitted(estimator)
    k = len(estimator.classes_)
    binary = estimator.n_trees_per_iteration_ == 1
    trees = []
    for iteration in estimator._predictors:
        for c, predictor in enumerate(iteration):
            nodes = predictor.nodes
            bits = np.unpackbits(
                predictor.raw_left_cat_bitsets.view(np.uint8), axis=1, bitorder="little"
            ).astype(bool)
            value = np.zeros((len(nodes), k))
            value[:, 1 if binary else c] = nodes["value"]
            leaf = nodes["is_leaf"].astype(bool)
            left = np.where(leaf, -1, nodes["left"].astype(np.intp))
            right = np.where(leaf, -1, nodes["right"].astype(np.intp))
            categorical = {
                int(i): bits[nodes["bitset_idx"][i]]
                for i in np.flatnonzero(nodes["is_categorical"] & ~leaf)
            }
            trees.append(
                Tree(
                    np.where(leaf, -1, nodes["feature_idx"]),
                    nodes["num_threshold"],
                    left,
                    right,
                    value,
                    missing_left=nodes["missing_go_to_left"],
                    category_left=categorical,
                )
            )
    baseline = np.asarray(estimator._baseline_prediction, dtype=np.float64).ravel()
    base = np.array([0.0, baseline[0]]) if binary else baseline
    return ModelTrees(
        trees,
        base,
        estimator.classes_,
        cast=None,
        n_features=estimator.n_features_in_,
        score="raw",
        steps=[] if estimator._preprocessor is None else [estimator._preprocessor],
    )
