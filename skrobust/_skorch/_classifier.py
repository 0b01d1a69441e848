"""``SkorchClassifier``: a skorch network as a well-behaved scikit-learn classifier."""

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, _fit_context, clone
from sklearn.utils._available_if import available_if
from sklearn.utils._param_validation import StrOptions
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import (
    _check_sample_weight,
    check_is_fitted,
    validate_data,
)
from skorch import NeuralNetBinaryClassifier

from .._models import check_converted_fitted, to_torch
from .._torch import torch
from ..utils import SHARED_DOCS, Substitution, store_params
from ._objective_net import AdversarialTrainingMixin, objective_net
from ._utils import (
    SKORCH_NETS,
    accepted_kwargs,
    has_logit_criterion,
    net_targets,
    seeded,
)
from ._weights import weighted_input

__all__ = ["SkorchClassifier"]


@Substitution(**SHARED_DOCS)
class SkorchClassifier(ClassifierMixin, BaseEstimator):
    """A skorch network as a scikit-learn classifier (by composition).

    skorch's ``NeuralNetClassifier`` trains any torch module but is not a
    full scikit-learn citizen: it needs float32 input, ``predict`` returns
    class indices, and labels must be integers. This wrapper fits a clone of
    ``net`` and takes care of the rest: any numeric input (float64, pandas
    DataFrames, image arrays ``(n_samples, channels, height, width)``) is
    cast to ``dtype``; any labels (strings, ...) are encoded, and ``predict``
    returns values of :attr:`classes_`; fits are reproducible with
    ``random_state``. It passes scikit-learn's estimator checks, so it works
    in ``Pipeline``, ``GridSearchCV`` (grid-search the net's parameters as
    ``net__lr``, ``net__module__hidden_layer_sizes``, ...), ``clone`` and
    pickle, and every skrobust attack, scorer and defense accepts it.

    Parameters
    ----------
    net : skorch.NeuralNetClassifier or skorch.NeuralNetBinaryClassifier
        The network to train; it is cloned in :meth:`fit` (an already
        initialized or trained net starts again from its parameters, not its
        weights). Training goes through skorch's own loop, so its callbacks,
        history, device and ``train_split`` keep working.

        If ``net.module`` is a class (or function) whose constructor takes
        ``n_features_in`` and/or ``n_classes`` and the net does not set
        ``module__n_features_in`` / ``module__n_classes``, :meth:`fit` sets
        them from the data: ``n_features_in`` is the number of values per
        sample (``prod(X.shape[1:])``) and ``n_classes`` the number of
        outputs the net needs (the number of classes, or 1 for a
        ``NeuralNetBinaryClassifier``, which expects one logit). For image
        data ``(n, channels, height, width)`` it also sets ``in_channels``
        and ``image_size`` alike. This is how :class:`skrobust.nn.MLP` and
        :class:`skrobust.nn.SmallCNN` fit any data without configuration.
    dtype : {"float32", "float64"}, default="float32"
        Floating dtype of the inputs given to the network and of its
        parameters (the module is converted after initialization if needed).
    random_state : int, RandomState instance or None, default=None
        Seeds torch during :meth:`fit` (weight initialization, shuffling,
        dropout) so that fits are reproducible. The seeding happens inside
        :func:`torch.random.fork_rng`: the global torch RNG is left as it
        was. ``None`` leaves torch's RNG alone.

    Attributes
    ----------
    net_ : skorch.NeuralNetClassifier or skorch.NeuralNetBinaryClassifier
        The fitted clone of ``net``; its targets are the class indices
        ``0 .. n_classes - 1`` (floats 0/1 for binary nets). Its ``module_``
        is the trained torch module and ``history`` the training history.
    classes_ : ndarray of shape (n_classes,)
        The class labels (``net.classes`` if the net sets it, else the
        sorted unique labels of ``y``).
    n_features_in_ : int
        ``X.shape[1]`` seen during fit (the channels, for images).
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Column names of a DataFrame ``X``, when they are all strings.
    input_shape_ : tuple of int
        Shape of one sample (``X.shape[1:]``) seen during fit; the
        differentiable view (:func:`skrobust.as_differentiable`) uses it.

    See Also
    --------
    skrobust.nn.MLP, skrobust.nn.SmallCNN : networks ready for this wrapper.
    skrobust.as_differentiable : the torch view attacks and certificates use.

    Notes
    -----
    Meta-estimators train their copy of the net on their own per-batch
    objective through this class: see ``skrobust._skorch.fit_objective_net``.

    Examples
    --------
    >>> import torch
    >>> from sklearn.datasets import load_iris
    >>> from skorch import NeuralNetClassifier
    >>> from skrobust import SkorchClassifier
    >>> from skrobust.nn import MLP
    >>> X, y = load_iris(return_X_y=True, as_frame=True)
    >>> y = y.map({0: "setosa", 1: "versicolor", 2: "virginica"})
    >>> net = NeuralNetClassifier(
    ...     MLP, module__hidden_layer_sizes=(16,), criterion=torch.nn.CrossEntropyLoss,
    ...     optimizer=torch.optim.Adam, lr=0.05, max_epochs=30, train_split=None,
    ...     verbose=0)
    >>> clf = SkorchClassifier(net, random_state=0).fit(X, y)
    >>> clf.predict(X.iloc[:2])
    array(['setosa', 'setosa'], dtype=object)
    >>> clf.score(X, y) > 0.9
    True
    """

    _parameter_constraints: dict = {
        "net": list(SKORCH_NETS),
        "dtype": [StrOptions({"float32", "float64"})],
        "random_state": ["random_state"],
    }

    def __init__(self, net, *, dtype="float32", random_state=None):
        store_params(self, locals())

    # -- fitting ---------------------------------------------------------------

    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y, sample_weight=None):
        """Fit a clone of ``net`` on ``X``, ``y``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or (n_samples, ...)
            Numeric training data: a 2-d array or DataFrame, or an n-d array
            such as images ``(n_samples, channels, height, width)``. Cast to
            ``dtype``; never modified.
        y : array-like of shape (n_samples,)
            Class labels of any type.
        sample_weight : array-like of shape (n_samples,), default=None
            Weights of the samples: each batch's loss is the weighted mean of
            its per-sample losses (the criterion's ``reduction`` is set to
            ``"none"`` for it), so on full batches a weight of 2 counts a row
            twice and a weight of 0 drops it. The net then trains as the
            objective-trained class of ``skrobust._skorch`` (same
            parameters) unless it is one already.

        Returns
        -------
        self : SkorchClassifier
            The fitted classifier.

        Examples
        --------
        >>> import numpy as np, torch
        >>> from skorch import NeuralNetClassifier
        >>> from skrobust import SkorchClassifier
        >>> from skrobust.nn import MLP
        >>> net = NeuralNetClassifier(MLP, criterion=torch.nn.CrossEntropyLoss,
        ...                           max_epochs=2, train_split=None, verbose=0)
        >>> X = np.random.RandomState(0).rand(20, 3)
        >>> clf = SkorchClassifier(net, random_state=0).fit(X, ["a", "b"] * 10)
        >>> clf.net_.module_[1]
        Linear(in_features=3, out_features=100, bias=True)
        """
        X, y = validate_data(self, X, y, allow_nd=True, dtype=self.dtype, copy=True)
        check_classification_targets(y)
        self.classes_, y = self._encode_labels(y)
        self.input_shape_ = tuple(X.shape[1:])
        net = self._make_net
        if sample_weight is not None:
            sample_weight = _check_sample_weight(sample_weight, X, dtype=X.dtype)
            net = self._make_weighted_net
        with seeded(self.random_state):
            # partial_fit keeps the initialization (and dtype) of _make_net
            net = net(X)
            if sample_weight is None:
                self.net_ = net.partial_fit(X, y)
            else:
                self.net_ = net.partial_fit(weighted_input(X, sample_weight), y)
        return self

    def _make_weighted_net(self, X):
        """:meth:`_make_net` of a net class that trains on weighted losses."""
        net = self.net
        if not isinstance(net, AdversarialTrainingMixin):
            net = objective_net(net, None)
        return self._make_net(X, net)

    @property
    def _binary(self):
        return isinstance(self.net, NeuralNetBinaryClassifier)

    def _encode_labels(self, y):
        """The classes and ``y`` encoded as the targets the net trains on."""
        return net_targets(self.net, y, dtype=self.dtype)

    def _make_net(self, X, net=None):
        """Clone ``net`` (default: ``self.net``), complete its module arguments,
        initialize it.

        The module constructor is offered ``n_features_in`` (values per
        sample), ``n_classes`` (outputs: the number of classes, or 1 for a
        binary net) and, for images, ``in_channels`` and ``image_size`` when
        it accepts them and the net does not set them.
        The module is converted to ``dtype``.
        """
        net = clone(self.net if net is None else net)
        accepted = accepted_kwargs(net.module)
        given = net.get_params(deep=False)
        data = {
            "n_features_in": int(np.prod(X.shape[1:])),
            "n_classes": 1 if self._binary else len(self.classes_),
        }
        if X.ndim == 4:  # images: (n, channels, height, width)
            data["in_channels"] = int(X.shape[1])
            data["image_size"] = (int(X.shape[2]), int(X.shape[3]))
        net.set_params(
            **{
                f"module__{name}": value
                for name, value in data.items()
                if name in accepted and f"module__{name}" not in given
            }
        )
        if getattr(net, "classes", None) is not None:
            # The net sees class indices; `classes_` holds the labels.
            net.set_params(classes=list(range(len(self.classes_))))
        net.initialize()
        dtype = getattr(torch, self.dtype)
        tensors = (*net.module_.parameters(), *net.module_.buffers())
        if any(t.is_floating_point() and t.dtype != dtype for t in tensors):
            net.module_.to(dtype)
            if isinstance(net.criterion_, torch.nn.Module):
                net.criterion_.to(dtype)
            net.initialize_optimizer()  # for the converted parameters
        return net

    # -- prediction ------------------------------------------------------------

    def _validate_X(self, X):
        check_is_fitted(self)
        X = validate_data(
            self, X, reset=False, allow_nd=True, dtype=self.dtype, copy=True
        )
        if X.shape[1:] != self.input_shape_:
            raise ValueError(
                f"X has samples of shape {X.shape[1:]}, but {type(self).__name__} "
                f"was fitted on samples of shape {self.input_shape_}."
            )
        return X

    def _check_outputs(self, n_outputs, expected):
        if n_outputs != expected:
            raise ValueError(
                f"the net's module gives {n_outputs} outputs per sample but "
                f"{expected} are expected for {len(self.classes_)} classes; set "
                "`module__n_classes` to match (or let fit set it)."
            )

    def predict_proba(self, X):
        """Class probabilities of ``X``, columns ordered as :attr:`classes_`.

        {X_parameters}

        {proba_returns}
            The net's ``predict_proba`` (softmax of the logits for
            ``CrossEntropyLoss``, sigmoid for ``BCEWithLogitsLoss``), as
            float64.

        Examples
        --------
        >>> import numpy as np
        >>> from skorch import NeuralNetBinaryClassifier
        >>> from skrobust import SkorchClassifier
        >>> from skrobust.nn import MLP
        >>> X = np.random.RandomState(0).rand(40, 5)
        >>> net = NeuralNetBinaryClassifier(MLP, max_epochs=2, train_split=None,
        ...                                 verbose=0)
        >>> clf = SkorchClassifier(net, random_state=0).fit(X, X[:, 0] > 0.5)
        >>> proba = clf.predict_proba(X[:3])
        >>> proba.shape, bool(np.allclose(proba.sum(axis=1), 1))
        ((3, 2), True)
        """
        X = self._validate_X(X)
        proba = np.asarray(self.net_.predict_proba(X), dtype=np.float64)
        self._check_outputs(proba.shape[1], len(self.classes_))
        # float32 probabilities sum to 1 only to ~1e-7; renormalise in float64
        return proba / proba.sum(axis=1, keepdims=True)

    def predict(self, X):
        """Predicted class labels of ``X`` (values of :attr:`classes_`).

        {X_parameters}

        {predict_returns}
            The net's prediction (argmax of ``predict_proba``, or its
            ``threshold`` for a binary net) mapped to the labels.

        {examples_skorch_iris}
        >>> from skrobust import SkorchClassifier
        >>> net = NeuralNetClassifier(MLP, criterion=torch.nn.CrossEntropyLoss,
        ...                           max_epochs=2, train_split=None, verbose=0)
        >>> clf = SkorchClassifier(net, random_state=0).fit(X, y + 10)
        >>> set(clf.predict(X)) <= {10, 11, 12}
        True
        """
        X = self._validate_X(X)
        index = np.asarray(self.net_.predict(X)).astype(np.intp)
        if len(index) and not 0 <= index.min() <= index.max() < len(self.classes_):
            self._check_outputs(int(index.max()) + 1, len(self.classes_))
        return self.classes_[index]

    @available_if(lambda self: has_logit_criterion(self.net))
    def decision_function(self, X):
        """The net's logits: confidence scores, ordered as :attr:`classes_`.

        Only available when the net's criterion takes logits
        (``CrossEntropyLoss``, ``BCEWithLogitsLoss``). As in scikit-learn,
        binary problems give one score per sample, positive for
        ``classes_[1]``: the single logit of a binary net, or the difference
        of the two logits of a two-class ``NeuralNetClassifier``.

        {X_parameters}

        {scores_returns}
            Float64 scores; for more than two classes, their argmax is
            :meth:`predict` and their softmax :meth:`predict_proba`.

        Examples
        --------
        >>> from sklearn.datasets import load_wine
        >>> from skorch import NeuralNetClassifier
        >>> from torch.nn import CrossEntropyLoss
        >>> from skrobust import SkorchClassifier
        >>> from skrobust.nn import MLP
        >>> X, y = load_wine(return_X_y=True)
        >>> clf = SkorchClassifier(NeuralNetClassifier(
        ...     MLP, criterion=CrossEntropyLoss, max_epochs=2, train_split=None,
        ...     verbose=0)).fit(X, y)
        >>> clf.decision_function(X[:4]).shape
        (4, 3)
        >>> clf.fit(X[y > 0], y[y > 0]).decision_function(X[:4]).shape
        (4,)
        """
        X = self._validate_X(X)
        out = self.net_.forward(X, training=False)
        if isinstance(out, tuple):
            out = out[0]
        out = out.detach().cpu().numpy().astype(np.float64).reshape(len(X), -1)
        if self._binary:
            self._check_outputs(out.shape[1], 1)
            return out[:, 0]
        self._check_outputs(out.shape[1], len(self.classes_))
        if out.shape[1] == 2:
            return out[:, 1] - out[:, 0]
        return out[:, 0] if out.shape[1] == 1 else out

    # -- metadata --------------------------------------------------------------

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True  # any n-d array, e.g. images
        tags.classifier_tags.multi_class = not self._binary
        return tags


# registered beside the class: the foundations (_models) never import upward
@to_torch.register(SkorchClassifier)
def _skorch_classifier(estimator, *, dtype, device):
    """The view of the wrapped, fitted net (its module, by reference)."""
    check_converted_fitted(estimator, "net_")
    return to_torch(estimator.net_, dtype=dtype, device=device)
