"""Exact minimal adversarial perturbations of a single decision tree."""

import numpy as np
from sklearn.pipeline import Pipeline
from sklearn.tree._classes import BaseDecisionTree

from .._models import pipeline_steps, unwrap_estimator
from .._torch import torch
from ._base import BaseAttack
from ._blackbox import BlackBoxModel
from ._minimal import MinimalNormMixin, minimal_norm_constraints, weighted_size

_NUDGES = (0.0, 1e-7, 1e-5, 1e-3, 0.5)  # fractions of the leaf box's width


def leaf_boxes(tree):
    """``(low, high, class)`` of every leaf: ``low < x <= high`` per feature."""
    t = tree.tree_
    if t.n_outputs != 1:
        raise ValueError("multi-output trees are not supported.")
    d = t.n_features
    boxes = []
    stack = [(0, np.full(d, -np.inf), np.full(d, np.inf))]
    while stack:
        node, low, high = stack.pop()
        left, right = t.children_left[node], t.children_right[node]
        if left == -1:
            boxes.append((low, high, int(np.argmax(t.value[node, 0]))))
            continue
        f, thr = t.feature[node], t.threshold[node]
        h, lo = high.copy(), low.copy()
        h[f], lo[f] = min(high[f], thr), max(low[f], thr)
        stack += [(left, low, h), (right, lo, high)]
    low, high, cls = zip(*boxes)
    return np.array(low), np.array(high), np.array(cls)


def _per_feature_affine(prefix, d):
    """``(a, b)`` with ``prefix.transform(X) = a * X + b`` and ``a > 0``, or None."""
    rng = np.random.RandomState(0)
    probe = np.vstack([np.zeros(d), np.ones(d), rng.normal(size=(4, d)) * 10])
    try:
        out = np.asarray(prefix.transform(probe), dtype=np.float64)
    except Exception:  # e.g. needs a DataFrame
        return None
    if out.shape != probe.shape:
        return None
    b, a = out[0], out[1] - out[0]
    close = np.allclose(out, probe * a + b, rtol=1e-9, atol=1e-9 * (1 + np.abs(b)))
    return (a, b) if close and np.all(a > 0) else None


class _TreeModel(BlackBoxModel):
    """Queries of the tree (through its pipeline) and its leaf boxes in the
    space the attack acts in."""

    def __init__(self, estimator):
        steps = pipeline_steps(estimator)
        tree = steps[-1][1]
        if not (isinstance(tree, BaseDecisionTree) and hasattr(tree, "classes_")):
            raise TypeError(
                "DecisionTreeExactAttack needs a fitted DecisionTreeClassifier "
                f"(or a pipeline ending in one); got {type(tree).__name__}."
            )
        low, high, cls = leaf_boxes(tree)
        prefix = Pipeline(steps[:-1]) if len(steps) > 1 else None
        affine = None
        if prefix is not None:
            affine = _per_feature_affine(prefix, tree.n_features_in_)
        if prefix is None or affine is not None:
            super().__init__(unwrap_estimator(estimator), response="predict_proba")
            self.a = np.ones(low.shape[1]) if affine is None else affine[0]
            self.b = np.zeros(low.shape[1]) if affine is None else affine[1]
        else:  # act on the output of the prefix
            super().__init__(tree, response="predict_proba")
            self.preprocess = prefix.transform
            self.space = f"output of pipeline step {steps[-2][0]!r}"
            self.a, self.b = np.ones(low.shape[1]), np.zeros(low.shape[1])
        self.tree = tree
        self.leaf_low = (low - self.b) / self.a  # thresholds in the attack's space
        self.leaf_high = (high - self.b) / self.a
        self.leaf_class = cls


class DecisionTreeExactAttack(MinimalNormMixin, BaseAttack):
    """Exact minimal adversarial perturbations of a decision tree.

    A decision tree cuts the input space into boxes, one per leaf. The
    smallest adversarial perturbation of a point is its distance to the
    nearest box of a leaf predicting another class (for a targeted attack:
    the target), in any norm: the nearest point of a box is the point
    clipped into it. The boxes are intersected with the threat model's box
    (``bounds``, direction constraints, immutable features), so the result
    is exact under those too.

    A tree after per-feature affine steps (``StandardScaler``,
    ``MinMaxScaler``, ``MaxAbsScaler``, ``RobustScaler``: checked) is
    attacked in raw units, its thresholds mapped back; after any other
    pipeline steps the attack acts on their output (like a white-box attack
    on a partially differentiable pipeline: ``generate`` then returns
    transformed features).

    :meth:`minimal_norms` gives the exact distances (the infimum: a leaf's
    lower side is open); :meth:`generate` returns the nearest adversarial
    points, nudged into the leaf by one float32 step of the tree's
    comparison (more where rounding needs it), projected into the
    ``eps``-ball when ``eps`` is set.

    Parameters
    ----------
    estimator : estimator, default=None
        A fitted ``DecisionTreeClassifier`` or ``ExtraTreeClassifier``
        (single output), or a pipeline ending in one; an unfitted one is
        cloned and fitted by :meth:`fit`.
    eps : float, array-like, dict or None, default=None
        Budget the output is projected into; ``None``: none. A per-feature
        ``eps`` also sets the unit of measure (see :meth:`minimal_norms`).
    norm : {"l2", "linf", "l1"}, default="l2"
    bounds, feature_mask, direction, eps_units
        The threat model, as for :class:`PGD`.
    batch_size : int, default=512
    random_state : None
        Unused (the attack is exact); kept for a uniform interface.
    verbose : int, default=0

    Attributes
    ----------
    estimator_, n_features_in_, data_min_, data_max_, data_std_
        As for :class:`PGD`.

    See Also
    --------
    LinearExactAttack : the exact attack on linear models.
    HopSkipJump : minimal perturbations of any model, from labels.

    Examples
    --------
    >>> from sklearn.datasets import load_breast_cancer
    >>> from sklearn.tree import DecisionTreeClassifier
    >>> from skrobust.attacks import DecisionTreeExactAttack
    >>> X, y = load_breast_cancer(return_X_y=True)
    >>> tree = DecisionTreeClassifier(max_depth=5, random_state=0).fit(X, y)
    >>> attack = DecisionTreeExactAttack(tree, norm="linf")
    >>> norms = attack.minimal_norms(X[:5], y[:5])
    >>> X_adv = attack.generate(X[:5], y[:5])
    >>> bool((tree.predict(X_adv) != y[:5]).all())
    True
    """

    integer_features = None
    one_hot_groups = None

    _parameter_constraints = minimal_norm_constraints()

    def __init__(
        self,
        estimator=None,
        *,
        eps=None,
        norm="l2",
        bounds=None,
        feature_mask=None,
        direction=None,
        eps_units="raw",
        batch_size=512,
        random_state=None,
        verbose=0,
    ):
        self.estimator = estimator
        self.eps = eps
        self.norm = norm
        self.bounds = bounds
        self.feature_mask = feature_mask
        self.direction = direction
        self.eps_units = eps_units
        self.batch_size = batch_size
        self.random_state = random_state
        self.verbose = verbose

    def _view(self):
        return _TreeModel(self._fitted_estimator())

    def _preprocess_of(self, estimator):
        return None if estimator is None else _TreeModel(estimator).preprocess

    @torch.no_grad()
    def _minimize(self, view, x0, labels, constraints, *, targeted, generator):
        model = view  # a _TreeModel (float64: never cast by the base)
        n = len(x0)
        flat = x0.reshape(n, -1)
        low, high = (b.reshape(n, -1) for b in constraints.input_box(x0))
        leaf_low, leaf_high = (
            torch.as_tensor(b, dtype=x0.dtype, device=x0.device)
            for b in (model.leaf_low, model.leaf_high)
        )
        cls = torch.as_tensor(model.leaf_class, device=x0.device)
        w = self._weights(constraints, x0).reshape(n, -1)
        best = torch.full((n,), torch.inf, dtype=x0.dtype, device=x0.device)
        best_leaf = torch.zeros(n, dtype=torch.long, device=x0.device)
        chunk = max(1, (1 << 22) // max(flat.shape[1] * n, 1))
        for start in range(0, len(cls), chunk):
            lo, hi = leaf_low[start : start + chunk], leaf_high[start : start + chunk]
            top = torch.minimum(hi[None], high[:, None])  # (n, L, d)
            bottom = torch.maximum(lo[None], low[:, None])
            empty = ((lo[None] >= top) | (low[:, None] > top)).any(dim=2)
            target = torch.minimum(torch.maximum(flat[:, None], bottom), top)
            delta = (target - flat[:, None]).flatten(0, 1)
            dist = weighted_size(delta, w[0], self.norm).reshape(n, -1)
            c = cls[start : start + chunk][None]
            wrong = c == labels[:, None] if targeted else c != labels[:, None]
            dist = dist.masked_fill(empty | ~wrong, torch.inf)
            d_min, arg = dist.min(dim=1)
            better = d_min < best
            best = torch.where(better, d_min, best)
            best_leaf = torch.where(better, arg + start, best_leaf)
        found = torch.isfinite(best)
        lo, hi = leaf_low[best_leaf], leaf_high[best_leaf]
        top, bottom = torch.minimum(hi, high), torch.maximum(lo, low)
        out = flat.clone()
        todo = found.clone()
        for frac in _NUDGES:  # into the leaf, past its open lower side
            if not bool(todo.any()):
                break
            width = torch.where(torch.isfinite(top - bottom), top - bottom, 1.0)
            inner_lo = self._above(bottom, lo, model) + frac * width
            inner_hi = torch.maximum(
                self._below(top, hi, model) - frac * width, inner_lo
            )
            cand = torch.minimum(torch.maximum(flat, inner_lo), inner_hi)[todo]
            pred = model(cand.reshape(-1, *x0.shape[1:])).argmax(dim=1)
            hit = pred == labels[todo] if targeted else pred != labels[todo]
            index = torch.nonzero(todo)[:, 0]
            out[index[hit]] = cand[hit]
            todo[index[hit]] = False
        return out.reshape(x0.shape), best

    @staticmethod
    def _above(bottom, leaf_low, model):
        """Where the leaf's open lower side binds, the smallest value the tree
        (float32 comparisons) sends to its right: one float32 step up."""
        a = torch.as_tensor(model.a, dtype=bottom.dtype, device=bottom.device)
        b = torch.as_tensor(model.b, dtype=bottom.dtype, device=bottom.device)
        thr = leaf_low * a + b
        z = thr.to(torch.float32)
        z = torch.where(z.double() <= thr.double(), torch.nextafter(z, z + 1), z)
        lifted = (z.to(bottom.dtype) - b) / a
        return torch.where(
            (bottom == leaf_low) & torch.isfinite(leaf_low), lifted, bottom
        )

    @staticmethod
    def _below(top, leaf_high, model):
        """Where the leaf's closed upper side binds, the largest float32 the
        tree still sends to its left."""
        a = torch.as_tensor(model.a, dtype=top.dtype, device=top.device)
        b = torch.as_tensor(model.b, dtype=top.dtype, device=top.device)
        thr = leaf_high * a + b
        z = thr.to(torch.float32)
        z = torch.where(z.double() > thr.double(), torch.nextafter(z, z - 1), z)
        lowered = (z.to(top.dtype) - b) / a
        return torch.where((top == leaf_high) & torch.isfinite(leaf_high), lowered, top)
