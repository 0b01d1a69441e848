"""FAB (Croce & Hein 2020): minimal-norm adversarial examples and their norms."""

import numbers

import numpy as np
from sklearn.utils._param_validation import Interval

from .._torch import torch
from ..utils import ATTACK_DOCS, SHARED_DOCS, Substitution
from ._apgd import FUSE_ELEMENTS
from ._base import FRACTION, POSITIVE_INT, BaseAttack
from ._functional import fab, get_norm, top_classes
from ._functional._norms import _per_sample
from ._minimal import MinimalNormMixin, minimal_norm_constraints


@Substitution(**ATTACK_DOCS, **SHARED_DOCS)
class FAB(MinimalNormMixin, BaseAttack):
    """Fast Adaptive Boundary attack: the smallest perturbation that flips a point.

    Each step linearises the model around the current point, takes the
    closest linearised decision boundary, projects both the current point
    and the clean point onto it (inside the bounds), and moves to a convex
    combination of the two projections, slightly beyond (``eta``); once a
    point is misclassified, it steps back towards the clean point
    (``beta``). The result is the smallest adversarial perturbation found,
    per point. With ``n_target_classes`` it is FAB-T, AutoAttack's version:
    it follows, in turn, the boundary towards each of the
    ``n_target_classes`` classes the model ranks highest after the true one.

    :meth:`minimal_norms` returns each point's minimal perturbation norm, so
    one run gives robust accuracy at every budget (``robustness_curve`` and
    ``RobustnessCurveDisplay`` use it); :meth:`generate` and
    :meth:`transform` return the minimal adversarial examples, projected
    onto the ``eps``-ball when ``eps`` is set (as in AutoAttack).

    Parameters
    ----------
    {estimator}
    norm : {"linf", "l2", "l1"}, default="linf"
        The norm minimised.
    eps : float, array-like, dict or None, default=None
        Budget of the returned examples (``None``: unbounded). With a
        per-feature budget, norms are measured as ``||delta / eps||_p`` (a
        point is robust within the budget when its minimal norm exceeds 1).
        It also sets the radius of random restarts.
    n_iter : int, default=100
        Steps per run.
    n_restarts : int, default=1
        Runs; the first starts from the clean point, the others from a random
        point at half the smallest norm found so far (or of ``eps``). With
        ``eps`` set, only points not yet broken within it are run again.
    n_target_classes : int, default=None
        FAB-T: one run per target class, the model's ``n_target_classes``
        next most likely classes (at most ``n_classes - 1``), instead of
        the closest boundary among all classes. ``None``: untargeted.
    alpha_max : float, default=0.1
        Largest weight of the clean point's projection in each step.
    eta : float, default=1.05
        Overshoot of the projections.
    beta : float, default=0.9
        Backward step towards the clean point after a success.
    {discrete_features}
    {threat_model_and_run}

    {attributes}

    See Also
    --------
    AutoAttack : uses FAB-T as its third attack.
    skrobust.metrics.robustness_curve : the whole curve from one FAB run.

    References
    ----------
    F. Croce and M. Hein, "Minimally distorted adversarial examples with a
    fast adaptive boundary attack", ICML 2020.

    {examples_iris}
    >>> import numpy as np
    >>> from skrobust.attacks import FAB
    >>> norms = FAB(clf, norm="l2", n_iter=20).minimal_norms(X, y)
    >>> bool(np.all(norms[clf.predict(X) != y] == 0) and np.median(norms) < 1)
    True
    """

    _parameter_constraints = {
        **minimal_norm_constraints(BaseAttack),
        "n_iter": POSITIVE_INT,
        "n_restarts": POSITIVE_INT,
        "n_target_classes": [None, *POSITIVE_INT],
        "alpha_max": FRACTION,
        "eta": [Interval(numbers.Real, 1, None, closed="left")],
        "beta": FRACTION,
    }

    # AutoAttack's FAB-T: a point is done once broken within the budget
    _stop_in_budget = False

    def __init__(
        self,
        estimator=None,
        *,
        norm="linf",
        eps=None,
        n_iter=100,
        n_restarts=1,
        n_target_classes=None,
        alpha_max=0.1,
        eta=1.05,
        beta=0.9,
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

    def _minimize(
        self, view, x0, labels, constraints, *, targeted, true_labels, generator
    ):
        space = self._unit_box(constraints, x0)
        w, u_low, u_high = space["w"], space["u_low"], space["u_high"]
        norm = get_norm(self.norm)
        n_classes = view.n_classes
        # with a budget, points broken within it are done
        budget = constraints.radius if np.isfinite(constraints.radius) else None
        with torch.no_grad():
            clean = view(x0)
        pred = clean.argmax(dim=1)
        if targeted:
            runs, reach, done = [labels], True, pred == labels
        else:
            reach, done = False, pred != true_labels
            runs = [None]
            if self.n_target_classes is not None:
                k = min(self.n_target_classes, n_classes - 1)
                runs = list(top_classes(clean, k).T)
        best_u = torch.zeros_like(x0)
        size = torch.where(done, 0.0, float("inf")).to(x0.dtype)
        stop = budget if self._stop_in_budget else None
        # one run per target fused in one batch (each sample's path is its
        # own): the same result as one run after another, where those would
        # attack the same points (no budget, or stopping within it)
        fuse = self.n_restarts == 1 and (budget is None or stop is not None)
        runs = [(targets, r) for targets in runs for r in range(self.n_restarts)]
        while runs:
            count = 1
            if fuse:
                rows = int((~done).sum()) * x0[0].numel()
                count = max(1, min(len(runs), FUSE_ELEMENTS // max(rows, 1)))
            chunk, runs = runs[:count], runs[count:]
            restart = chunk[0][1]
            active = ~done if budget is None else ~done & (size > budget)
            if restart > 0:  # random restarts refine points found so far
                radius = size if budget is None else size.clamp_max(budget)
                active &= torch.isfinite(radius)
            index = torch.nonzero(active)[:, 0]
            if len(index) == 0:
                continue
            start = None
            if restart > 0:
                t = norm.random(x0[index], generator) * (w > 0)
                t = t / _per_sample(norm.size(t).clamp_min(1e-12), t)
                start = 0.5 * _per_sample(radius[index], t) * t
                start = torch.clamp(start, u_low[index], u_high[index])
            rows = index.repeat(len(chunk))
            targets = None
            if chunk[0][0] is not None:
                targets = torch.cat([t[index] for t, _ in chunk])
            u, found = fab(
                view,
                x0[rows],
                true_labels[rows],
                n_classes=n_classes,
                norm=norm,
                scale=w,
                u_low=u_low[rows],
                u_high=u_high[rows],
                targets=targets,
                reach_target=reach,
                n_iter=self.n_iter,
                alpha_max=self.alpha_max,
                eta=self.eta,
                beta=self.beta,
                start=start,
                budget=stop,
                groups=rows if len(chunk) > 1 else None,
            )
            m = len(index)
            for j in range(len(chunk)):  # in the order of separate runs
                part = slice(j * m, (j + 1) * m)
                open_ = torch.ones_like(index, dtype=torch.bool)
                if budget is not None:
                    open_ = size[index] > budget
                better = open_ & (found[part] < size[index])
                best_u[index[better]] = u[part][better]
                size[index[better]] = found[part][better]
        return torch.addcmul(x0, w, best_u), size
