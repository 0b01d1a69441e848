"""Meta-estimators whose predictions are those of their fitted model."""

from sklearn.utils._available_if import available_if
from sklearn.utils._param_validation import StrOptions
from sklearn.utils.validation import check_is_fitted
from skorch.callbacks import ProgressBar

from ..utils import SHARED_DOCS, Substitution
from ._classifier import SkorchClassifier
from ._objective_net import objective_net
from ._utils import SKORCH_NETS

#: what the meta-estimators training a skorch network share, for
#: ``Substitution(**SHARED_DOCS, **META_DOCS)``
META_DOCS = {
    "net_dtype": """\
dtype : {"float32", "float64"}, default="float32"
    Input and parameter dtype of a bare skorch net (a
    ``SkorchClassifier`` keeps its own).""",
    "net_verbose": """\
verbose : int, default=0
    ``1``: skorch's per-epoch training log (the net's history) and a
    progress bar over each epoch's batches; ``0`` leaves the net's own
    ``verbose`` setting.""",
    "net_fit_parameters": """\
Parameters
----------
X : array-like of shape (n_samples, ...)
    Training data (tabular rows or images).
y : array-like of shape (n_samples,)
    Class labels.
sample_weight : array-like of shape (n_samples,), default=None
    Weights of the samples: every per-sample term of the training loss
    is averaged with them on each batch. Under metadata routing,
    request them with ``set_fit_request(sample_weight=True)``.""",
    "net_attributes": """\
Attributes
----------
estimator_ : SkorchClassifier
    The trained network.
classes_ : ndarray of shape (n_classes,)
n_features_in_ : int
feature_names_in_ : ndarray
    When ``X`` has string column names.""",
}

#: the constraints of the parameters all of them have (``dtype`` and
#: ``verbose`` documented in META_DOCS), for their ``_parameter_constraints``
META_CONSTRAINTS = {
    "dtype": [StrOptions({"float32", "float64"})],
    "random_state": ["random_state"],
    "verbose": ["verbose"],
}


def is_skorch(estimator):
    """Whether ``estimator`` is a skorch classifier or a SkorchClassifier."""
    return isinstance(estimator, (*SKORCH_NETS, SkorchClassifier))


def as_classifier(estimator):
    """A bare skorch net as the :class:`SkorchClassifier` meta-estimators fit.

    Other estimators are returned as they are.
    """
    return (
        SkorchClassifier(estimator) if isinstance(estimator, SKORCH_NETS) else estimator
    )


def estimator_has(name):
    """``available_if`` check: does the (fitted or given) model have ``name``?

    A bare skorch net is judged as the :class:`skrobust.SkorchClassifier`
    the meta-estimator wraps it in.
    """

    def check(self):
        model = getattr(self, "estimator_", None)
        if model is None:
            model = as_classifier(self.estimator)
        return hasattr(model, name)

    return check


@Substitution(**SHARED_DOCS)
class FittedModelMixin:
    """``predict``, ``predict_proba`` and ``decision_function`` of ``estimator_``.

    For meta-estimators (adversarial training, certified training) whose
    trained model *is* their function; the differentiable view sees through
    them (``_view_estimator``), and their input and classifier tags are the
    model's. Subclasses may validate inputs in ``_check_X``.
    """

    def _view_estimator(self):
        check_is_fitted(self)
        return self.estimator_

    def _check_X(self, X):
        check_is_fitted(self)
        return X

    def _set_model(self, model):
        """Store the trained ``model`` as ``estimator_`` with its fitted facts."""
        self.estimator_ = model
        self.classes_ = model.classes_
        for name in ("n_features_in_", "feature_names_in_"):
            if hasattr(model, name):
                setattr(self, name, getattr(model, name))
        return self

    def _fit_net(self, objective, X, y, sample_weight, *, net=None):
        """Train ``net`` (default: ``estimator``) on ``objective`` with this
        meta-estimator's ``dtype``, ``random_state`` and ``verbose``
        (:func:`fit_objective_net`), and keep it as ``estimator_``."""
        model = fit_objective_net(
            self.estimator if net is None else net,
            objective,
            X,
            y,
            dtype=self.dtype,
            random_state=self.random_state,
            sample_weight=sample_weight,
            verbose=self.verbose,
        )
        return self._set_model(model)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        inner_tags = as_classifier(self.estimator).__sklearn_tags__()
        tags.input_tags = inner_tags.input_tags
        tags.classifier_tags = inner_tags.classifier_tags
        return tags

    def predict(self, X):
        """Class labels predicted by the trained model.

        {X_parameters}

        {predict_returns}
        """
        X = self._check_X(X)  # checks fitted first
        return self.estimator_.predict(X)

    @available_if(estimator_has("predict_proba"))
    def predict_proba(self, X):
        """Class probabilities, columns ordered as :attr:`classes_`.

        {X_parameters}

        {proba_returns}
        """
        X = self._check_X(X)  # checks fitted first
        return self.estimator_.predict_proba(X)

    @available_if(estimator_has("decision_function"))
    def decision_function(self, X):
        """Decision scores (logits) of the trained model.

        {X_parameters}

        {scores_returns}
        """
        X = self._check_X(X)  # checks fitted first
        return self.estimator_.decision_function(X)


def show_progress(net, verbose):
    """``net`` set to log its training at ``verbose`` >= 1 (modified in place).

    skorch's own per-epoch log (its ``verbose``, raised to at least 1) and a
    :class:`skorch.callbacks.ProgressBar` over each epoch's batches, unless
    the net already has one or its callbacks are disabled. The log prints
    what skorch records anyway: no forward pass is added for it.
    """
    if not verbose:
        return net
    callbacks = net.callbacks
    params = {"verbose": max(int(net.verbose), int(verbose))}
    if callbacks != "disable":
        callbacks = list(callbacks or [])
        has_bar = any(
            isinstance(cb, ProgressBar) or cb is ProgressBar
            for cb in (c[1] if isinstance(c, tuple) else c for c in callbacks)
        )
        if not has_bar:
            params["callbacks"] = [*callbacks, ("progress_bar", ProgressBar())]
    return net.set_params(**params)


@Substitution(**SHARED_DOCS)
def fit_objective_net(
    estimator,
    objective,
    X,
    y,
    *,
    dtype,
    random_state,
    sample_weight=None,
    verbose=0,
):
    """Train a copy of a skorch network on ``objective``: the meta-estimators' fit.

    The one recipe of adversarial training, certified training and the
    training of a smoothed classifier's base: unwrap a
    :class:`SkorchClassifier` (its net and dtype are used), build the net
    that trains on ``objective`` (:func:`objective_net`), and fit it as a
    :class:`SkorchClassifier` (labels of any type, ``dtype`` inputs, seeded).

    Parameters
    ----------
    estimator : skorch net or SkorchClassifier
        The network to train; not modified.
    objective : Objective
        The per-batch loss.
    X : array-like of shape (n_samples, ...)
    y : array-like of shape (n_samples,)
    dtype : {"float32", "float64"}
        Input and parameter dtype of a bare skorch net (a SkorchClassifier
        keeps its own).
    random_state : int, RandomState instance or None
        Seeds the training.
    sample_weight : array-like of shape (n_samples,), default=None
        Weights of the samples in every per-sample term of the objective
        (:func:`batch_mean`).
    verbose : int, default=0
        ``>= 1``: skorch's per-epoch log and a progress bar over the batches
        (:func:`show_progress`); 0 leaves the net's own ``verbose``.

    Returns
    -------
    classifier : SkorchClassifier
        Fitted; ``classifier.net_.objective`` is its copy of ``objective``
        (the net is cloned).

    {examples_skorch_iris}
    >>> from skrobust._skorch import fit_objective_net
    >>> from skrobust.attacks import PGD
    >>> from skrobust.defenses import AdversarialObjective
    >>> net = NeuralNetClassifier(MLP, criterion=torch.nn.CrossEntropyLoss,
    ...                           max_epochs=2, train_split=None, verbose=0)
    >>> objective = AdversarialObjective(PGD(eps=0.1, n_iter=2))
    >>> clf = fit_objective_net(net, objective, X, y, dtype="float32",
    ...                         random_state=0)
    >>> type(clf.net_).__name__
    'AdversarialNeuralNetClassifier'
    >>> clf.net_.objective
    AdversarialObjective(PGD(eps=0.1, n_iter=2), loss='madry')
    """
    if isinstance(estimator, SkorchClassifier):
        net, dtype = estimator.net, estimator.dtype
    else:
        net = estimator
    net = show_progress(objective_net(net, objective), verbose)
    classifier = SkorchClassifier(net, dtype=dtype, random_state=random_state)
    return classifier.fit(X, y, sample_weight=sample_weight)
