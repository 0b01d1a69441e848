"""Projected gradient descent (Madry et al. 2018)."""

from ..utils import ATTACK_DOCS, SHARED_DOCS, Substitution
from ._base import POSITIVE_INT
from ._gradient import STEP_SIZE, GradientAttack, kept_relative_step


@Substitution(**ATTACK_DOCS, **SHARED_DOCS)
class PGD(GradientAttack):
    """Projected gradient descent, for the l-infinity, l2 and l1 balls.

    From a uniform random point of the ball around ``x`` (or ``x`` itself),
    take ``n_iter`` steepest-ascent steps on the loss, each followed by the
    projection onto the ball and the bounds; with ``n_restarts > 1`` a sample
    not yet adversarial is attacked again from a new random point and keeps
    the restart of highest loss. Targeted through ``generate(..., target=)``.

    Parameters
    ----------
    {estimator}
    {eps}
    {norm}
    n_iter : int, default=10
        Steps per restart.
    step_size : float or array-like, default=None
        Step length, in the units of ``eps``. ``None``: ``2.5 * eps / n_iter``.
    n_restarts : int, default=1
        Random restarts.
    random_init : bool, default=True
        Start from a uniform point of the ball (Madry et al.); ``False``
        starts from ``x`` (the first restart only).
    {gradient_loss}
    {early_stop}
    {discrete_features}
    {threat_model_and_run}

    {attributes}

    See Also
    --------
    FGSM : the one-step attack.

    {examples_breast_cancer}
    >>> from skrobust.attacks import PGD
    >>> clf = model.fit(X, y)
    >>> attack = PGD(clf, eps=0.5, eps_units="std", n_iter=20, random_state=0)
    >>> X_adv = attack.fit(X).generate(X, y)
    >>> bool(clf.score(X_adv, y) < clf.score(X, y))
    True
    """

    _parameter_constraints = {
        **GradientAttack._parameter_constraints,
        "n_iter": POSITIVE_INT,
        "step_size": STEP_SIZE,
        "n_restarts": POSITIVE_INT,
        "random_init": ["boolean"],
    }

    def __init__(
        self,
        estimator=None,
        *,
        eps,
        norm="linf",
        n_iter=10,
        step_size=None,
        n_restarts=1,
        random_init=True,
        loss="ce",
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
    ):
        self._set_params(locals())

    def _schedule(self, constraints):
        return dict(
            n_iter=self.n_iter,
            rel_step=kept_relative_step(self.step_size, constraints, 2.5 / self.n_iter),
            random_init=self.random_init,
            n_restarts=self.n_restarts,
        )
