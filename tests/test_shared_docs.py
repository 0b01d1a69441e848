"""Shared documentation (``utils.SHARED_DOCS``): every placeholder is filled,
in classes, their methods and functions alike."""

import ast
import importlib
import inspect
import pkgutil
import re
import warnings

import pytest
from numpydoc.docscrape import NumpyDocString
from sklearn.utils._available_if import available_if

import skrobust
from skrobust import SkorchClassifier
from skrobust.certification import (
    IBPClassifier,
    LipschitzClassifier,
    RandomizedSmoothingClassifier,
    certified_radius,
    certify,
)
from skrobust.defenses import (
    AdversarialTrainingClassifier,
    RobustDecisionTreeClassifier,
    RobustRandomForestClassifier,
)
from skrobust.metrics import (
    AdversarialExamplesDisplay,
    CertifiedAccuracyDisplay,
    RobustnessCurveDisplay,
    RobustnessTradeoffDisplay,
    certified_accuracy_score,
    make_certified_scorer,
    make_robust_scorer,
    robust_accuracy_score,
    robust_predictions,
    robustness_curve,
)
from skrobust.utils import SHARED_DOCS, Substitution

PLACEHOLDER = re.compile(r"^\s*\{\w+\}\s*$", re.MULTILINE)


def _documented():
    """``(name, object)`` of every class, function and method of the package."""
    for info in pkgutil.walk_packages(skrobust.__path__, "skrobust."):
        if info.name.endswith("__main__"):
            continue
        module = importlib.import_module(info.name)
        for name, obj in vars(module).items():
            if getattr(obj, "__module__", None) != info.name:
                continue
            if inspect.isclass(obj) or inspect.isfunction(obj):
                yield f"{info.name}.{name}", obj
            if inspect.isclass(obj):
                for attr, member in vars(obj).items():
                    func = getattr(member, "fn", member)  # available_if
                    func = getattr(func, "__func__", func)
                    func = getattr(func, "fget", func)  # property
                    if inspect.isfunction(func):
                        yield f"{info.name}.{name}.{attr}", func


def test_no_placeholder_left_anywhere():
    left = [
        name for name, obj in _documented() if PLACEHOLDER.search(obj.__doc__ or "")
    ]
    assert not left, f"decorate with @Substitution(**SHARED_DOCS): {left}"


def test_filled_docstrings_are_numpydoc():
    # every docstring holding shared text parses, with named entries
    filled = [
        (name, obj)
        for name, obj in _documented()
        if any(text in (inspect.getdoc(obj) or "") for text in SHARED_DOCS.values())
    ]
    assert len(filled) > 20
    for name, obj in filled:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # numpydoc warns on unknown sections
            doc = NumpyDocString(inspect.getdoc(obj))
        assert doc["Parameters"] or doc["Returns"] or doc["Examples"], name
        for item in doc["Parameters"] + doc["Returns"]:
            assert item.name, (name, item)


# estimators and functions whose parameters come (partly) from shared texts
SUBSTITUTED = [
    SkorchClassifier,
    IBPClassifier,
    LipschitzClassifier,
    RandomizedSmoothingClassifier,
    AdversarialTrainingClassifier,
    RobustDecisionTreeClassifier,
    RobustRandomForestClassifier,
    certify,
    certified_radius,
    robust_accuracy_score,
    robust_predictions,
    robustness_curve,
    make_robust_scorer,
    certified_accuracy_score,
    make_certified_scorer,
    RobustnessCurveDisplay.from_estimator,
    RobustnessCurveDisplay.from_curve,
    RobustnessCurveDisplay.plot,
    CertifiedAccuracyDisplay.from_estimator,
    CertifiedAccuracyDisplay.from_predictions,
    CertifiedAccuracyDisplay.plot,
    RobustnessTradeoffDisplay.from_cv_results,
    RobustnessTradeoffDisplay.plot,
    AdversarialExamplesDisplay.plot,
    AdversarialExamplesDisplay.from_estimator,
]


@pytest.mark.parametrize("obj", SUBSTITUTED, ids=lambda o: o.__qualname__)
def test_every_parameter_documented_once_with_its_default(obj):
    doc = NumpyDocString(inspect.getdoc(obj))
    signature = {
        name: p
        for name, p in inspect.signature(obj).parameters.items()
        if name not in ("self", "cls")
    }
    names = [p.name.split(", ") for p in doc["Parameters"]]
    assert [n.lstrip("*") for group in names for n in group] == list(signature)
    for group, p in zip(names, doc["Parameters"]):
        defaults = tuple(signature[n.lstrip("*")].default for n in group)
        written = re.search(r"default=(.+)$", p.type)
        if written is None:  # required, or *args / **kwargs
            assert all(d is inspect.Parameter.empty for d in defaults), p.name
            continue
        value = ast.literal_eval(written.group(1))
        assert (value if len(group) > 1 else (value,)) == defaults, p.name


def test_substitution_on_a_class_fills_its_methods():
    @Substitution(**SHARED_DOCS)
    class Model:
        """A model.

        {X_parameters}
        """

        def predict(self, X):
            """Predict.

            {X_parameters}

            {predict_returns}
            """

        @available_if(lambda self: True)
        def predict_proba(self, X):
            """Probabilities.

            {proba_returns}
            """

        @property
        def size(self):
            """Size.

            {radius_returns}
            """

        @classmethod
        def build(cls):
            """Build.

            {examples_iris}
            >>> clf.score(X, y) > 0.9
            True
            """

    assert "X : array-like of shape (n_samples, ...)" in Model.__doc__
    predict = NumpyDocString(inspect.getdoc(Model.predict))
    assert [p.name for p in predict["Parameters"]] == ["X"]
    assert [p.name for p in predict["Returns"]] == ["y_pred"]
    proba = NumpyDocString(inspect.getdoc(Model().predict_proba))
    assert proba["Returns"][0].type == "ndarray of shape (n_samples, n_classes)"
    assert "radius : ndarray" in Model.size.__doc__
    assert "load_iris" in Model.build.__doc__
    for doc in (Model.__doc__, Model.predict.__doc__, Model.size.__doc__):
        assert not PLACEHOLDER.search(doc)


def test_an_unknown_placeholder_fails_at_definition():
    with pytest.raises(KeyError, match="nothing_shared"):

        @Substitution(**SHARED_DOCS)
        class Model:
            def fit(self):
                """Fit.

                {nothing_shared}
                """
