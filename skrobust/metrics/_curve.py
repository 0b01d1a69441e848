"""Robust accuracy against the budget, in one sweep."""

import numpy as np

from ..utils import SHARED_DOCS, Substitution
from ._inputs import METRIC_DOCS, _check_data, _outputs, checked_view, warn_undefined
from ._robust import _as_attacks, _in_space, _take, attack_for


@Substitution(**SHARED_DOCS, **METRIC_DOCS)
def robustness_curve(estimator, X, y, *, attack, epsilons):
    """Robust accuracy at each budget in ``epsilons``, in one sweep.

    With an attack exposing ``minimal_norms(X, y)`` (minimal-norm attacks)
    the curve comes from one run. Otherwise the budgets are swept in
    increasing order and each runs only on the points that resisted the
    previous one: a point broken within a smaller ball is broken within every
    larger ball, so the robust set at a budget is the intersection of the
    robust sets of every budget up to it, and the curve never increases.
    Points misclassified on clean inputs are never robust.

    Parameters
    ----------
    {estimator_X_y}
    attack : attack or list of attacks
        Its ``eps`` is replaced by each budget; a per-feature ``eps`` (an
        array or a dict ``{column: eps}``) is kept and scaled by each budget,
        which is then a fraction of it (1: the attack's own budget). With
        several attacks, the pointwise worst case at each budget. A
        minimal-norm attack (with a ``minimal_norms(X, y)`` method returning
        each point's smallest adversarial perturbation, ``inf`` or ``nan``
        where none was found) runs once.
    epsilons : array-like of float
        Budgets (scalars, in the attack's units), or multiples of the
        attack's per-feature budget.

    Returns
    -------
    epsilons : ndarray of shape (n_epsilons,)
        The budgets, in the order given.
    robust_accuracy : ndarray of shape (n_epsilons,)

    {examples_iris}
    >>> from skrobust.attacks import PGD
    >>> from skrobust.metrics import robustness_curve
    >>> eps, acc = robustness_curve(clf, X, y, attack=PGD(random_state=0, eps=0),
    ...                             epsilons=[0.0, 0.2, 0.5])
    >>> bool(acc[0] >= acc[1] >= acc[2])
    True
    """
    attacks = _as_attacks(attack)
    epsilons = np.asarray(epsilons, dtype=float)
    if epsilons.ndim != 1 or np.any(epsilons < 0) or not np.all(np.isfinite(epsilons)):
        raise ValueError("epsilons must be a 1-D array of non-negative budgets.")
    X, y = _check_data(X, y, "robustness_curve")
    view = checked_view(estimator, X, y)
    logits, y_pred = _outputs(view, X, in_space=False)
    warn_undefined(logits, "clean points")
    robust = y_pred == y
    # minimal-norm attacks: one run gives every budget (a point is robust
    # within eps when its smallest adversarial perturbation is larger)
    norms = np.full(len(y), np.inf)
    sweep = []
    for a in attacks:
        a = attack_for(a, estimator, X)
        index = np.flatnonzero(robust)
        if hasattr(a, "minimal_norms") and len(index):
            found = np.asarray(a.minimal_norms(_take(X, index), y[index]), float)
            norms[index] = np.minimum(norms[index], np.nan_to_num(found, nan=np.inf))
        elif not hasattr(a, "minimal_norms"):
            sweep.append(a)
    original = {id(a): (a.eps, a.get_params().get("step_size")) for a in sweep}
    accuracy = np.empty(len(epsilons))
    for i in np.argsort(epsilons, kind="stable"):
        robust &= norms > epsilons[i]
        for a in sweep if epsilons[i] > 0 else ():
            index = np.flatnonzero(robust)
            if not len(index):
                break
            X_part, y_part = _take(X, index), y[index]
            budget = _at_budget(a, float(epsilons[i]), *original[id(a)])
            X_adv = budget.generate(X_part, y_part)
            adv_pred = view.predict(X_adv, in_space=_in_space(a, view))
            if getattr(view, "codec", None) is not None:  # the model's own word
                adv_pred = np.asarray(estimator.predict(X_adv))
            robust[index[adv_pred != y_part]] = False
        accuracy[i] = robust.mean()
    return epsilons, accuracy


def _at_budget(attack, eps, eps0, step0):
    """Set ``attack``'s budget to ``eps``, scaling a fixed step size alike.

    ``eps0`` and ``step0`` are the user's budget and step: a fixed absolute
    step would stop a many-step attack from reaching the edge of a larger
    ball, and the curve would level off.
    """
    if isinstance(eps0, dict):  # per-column budgets keep their proportions
        return attack.set_params(eps={k: v * eps for k, v in eps0.items()})
    if np.ndim(eps0) > 0:
        return attack.set_params(eps=np.asarray(eps0, dtype=float) * eps)
    if step0 is not None and eps0 > 0:
        attack.set_params(step_size=np.asarray(step0) * (eps / eps0))
    return attack.set_params(eps=eps)
