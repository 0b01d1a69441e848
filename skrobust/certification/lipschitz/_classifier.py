"""``LipschitzClassifier``: networks trained under a Lipschitz constraint."""

import numbers

from sklearn.base import BaseEstimator, ClassifierMixin, MetaEstimatorMixin, clone
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted
from skorch import NeuralNetBinaryClassifier

from ..._skorch import (
    META_CONSTRAINTS,
    META_DOCS,
    SKORCH_NETS,
    FittedModelMixin,
    SkorchClassifier,
    as_classifier,
)
from ..._torch import torch
from ...utils import SHARED_DOCS, Substitution, store_params
from ._certify import certified_radius, certify
from ._parametrize import CONSTRAINTS
from ._training import LipschitzObjective


@Substitution(**SHARED_DOCS, **META_DOCS)
class LipschitzClassifier(
    FittedModelMixin, MetaEstimatorMixin, ClassifierMixin, BaseEstimator
):
    """A skorch network trained to be Lipschitz, with l2 certificates.

    ``fit`` trains a copy of the network (``estimator_``) with every dense and
    convolutional weight constrained (orthogonal, spectral-normalized or
    AOL-rescaled, see ``constraint``), optionally with ``GroupSort``
    activations instead of ReLU, on a margin loss that asks every margin
    ``z_y - z_k`` to exceed ``sqrt(2) * margin``: for a 1-Lipschitz network
    that is a certified l2 radius of ``margin``. Training runs in skorch's
    own loop; after it the constrained weights are written back, so the
    fitted network is a plain module.

    Certificates (:meth:`certified_radius`, :meth:`certify`) do not trust
    the constraint: they compute the trained network's margin constants
    (:func:`~skrobust.certification.lipschitz_constant`), so a constraint
    that is only approximate (spectral normalization by power iteration)
    never inflates a radius. Grid-search ``margin`` like an attack's ``eps``,
    with a certified scorer at a fixed radius.

    Parameters
    ----------
    estimator : skorch net or SkorchClassifier
        The network to train (cloned); a chain of layers with known Lipschitz
        constants (see :func:`~skrobust.certification.lipschitz.lipschitz_layer`)
        ending with logits, e.g. :class:`skrobust.nn.MLP`. Its criterion
        is set to ``CrossEntropyLoss`` (``BCEWithLogitsLoss`` for a binary
        net): the outputs are logits.
    margin : float, default=0.5
        The l2 radius the loss asks for (in input units).
    loss : {"margin-ce", "hinge-kr"}, default="margin-ce"
        Certified-margin cross-entropy (Tsuzuku et al. 2018) or the hinge
        plus Kantorovich-Rubinstein loss of deel-lip (Serrurier et al. 2021).
    constraint : {"aol", "orthogonal", "spectral"}, default="aol"
        How weights are kept 1-Lipschitz. ``"aol"``: almost-orthogonal
        rescaling (Prach & Lampert 2022), guaranteed and cheap;
        ``"orthogonal"``: orthogonal dense layers (exactly norm-preserving,
        slower to train; convolutions get AOL); ``"spectral"``: division by a
        power-iteration estimate of the spectral norm (approximate).
    group_sort : bool, default=True
        Replace the network's ReLUs by ``GroupSort(2)`` (norm-preserving, so
        a 1-Lipschitz network loses less capacity; layer widths must be
        even).
    temperature : float, default=8.0
        Softmax temperature of ``"margin-ce"``.
    alpha : float, default=10.0
        Weight of the hinge against the KR term in ``"hinge-kr"``.
    {net_dtype}
    random_state : int, RandomState instance or None, default=None
        Seeds the training.
    {net_verbose}

    {net_attributes}

    See Also
    --------
    skrobust.certification.RandomizedSmoothingClassifier : l2 certificates
        by sampling, for any classifier.

    {examples_skorch_iris}
    >>> from skrobust.certification import LipschitzClassifier
    >>> net = NeuralNetClassifier(
    ...     MLP, module__hidden_layer_sizes=(32,), optimizer=torch.optim.Adam,
    ...     lr=0.01, max_epochs=30, train_split=None, verbose=0)
    >>> clf = LipschitzClassifier(net, margin=0.2, random_state=0).fit(X, y)
    >>> radius = clf.certified_radius(X, y)  # l2, NaN where misclassified
    >>> bool((clf.certify(X, y, eps=0.1) <= (clf.predict(X) == y)).all())
    True
    """

    _parameter_constraints = {
        "estimator": [*SKORCH_NETS, SkorchClassifier],
        "margin": [Interval(numbers.Real, 0, None, closed="left")],
        "loss": [StrOptions({"margin-ce", "hinge-kr"})],
        "constraint": [StrOptions(set(CONSTRAINTS))],
        "group_sort": ["boolean"],
        "temperature": [Interval(numbers.Real, 0, None, closed="neither")],
        "alpha": [Interval(numbers.Real, 0, None, closed="left")],
        **META_CONSTRAINTS,
    }

    def __init__(
        self,
        estimator,
        *,
        margin=0.5,
        loss="margin-ce",
        constraint="aol",
        group_sort=True,
        temperature=8.0,
        alpha=10.0,
        dtype="float32",
        random_state=None,
        verbose=0,
    ):
        store_params(self, locals())

    def fit(self, X, y, sample_weight=None):
        """Train a copy of the network under the Lipschitz constraint.

        {net_fit_parameters}

        Returns
        -------
        self : LipschitzClassifier
        """
        self._validate_params()
        objective = LipschitzObjective(
            loss=self.loss,
            margin=self.margin,
            temperature=self.temperature,
            alpha=self.alpha,
            constraint=self.constraint,
            group_sort=self.group_sort,
        )
        net = _with_logit_criterion(self.estimator)
        return self._fit_net(objective, X, y, sample_weight, net=net)

    def certified_radius(self, X, y=None):
        """Certified l2 radius of each sample (see :func:`lipschitz_constant`).

        {radius_protocol}

        {radius_parameters}

        Returns
        -------
        radius : ndarray of shape (n_samples,)
            No l2 perturbation smaller than it changes the prediction.
        """
        check_is_fitted(self)
        return certified_radius(self.estimator_, self._input(X), y, norm="l2")

    def certify(self, X, y, *, eps):
        """Whether each sample is certified correct within the l2 ball ``eps``.

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)
        y : array-like of shape (n_samples,)
        eps : float or array-like
            l2 radius (one per feature: the scaled ball).

        {certified_returns}
        """
        check_is_fitted(self)
        return certify(self.estimator_, self._input(X), y, eps=eps, norm="l2")

    def _input(self, X):
        return self.estimator_._validate_X(X)


def _with_logit_criterion(estimator):
    """A copy whose criterion reads the module's outputs as logits.

    The margin losses take the outputs as logits; so must the certificates
    (skorch's default ``NLLLoss`` would make them log-probabilities).
    """
    net = as_classifier(estimator).net
    binary = isinstance(net, NeuralNetBinaryClassifier)
    criterion = torch.nn.BCEWithLogitsLoss if binary else torch.nn.CrossEntropyLoss
    name = "net__criterion" if isinstance(estimator, SkorchClassifier) else "criterion"
    return clone(estimator).set_params(**{name: criterion})
