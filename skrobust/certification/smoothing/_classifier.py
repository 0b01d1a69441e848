"""``RandomizedSmoothingClassifier``: Cohen et al.'s certified smoothed classifier."""

import numbers

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, MetaEstimatorMixin
from sklearn.exceptions import NotFittedError
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import (
    _check_sample_weight,
    check_is_fitted,
    validate_data,
)

from ..._models import to_torch
from ..._skorch import META_CONSTRAINTS, META_DOCS, as_classifier, is_skorch
from ...attacks import GradientAttack
from ...utils import SHARED_DOCS, Substitution, store_params
from ._attack import smoothed_module
from ._counts import torch_view
from ._smoothed import _MAX_SEED, SmoothedClassifierMixin
from ._training import fit_augmented, fit_skorch

try:  # scikit-learn >= 1.6
    from sklearn.frozen import FrozenEstimator
except ImportError:  # pragma: no cover
    FrozenEstimator = ()

_FLOATS = (np.float64, np.float32)


@Substitution(**SHARED_DOCS, **META_DOCS)
class RandomizedSmoothingClassifier(
    SmoothedClassifierMixin, MetaEstimatorMixin, ClassifierMixin, BaseEstimator
):
    """Randomized smoothing: a classifier with certified L2 robustness.

    The smoothed classifier ``g(x)`` predicts the class the base classifier
    ``f`` returns most often on ``x + d``, ``d ~ N(0, sigma^2 I)`` (Cohen,
    Rosenfeld & Kolter 2019). If that class has probability at least ``pA``,
    ``g`` is constant within the L2 ball of radius ``sigma * Phi^-1(pA)``.
    :meth:`certify` estimates ``pA`` by Monte Carlo and returns that radius,
    valid with probability at least ``1 - alpha``. It works with any
    classifier: only the base's predictions on noisy inputs are needed.

    **Training** (:meth:`fit`). The base must be accurate under noise:

    * skorch networks (``NeuralNetClassifier``, ``NeuralNetBinaryClassifier``
      or :class:`skrobust.SkorchClassifier`) train inside skorch's own loop
      with fresh noise on every batch (``training="noise"``), or with
      SmoothAdv (``training="smoothadv"``, Salman et al. 2019: PGD on the
      smoothed classifier within the training step); ``estimator_`` is a
      :class:`skrobust.SkorchClassifier`;
    * any other classifier (forests, boosting, SVC, pipelines, ...) is
      fitted on ``n_noise_copies`` noisy copies of the training set (noise
      only, no clean copy: ``g`` only ever queries noisy points);
    * a fitted base is used as is with ``prefit=True`` or when wrapped in
      ``sklearn.frozen.FrozenEstimator`` (``fit`` then only records the input
      format and, for ``prefit``, needs no ``y``).

    **Counting.** Noisy samples of many points fill each batch of
    ``batch_size``. torch-backed models (skorch networks) are evaluated on
    their device in ``torch.inference_mode`` with noise drawn there;
    scikit-learn models through ``predict`` on chunks of ``batch_size`` rows.

    **Attacking it.** ``skrobust.as_differentiable(rs)`` is the smoothed
    soft classifier ``log mean_k softmax(f(x + sigma d_k))`` over
    ``n_noise_attack`` fresh draws (when the base is differentiable), so
    every skrobust white-box attack and robust scorer attacks the smoothed
    model itself (SmoothAdv's adaptive attack), e.g. to check certificates
    empirically.

    Parameters
    ----------
    estimator : classifier
        The base classifier ``f``.
    sigma : float, default=0.25
        Noise standard deviation, in the units of the raw features (scale
        tabular data first). Larger values certify larger radii but lower
        clean accuracy.
    n_samples : int, default=100_000
        Cohen's ``n``: noise draws per point to bound ``pA`` in
        :meth:`certify`. The largest certifiable radius is
        ``sigma * Phi^-1(alpha ** (1 / n_samples))`` (3.81 sigma by default,
        2.46 sigma at 1,000 draws).
    n_samples_select : int, default=100
        Cohen's ``n0``: separate draws choosing the class to certify.
    n_samples_predict : int, default=1_000
        Draws per point in :meth:`predict`, :meth:`predict_abstain` and
        :meth:`predict_proba`.
    alpha : float, default=0.001
        Failure probability of each certificate and of each PREDICT test.
    training : {"noise", "smoothadv"}, default="noise"
        Training of skorch networks (other models use noise augmentation).
    attack : gradient attack, default=None
        ``training="smoothadv"``: the inner attack on the smoothed
        classifier (its ``estimator`` is ignored). ``None``:
        ``PGD(eps=2 * sigma, norm="l2", n_iter=2)``, Salman et al.'s setting.
    n_noise_attack : int, default=8
        Noise draws per input wherever the smoothed classifier is
        differentiated: its view (:func:`skrobust.as_differentiable`) and
        SmoothAdv's inner attack (Salman et al.'s ``m``).
    n_noise_copies : int, default=10
        Noisy copies of the training set for non-skorch estimators.
    prefit : bool, default=False
        Use the fitted ``estimator`` as is; :meth:`fit` does not train it.
        ``clone`` (hence ``GridSearchCV``) unfits such an estimator: wrap it
        in ``sklearn.frozen.FrozenEstimator`` instead to grid-search
        ``sigma`` over a fixed base.
    batch_size : int or "auto", default="auto"
        Noisy samples per forward pass (or ``predict`` call) when counting;
        bounds memory. ``"auto"``: about 4 million input values per batch,
        as the attacks (65,536 noisy 8x8 images, 5,349 of 28x28).
    {net_dtype}
    random_state : int, RandomState instance or None, default=None
        Seeds the training noise, the network's training and the counting
        noise; with an int, certificates and predictions are reproducible.
    verbose : int, default=0
        Progress bars over the counting batches; when a skorch network is
        trained, skorch's per-epoch log and a progress bar over its batches.
    n_jobs : int or None, default=None
        Count the noisy predictions of a scikit-learn base (counted through
        ``predict``) in parallel with joblib: the points go out in chunks of
        64, each with its own seed drawn from ``random_state``, so counts and
        certificates are the same for every integer ``n_jobs``. A torch-backed
        base counts on its device in one process (``None`` also: one random
        stream through all points).

    Attributes
    ----------
    estimator_ : classifier
        The fitted base classifier (``estimator`` itself when prefitted).
    fit_method_ : {"skorch", "augmentation", "prefit"}
        How the base was obtained: trained in skorch's loop, fitted on noisy
        copies, or used as given.
    counting_ : {"torch", "predict"}
        How noisy samples are classified: the differentiable view on the
        device, or the base's ``predict``.
    classes_ : ndarray of shape (n_classes,)
        The class labels (the base's ``classes_``).
    n_features_in_ : int
        Number of features (``X.shape[1]``) seen in :meth:`fit`.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        When ``X`` has string column names.
    input_shape_ : tuple of int
        Shape of one sample seen in :meth:`fit`.
    norm : str
        ``"l2"``, the norm of the certified radii (a class attribute).

    See Also
    --------
    skrobust.metrics.certified_accuracy_score, skrobust.metrics.make_certified_scorer

    References
    ----------
    J. Cohen, E. Rosenfeld, Z. Kolter. Certified Adversarial Robustness via
    Randomized Smoothing. ICML 2019.
    H. Salman et al. Provably Robust Deep Learning via Adversarially Trained
    Smoothed Classifiers. NeurIPS 2019.

    Examples
    --------
    >>> from sklearn.datasets import load_wine
    >>> from sklearn.ensemble import RandomForestClassifier
    >>> from sklearn.preprocessing import scale
    >>> from skrobust.certification import RandomizedSmoothingClassifier
    >>> X, y = load_wine(return_X_y=True)
    >>> X = scale(X)
    >>> rs = RandomizedSmoothingClassifier(
    ...     RandomForestClassifier(n_estimators=20, random_state=0), sigma=0.5,
    ...     n_samples=1000, n_noise_copies=5, random_state=0).fit(X, y)
    >>> y_pred, radius = rs.certify(X[:5])
    >>> y_pred
    array([0, 0, 0, 0, 0])
    >>> bool((radius > 0.3).all())
    True
    """

    norm = "l2"  # the norm of the certified radii (read by displays)

    _parameter_constraints = {
        "estimator": [HasMethods(["predict"])],
        "sigma": [Interval(numbers.Real, 0, None, closed="neither")],
        "n_samples": [Interval(numbers.Integral, 1, None, closed="left")],
        "n_samples_select": [Interval(numbers.Integral, 1, None, closed="left")],
        "n_samples_predict": [Interval(numbers.Integral, 1, None, closed="left")],
        "alpha": [Interval(numbers.Real, 0, 1, closed="neither")],
        "training": [StrOptions({"noise", "smoothadv"})],
        "attack": [None, GradientAttack],
        "n_noise_attack": [Interval(numbers.Integral, 1, None, closed="left")],
        "n_noise_copies": [Interval(numbers.Integral, 1, None, closed="left")],
        "prefit": ["boolean"],
        "batch_size": [
            Interval(numbers.Integral, 1, None, closed="left"),
            StrOptions({"auto"}),
        ],
        **META_CONSTRAINTS,
        "n_jobs": [None, numbers.Integral],
    }

    def __init__(
        self,
        estimator,
        *,
        sigma=0.25,
        n_samples=100_000,
        n_samples_select=100,
        n_samples_predict=1_000,
        alpha=0.001,
        training="noise",
        attack=None,
        n_noise_attack=8,
        n_noise_copies=10,
        prefit=False,
        batch_size="auto",
        dtype="float32",
        random_state=None,
        verbose=0,
        n_jobs=None,
    ):
        store_params(self, locals())

    # -- fitting ---------------------------------------------------------------

    def _is_prefit(self):
        return self.prefit or isinstance(self.estimator, FrozenEstimator)

    def fit(self, X, y=None, sample_weight=None):
        """Train the base classifier under noise (or take a prefitted one).

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, ...)
            Numeric training data; n-d arrays (images) for skorch networks.
        y : array-like of shape (n_samples,)
            Class labels of any type; optional with a prefitted base.
        sample_weight : array-like of shape (n_samples,), default=None
            Weights of the samples: a skorch network averages each batch's
            per-sample losses with them; another classifier gets them,
            repeated for every noisy copy, in its ``fit`` (a ``Pipeline``: its
            final step). Unused with a prefitted base. Under metadata routing,
            request them with ``set_fit_request(sample_weight=True)``.

        Returns
        -------
        self : RandomizedSmoothingClassifier
        """
        self._validate_params()
        rng = check_random_state(self.random_state)
        if self._is_prefit():
            self._validate(X, reset=True)
            self.estimator_ = self.estimator
            try:
                check_is_fitted(self.estimator_)
            except NotFittedError as exc:
                raise NotFittedError(
                    f"{exc} With prefit=True the estimator must be fitted; note "
                    "that clone() (and so GridSearchCV) returns an unfitted copy: "
                    "wrap a fitted estimator in sklearn.frozen.FrozenEstimator "
                    "to keep it fitted through clone."
                ) from None
            self.fit_method_ = "prefit"
        else:
            Xa, y = self._validate(X, y, reset=True)
            check_classification_targets(y)
            if sample_weight is not None:
                sample_weight = _check_sample_weight(sample_weight, Xa)
            if is_skorch(self.estimator):
                self.estimator_ = fit_skorch(
                    self.estimator,
                    Xa,
                    y,
                    sigma=self.sigma,
                    training=self.training,
                    attack=self.attack,
                    n_noise=self.n_noise_attack,
                    dtype=self.dtype,
                    seed=int(rng.randint(_MAX_SEED)),
                    sample_weight=sample_weight,
                    verbose=self.verbose,
                )
                self.fit_method_ = "skorch"
            else:
                if self.training != "noise":
                    raise ValueError(
                        f"training={self.training!r} trains skorch networks; "
                        f"{type(self.estimator).__name__} is trained on noisy "
                        "copies of the data (training='noise')."
                    )
                self.estimator_ = fit_augmented(
                    self.estimator,
                    Xa,
                    y,
                    sigma=self.sigma,
                    n_copies=self.n_noise_copies,
                    rng=rng,
                    columns=getattr(self, "feature_names_in_", None),
                    sample_weight=sample_weight,
                )
                self.fit_method_ = "augmentation"
        self.classes_ = np.asarray(self.estimator_.classes_)
        self.counting_ = "predict" if torch_view(self.estimator_) is None else "torch"
        return self

    def _validate(self, X, y="no_validation", *, reset):
        kwargs = dict(allow_nd=True, dtype=_FLOATS, reset=reset)
        if isinstance(y, str) and y == "no_validation":
            X = validate_data(self, X, **kwargs)
        else:
            X, y = validate_data(self, X, y, **kwargs)
        if reset:
            self.input_shape_ = tuple(X.shape[1:])
        elif X.shape[1:] != self.input_shape_:
            raise ValueError(
                f"X has samples of shape {X.shape[1:]}, but {type(self).__name__} "
                f"was fitted on samples of shape {self.input_shape_}."
            )
        return X if isinstance(y, str) and y == "no_validation" else (X, y)

    # -- metadata --------------------------------------------------------------

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        inner_tags = as_classifier(self.estimator).__sklearn_tags__()
        tags.input_tags.allow_nan = False
        tags.input_tags.sparse = False
        tags.input_tags.three_d_array = is_skorch(self.estimator)
        tags.classifier_tags.multi_class = inner_tags.classifier_tags.multi_class
        tags.target_tags.required = not self._is_prefit()
        return tags


@to_torch.register(RandomizedSmoothingClassifier)
def _smoothed_classifier(estimator, *, dtype, device):
    """The smoothed soft classifier ``log mean_k softmax(f(x + sigma d_k))``."""
    check_is_fitted(estimator)
    seed = None if estimator.random_state is None else estimator._seed()
    return smoothed_module(
        estimator.estimator_,
        sigma=estimator.sigma,
        n_noise=estimator.n_noise_attack,
        seed=seed,
        dtype=dtype,
        device=device,
    )
