"""The Square attack (Andriushchenko et al. 2020): score-based, any model."""

import numbers

from sklearn.utils._param_validation import Interval, StrOptions

from .._repair import Repair
from ..utils import ATTACK_DOCS, SHARED_DOCS, Substitution
from ._base import POSITIVE_INT
from ._blackbox import BlackBoxAttack
from ._functional import cross_entropy, cw_margin, square

_LOSSES = {"margin": cw_margin, "ce": cross_entropy}


@Substitution(**ATTACK_DOCS, **SHARED_DOCS)
class SquareAttack(BlackBoxAttack):
    """The Square attack: random square updates, kept when the loss improves.

    A score-based black-box attack (Andriushchenko et al. 2020) that needs
    only the model's scores: the log of ``predict_proba`` or
    ``decision_function`` for any scikit-learn classifier (trees, forests,
    boosting, nearest neighbours, SVMs, pipelines with non-differentiable
    steps), the logits of a network. It never uses gradients. Each step
    changes the current perturbation inside one random window to a vertex
    of the ball (l-infinity) or moves l2 mass into it, and keeps the change
    only if the loss improves. The window covers a fraction ``p`` of the
    features that shrinks with the reference schedule from ``p_init``. A
    point stops once it is adversarial or has used ``n_queries`` queries.

    As in the reference, one window and one set of signs per step are
    shared by the whole batch; each point keeps or drops the change on its
    own loss. Images (samples of two or more dimensions) get the reference's
    squares, one sign per channel. Flat tabular vectors have no spatial
    order: a window is a random subset of the mutable features (the same
    fraction ``p`` of them), with an independent sign per feature.

    Parameters
    ----------
    estimator : estimator, default=None
        The fitted classifier to attack; any scikit-learn classifier with
        ``predict_proba`` or ``decision_function``. A model differentiable
        end to end is queried through its torch view (faster; still no
        gradient). An unfitted one is cloned and fitted by :meth:`fit`.
    {eps}
    norm : {"linf", "l2"}, default="linf"
    n_queries : int, default=5000
        Queries per point (the first is the random initialisation).
    p_init : float, default=0.8
        Initial fraction of the features a window covers.
    loss : {"margin", "ce"}, default="margin"
        The margin ``max_{i != y} z_i - z_y`` or the cross-entropy of the
        scores (targeted: of the target).
    {discrete_features}
    {threat_model_and_run}
    {n_jobs}

    {attributes}

    See Also
    --------
    HopSkipJump : the label-only (decision-based) attack.
    PGD : the white-box attack, for differentiable models.

    References
    ----------
    M. Andriushchenko, F. Croce, N. Flammarion, M. Hein. Square Attack: a
    query-efficient black-box adversarial attack via random search. ECCV 2020.

    {examples_breast_cancer_forest}
    >>> from skrobust.attacks import SquareAttack
    >>> attack = SquareAttack(rf, eps=0.3, eps_units="std", n_queries=50,
    ...                       bounds="data", random_state=0).fit(X)
    >>> X_adv = attack.generate(X[:20], y[:20])
    >>> bool(rf.score(X_adv, y[:20]) < rf.score(X[:20], y[:20]))
    True
    """

    _parameter_constraints = {
        **BlackBoxAttack._parameter_constraints,
        "norm": [StrOptions({"linf", "l2"})],
        "n_queries": POSITIVE_INT,
        "p_init": [Interval(numbers.Real, 0, 1, closed="right")],
        "loss": [StrOptions(set(_LOSSES))],
    }

    def __init__(
        self,
        estimator=None,
        *,
        eps,
        norm="linf",
        n_queries=5000,
        p_init=0.8,
        loss="margin",
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

    def _attack_batch(
        self, view, x0, labels, constraints, *, targeted, true_labels, generator
    ):
        x_adv, _ = self.perturb(
            view, x0, labels, constraints, targeted=targeted, generator=generator
        )
        return x_adv, {}

    def perturb(self, view, x0, labels, constraints, *, targeted=False, generator=None):
        """Square attack on a batch of tensors (the tensor-level entry point).

        Parameters
        ----------
        view : DifferentiableModel or BlackBoxModel
            Queried only (``view(x) -> scores``).
        x0, labels : Tensor
            Clean inputs (in the view's space, dtype and device) and the
            classes to attack (the targets when ``targeted``).
        constraints : Constraints
        targeted : bool, default=False
        generator : torch.Generator, default=None

        Returns
        -------
        x_adv : Tensor
        n_queries : Tensor of int
            Queries spent on each point (0 for points adversarial from the
            start).
        """
        scale, u_low, u_high = constraints.tensors(x0, x0.dtype)
        repair = None
        if constraints.needs_repair:  # discrete constraints hold at every query
            repair = Repair(constraints, x0, self.norm)
        return square(
            view,
            x0,
            labels,
            scale=scale,
            u_low=u_low,
            u_high=u_high,
            box=constraints.input_box(x0),
            loss_fn=_LOSSES[self.loss],
            norm=self.norm,
            targeted=targeted,
            n_queries=self.n_queries,
            p_init=self.p_init,
            generator=generator,
            repair=repair,
        )
