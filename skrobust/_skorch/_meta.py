"""Meta-estimators whose predictions are those of their fitted model."""

from sklearn.utils._available_if import available_if
from sklearn.utils.validation import check_is_fitted

from ._classifier import SkorchClassifier
from ._utils import SKORCH_NETS


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

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        inner_tags = as_classifier(self.estimator).__sklearn_tags__()
        tags.input_tags = inner_tags.input_tags
        tags.classifier_tags = inner_tags.classifier_tags
        return tags

    def predict(self, X):
        """Class labels predicted by the trained model.

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)

        Returns
        -------
        y_pred : ndarray of shape (n_samples,)
        """
        X = self._check_X(X)  # checks fitted first
        return self.estimator_.predict(X)

    @available_if(estimator_has("predict_proba"))
    def predict_proba(self, X):
        """Class probabilities, columns ordered as :attr:`classes_`.

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
        """
        X = self._check_X(X)  # checks fitted first
        return self.estimator_.predict_proba(X)

    @available_if(estimator_has("decision_function"))
    def decision_function(self, X):
        """Decision scores (logits) of the trained model.

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)

        Returns
        -------
        scores : ndarray of shape (n_samples,) or (n_samples, n_classes)
        """
        X = self._check_X(X)  # checks fitted first
        return self.estimator_.decision_function(X)
