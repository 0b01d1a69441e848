"""A fitted tree model as boxes in raw feature units: :class:`TreeEnsemble`."""

import numpy as np

from ..._discrete import FeatureLayout
from ...utils import SHARED_DOCS, Substitution
from .._steps import pipeline_steps
from ._features import FeatureMap
from ._readers import Tree, read_trees


class LeafBoxes:
    """The leaves of one tree as boxes in raw units.

    Attributes
    ----------
    node : ndarray of int of shape (n_leaves,)
        Node ids of the leaves.
    low, high : ndarray of shape (n_leaves, n_features)
        A numeric feature ``x_f`` reaches the leaf when ``low < x_f <= high``
        (``-inf`` / ``inf`` for categorical features).
    categories : dict
        Categorical feature -> boolean array ``(n_leaves, n_categories)`` of
        the categories that reach each leaf.
    value : ndarray of shape (n_leaves, n_classes)
        Each leaf's contribution to the class scores (the ensemble's weight
        included).
    """

    def __init__(self, node, low, high, categories, value):
        self.node, self.low, self.high = node, low, high
        self.categories, self.value = categories, value

    def __len__(self):
        return len(self.node)


@Substitution(**SHARED_DOCS)
class TreeEnsemble:
    """A fitted tree model (after its per-feature preprocessing) in raw units.

    The model's score of class ``k`` at ``x`` is ``base[k]`` plus the sum,
    over the trees, of the contribution of the leaf containing ``x``; its
    prediction is the class of largest score (ties: smallest ``tie_order``).
    Thresholds are in RAW units, exact to the float64 grid: ``x_f <= t``
    exactly when the model sends ``x`` left (its float32 casts and the
    preprocessing included).

    Inputs of :meth:`scores`, :meth:`apply`, :meth:`leaves` are *encoded*
    raw matrices (:meth:`encode`): numeric columns as they are, categorical
    columns as the index of their category in :attr:`categories`.

    Parameters
    ----------
    estimator : fitted classifier
        A tree model :func:`read_trees` reads, alone or at the end of a
        pipeline of per-feature steps (see :class:`FeatureMap`).

    Attributes
    ----------
    trees : list of Tree
        Raw-unit trees: categorical nodes test category indices.
    base : ndarray of shape (n_classes,)
    weight : float
        Scores are ``(base + sum of contributions) * weight``.
    classes_ : ndarray
    tie_order : ndarray of int
    n_features : int
        Number of raw columns.
    categories : list of (ndarray or None)
        Known categories of each raw column (``None``: numeric).
    is_categorical : ndarray of bool
    feature_names : ndarray or None
    score : {"probability", "raw"}

    {examples_breast_cancer_forest}
    >>> from skrobust._models import TreeEnsemble
    >>> ensemble = TreeEnsemble(rf)
    >>> bool((ensemble.predict(X) == rf.predict(X)).all())
    True
    """

    def __init__(self, estimator):
        steps = pipeline_steps(estimator)
        final = steps[-1][1]
        model = read_trees(final)
        prefix = [step for _, step in steps[:-1]] + model.steps
        first = steps[0][1]
        n_raw = getattr(first, "n_features_in_", model.n_features)
        names = getattr(first, "feature_names_in_", None)
        self.feature_map = FeatureMap(prefix, n_raw, names if prefix else None)
        if len(self.feature_map.source) != model.n_features:
            raise ValueError(
                f"the preprocessing gives {len(self.feature_map.source)} columns "
                f"but the model expects {model.n_features}."
            )
        self.estimator = estimator
        self.classes_ = model.classes
        self.base = model.base
        self.weight = model.weight
        self.tie_order = model.tie_order
        self.score = model.score
        self.cast = model.cast
        self.n_features = n_raw
        self.feature_names = None if names is None else np.asarray(names, dtype=object)
        self.categories = self.feature_map.categories
        self.is_categorical = self.feature_map.is_categorical
        self.trees = self._to_raw(model.trees)
        self._leaves = {}

    @property
    def n_classes(self):
        return len(self.classes_)

    @property
    def n_trees(self):
        return len(self.trees)

    @property
    def base_score(self):
        """The constant part of the scores (``base * weight``)."""
        return self.base * self.weight

    # -- reading -----------------------------------------------------------

    def _to_raw(self, trees):
        fmap, cast = self.feature_map, self.cast
        # every numeric threshold of a column goes through one bisection
        thresholds = {}
        for t in trees:
            inner = ~t.is_leaf
            for j in np.unique(t.feature[inner]):
                if not fmap.categorical[j]:
                    sel = inner & (t.feature == j)
                    thresholds.setdefault(j, []).append(t.threshold[sel])
        values = {j: np.unique(np.concatenate(p)) for j, p in thresholds.items()}
        mapped = fmap.raw_thresholds(values, cast)
        raw = {j: (values[j], mapped[j]) for j in values}
        codes = {}
        out = []
        for t in trees:
            threshold = t.threshold.copy()
            category_left = {}
            for node in np.flatnonzero(~t.is_leaf):
                j = t.feature[node]
                if not fmap.categorical[j]:
                    if node in t.category_left:
                        raise ValueError(
                            "a categorical split on a column that is not an "
                            "encoded category cannot be read."
                        )
                    values, mapped = raw[j]
                    threshold[node] = mapped[np.searchsorted(values, t.threshold[node])]
                    continue
                if j not in codes:
                    codes[j] = fmap.category_values(j)
                category_left[node] = self._categories_left(t, node, codes[j])
                threshold[node] = np.nan
            feature = np.where(t.is_leaf, -1, fmap.source[np.maximum(t.feature, 0)])
            out.append(
                Tree(
                    feature,
                    threshold,
                    t.left,
                    t.right,
                    t.value,
                    missing_left=t.missing_left,
                    category_left=category_left,
                )
            )
        return out

    def _categories_left(self, tree, node, values):
        """Which raw categories the model sends left at ``node``."""
        missing = np.isnan(values)
        if node in tree.category_left:  # a native categorical split on codes
            bits = tree.category_left[node]
            code = np.where(missing | (values < 0), 0, values).astype(np.intp)
            known = ~missing & (values >= 0) & (code < len(bits))
            go = np.where(known, bits[np.minimum(code, len(bits) - 1)], False)
        else:
            z = values if self.cast is None else values.astype(self.cast)
            known = ~missing
            go = np.where(known, z <= tree.threshold[node], False)
        return np.where(known, go, tree.missing_left[node])

    # -- encoded raw matrices ----------------------------------------------

    def encode(self, X):
        """Raw ``X`` -> float64 matrix, categorical columns as category indices.

        Raises ``ValueError`` for a category the model's encoder does not know.
        """
        if hasattr(X, "iloc") and self.feature_names is not None:
            X = X[list(self.feature_names)]
        if not self.is_categorical.any():
            return np.asarray(X, dtype=np.float64)
        X = np.asarray(X, dtype=object) if hasattr(X, "iloc") else np.asarray(X)
        Z = np.empty(X.shape, dtype=np.float64)
        for f in range(self.n_features):
            column = X[:, f]
            known = self.categories[f]
            if known is None:
                Z[:, f] = np.asarray(column, dtype=np.float64)
                continue
            index = {v: i for i, v in enumerate(known.tolist())}
            try:
                Z[:, f] = [index[v] for v in column.tolist()]
            except KeyError as exc:
                raise ValueError(
                    f"column {self._name(f)} holds the category {exc.args[0]!r}, "
                    f"which the model's encoder does not know ({list(known)})."
                ) from None
        return Z

    def decode(self, Z):
        """Inverse of :meth:`encode` (an object array when categories are not
        numbers, else float64)."""
        Z = np.asarray(Z, dtype=np.float64)
        if not self.is_categorical.any():
            return Z.copy()
        numeric = all(
            c is None or np.asarray(c).dtype.kind in "iuf" for c in self.categories
        )
        out = Z.copy() if numeric else Z.astype(object)
        for f in np.flatnonzero(self.is_categorical):
            out[:, f] = self.categories[f][Z[:, f].astype(np.intp)]
        return out

    def layout(self, X=None):
        """The :class:`~skrobust._discrete.FeatureLayout` of the raw columns: one
        working coordinate each (a categorical column's category index), integer
        columns from ``X``'s dtypes, a pandas ``category`` dtype's categories."""
        integer = np.zeros(self.n_features, dtype=bool)
        allowed = [None] * self.n_features
        dtypes = getattr(X, "dtypes", None)
        for f in range(self.n_features):
            if dtypes is not None:
                name = self.feature_names[f] if self.feature_names is not None else f
                dtype = (
                    dtypes[name] if self.feature_names is not None else dtypes.iloc[f]
                )
            elif X is not None:
                dtype = np.asarray(X).dtype
            else:
                continue
            if self.categories[f] is None:
                integer[f] = getattr(dtype, "kind", "O") in "iub"
            elif hasattr(dtype, "categories"):
                known = np.asarray(self.categories[f], dtype=object)
                allowed[f] = np.isin(known, np.asarray(dtype.categories, dtype=object))
        return FeatureLayout(
            columns=self.feature_names,
            index=[np.array([f]) for f in range(self.n_features)],
            kinds=["numeric" if c is None else "categorical" for c in self.categories],
            categories=list(self.categories),
            integer=integer,
            allowed=allowed,
        )

    def _name(self, f):
        return repr(self.feature_names[f]) if self.feature_names is not None else f

    # -- evaluation --------------------------------------------------------

    def _flat(self):
        """All trees' nodes in global arrays (built once)."""
        if getattr(self, "_flat_", None) is None:
            sizes = [t.n_nodes for t in self.trees]
            offset = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.intp)
            cat_nodes, tables = [], []
            for t, o in zip(self.trees, offset):
                for node, mask in t.category_left.items():
                    cat_nodes.append(o + node)
                    tables.append(mask)
            width = max([len(m) for m in tables], default=1)
            table = np.zeros((len(tables) + 1, width), dtype=bool)
            for i, m in enumerate(tables):
                table[i, : len(m)] = m
            row = np.full(sum(sizes), len(tables), dtype=np.intp)
            row[np.asarray(cat_nodes, dtype=np.intp)] = np.arange(len(tables))
            cat = lambda a: np.concatenate([getattr(t, a) for t in self.trees])  # noqa: E731
            left = np.concatenate([t.left + o for t, o in zip(self.trees, offset)])
            right = np.concatenate([t.right + o for t, o in zip(self.trees, offset)])
            self._flat_ = dict(
                offset=offset,
                feature=np.maximum(cat("feature"), 0),
                leaf=cat("is_leaf"),
                threshold=np.nan_to_num(cat("threshold"), nan=np.inf),
                left=left,
                right=right,
                missing=cat("missing_left"),
                value=np.concatenate([t.value for t in self.trees]),
                row=row,
                table=table,
                has_categories=bool(tables),
            )
        return self._flat_

    def _apply_global(self, Z):
        Z = np.asarray(Z, dtype=np.float64)
        g = self._flat()
        node = np.broadcast_to(g["offset"], (len(Z), self.n_trees)).copy()
        rows = np.arange(len(Z))[:, None]
        while True:
            inner = ~g["leaf"][node]
            if not inner.any():
                return node
            x = Z[rows, g["feature"][node]]
            go = x <= g["threshold"][node]
            if g["has_categories"]:
                r = g["row"][node]
                code = np.where(np.isnan(x), 0, x).astype(np.intp)
                code = np.clip(code, 0, g["table"].shape[1] - 1)
                go = np.where(r < len(g["table"]) - 1, g["table"][r, code], go)
            go = np.where(np.isnan(x), g["missing"][node], go)
            node = np.where(
                inner, np.where(go, g["left"][node], g["right"][node]), node
            )

    def apply(self, Z):
        """Leaf node id reached in every tree, ``(n_samples, n_trees)``."""
        return self._apply_global(Z) - self._flat()["offset"]

    def scores(self, Z):
        """Class scores of encoded raw ``Z``: ``(base + contributions) * weight``
        (summed in tree order, as the models do)."""
        node = self._apply_global(Z)
        parts = self._flat()["value"][node]  # (n, n_trees, n_classes)
        base = np.broadcast_to(self.base, (len(parts), 1, self.n_classes))
        total = np.cumsum(np.concatenate([base, parts], axis=1), axis=1)[:, -1]
        return total * self.weight

    def predict(self, Z):
        """Class indices (into ``classes_``) predicted at encoded raw ``Z``."""
        return self.decide(self.scores(Z))

    def decide(self, scores):
        """Class indices of the largest scores, ties broken by ``tie_order``."""
        order = np.argsort(self.tie_order, kind="stable")
        return order[np.argmax(np.asarray(scores)[:, order], axis=1)]

    def leaves(self, i):
        """:class:`LeafBoxes` of tree ``i`` (cached)."""
        if i not in self._leaves:
            self._leaves[i] = self._boxes(self.trees[i])
        return self._leaves[i]

    def _boxes(self, tree):
        d = self.n_features
        cats = np.flatnonzero(self.is_categorical)
        sizes = {f: len(self.categories[f]) for f in cats}
        nodes, lows, highs, masks = [], [], [], []
        root = (
            0,
            np.full(d, -np.inf),
            np.full(d, np.inf),
            {f: np.ones(sizes[f], dtype=bool) for f in cats},
        )
        stack = [root]
        while stack:
            node, low, high, mask = stack.pop()
            if tree.is_leaf[node]:
                nodes.append(node)
                lows.append(low)
                highs.append(high)
                masks.append(mask)
                continue
            f = tree.feature[node]
            if node in tree.category_left:
                go = tree.category_left[node]
                ml, mr = dict(mask), dict(mask)
                ml[f], mr[f] = mask[f] & go, mask[f] & ~go
                stack += [
                    (tree.left[node], low, high, ml),
                    (tree.right[node], low, high, mr),
                ]
                continue
            t = tree.threshold[node]
            hl, lr = high.copy(), low.copy()
            hl[f], lr[f] = min(high[f], t), max(low[f], t)
            stack += [
                (tree.left[node], low, hl, mask),
                (tree.right[node], lr, high, mask),
            ]
        order = np.argsort(nodes)
        node = np.asarray(nodes)[order]
        return LeafBoxes(
            node,
            np.asarray(lows)[order],
            np.asarray(highs)[order],
            {f: np.asarray([m[f] for m in masks])[order] for f in cats},
            tree.value[node] * self.weight,
        )
