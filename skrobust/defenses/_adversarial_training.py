"""``AdversarialTrainingClassifier``: robust training as a meta-estimator."""

import numbers
import warnings

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, MetaEstimatorMixin, clone
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import (
    _check_sample_weight,
    check_array,
    check_consistent_length,
    check_is_fitted,
    column_or_1d,
    validate_data,
)

from .._models import is_tree_model
from .._skorch import META_CONSTRAINTS, META_DOCS, FittedModelMixin, is_skorch
from .._threat import check_eps
from .._torch import torch
from ..attacks import PGD, GradientAttack
from ..utils import SHARED_DOCS, Substitution, store_params
from ._augmentation import concat_rows, fit_augmented
from ._linear import fit_robust_logistic, robust_logistic_supported
from ._objectives import LOSSES, AdversarialObjective
from ._raw_training import fit_raw_gradient, raw_gradient_supported, reads_raw_columns
from ._tree_training import fit_trees_adversarially


@Substitution(**SHARED_DOCS, **META_DOCS)
class AdversarialTrainingClassifier(
    FittedModelMixin, MetaEstimatorMixin, ClassifierMixin, BaseEstimator
):
    """Train a classifier to resist an attack (adversarial training).

    ``fit`` trains a copy of ``estimator`` (``estimator_``) so that it stays
    accurate under ``attack``'s threat model:

    * **skorch networks** (``NeuralNetClassifier``,
      ``NeuralNetBinaryClassifier``, or a :class:`skrobust.SkorchClassifier`)
      train inside skorch's own loop: every batch is perturbed in
      ``train_step_single`` (with the module in eval mode, restored after),
      so callbacks, history, ``EarlyStopping``, checkpoints and ``device``
      keep working. Losses: ``"madry"`` (PGD adversarial training, Madry et
      al. 2018), ``"trades"`` (Zhang et al. 2019), ``"fast"`` (FGSM with a
      random start, Wong et al. 2020, with a catastrophic-overfitting guard)
      and ``"input_gradient"`` (input-gradient regularisation, double
      backprop).
    * **networks behind a ColumnTransformer**: a ``Pipeline`` starting with
      a ``ColumnTransformer`` or an encoder and ending in an
      ``MLPClassifier`` (stochastic solver) or a ``SkorchClassifier`` trains
      its network by gradient in the raw columns: the preprocessing is
      fitted once, and before every epoch after the first (``max_iter`` /
      ``max_epochs``) ``attack`` perturbs the raw training rows against the
      current weights, categorical and integer columns repaired inside its
      loop; the network then trains one epoch (``partial_fit``) on the
      transformed adversarial rows.
    * **LogisticRegression** (alone or after affine steps such as
      ``StandardScaler`` or ``PCA``): the exact robust objective in closed
      form (the worst-case margin ``z_y - z_k - ||eps * (w_y - w_k)||_q``,
      ``q`` the dual norm, in raw feature units); ``estimator_`` is a fitted
      estimator of the same kind.
    * **tree models** (decision trees, random forests, extra trees,
      gradient boosting, histogram gradient boosting, alone or after
      per-feature steps): adversarial data augmentation in ``n_rounds``
      rounds with :class:`skrobust.attacks.LeafTupleAttack`, a strong attack
      that reads the trees, under ``attack``'s threat model (its ``eps``,
      ``norm``, ``bounds``, ``feature_mask``, ``direction``, ``eps_units``).
      The robust accuracy of the result and of the standard model under that
      attack are kept in ``robust_scores_``; a warning says when training
      lowered it (then prefer
      :class:`skrobust.defenses.RobustRandomForestClassifier`).
    * **any other classifier**: adversarial data augmentation in
      ``n_rounds`` rounds (attack the current model, refit on the clean data
      plus the adversarial examples of every round so far). Models without
      gradients are attacked through a differentiable ``surrogate`` trained
      to mimic them (a transfer attack).
      This is a weaker defense than the two above.

    Grid-search the training budget as ``attack__eps`` (and the steps as
    ``attack__n_iter``) while scoring with a fixed-budget robust scorer
    (:func:`skrobust.metrics.make_robust_scorer`).

    Parameters
    ----------
    estimator : classifier
        The model to train (unfitted; cloned in :meth:`fit`).
    attack : gradient attack, default=None
        The threat model and inner maximisation (its ``estimator`` is
        ignored). ``None``: ``PGD(eps=0.1, n_iter=7)``, a budget suited to
        inputs scaled to [0, 1].
    loss : {"madry", "trades", "fast", "input_gradient"}, default="madry"
        The training objective (skorch networks; other models use "madry").
    beta : float, default=6.0
        TRADES' weight of the robustness (KL) term.
    clean_ratio : float, default=0.0
        ``"madry"``: weight of the clean loss mixed with the adversarial one.
    gradient_penalty : float, default=1.0
        ``"input_gradient"``: weight of ``||grad_x CE||_2^2``.
    eps_warmup : int, default=0
        Epochs over which the budget ramps up linearly to ``eps``.
    overfitting_guard : bool, default=True
        ``"fast"``: check PGD accuracy on a training batch after every epoch
        and stop, restoring the best epoch, when it collapses.
    n_rounds : int, default=3
        Rounds of adversarial data augmentation (tree models and other
        classifiers); the
        last model is fitted on ``n_rounds + 1`` times the data.
    surrogate : classifier, default=None
        Differentiable model mimicking a non-differentiable ``estimator``
        during augmentation; ``None``: a scaled logistic regression (after
        one-hot encoding the string and category columns of a DataFrame).
    {net_dtype}
    random_state : int, RandomState instance or None, default=None
        Seeds the network's training and the attacks.
    verbose : int, default=0
        ``1``: for skorch networks, skorch's per-epoch training log (the
        net's history) and a progress bar over each epoch's batches (``0``
        leaves the net's own ``verbose``); for adversarial data
        augmentation, a progress bar over the rounds.

    Attributes
    ----------
    estimator_ : classifier
        The trained model (a :class:`skrobust.SkorchClassifier` for skorch
        networks).
    fit_method_ : {"skorch", "raw_gradient", "closed_form", "trees", "augmentation"}
    robust_scores_ : dict
        Tree models and augmentation: robust accuracy on the training data
        under the tree attack (the training attack for augmentation) of the
        standard model (``"standard"``) and of the trained one
        (``"trained"``); training that lowers it warns. ``"raw_gradient"``:
        ``"epochs"``, the robust accuracy on the training data under the
        training attack before each adversarial epoch.
    classes_ : ndarray of shape (n_classes,)
    n_features_in_ : int
    feature_names_in_ : ndarray
        When ``X`` has string column names.

    {examples_breast_cancer}
    >>> from skrobust.attacks import PGD
    >>> from skrobust.defenses import AdversarialTrainingClassifier
    >>> from skrobust.metrics import robust_accuracy_score
    >>> attack = PGD(eps=0.2, eps_units="std", random_state=0)
    >>> robust = AdversarialTrainingClassifier(model, attack=attack).fit(X, y)
    >>> robust.fit_method_
    'closed_form'
    >>> standard = model.fit(X, y)
    >>> a = robust_accuracy_score(robust, X, y, attack=attack.fit(X))
    >>> b = robust_accuracy_score(standard, X, y, attack=attack.fit(X))
    >>> bool(a > b)
    True
    """

    _parameter_constraints = {
        "estimator": [HasMethods(["fit", "predict"])],
        "attack": [None, GradientAttack],
        "loss": [StrOptions(set(LOSSES))],
        "beta": [Interval(numbers.Real, 0, None, closed="left")],
        "clean_ratio": [Interval(numbers.Real, 0, 1, closed="both")],
        "gradient_penalty": [Interval(numbers.Real, 0, None, closed="left")],
        "eps_warmup": [Interval(numbers.Integral, 0, None, closed="left")],
        "overfitting_guard": ["boolean"],
        "n_rounds": [Interval(numbers.Integral, 1, None, closed="left")],
        "surrogate": [None, HasMethods(["fit", "predict"])],
        **META_CONSTRAINTS,
    }

    def __init__(
        self,
        estimator,
        *,
        attack=None,
        loss="madry",
        beta=6.0,
        clean_ratio=0.0,
        gradient_penalty=1.0,
        eps_warmup=0,
        overfitting_guard=True,
        n_rounds=3,
        surrogate=None,
        dtype="float32",
        random_state=None,
        verbose=0,
    ):
        store_params(self, locals())

    def fit(self, X, y, sample_weight=None):
        """Train a copy of ``estimator`` adversarially.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, ...)
        y : array-like of shape (n_samples,)
        sample_weight : array-like of shape (n_samples,), default=None
            Weights of the samples in the training objective: per-sample
            losses of each batch are averaged with these weights (skorch
            networks, every loss term), they weight the closed-form robust
            loss, and the augmentation fits (tree models too) pass them
            (repeated for every copy) to the estimator's ``fit`` (a
            ``Pipeline``: to its final step). Under metadata routing, request them with
            ``set_fit_request(sample_weight=True)``.

        Returns
        -------
        self : AdversarialTrainingClassifier
        """
        self._validate_params()
        attack = (
            clone(self.attack) if self.attack is not None else PGD(eps=0.1, n_iter=7)
        )
        attack.set_params(estimator=None, random_state=self.random_state)
        estimator = self.estimator
        if sample_weight is not None:
            sample_weight = _check_sample_weight(sample_weight, X)
        if is_skorch(estimator):
            self._fit_skorch(X, y, attack, sample_weight)
        else:
            if self.loss != "madry":
                raise ValueError(
                    f"loss={self.loss!r} trains skorch networks; "
                    f"{type(estimator).__name__} is trained on adversarial "
                    "examples (loss='madry')."
                )
            y = self._check_X_y(X, y)
            if robust_logistic_supported(estimator):
                self._fit_closed_form(X, y, attack, sample_weight)
            elif is_tree_model(estimator):
                self.estimator_, self.robust_scores_ = fit_trees_adversarially(
                    estimator,
                    X,
                    y,
                    attack,
                    n_rounds=self.n_rounds,
                    concat=concat_rows,
                    seed=self.random_state,
                    sample_weight=sample_weight,
                )
                self.fit_method_ = "trees"
            else:
                self._fit_augmented(X, y, attack, sample_weight)
        return self._set_model(self.estimator_)

    def _fit_augmented(self, X, y, attack, sample_weight):
        if raw_gradient_supported(self.estimator):
            fitted = fit_raw_gradient(
                self.estimator,
                X,
                y,
                attack,
                sample_weight=sample_weight,
                verbose=self.verbose,
            )
            if fitted is not None:
                self.estimator_, self.robust_scores_ = fitted
                self.fit_method_ = "raw_gradient"
                return
        self.estimator_, self.robust_scores_ = fit_augmented(
            self.estimator,
            X,
            y,
            attack,
            n_rounds=self.n_rounds,
            surrogate=self.surrogate,
            sample_weight=sample_weight,
            verbose=self.verbose,
            desc=type(self).__name__,
        )
        self.fit_method_ = "augmentation"

    @staticmethod
    def _threat_of(attack, X):
        """The attack's threat model on ``X``, after the attack's own checks
        (parameters, budget, ``X`` inside its bounds) as it would run them at
        ``generate``: the skorch loop calls its tensor routine and the closed
        form reads its budget, neither of which checks anything."""
        attack.fit(X)  # per-feature statistics and names for the budget
        check_eps(attack.eps)
        Xa = check_array(X, allow_nd=True, dtype=np.float64)
        columns = getattr(attack, "feature_names_in_", None)
        constraints = attack.threat_model(Xa.shape[1:], columns)
        constraints.check_inside(torch.as_tensor(Xa))
        return constraints

    def _fit_skorch(self, X, y, attack, sample_weight):
        self._threat_of(attack, X)
        objective = AdversarialObjective(
            attack,
            self.loss,
            beta=self.beta,
            clean_ratio=self.clean_ratio,
            gradient_penalty=self.gradient_penalty,
            eps_warmup=self.eps_warmup,
            guard=self.overfitting_guard,
        )
        self._fit_net(objective, X, y, sample_weight)
        self.fit_method_ = "skorch"

    def _fit_closed_form(self, X, y, attack, sample_weight):
        constraints = self._threat_of(attack, X)
        ignored = [
            name
            for name, used in (
                ("integer_features / one_hot_groups", constraints.needs_repair),
                ("direction", constraints.direction is not None),
                (
                    "bounds",
                    np.isfinite(constraints.low).any()
                    or np.isfinite(constraints.high).any(),
                ),
            )
            if used
        ]
        if ignored:
            warnings.warn(
                "the closed-form robust logistic regression trains against the "
                f"whole ball of the budget and ignores {ignored}: it defends a "
                "larger set than the attack's threat model (more conservative, "
                "possibly less accurate).",
                UserWarning,
                stacklevel=3,
            )
        self.estimator_ = fit_robust_logistic(
            self.estimator,
            X,
            y,
            constraints.scale,
            attack.norm,
            sample_weight=sample_weight,
        )
        self.fit_method_ = "closed_form"

    # -- prediction ------------------------------------------------------------

    def _check_X_y(self, X, y):
        """Check what attacks need (dense, finite, 2-d numbers); ``X`` itself is
        passed on, so DataFrames keep their columns for the estimator."""
        if not reads_raw_columns(self.estimator):
            check_array(X, dtype="numeric")
        validate_data(self, X, skip_check_array=True)
        y = column_or_1d(y, warn=True)
        check_consistent_length(X, y)
        check_classification_targets(y)
        return y

    def _check_X(self, X):
        check_is_fitted(self)
        # a ColumnTransformer reads its columns by name (in any order)
        if self.fit_method_ != "skorch" and not reads_raw_columns(self.estimator):
            check_array(X, dtype="numeric")
            validate_data(self, X, reset=False, skip_check_array=True)
        return X

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        skorch = is_skorch(self.estimator)
        tags.input_tags.three_d_array = skorch
        if not skorch:  # attacks need dense, finite inputs; one label per sample
            tags.input_tags.sparse = False
            tags.input_tags.allow_nan = False
            tags.classifier_tags.multi_label = False
            tags.target_tags.multi_output = False
        return tags
