"""The fast gradient sign method (Goodfellow et al. 2015) and its l2 / l1 forms."""

from ..utils import ATTACK_DOCS, Substitution
from ._gradient import GradientAttack


@Substitution(**ATTACK_DOCS)
class FGSM(GradientAttack):
    """One full-budget gradient step: FGSM (l-infinity) or FGM (l2, l1).

    ``x' = clip(x + eps * sign(grad_x L))`` for l-infinity; ``x + eps * g /
    ||g||_2`` for l2; for l1 the budget goes to the coordinates of largest
    ``|g|`` (the top 1 %, at least one). Always clipped to ``bounds``.

    Parameters
    ----------
    {estimator}
    {eps}
    {norm}
    {gradient_loss}
    early_stop : bool, default=False
        Leave samples already misclassified unperturbed.
    {discrete_features}
    {threat_model_and_run}

    {attributes}

    See Also
    --------
    PGD : the iterative attack.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LogisticRegression
    >>> from skrobust.attacks import FGSM
    >>> X = np.array([[0.0, 0.0], [1.0, 1.0]]); y = [0, 1]
    >>> clf = LogisticRegression().fit(X, y)
    >>> FGSM(clf, eps=0.1).generate(X, y)  # each point steps toward the other class
    array([[0.1, 0.1],
           [0.9, 0.9]])
    """

    def __init__(
        self,
        estimator=None,
        *,
        eps,
        norm="linf",
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
        return dict(n_iter=1, rel_step=1.0, random_init=False, n_restarts=1)
