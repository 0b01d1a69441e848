"""The Carlini-Wagner L2 attack (Carlini & Wagner 2017)."""

import numbers

import numpy as np
from sklearn.utils._param_validation import Interval

from ..utils import ATTACK_DOCS, Substitution
from ._base import POSITIVE, POSITIVE_INT, BaseAttack
from ._functional import carlini_wagner_l2
from ._minimal import (
    REPAIRS,
    MinimalNormMixin,
    NoRepairsMixin,
    minimal_norm_constraints,
)


@Substitution(**ATTACK_DOCS)
class CarliniWagnerL2(NoRepairsMixin, MinimalNormMixin, BaseAttack):
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
    {estimator}
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
    {eps_minimal}
    bounds : (low, high) or "data", default="data"
        Finite bounds for the change of variables: scalars or per-feature
        arrays, or ``"data"``, the per-feature min / max seen in :meth:`fit`.
    {feature_mask}
    {direction}
    {eps_units}
    {run}

    {attributes}

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
    >>> cw = CarliniWagnerL2(clf, bounds=(0, 1), n_binary_search=3,
    ...                      initial_const=1.0, learning_rate=0.05, max_iter=30)
    >>> X_adv = cw.generate(X[:10], y[:10])
    >>> float(clf.score(X_adv, y[:10]))
    0.0
    >>> norms = cw.minimal_norms(X[:10], y[:10])  # L2 sizes, as X_adv's
    >>> bool(norms.max() < 2.0)
    True
    """

    norm = "l2"

    _parameter_constraints = {
        **minimal_norm_constraints(BaseAttack, "norm", *REPAIRS),
        "confidence": [Interval(numbers.Real, 0, None, closed="left")],
        "n_binary_search": POSITIVE_INT,
        "initial_const": POSITIVE,
        "learning_rate": POSITIVE,
        "max_iter": POSITIVE_INT,
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
        batch_size="auto",
        random_state=None,
        verbose=0,
    ):
        self._set_params(locals())

    def _constraints(self, sample_shape, columns, **overrides):
        c = super()._constraints(sample_shape, columns, **overrides)
        if not (np.all(np.isfinite(c.low)) and np.all(np.isfinite(c.high))):
            raise ValueError(
                "CarliniWagnerL2 needs finite bounds for its tanh change of "
                "variables: pass bounds=(low, high) (e.g. (0, 1) for images) or "
                "bounds='data' (the training data's min / max, learned in fit)."
            )
        return c

    def _minimize(
        self, view, x0, labels, constraints, *, targeted, true_labels, generator
    ):
        return carlini_wagner_l2(
            view,
            x0,
            labels,
            box=constraints.input_box(x0),
            w=self._weights(constraints, x0),
            targeted=targeted,
            confidence=self.confidence,
            n_binary_search=self.n_binary_search,
            initial_const=self.initial_const,
            learning_rate=self.learning_rate,
            max_iter=self.max_iter,
            abort_early=self.abort_early,
        )
