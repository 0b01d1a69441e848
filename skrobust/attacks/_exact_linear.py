"""Exact minimal adversarial perturbations of linear models."""

from .._torch import torch
from ._base import BaseAttack
from ._functional._halfspace import smallest_step
from ._minimal import MinimalNormMixin, minimal_norm_constraints

_NUDGES = (1e-9, 1e-7, 1e-5, 1e-3)


def affine_map(view, x0):
    """``(A, b)`` with ``view(x) = x A^T + b`` (flattened), checked on ``x0``.

    Raises ``TypeError`` when the view's logits are not affine in its input.
    """
    shape, d = x0.shape[1:], x0[0].numel()
    basis = torch.cat([torch.zeros(1, d), torch.eye(d)]).to(x0)
    out = view(basis.reshape(-1, *shape)).to(x0.dtype)
    b = out[0]
    A = (out[1:] - b).T
    flat = x0.reshape(len(x0), -1)
    pred = view(x0).to(x0.dtype)
    tol = 1e-6 if x0.dtype == torch.float64 else 1e-3
    scale = flat.abs() @ A.abs().T + b.abs() + 1.0
    if not bool(((pred - (flat @ A.T + b)).abs() <= tol * scale).all()):
        raise TypeError(
            "LinearExactAttack needs a model whose logits are affine in its "
            "inputs (a linear classifier, possibly after affine preprocessing "
            "such as StandardScaler or PCA); this one is not. Use "
            "CarliniWagnerL2, PGD or HopSkipJump."
        )
    return A, b


class LinearExactAttack(MinimalNormMixin, BaseAttack):
    """Exact minimal adversarial perturbations of a linear classifier.

    For logits ``g(x) = W x + b`` (any linear model, or a pipeline of affine
    steps such as ``StandardScaler`` or ``PCA`` ending in one, in raw input
    units), the smallest perturbation that makes class ``k`` beat the class
    ``y`` is ``(g_y - g_k)(x) / ||w_y - w_k||_q`` (``q`` the dual norm of
    ``norm``), along ``w_k - w_y`` (l2), ``sign(w_k - w_y)`` (l-infinity) or
    its largest coordinate (l1); the minimal adversarial perturbation takes
    the best ``k``. Per-feature budgets rescale the features, immutable
    features drop out. With ``bounds`` or direction constraints the attack
    solves the bounded problem exactly (each class's half-space met inside
    the box: a sorted piecewise-linear search, or a fractional knapsack for
    l1); a point whose half-spaces all miss the box has size ``inf``.

    :meth:`minimal_norms` gives the exact sizes, so
    :func:`skrobust.metrics.robustness_curve` draws the exact robust
    accuracy at every budget from one call. :meth:`generate` returns the
    minimal adversarial examples, nudged just across the boundary (by a
    relative 1e-9, more only where rounding requires), projected into the
    ``eps``-ball when ``eps`` is set.

    Parameters
    ----------
    estimator : estimator, default=None
        A fitted classifier whose differentiable view is affine (checked);
        an unfitted one is cloned and fitted by :meth:`fit`.
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
    DecisionTreeExactAttack : the exact attack on a decision tree.

    Notes
    -----
    Targeted attacks (``generate(..., target=)``) need the target to beat
    every other class, an intersection of half-spaces; they are supported
    for binary models only.

    Examples
    --------
    >>> from sklearn.datasets import load_breast_cancer
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.preprocessing import StandardScaler
    >>> from skrobust.attacks import LinearExactAttack
    >>> X, y = load_breast_cancer(return_X_y=True)
    >>> clf = make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y)
    >>> attack = LinearExactAttack(clf, norm="l2")
    >>> norms = attack.minimal_norms(X[:5], y[:5])  # raw units
    >>> X_adv = attack.generate(X[:5], y[:5])
    >>> bool((clf.predict(X_adv) != y[:5]).all())
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

    @torch.no_grad()
    def _minimize(self, view, x0, labels, constraints, *, targeted, generator):
        n, flat = len(x0), x0.reshape(len(x0), -1)
        A, b = affine_map(view, x0)
        n_classes = A.shape[0]
        if targeted and n_classes > 2:
            raise ValueError(
                "LinearExactAttack supports targeted attacks on binary models "
                "only (a multiclass target must beat every class: an "
                "intersection of half-spaces); use CarliniWagnerL2 instead."
            )
        w, u_low, u_high = (t.reshape(n, -1) for t in self._unit_box(constraints, x0))
        g = flat @ A.T + b
        if targeted:  # the target t beats the other class k: g_t - g_k >= 0
            other = 1 - labels
            c = (A[labels] - A[other]) * w
            gap = (g.gather(1, other[:, None]) - g.gather(1, labels[:, None]))[:, 0]
            u, size = smallest_step(c, gap, u_low, u_high, self.norm)
        else:  # some class k beats y: (g_k - g_y)(x + w u) >= 0
            c = (A[None] - A[labels][:, None]) * w[:, None]  # (n, K, d)
            gap = g.gather(1, labels[:, None]) - g  # (n, K)
            own = torch.nn.functional.one_hot(labels, n_classes).bool()
            gap = gap.masked_fill(own, torch.inf)
            u, size = smallest_step(c, gap, u_low[:, None], u_high[:, None], self.norm)
            size = size.masked_fill(own, torch.inf)
            k = size.argmin(dim=1)
            u, size = u[torch.arange(n), k], size[torch.arange(n), k]
        return self._nudge(view, x0, w * u, size, labels, targeted, constraints), size

    def _nudge(self, view, x0, delta, size, labels, targeted, constraints):
        """Examples just across the boundary: ``x0 + (1 + nu) delta``."""
        box = constraints.input_box(x0)
        found = torch.isfinite(size)
        delta = delta.reshape(x0.shape)
        out = torch.where(found.reshape(-1, *[1] * (x0.dim() - 1)), x0 + delta, x0)
        todo = found & (size > 0)
        for nu in _NUDGES:
            if not bool(todo.any()):
                break
            cand = (x0[todo] + (1 + nu) * delta[todo]).clamp(box[0][todo], box[1][todo])
            pred = view(cand).argmax(dim=1)
            hit = pred == labels[todo] if targeted else pred != labels[todo]
            index = torch.nonzero(todo)[:, 0]
            out[index[hit]] = cand[hit]
            todo[index[hit]] = False
        return out
