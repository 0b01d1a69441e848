"""FAB (Croce & Hein 2020): minimal-norm adversarial examples and their norms."""

import copy
import numbers

import numpy as np
from sklearn.utils._param_validation import Interval

from .._threat import check_eps
from .._torch import torch
from ._apgd import top_classes
from ._base import BaseAttack
from ._functional._fab import fab
from ._functional._norms import _per_sample, get_norm


class FAB(BaseAttack):
    """Fast Adaptive Boundary attack: the smallest perturbation that flips a point.

    Each step linearises the model around the current point, takes the
    closest linearised decision boundary, projects both the current point
    and the clean point onto it (inside the bounds), and moves to a convex
    combination of the two projections, slightly beyond (``eta``); once a
    point is misclassified, it steps back towards the clean point
    (``beta``). The result is the smallest adversarial perturbation found,
    per point. With ``targeted=True`` it is FAB-T, AutoAttack's version: it
    follows, in turn, the boundary towards each of the ``n_target_classes``
    classes the model ranks highest after the true one.

    :meth:`minimal_norms` returns each point's minimal perturbation norm, so
    one run gives robust accuracy at every budget (``robustness_curve`` and
    ``RobustnessCurveDisplay`` use it); :meth:`generate` and
    :meth:`transform` return the minimal adversarial examples, projected
    onto the ``eps``-ball when ``eps`` is set (as in AutoAttack).

    Parameters
    ----------
    estimator : estimator, default=None
        The model to attack (see :class:`PGD`).
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
    targeted : bool, default=False
        FAB-T: one run per target class (the model's next most likely
        classes) instead of the closest boundary among all classes.
    n_target_classes : int, default=9
        Targets of FAB-T (at most ``n_classes - 1``).
    alpha_max : float, default=0.1
        Largest weight of the clean point's projection in each step.
    eta : float, default=1.05
        Overshoot of the projections.
    beta : float, default=0.9
        Backward step towards the clean point after a success.
    bounds, feature_mask, direction, integer_features, one_hot_groups, eps_units
        The threat model (see :class:`PGD`). With ``eps_units="std"`` norms
        are measured in standard deviations of each feature.
    batch_size : int or "auto", default="auto"
    random_state : int, RandomState instance or None, default=None
        Seeds the random restarts.
    verbose : int, default=0

    Attributes
    ----------
    estimator_, n_features_in_, data_min_, data_max_, data_std_
        As for :class:`PGD`.

    See Also
    --------
    AutoAttack : uses FAB-T as its third attack.
    skrobust.metrics.robustness_curve : the whole curve from one FAB run.

    References
    ----------
    F. Croce and M. Hein, "Minimally distorted adversarial examples with a
    fast adaptive boundary attack", ICML 2020.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.linear_model import LogisticRegression
    >>> from skrobust.attacks import FAB
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = LogisticRegression(max_iter=500).fit(X, y)
    >>> norms = FAB(clf, norm="l2", n_iter=20).minimal_norms(X, y)
    >>> bool(np.all(norms[clf.predict(X) != y] == 0) and np.median(norms) < 1)
    True
    """

    _parameter_constraints = {
        **BaseAttack._parameter_constraints,
        "eps": [
            None,
            "array-like",
            dict,
            Interval(numbers.Real, 0, None, closed="left"),
        ],
        "n_iter": [Interval(numbers.Integral, 1, None, closed="left")],
        "n_restarts": [Interval(numbers.Integral, 1, None, closed="left")],
        "targeted": ["boolean"],
        "n_target_classes": [Interval(numbers.Integral, 1, None, closed="left")],
        "alpha_max": [Interval(numbers.Real, 0, 1, closed="both")],
        "eta": [Interval(numbers.Real, 1, None, closed="left")],
        "beta": [Interval(numbers.Real, 0, 1, closed="both")],
    }

    def __init__(
        self,
        estimator=None,
        *,
        norm="linf",
        eps=None,
        n_iter=100,
        n_restarts=1,
        targeted=False,
        n_target_classes=9,
        alpha_max=0.1,
        eta=1.05,
        beta=0.9,
        bounds=None,
        feature_mask=None,
        direction=None,
        integer_features=None,
        one_hot_groups=None,
        eps_units="raw",
        batch_size="auto",
        random_state=None,
        verbose=0,
    ):
        self.estimator = estimator
        self.norm = norm
        self.eps = eps
        self.n_iter = n_iter
        self.n_restarts = n_restarts
        self.targeted = targeted
        self.n_target_classes = n_target_classes
        self.alpha_max = alpha_max
        self.eta = eta
        self.beta = beta
        self.bounds = bounds
        self.feature_mask = feature_mask
        self.direction = direction
        self.integer_features = integer_features
        self.one_hot_groups = one_hot_groups
        self.eps_units = eps_units
        self.batch_size = batch_size
        self.random_state = random_state
        self.verbose = verbose

    # -- the unit of measure and the budget in it --------------------------

    def _per_feature_eps(self):
        return self.eps is not None and (
            isinstance(self.eps, dict) or np.ndim(self.eps) > 0
        )

    def _budget(self):
        """The budget in the norm FAB measures (``None``: unbounded)."""
        if self.eps is None:
            return None
        return 1.0 if self._per_feature_eps() else float(self.eps)

    def _check_budget(self):
        if self.eps is not None:
            check_eps(self.eps)

    def _constraints(self, sample_shape, columns, eps=None):
        if eps is None:  # measure in the raw (or std) units, or in units of eps
            eps = self.eps if self._per_feature_eps() else 1.0
        return super()._constraints(sample_shape, columns, eps=eps)

    # -- the attack --------------------------------------------------------

    def _attack_batch(
        self,
        view,
        x0,
        labels,
        constraints,
        *,
        targeted,
        true_labels,
        generator,
        budget="auto",
    ):
        # ``budget``: in the units of ``constraints`` (AutoAttack passes its
        # own constraints, whose unit is its budget, with budget=1)
        scale, u_low, u_high = constraints.tensors(x0, view.dtype)
        norm = get_norm(self.norm)
        n_classes = view.n_classes
        budget = self._budget() if budget == "auto" else budget
        with torch.no_grad():
            clean = view(x0)
        pred = clean.argmax(dim=1)
        if targeted:
            runs, reach, done = [labels], True, pred == labels
        else:
            reach, done = False, pred != true_labels
            if self.targeted:
                k = min(self.n_target_classes, n_classes - 1)
                runs = list(top_classes(clean, k).T)
            else:
                runs = [None]
        best_u = torch.zeros_like(x0)
        size = torch.where(done, 0.0, float("inf")).to(x0.dtype)
        for targets in runs:
            for restart in range(self.n_restarts):
                # with a budget, points broken within it are done
                active = ~done if budget is None else ~done & (size > budget)
                if restart > 0:  # random restarts refine points found so far
                    radius = size if budget is None else size.clamp_max(budget)
                    active &= torch.isfinite(radius)
                index = torch.nonzero(active)[:, 0]
                if len(index) == 0:
                    continue
                start = None
                if restart > 0:
                    t = norm.random(x0[index], generator) * (scale > 0)
                    t = t / _per_sample(norm.size(t).clamp_min(1e-12), t)
                    start = 0.5 * _per_sample(radius[index], t) * t
                    start = torch.clamp(start, u_low[index], u_high[index])
                u, found = fab(
                    view,
                    x0[index],
                    true_labels[index],
                    norm=norm,
                    scale=scale,
                    u_low=u_low[index],
                    u_high=u_high[index],
                    n_classes=n_classes,
                    targets=None if targets is None else targets[index],
                    reach_target=reach,
                    n_iter=self.n_iter,
                    alpha_max=self.alpha_max,
                    eta=self.eta,
                    beta=self.beta,
                    start=start,
                )
                better = found < size[index]
                best_u[index[better]] = u[better]
                size[index[better]] = found[better]
        if budget is not None and not getattr(self, "_unclipped", False):
            outside = size > budget
            if budget == 0:
                best_u = torch.zeros_like(best_u)
            elif bool(outside.any()):
                best_u = budget * norm.project(best_u / budget)
                best_u = torch.clamp(best_u, u_low, u_high)
        return torch.addcmul(x0, scale, best_u)

    def minimal_norms(self, X, y=None):
        """Each point's smallest adversarial perturbation norm found.

        One run gives robust accuracy at every budget: a point is robust
        within ``eps`` when its norm exceeds ``eps``.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, ...)
        y : array-like of shape (n_samples,), default=None
            True labels; ``None``: the model's predictions.

        Returns
        -------
        norms : ndarray of shape (n_samples,)
            The norm of the example :meth:`generate` returns without a
            budget, in the attack's units (``eps_units``, per-feature
            ``eps``); 0 for points already misclassified, ``inf`` where no
            adversarial example was found.
        """
        unclipped = copy.copy(self)
        unclipped._unclipped = True
        X_adv = unclipped.generate(X, y)
        view = self._view()
        Xw = self._working_space(X, view.preprocess)
        clean = np.asarray(Xw, dtype=np.float64)
        adv = np.asarray(X_adv, dtype=np.float64)
        columns = getattr(Xw, "columns", None)
        if columns is None:
            columns = getattr(self, "feature_names_in_", None)
        scale = self._constraints(clean.shape[1:], columns).scale
        delta = (adv - clean).reshape(len(adv), -1)
        unit = np.broadcast_to(scale, clean.shape[1:]).reshape(-1)
        u = np.divide(delta, unit, out=np.zeros_like(delta), where=unit > 0)
        norms = get_norm(self.norm).size(torch.from_numpy(u)).numpy()
        labels = view.predict(Xw, in_space=True) if y is None else np.asarray(y)
        broken = view.predict(X_adv, in_space=True) != labels
        return np.where(broken, norms, np.inf)
