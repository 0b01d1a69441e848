"""Projected gradient descent (Madry et al. 2018)."""

import numbers

from sklearn.utils._param_validation import Interval

from ._gradient import STEP_SIZE, GradientAttack, relative_step


class PGD(GradientAttack):
    """Projected gradient descent, for the l-infinity, l2 and l1 balls.

    From a uniform random point of the ball around ``x`` (or ``x`` itself),
    take ``n_iter`` steepest-ascent steps on the loss, each followed by the
    projection onto the ball and the bounds; with ``n_restarts > 1`` a sample
    not yet adversarial is attacked again from a new random point and keeps
    the restart of highest loss. Targeted through ``generate(..., target=)``.

    Parameters
    ----------
    estimator : estimator, default=None
        The model to attack: any fitted estimator with a differentiable view
        (see :func:`skrobust.as_differentiable`), used as is. An unfitted one is
        cloned and fitted by :meth:`fit`. ``None`` lets a scorer or a
        meta-estimator supply it.
    eps : float, array-like or dict
        Perturbation budget: one value, one per feature (shape of a sample), or
        a dict ``{column: eps}`` (other columns immutable).
    norm : {"linf", "l2", "l1"}, default="linf"
        The ball. With a per-feature ``eps``, the ball of the scaled norm
        ``||delta / eps||_p <= 1``.
    n_iter : int, default=10
        Steps per restart.
    step_size : float or array-like, default=None
        Step length, in the units of ``eps``. ``None``: ``2.5 * eps / n_iter``.
    n_restarts : int, default=1
        Random restarts.
    random_init : bool, default=True
        Start from a uniform point of the ball (Madry et al.); ``False``
        starts from ``x`` (the first restart only).
    loss : {"ce", "cw", "dlr"}, default="ce"
        Cross-entropy, Carlini-Wagner margin, or Croce & Hein's DLR (needs 3
        classes, 4 targeted; falls back to "cw" with a warning).
    bounds : None, (low, high) or "data", default=None
        Valid input domain: scalars or per-feature arrays (``None`` for an
        open side), or ``"data"``: the per-feature min / max seen in ``fit``.
    feature_mask : array-like, default=None
        Features that may change (booleans, indices, or column names); the
        others stay fixed. ``None``: all may change.
    direction : array-like or dict, default=None
        Per-feature sign constraint: +1 may only increase, -1 only decrease,
        0 free (e.g. ``{"debt": 1}``).
    integer_features : array-like, default=None
        Features that stay an integer number of units from their clean value
        (rounded toward it).
    one_hot_groups : list of array-like, default=None
        Groups of columns forming one-hot encodings; each stays a valid
        one-hot vector (reverted to clean if a category switch does not fit
        in the budget).
    eps_units : {"raw", "std"}, default="raw"
        ``"std"`` reads ``eps`` (and ``step_size``) in units of each feature's
        standard deviation, learned in :meth:`fit`.
    early_stop : bool, default=False
        Stop moving a sample once it is adversarial (robust accuracy needs no
        more; saves time on weak models).
    batch_size : int or "auto", default="auto"
        Samples attacked together; ``"auto"`` sends about 4 million input
        values per batch.
    random_state : int, RandomState instance or None, default=None
        Seeds the random start; makes the attack reproducible.
    verbose : int, default=0
        Show a progress bar over batches.

    Attributes
    ----------
    estimator_ : estimator
        The clone fitted by :meth:`fit` (only when ``estimator`` was unfitted).
    n_features_in_ : int
        Set by :meth:`fit`.
    data_min_, data_max_, data_std_ : ndarray
        Per-feature statistics of the data seen in :meth:`fit`.

    See Also
    --------
    FGSM : the one-step attack.

    Examples
    --------
    >>> from sklearn.datasets import load_breast_cancer
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.preprocessing import StandardScaler
    >>> from skrobust.attacks import PGD
    >>> X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    >>> clf = make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y)
    >>> attack = PGD(clf, eps=0.5, eps_units="std", n_iter=20, random_state=0)
    >>> X_adv = attack.fit(X).generate(X, y)
    >>> bool(clf.score(X_adv, y) < clf.score(X, y))
    True
    """

    _parameter_constraints = {
        **GradientAttack._parameter_constraints,
        "n_iter": [Interval(numbers.Integral, 1, None, closed="left")],
        "step_size": STEP_SIZE,
        "n_restarts": [Interval(numbers.Integral, 1, None, closed="left")],
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
        self.n_iter = n_iter
        self.step_size = step_size
        self.n_restarts = n_restarts
        self.random_init = random_init
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
        return dict(
            n_iter=self.n_iter,
            rel_step=relative_step(self.step_size, constraints.eps, 2.5 / self.n_iter),
            random_init=self.random_init,
            n_restarts=self.n_restarts,
        )
