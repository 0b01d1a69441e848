"""``IBPClassifier``: certified training of skorch networks as a meta-estimator."""

import numbers

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, MetaEstimatorMixin
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_array, check_is_fitted

from ..._skorch import (
    META_CONSTRAINTS,
    META_DOCS,
    SKORCH_NETS,
    FittedModelMixin,
    SkorchClassifier,
    as_classifier,
)
from ..._threat import (
    NORMS,
    check_eps,
    needs_data_statistics,
    resolve_constraints,
)
from ..._torch import torch
from ...utils import SHARED_DOCS, Substitution, store_params
from ._bounds import METHODS
from ._certify import certified_radius, certify
from ._training import CertifiedObjective


@Substitution(**SHARED_DOCS, **META_DOCS)
class IBPClassifier(
    FittedModelMixin, MetaEstimatorMixin, ClassifierMixin, BaseEstimator
):
    """Certified training of a skorch network with interval bound propagation.

    ``fit`` trains a copy of the network (``estimator_``) on the loss of
    Gowal et al. (2018), ``kappa * CE(z, y) + (1 - kappa) * CE(z_hat, y)``,
    where ``z_hat`` are the worst-case logits over the ``eps``-ball given by
    interval bound propagation (``method="ibp"``) or by CROWN-IBP
    (``method="crown-ibp"``, Zhang et al. 2020: ``beta * CROWN-IBP + (1 -
    beta) * IBP``). Training runs inside skorch's own loop (the loss is
    computed in ``train_step_single``), so callbacks, history and ``device``
    keep working. The schedule: ``warmup_epochs`` of clean training (eps 0,
    kappa ``kappa_start``), then linear ramps over ``ramp_epochs`` of the
    budget from 0 to ``eps_train_factor * eps``, of kappa to ``kappa_end``
    and of beta from ``beta_start`` to ``beta_end``, updated on every batch.

    The trained network is then certified with :meth:`certify` (is the true
    class provably stable within ``eps``?) and :meth:`certified_radius`.
    Grid-search the training ``eps`` with a fixed-radius certified scorer
    (:func:`skrobust.metrics.make_certified_scorer`).

    Parameters
    ----------
    estimator : skorch net or SkorchClassifier
        A ``NeuralNetClassifier`` or ``NeuralNetBinaryClassifier`` (or a
        :class:`skrobust.SkorchClassifier` around one): the network to
        train (cloned). Its module outputs logits and may have its own
        ``forward`` (residual additions, ``torch.cat``, functional
        activations, ``view``, lazy layers such as ``nn.LazyLinear``): it is
        traced into a graph whose operations need bound rules (see
        :func:`bound_layer`). Bounds use each layer's evaluation behaviour
        (dropout off, batch norm running statistics).
    eps : float, array-like or dict
        The budget to certify: one value, one per feature, or ``{column:
        eps}`` (other columns fixed).
    norm : {"linf", "l2", "l1"}, default="linf"
    bounds : (low, high), "data" or None, default=None
        Valid input domain (e.g. ``(0, 1)`` for images): cuts the balls, in
        training and certification. ``"data"``: the per-feature min / max of
        the training data (test points beyond them stay reachable).
    feature_mask : array-like, default=None
        Features that may change (booleans, indices or column names), in
        training and certification; the others stay fixed.
    direction : array-like or dict, default=None
        Per-feature sign constraint: +1 may only increase, -1 only
        decrease, 0 free (e.g. ``{"debt": 1}``).
    method : {"ibp", "crown-ibp"}, default="ibp"
        The training bound.
    warmup_epochs : int, default=None
        Epochs of clean training first; ``None``: 10 % of the net's
        ``max_epochs``.
    ramp_epochs : int, default=None
        Epochs of the linear ramps; ``None``: 50 % of ``max_epochs``.
    kappa_start, kappa_end : float, default=1.0, 0.5
        Weight of the clean loss before and after the ramp.
    eps_train_factor : float, default=1.1
        Training budget at the end of the ramp, as a multiple of ``eps``.
    beta_start, beta_end : float, default=1.0, 0.0
        CROWN-IBP: weight of the CROWN-IBP bound (against IBP's) before and
        after the ramp.
    certify_method : {"ibp", "crown-ibp", "crown", "alpha-crown"}, \
            default="crown"
        How :meth:`certify` and :meth:`certified_radius` bound the margins,
        the default of every certification function: CROWN methods keep the
        better of their bound and IBP's, and the cheaper bounds run first,
        so on an IBP-trained net CROWN only sees the points IBP leaves.
    {net_dtype}
    random_state : int, RandomState instance or None, default=None
        Seeds the network's training.
    {net_verbose}

    {net_attributes}
    data_min_, data_max_, data_std_ : ndarray of one sample's shape
        Per-feature statistics of the training data (``bounds="data"``).

    See Also
    --------
    certify, certified_radius : the same certificates for any fitted model.
    skrobust.defenses.AdversarialTrainingClassifier : empirical defenses.

    {examples_skorch_iris}
    >>> from skrobust.certification import IBPClassifier
    >>> X = X / X.max(axis=0)
    >>> net = NeuralNetClassifier(
    ...     MLP, module__hidden_layer_sizes=(32,), criterion=torch.nn.CrossEntropyLoss,
    ...     optimizer=torch.optim.Adam, lr=0.01, max_epochs=30, train_split=None,
    ...     verbose=0)
    >>> clf = IBPClassifier(net, eps=0.02, bounds=(0, 1), random_state=0).fit(X, y)
    >>> clf.certify(X[:5], y[:5]).shape
    (5,)
    >>> bool(clf.certify(X, y).mean() <= clf.score(X, y))
    True
    """

    _parameter_constraints = {
        "estimator": [*SKORCH_NETS, SkorchClassifier],
        "eps": ["array-like", dict, Interval(numbers.Real, 0, None, closed="left")],
        "norm": [StrOptions(set(NORMS))],
        "bounds": [None, tuple, list, StrOptions({"data"})],
        "feature_mask": [None, "array-like"],
        "direction": [None, "array-like", dict],
        "method": [StrOptions({"ibp", "crown-ibp"})],
        "warmup_epochs": [None, Interval(numbers.Integral, 0, None, closed="left")],
        "ramp_epochs": [None, Interval(numbers.Integral, 0, None, closed="left")],
        "kappa_start": [Interval(numbers.Real, 0, 1, closed="both")],
        "kappa_end": [Interval(numbers.Real, 0, 1, closed="both")],
        "eps_train_factor": [Interval(numbers.Real, 0, None, closed="left")],
        "beta_start": [Interval(numbers.Real, 0, 1, closed="both")],
        "beta_end": [Interval(numbers.Real, 0, 1, closed="both")],
        "certify_method": [StrOptions(set(METHODS))],
        **META_CONSTRAINTS,
    }

    def __init__(
        self,
        estimator,
        *,
        eps,
        norm="linf",
        bounds=None,
        feature_mask=None,
        direction=None,
        method="ibp",
        warmup_epochs=None,
        ramp_epochs=None,
        kappa_start=1.0,
        kappa_end=0.5,
        eps_train_factor=1.1,
        beta_start=1.0,
        beta_end=0.0,
        certify_method="crown",
        dtype="float32",
        random_state=None,
        verbose=0,
    ):
        store_params(self, locals())

    def _schedule_epochs(self, net):
        max_epochs = int(net.max_epochs)
        warmup = self.warmup_epochs
        ramp = self.ramp_epochs
        if warmup is None:
            warmup = int(round(0.1 * max_epochs))
        if ramp is None:
            ramp = int(round(0.5 * max_epochs))
        return warmup, ramp

    def fit(self, X, y, sample_weight=None):
        """Train a copy of the network on the certified loss.

        {net_fit_parameters}

        Returns
        -------
        self : IBPClassifier
        """
        self._validate_params()
        net = as_classifier(self.estimator).net
        # the threat model needs the sample shape (and data statistics)
        Xa = check_array(X, allow_nd=True, dtype=np.float64)
        check_eps(self.eps)
        if needs_data_statistics(self._threat()):
            flat = Xa.reshape(len(Xa), -1)
            self.data_min_ = flat.min(axis=0).reshape(Xa.shape[1:])
            self.data_max_ = flat.max(axis=0).reshape(Xa.shape[1:])
            self.data_std_ = flat.std(axis=0).reshape(Xa.shape[1:])
        constraints = resolve_constraints(
            self._threat(),
            Xa.shape[1:],
            getattr(X, "columns", None),
            stats=self,
        )
        constraints.check_inside(torch.as_tensor(Xa))
        warmup, ramp = self._schedule_epochs(net)
        objective = CertifiedObjective(
            constraints,
            norm=self.norm,
            method=self.method,
            warmup_epochs=warmup,
            ramp_epochs=ramp,
            kappa_start=self.kappa_start,
            kappa_end=self.kappa_end,
            eps_train_factor=self.eps_train_factor,
            beta_start=self.beta_start,
            beta_end=self.beta_end,
        )
        return self._fit_net(objective, X, y, sample_weight)

    def _threat(self, eps=None):
        return {
            "eps": self.eps if eps is None else eps,
            "bounds": self.bounds,
            "feature_mask": self.feature_mask,
            "direction": self.direction,
        }

    # -- certificates ----------------------------------------------------------

    def certify(self, X, y, *, eps=None):
        """Whether each sample is certified correct within the ``eps``-ball.

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)
        y : array-like of shape (n_samples,)
            True labels.
        eps : float, array-like or dict, default=None
            Radius; ``None``: the ``eps`` trained for.

        {certified_returns}
            ``True`` proves the prediction is ``y`` everywhere in the ball
            (cut by ``bounds``, moving only the features of
            ``feature_mask`` in their ``direction``).

        {examples_skorch_iris}
        >>> from skrobust.certification import IBPClassifier
        >>> net = NeuralNetClassifier(MLP, criterion=torch.nn.CrossEntropyLoss,
        ...                           max_epochs=5, train_split=None, verbose=0)
        >>> clf = IBPClassifier(net, eps=0.05, random_state=0).fit(X / 8, y)
        >>> clf.certify(X[:3] / 8, y[:3], eps=0.01).dtype
        dtype('bool')
        """
        return self._certificates(certify, X, y, **self._threat(eps))

    def certified_radius(self, X, y=None, *, max_eps=1.0, tol=1e-3):
        """Largest certified radius of each sample, by bisection: the protocol.

        The largest ``eps`` (to ``tol``, at most ``max_eps``) at which
        :meth:`certify` succeeds, with one unit of budget per feature of
        ``feature_mask`` (``bounds`` and ``direction`` as trained).
        {radius_protocol}

        {radius_parameters}
        max_eps : float, default=1.0
        tol : float, default=1e-3

        {radius_returns}
            NaN where nothing is certified: a sample misclassified at ``x``
            itself (when ``y`` is given) or on a tie of its top classes.

        Examples
        --------
        >>> import numpy as np
        >>> from sklearn.datasets import load_wine
        >>> from sklearn.preprocessing import minmax_scale
        >>> from skorch import NeuralNetClassifier
        >>> from torch.nn import CrossEntropyLoss
        >>> from skrobust.certification import IBPClassifier
        >>> from skrobust.nn import MLP
        >>> X, y = load_wine(return_X_y=True)
        >>> net = NeuralNetClassifier(MLP, criterion=CrossEntropyLoss, max_epochs=5,
        ...                           train_split=None, verbose=0)
        >>> clf = IBPClassifier(net, eps=0.01, random_state=0)
        >>> radius = clf.fit(minmax_scale(X), y).certified_radius(minmax_scale(X))
        >>> radius.shape, bool((radius[~np.isnan(radius)] >= 0).all())
        ((178,), True)
        """
        threat = self._threat()
        del threat["eps"]
        return self._certificates(
            certified_radius, X, y, max_eps=max_eps, tol=tol, **threat
        )

    def _certificates(self, engine, X, y, **params):
        """``engine`` (:func:`certify` or :func:`certified_radius`) on the
        trained network with ``norm``, ``certify_method`` and ``params``."""
        check_is_fitted(self)
        return engine(
            self.estimator_,
            self._input(X),
            y,
            norm=self.norm,
            method=self.certify_method,
            stats=self,
            **params,
        )

    # -- prediction ------------------------------------------------------------

    def _input(self, X):
        return self.estimator_._validate_X(X)
