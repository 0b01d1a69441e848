"""``certify`` and ``certified_radius``: one entry point over the method families.

A method family is a subpackage of :mod:`skrobust.certification` offering

* ``METHODS``: the method names it answers;
* ``certify(estimator, X, y, *, eps, norm, bounds, method, feature_mask,
  direction, batch_size)`` -> bool array;
* ``certified_radius(estimator, X, y=None, *, norm, bounds, method,
  feature_mask, direction, max_eps, tol, batch_size)`` -> float array, NaN
  where nothing is certified.

Adding a family is one entry in :data:`FAMILIES`.
"""

from .._models import tabular_input
from ..utils import SHARED_DOCS, Substitution, check_samples
from . import bounds as _bounds
from . import lipschitz as _lipschitz
from . import mip as _mip

FAMILIES = (_bounds, _lipschitz, _mip)
"""The method families, in the order their methods are listed."""

DEFAULT_METHOD = "crown"
"""The default ``method`` of every certification function (the tightest bound,
never looser than IBP; see the user guide)."""


# the parameters both entry points share
_ENTRY_DOCS = {
    "certify_estimator": """\
estimator : fitted classifier
    Anything :func:`skrobust.as_differentiable` accepts, whose network
    (traced, its own ``forward`` included) is made of operations with
    bound rules (see :func:`interval_bounds` and :func:`bound_layer`);
    for ``method="milp"`` also a tree ensemble (decision trees, random
    forests, extra trees, gradient boosting, histogram gradient
    boosting, after per-feature preprocessing in a pipeline).""",
    "certify_method": """\
method : {"ibp", "crown-ibp", "crown", "alpha-crown", "lipschitz", \
"milp"}, default="crown"
    Bound propagation (see :func:`interval_bounds`: each margin comes
    from the cheapest bound that proves it, IBP first, so the default
    pays for CROWN only where IBP fails; ``"alpha-crown"`` optimises
    CROWN's ReLU lower lines for tighter certificates); ``"lipschitz"``:
    the margin over the Lipschitz constant of the margins (see
    :func:`skrobust.certification.lipschitz.certify`); ``"milp"``: exact
    verification of ReLU networks (l-inf and l1) and tree ensembles
    (Kantchelian et al.'s program; l2 too) by mixed-integer programming
    (see :func:`skrobust.certification.mip.certify`).""",
}


def check_not_raw_tabular(estimator):
    """Refuse pipelines reading raw tabular columns (a ``ColumnTransformer``
    or an encoder first): no certificate here covers their categorical and
    integer columns, and a bound over the relaxation would certify rows that
    are not the user's."""
    try:
        tabular = tabular_input(estimator)
    except Exception:  # unfitted or not a pipeline: the family's own error
        return
    if tabular is not None:
        raise ValueError(
            f"certificates do not cover {type(estimator).__name__}s that read raw "
            "tabular columns through a ColumnTransformer or an encoder (categorical "
            "and integer columns are discrete). Attack the pipeline instead (an "
            "upper bound on robust accuracy: skrobust.metrics.robust_accuracy_score), "
            "or certify its model on the encoded features: "
            "certify(pipeline[1:], pipeline[0].transform(X), y, ...), whose region "
            "is in encoded units."
        )


def _family(method):
    """The family answering ``method``."""
    for family in FAMILIES:
        if isinstance(method, str) and method in family.METHODS:
            return family
    methods = tuple(m for family in FAMILIES for m in family.METHODS)
    raise ValueError(f"method must be one of {methods}; got {method!r}.")


@Substitution(**SHARED_DOCS, **_ENTRY_DOCS)
def certify(
    estimator,
    X,
    y,
    *,
    eps,
    norm="linf",
    bounds=None,
    method="crown",
    feature_mask=None,
    direction=None,
    batch_size="auto",
):
    """Whether each sample is certified correct within the ``eps``-ball.

    ``True`` at sample ``x`` proves that the estimator predicts ``y`` at
    every point of the perturbation set around ``x``: the ball, cut by
    ``bounds``, moving only the features of ``feature_mask`` in their
    ``direction`` (the threat model of the attacks). A ``False`` proves
    nothing: the sample may be robust or not. A sample misclassified at
    ``x`` itself is never certified.

    Parameters
    ----------
    {certify_estimator}
    X : array-like of shape (n_samples, ...)
    y : array-like of shape (n_samples,)
        True labels.
    eps : float, array-like or dict
        Radius of the ball: one value, one per feature, or ``{column:
        eps}`` (other columns fixed).
    norm : {"linf", "l2", "l1"}, default="linf"
    bounds : (low, high) or None, default=None
        Valid input domain (scalars or per-feature arrays).
    {certify_method}
    feature_mask : array-like, default=None
        Features that may change (booleans, indices or column names).
    direction : array-like or dict, default=None
        +1: a feature may only increase, -1: only decrease, 0: free.
    batch_size : int or "auto", default="auto"
        Samples certified together (``"auto"``: see :func:`interval_bounds`).

    {certified_returns}

    See Also
    --------
    certified_radius : the largest certified radius of each sample.

    {examples_iris}
    >>> from skrobust.certification import certify
    >>> certified = certify(clf, X, y, eps=0.05)
    >>> bool(certified.mean() <= clf.score(X, y))
    True
    >>> certify(clf, X[:2], y[:2], eps=0.5, feature_mask=[0]).tolist()  # sepal length
    [True, True]
    """
    arguments = locals()  # the family takes the same arguments
    check_not_raw_tabular(estimator)
    check_samples(X, "certify")
    return _family(method).certify(**arguments)


@Substitution(**SHARED_DOCS, **_ENTRY_DOCS)
def certified_radius(
    estimator,
    X,
    y=None,
    *,
    norm="linf",
    bounds=None,
    method="crown",
    feature_mask=None,
    direction=None,
    max_eps=1.0,
    tol=1e-3,
    batch_size="auto",
):
    """The largest certified radius of each sample.

    Every returned radius is certified: the prediction provably holds in
    the ball of that radius (cut by ``bounds``, moving only the features of
    ``feature_mask`` in their ``direction``), so it is a lower bound of the
    true robustness radius. Bound propagation finds it by bisection on
    ``eps`` (to ``tol``), all samples together; the Lipschitz family in
    closed form; MILP exactly. The certificate protocol of
    every skrobust certifier: ``(certified_radius(...) >= r).mean()`` is the
    certified accuracy at ``r``.

    Parameters
    ----------
    {certify_estimator}
    X : array-like of shape (n_samples, ...)
    y : array-like of shape (n_samples,), default=None
        True labels; ``None``: the radius of the predicted class.
    norm : {"linf", "l2", "l1"}, default="linf"
    bounds : (low, high) or None, default=None
        Valid input domain.
    {certify_method}
        Radii: exact with ``"milp"`` (within its time limit), in closed form
        with ``"lipschitz"``, by bisection on ``eps`` otherwise.
    feature_mask : array-like, default=None
        Features that may change; the radius counts only them.
    direction : array-like or dict, default=None
        +1: a feature may only increase, -1: only decrease, 0: free.
    max_eps : float, default=1.0
        Largest radius tried (samples certified there get ``max_eps``).
    tol : float, default=1e-3
        Width of the final bisection interval (bound propagation).
    batch_size : int or "auto", default="auto"

    {radius_returns}
        Certified radius; NaN where nothing is certified: a sample
        misclassified at ``x`` itself (when ``y`` is given) or on a tie of
        its top classes.

    {examples_iris}
    >>> from skrobust.certification import certified_radius
    >>> radius = certified_radius(clf, X[:4], y[:4], max_eps=2.0)
    >>> bool((radius > 0).all())
    True
    >>> certified_radius(clf, X[:1], [1]).tolist()  # misclassified
    [nan]
    """
    arguments = locals()  # the family takes the same arguments
    check_not_raw_tabular(estimator)
    check_samples(X, "certified_radius")
    return _family(method).certified_radius(**arguments)
