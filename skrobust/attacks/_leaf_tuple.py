"""``LeafTupleAttack``: a fast strong attack on tree ensembles, with bounds."""

import numbers
import time
import zlib

import numpy as np
from sklearn.utils import Bunch
from sklearn.utils._param_validation import Interval

from .._models import CliqueBound, LeafSearch
from .._torch import torch
from ..utils import ATTACK_DOCS, SHARED_DOCS, Substitution
from ._base import BaseAttack
from ._minimal import (
    REPAIRS,
    MinimalNormMixin,
    NoRepairsMixin,
    minimal_norm_constraints,
)
from ._model import working_space
from ._tree_view import TreeView

STATUSES = ("certified", "broken", "undecided")


@Substitution(**ATTACK_DOCS, **SHARED_DOCS)
class LeafTupleAttack(NoRepairsMixin, MinimalNormMixin, BaseAttack):
    """Fast strong attack on tree ensembles, with certificates.

    For ensembles too large for the exact program (hundreds of trees), a
    search over *leaf tuples* in the spirit of Zhang, Zhang & Hsieh (2020),
    "An efficient adversarial attack for tree ensembles": the prediction
    only changes when the point enters another leaf of some tree, so each
    step scores, in one batch, the move into every leaf (of every tree)
    that the ball can reach, nearest point first, and takes the best for
    the attacker (greedy descent on the margin, from the clean point and
    ``n_restarts`` random points of the ball). Without ``eps`` it searches
    small adversarial moves: budgets doubling until a first example, a few
    bisections, then moves changing one tree's leaf at a time toward the
    clean point (LT-attack's neighbourhoods). It reads the model's leaf
    boxes (see :class:`DecisionTreeExactAttack` for the models and
    pipelines supported), so one step weighs every threshold at once where
    score-based attacks (:class:`SquareAttack`) sample them.

    :meth:`verify` adds a proof: Chen et al.'s (2019) multi-level clique
    bound of the margin over the ball, so each point is reported
    ``"certified"`` (no adversarial example exists), ``"broken"`` (one is
    returned) or ``"undecided"``.

    Parameters
    ----------
    estimator : estimator, default=None
        A fitted tree model or a pipeline ending in one (see
        :class:`DecisionTreeExactAttack`); an unfitted one is cloned and
        fitted by :meth:`fit`.
    {eps_minimal}
    norm : {"linf", "l2", "l1"}, default="linf"
        The ball (with ``eps``), or the norm minimised (without).
    {threat_model_and_run}
    n_restarts : int, default=2
        Random starting points in the ball, after the clean point.
    max_steps : int, default=200
        Moves per descent.

    {attributes}

    See Also
    --------
    DecisionTreeExactAttack : exact minimal perturbations (a MILP).
    SquareAttack : score-based attack on any model.

    {examples_breast_cancer_forest}
    >>> from skrobust.attacks import LeafTupleAttack
    >>> attack = LeafTupleAttack(rf, eps=0.3, eps_units="std", random_state=0).fit(X)
    >>> X_adv = attack.generate(X[:20], y[:20])
    >>> report = attack.verify(X[:20], y[:20])
    >>> bool(((rf.predict(X_adv) != y[:20]) == (report.status == "broken")).all())
    True
    """

    _parameter_constraints = {
        **minimal_norm_constraints(BaseAttack, *REPAIRS),
        "n_restarts": [Interval(numbers.Integral, 0, None, closed="left")],
        "max_steps": [Interval(numbers.Integral, 1, None, closed="left")],
    }

    def __init__(
        self,
        estimator=None,
        *,
        eps=None,
        norm="linf",
        bounds=None,
        feature_mask=None,
        direction=None,
        eps_units="raw",
        batch_size="auto",
        random_state=None,
        verbose=0,
        n_restarts=2,
        max_steps=200,
    ):
        self._set_params(locals())

    def _view(self):
        return TreeView(self._fitted_estimator(), type(self).__name__)

    def _preprocess_of(self, estimator):
        if estimator is None:
            return None
        return TreeView(estimator, type(self).__name__).preprocess

    def _search(self, view, region, label, target, radius, seed):
        search = LeafSearch(view.ensemble, region, label, target=target)
        rng = np.random.default_rng(seed)
        if np.isfinite(radius):
            x = search.attack(
                radius, n_restarts=self.n_restarts, max_steps=self.max_steps, rng=rng
            )
            size = np.inf if x is None else float(region.size_of(x[None])[0])
        else:
            x, size = search.minimal(n_restarts=self.n_restarts, rng=rng)
        view.n_queries += search.n_evaluations
        return x, size

    @torch.no_grad()
    def _minimize(
        self, view, x0, labels, constraints, *, targeted, true_labels, generator
    ):
        Z0, regions = view.regions(x0, constraints, self.norm)
        radius = float(constraints.radius)
        # one seed per point, from the point itself: results do not depend on
        # the order of the samples or on which others are attacked with them
        base = int(torch.randint(2**31 - 1, (1,), generator=generator))
        seeds = [
            (zlib.crc32(np.ascontiguousarray(z).tobytes()) ^ base) & 0x7FFFFFFF
            for z in Z0
        ]
        out, norms = Z0.copy(), np.full(len(Z0), np.inf)
        for i, region in enumerate(regions):
            label = int(true_labels[i]) if targeted else int(labels[i])
            target = int(labels[i]) if targeted else None
            x, size = self._search(view, region, label, target, radius, seeds[i])
            if x is not None:
                out[i], norms[i] = x, size
        return view.decode(out, x0), torch.as_tensor(norms, device=x0.device)

    def verify(self, X, y=None):
        """Certified, broken or undecided: each point within ``eps``.

        A point is ``"broken"`` when the attack finds an adversarial example
        (returned in ``X_adv``), ``"certified"`` when Chen's clique bound
        proves that none exists in the ball, ``"undecided"`` otherwise.
        Points misclassified clean are ``"broken"``.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_features)
        y : array-like of shape (n_samples,), default=None
            True labels; ``None``: the model's predictions.

        Returns
        -------
        result : Bunch
            ``status`` (ndarray of str), ``X_adv`` (the attack's output, like
            :meth:`generate`'s), ``seconds`` (attack and bound, per point).
        """
        if self.eps is None:
            raise ValueError(
                "verify needs a budget: set eps (certificates are for a ball)."
            )
        start = time.perf_counter()
        X_adv, extras = self._run(X, y)
        seconds = time.perf_counter() - start
        view = self._view()
        Xw = working_space(X, view.preprocess)
        Xa = np.asarray(Xw, dtype=np.float64)
        n = len(Xa)
        columns = getattr(Xw, "columns", getattr(self, "feature_names_in_", None))
        constraints = self._constraints(Xa.shape[1:], columns)
        radius = float(constraints.radius)
        norms = extras.get("norms", np.full(n, np.inf))
        pred = view.ensemble.predict(view.ensemble.encode(Xa))
        labels = pred if y is None else self._encode(view, y, n, "y").numpy()
        status = np.where(norms <= radius, "broken", "undecided").astype(object)
        status[pred != labels] = "broken"
        times = np.full(n, seconds / max(n, 1))
        x0 = torch.as_tensor(Xa)
        _, regions = view.regions(x0, constraints, self.norm)
        for i in np.flatnonzero(status == "undecided"):
            t0 = time.perf_counter()
            bound = CliqueBound(view.ensemble, regions[i], radius)
            if bound.certified(int(labels[i])):
                status[i] = "certified"
            times[i] += time.perf_counter() - t0
        return Bunch(status=status.astype(str), X_adv=X_adv, seconds=times)
