"""The fast gradient sign method (Goodfellow et al. 2015) and its l2 / l1 forms."""

from ._gradient import GradientAttack


class FGSM(GradientAttack):
    """One full-budget gradient step: FGSM (l-infinity) or FGM (l2, l1).

    ``x' = clip(x + eps * sign(grad_x L))`` for l-infinity; ``x + eps * g /
    ||g||_2`` for l2; for l1 the budget goes to the coordinates of largest
    ``|g|`` (the top 1 %, at least one). Always clipped to ``bounds``.

    Parameters
    ----------
    estimator : estimator, default=None
        The model to attack (see :class:`PGD`).
    eps : float, array-like or dict
        Perturbation budget (see :class:`PGD`).
    norm : {"linf", "l2", "l1"}, default="linf"
    loss : {"ce", "cw", "dlr"}, default="ce"
    bounds : None, (low, high) or "data", default=None
    feature_mask : array-like, default=None
    direction : array-like or dict, default=None
    integer_features : array-like, default=None
    one_hot_groups : list of array-like, default=None
    eps_units : {"raw", "std"}, default="raw"
    early_stop : bool, default=False
        Leave samples already misclassified unperturbed.
    batch_size : int or "auto", default="auto"
    random_state : None
        Unused (FGSM is deterministic); kept for a uniform interface.
    verbose : int, default=0

    Attributes
    ----------
    estimator_, n_features_in_, data_min_, data_max_, data_std_
        As for :class:`PGD`.

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
        bounds=None,
        feature_mask=None,
        direction=None,
        integer_features=None,
        one_hot_groups=None,
        eps_units="raw",
        early_stop=False,
        batch_size="auto",
        random_state=None,
        verbose=0,
    ):
        self.estimator = estimator
        self.eps = eps
        self.norm = norm
        self.loss = loss
        self.bounds = bounds
        self.feature_mask = feature_mask
        self.direction = direction
        self.integer_features = integer_features
        self.one_hot_groups = one_hot_groups
        self.eps_units = eps_units
        self.early_stop = early_stop
        self.batch_size = batch_size
        self.random_state = random_state
        self.verbose = verbose

    def _schedule(self, constraints):
        return dict(n_iter=1, rel_step=1.0, random_init=False, n_restarts=1)
