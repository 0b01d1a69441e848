"""HopSkipJump (Chen, Jordan & Wainwright 2020): decision-based, labels only."""

import numbers

from sklearn.utils._param_validation import Interval, StrOptions

from ..utils import ATTACK_DOCS, AUTO_BATCH_VALUES, Substitution
from ._base import POSITIVE, POSITIVE_INT
from ._blackbox import BlackBoxAttack
from ._functional import get_norm, hopskipjump
from ._minimal import MinimalNormMixin, minimal_norm_constraints


@Substitution(**ATTACK_DOCS)
class HopSkipJump(MinimalNormMixin, BlackBoxAttack):
    """HopSkipJump: a label-only attack walking along the decision boundary.

    Needs only ``predict`` (Chen, Jordan & Wainwright 2020). From a
    misclassified starting point (the nearest other sample of the batch that
    the model labels differently, else uniform noise in the bounds or a
    growing box), it repeats: a binary search back to the decision boundary
    between the clean point and the adversarial one; an estimate of the
    boundary's normal from the labels of random points around the boundary
    point; a geometric step along it (halved until still adversarial). Each
    point's smallest adversarial perturbation is kept.

    The search runs in the threat model: immutable features never move, the
    bounds and direction constraints always hold, and sizes are measured in
    the scaled norm ``||delta / w||_p`` (see :meth:`minimal_norms`). With
    ``eps`` set, the output is projected into the ``eps``-ball (a point whose
    smallest adversarial perturbation is larger is then not adversarial).

    Parameters
    ----------
    estimator : estimator, default=None
        Any fitted classifier; only its ``predict`` is used (a model
        differentiable end to end is queried through its torch view, whose
        argmax is ``predict``). An unfitted one is cloned and fitted by
        :meth:`fit`.
    {eps_minimal}
    norm : {"l2", "linf"}, default="l2"
    max_iter : int, default=40
        Boundary steps (gradient estimate, step, binary search) per point.
    max_eval : int, default=10000
        Largest number of queries per gradient estimate.
    init_eval : int, default=100
        Queries of the first gradient estimate (then ``init_eval * sqrt(j)``).
    init_size : int, default=100
        Random draws tried to find a misclassified starting point.
    gamma : float, default=1.0
        Sets the binary search's tolerance ``gamma / d^{3/2}`` (l2) or
        ``gamma / d^2`` (linf), ``d`` the number of mutable features.
    early_stop : bool, default=False
        With ``eps`` set, stop on a point once an adversarial example inside
        the budget is found (robust accuracy needs no more).
    {discrete_features}
    {threat_model_and_run}
    {n_jobs}

    {attributes}

    See Also
    --------
    SquareAttack : the score-based attack (fewer queries when scores exist).

    References
    ----------
    J. Chen, M. I. Jordan, M. J. Wainwright. HopSkipJumpAttack: a
    query-efficient decision-based attack. IEEE S&P 2020.

    Examples
    --------
    >>> from sklearn.datasets import load_breast_cancer
    >>> from sklearn.tree import DecisionTreeClassifier
    >>> from skrobust.attacks import HopSkipJump
    >>> X, y = load_breast_cancer(return_X_y=True)
    >>> tree = DecisionTreeClassifier(max_depth=4, random_state=0).fit(X, y)
    >>> attack = HopSkipJump(tree, max_iter=5, random_state=0)
    >>> X_adv = attack.generate(X[:20], y[:20])
    >>> float(tree.score(X_adv, y[:20]))
    0.0
    >>> norms = attack.minimal_norms(X[:3], y[:3])  # l2, in raw units
    >>> bool((norms > 0).all() and (norms < 100).all())
    True
    """

    _response = "predict"
    _parameter_constraints = {
        **minimal_norm_constraints(BlackBoxAttack),
        "norm": [StrOptions({"l2", "linf"})],
        "max_iter": [Interval(numbers.Integral, 0, None, closed="left")],
        "max_eval": POSITIVE_INT,
        "init_eval": POSITIVE_INT,
        "init_size": POSITIVE_INT,
        "gamma": POSITIVE,
        "early_stop": ["boolean"],
    }

    def __init__(
        self,
        estimator=None,
        *,
        eps=None,
        norm="l2",
        max_iter=40,
        max_eval=10000,
        init_eval=100,
        init_size=100,
        gamma=1.0,
        early_stop=False,
        integer_features=None,
        one_hot_groups=None,
        max_changes=None,
        allowed_categories=None,
        bounds=None,
        feature_mask=None,
        direction=None,
        eps_units="raw",
        batch_size="auto",
        random_state=None,
        verbose=0,
        n_jobs=None,
    ):
        self._set_params(locals())

    def _values_per_sample(self, view, n_features):
        # a point starts from the nearest other sample of its batch, a search
        # that grows with the square of the batch: at most 1024 samples
        return max(n_features, AUTO_BATCH_VALUES // 1024)

    def _minimize(
        self, view, x0, labels, constraints, *, targeted, true_labels, generator
    ):
        return hopskipjump(
            view,
            x0,
            labels,
            **self._unit_box(constraints, x0),
            norm=get_norm(self.norm),
            targeted=targeted,
            max_iter=self.max_iter,
            max_eval=self.max_eval,
            init_eval=self.init_eval,
            init_size=self.init_size,
            gamma=self.gamma,
            radius=constraints.radius,
            early_stop=self.early_stop,
            generator=generator,
        )
