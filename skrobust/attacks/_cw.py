"""The Carlini-Wagner L2 attack (Carlini & Wagner 2017)."""

import numbers

import numpy as np
from sklearn.utils._param_validation import Interval

from .._torch import torch
from ._base import BaseAttack
from ._minimal import MinimalNormMixin, minimal_norm_constraints

_NO_UPPER = 1e10


def _cw_loss(logits, labels, targeted, kappa):
    """``max(Z_y - max_{i != y} Z_i + kappa, 0)``; targeted: with roles swapped."""
    own = logits.gather(1, labels[:, None])[:, 0]
    other = logits.scatter(1, labels[:, None], float("-inf")).amax(dim=1)
    gap = other - own if targeted else own - other
    return (gap + kappa).clamp_min(0)


def _hit(logits, labels, targeted, kappa):
    """Adversarial with the margin ``kappa`` (the reference's ``compare``)."""
    z = logits.detach().clone()
    z.scatter_add_(
        1, labels[:, None], torch.full_like(z[:, :1], -kappa if targeted else kappa)
    )
    pred = z.argmax(dim=1)
    return pred == labels if targeted else pred != labels


class CarliniWagnerL2(MinimalNormMixin, BaseAttack):
    """The Carlini-Wagner L2 attack: the smallest L2 perturbation found by Adam.

    Minimises ``||x' - x||_2^2 + c * f(x')`` with ``f = max(Z_y - max_{i !=
    y} Z_i + kappa, 0)`` on the logits ``Z`` of the differentiable view
    (targeted: ``max(max_{i != t} Z_i - Z_t + kappa, 0)``), over ``x' = lo +
    (hi - lo) * (tanh(v) + 1) / 2``: the change of variables keeps ``x'``
    inside the bounds without clipping. ``c`` is set per point by a binary
    search (``n_binary_search`` steps from ``initial_const``): a success
    lowers its upper bound, a failure raises its lower bound (and multiplies
    ``c`` by 10 while no upper bound is known). Each step runs up to
    ``max_iter`` Adam steps, stopping early when the loss stalls; each point
    keeps the successful ``x'`` of smallest L2 norm (``x`` itself when none).

    Parameters
    ----------
    estimator : estimator, default=None
        A fitted classifier with a differentiable view (see
        :func:`skrobust.as_differentiable`); an unfitted one is cloned and
        fitted by :meth:`fit`.
    confidence : float, default=0.0
        The margin ``kappa`` by which the adversarial class must win.
    n_binary_search : int, default=9
        Binary search steps on ``c``; 1 runs once with ``initial_const``.
    initial_const : float, default=1e-3
    learning_rate : float, default=0.01
        Adam's step size (on the ``tanh`` variables).
    max_iter : int, default=10000
        Adam steps per binary search step.
    abort_early : bool, default=True
        Stop a binary search step once no point's loss improved by 0.01 %
        over the last ``max_iter // 10`` steps (the reference checks the
        batch's total loss, which a few stalled points can hold up).
    eps : float, array-like, dict or None, default=None
        Budget the output is projected into; ``None``: none (the smallest
        adversarial examples found). A per-feature ``eps`` also sets the
        unit of measure (see :meth:`minimal_norms`).
    bounds : (low, high) or "data", default="data"
        Finite bounds for the change of variables: scalars or per-feature
        arrays, or ``"data"``, the per-feature min / max seen in :meth:`fit`.
    feature_mask, direction, eps_units
        The threat model, as for :class:`PGD`: masked features and features
        whose direction forbids a move stay fixed, and distances are
        measured in units of ``eps_units``.
    batch_size : int, default=512
    random_state : None
        Unused (the attack is deterministic); kept for a uniform interface.
    verbose : int, default=0

    Attributes
    ----------
    estimator_, n_features_in_, data_min_, data_max_, data_std_
        As for :class:`PGD`.

    See Also
    --------
    PGD : a fixed-budget attack.
    HopSkipJump : minimal L2 perturbations from labels only.

    References
    ----------
    N. Carlini, D. Wagner. Towards evaluating the robustness of neural
    networks. IEEE S&P 2017.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sklearn.linear_model import LogisticRegression
    >>> from skrobust.attacks import CarliniWagnerL2
    >>> X, y = load_digits(return_X_y=True)
    >>> X = X / 16
    >>> clf = LogisticRegression(max_iter=1000).fit(X, y)
    >>> cw = CarliniWagnerL2(clf, bounds=(0, 1), max_iter=100)
    >>> X_adv = cw.generate(X[:20], y[:20])
    >>> float(clf.score(X_adv, y[:20]))
    0.0
    >>> norms = cw.minimal_norms(X[:20], y[:20])  # L2 sizes, as X_adv's
    >>> bool(norms.max() < 2.0)
    True
    """

    norm = "l2"
    integer_features = None
    one_hot_groups = None

    _parameter_constraints = {
        **minimal_norm_constraints("norm"),
        "confidence": [Interval(numbers.Real, 0, None, closed="left")],
        "n_binary_search": [Interval(numbers.Integral, 1, None, closed="left")],
        "initial_const": [Interval(numbers.Real, 0, None, closed="neither")],
        "learning_rate": [Interval(numbers.Real, 0, None, closed="neither")],
        "max_iter": [Interval(numbers.Integral, 1, None, closed="left")],
        "abort_early": ["boolean"],
    }

    def __init__(
        self,
        estimator=None,
        *,
        confidence=0.0,
        n_binary_search=9,
        initial_const=1e-3,
        learning_rate=0.01,
        max_iter=10000,
        abort_early=True,
        eps=None,
        bounds="data",
        feature_mask=None,
        direction=None,
        eps_units="raw",
        batch_size=512,
        random_state=None,
        verbose=0,
    ):
        self.estimator = estimator
        self.confidence = confidence
        self.n_binary_search = n_binary_search
        self.initial_const = initial_const
        self.learning_rate = learning_rate
        self.max_iter = max_iter
        self.abort_early = abort_early
        self.eps = eps
        self.bounds = bounds
        self.feature_mask = feature_mask
        self.direction = direction
        self.eps_units = eps_units
        self.batch_size = batch_size
        self.random_state = random_state
        self.verbose = verbose

    def _constraints(self, sample_shape, columns, eps=None):
        c = super()._constraints(sample_shape, columns, eps)
        if not (np.all(np.isfinite(c.low)) and np.all(np.isfinite(c.high))):
            raise ValueError(
                "CarliniWagnerL2 needs finite bounds for its tanh change of "
                "variables: pass bounds=(low, high) (e.g. (0, 1) for images) or "
                "bounds='data' (the training data's min / max, learned in fit)."
            )
        return c

    def _minimize(self, view, x0, labels, constraints, *, targeted, generator):
        lo, hi = constraints.input_box(x0)
        w = self._weights(constraints, x0)
        mid, half = (hi + lo) / 2, (hi - lo) / 2
        mobile = (half > 0) & (w > 0)
        safe_half = torch.where(mobile, half, 1.0)
        inv_w2 = torch.where(mobile, 1.0 / torch.where(mobile, w, 1.0) ** 2, 0.0)
        dims = tuple(range(1, x0.dim()))
        start = ((x0 - mid) / safe_half).clamp(-1, 1) * 0.999999
        v0 = torch.where(mobile, torch.atanh(start), 0.0)

        def image(v):
            return torch.where(mobile, torch.addcmul(mid, half, torch.tanh(v)), x0)

        n = len(x0)
        kappa = float(self.confidence)
        const = torch.full(
            (n,), float(self.initial_const), dtype=x0.dtype, device=x0.device
        )
        lower = torch.zeros_like(const)
        upper = torch.full_like(const, _NO_UPPER)
        best = torch.full_like(const, float("inf"))
        best_x = x0.clone()
        with torch.no_grad():
            clean = _hit(view(x0), labels, targeted, kappa)
        best[clean], best_x[clean] = 0.0, x0[clean]
        check = max(self.max_iter // 10, 1)
        for _ in range(self.n_binary_search):
            v = v0.clone()
            m, s = torch.zeros_like(v), torch.zeros_like(v)
            found = torch.zeros(n, dtype=torch.bool, device=x0.device)
            prev = torch.full_like(const, float("inf"))
            for it in range(1, self.max_iter + 1):
                v.requires_grad_(True)
                x = image(v)
                logits = view(x)
                l2 = ((x - x0).square() * inv_w2).sum(dim=dims)
                loss = l2 + const * _cw_loss(logits, labels, targeted, kappa).to(l2)
                (grad,) = torch.autograd.grad(loss.sum(), v)
                with torch.no_grad():
                    hit = _hit(logits, labels, targeted, kappa)
                    found |= hit
                    better = hit & (l2 < best)
                    best = torch.where(better, l2.detach(), best)
                    best_x[better] = x.detach()[better]
                    # Adam (beta1 0.9, beta2 0.999), per coordinate
                    m.mul_(0.9).add_(grad, alpha=0.1)
                    s.mul_(0.999).addcmul_(grad, grad, value=0.001)
                    m_hat = m / (1 - 0.9**it)
                    s_hat = s / (1 - 0.999**it)
                    v = v.detach() - self.learning_rate * m_hat / (s_hat.sqrt() + 1e-8)
                    if self.abort_early and it % check == 0:
                        if bool((loss.detach() > prev * 0.9999).all()):
                            break  # no point's loss still decreases
                        prev = loss.detach()
            upper = torch.where(found, torch.minimum(upper, const), upper)
            lower = torch.where(found, lower, torch.maximum(lower, const))
            const = torch.where(upper < _NO_UPPER / 10, (lower + upper) / 2, const * 10)
        return best_x, best.sqrt()
