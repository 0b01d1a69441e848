"""Shared parameter documentation, written once and substituted into docstrings.

imbalanced-learn's pattern: a parameter that several estimators share is
described here once, and each docstring names it with a placeholder line
``{name}`` that :class:`Substitution` replaces when the class is defined.
"""

import inspect
import re

_PLACEHOLDER = re.compile(r"^([ \t]*)\{(\w+)\}[ \t]*$", re.MULTILINE)


class Substitution:
    """Decorator filling ``{name}`` placeholder lines of a docstring.

    A placeholder stands alone on its line; the text replacing it is
    indented as the placeholder. On a class, the docstrings of the methods
    (and properties) it defines are filled too. Other braces (``{"linf", "l2"}``,
    ``{column: eps}``) are left alone, so docstrings need no escaping.
    Robust to ``python -OO`` (no docstring).

    Parameters
    ----------
    **texts : str
        Text for each placeholder name (unindented; continuation lines
        indented relative to the first).

    Examples
    --------
    >>> from skrobust.utils import Substitution
    >>> @Substitution(verbose="verbose : int, default=0\\n    Show progress.")
    ... def f(verbose=0):
    ...     '''Do it.
    ...
    ...     Parameters
    ...     ----------
    ...     {verbose}
    ...     '''
    >>> print(f.__doc__.splitlines()[-2].strip())
    Show progress.
    """

    def __init__(self, **texts):
        self.texts = texts

    def __call__(self, obj):
        documented = [obj]
        if isinstance(obj, type):  # and the methods the class defines
            documented += [f for member in vars(obj).values() for f in _methods(member)]
        for item in documented:
            if item.__doc__:
                item.__doc__ = _PLACEHOLDER.sub(self._fill, item.__doc__)
        return obj

    def _fill(self, match):
        indent, name = match.groups()
        if name not in self.texts:
            raise KeyError(f"no shared documentation for placeholder {{{name}}}")
        lines = self.texts[name].strip("\n").splitlines()
        return "\n".join(indent + line if line else "" for line in lines)


def _methods(member):
    """What carries the docstring of a class member that is a method."""
    if inspect.isfunction(member) or isinstance(member, property):
        return [member]
    if isinstance(member, (classmethod, staticmethod)):
        return [member.__func__]
    if inspect.isfunction(getattr(member, "fn", None)):  # sklearn's available_if
        return [member, member.fn]
    return []


def _join(*names):
    return "\n".join(_DOCS[name] for name in names)


_DOCS = {
    "estimator": """\
estimator : estimator, default=None
    The model to attack: any fitted estimator with a differentiable view
    (see :func:`skrobust.as_differentiable`), used as is. An unfitted one is
    cloned and fitted by :meth:`fit`. ``None`` lets a scorer or a
    meta-estimator supply it.""",
    "eps": """\
eps : float, array-like or dict
    Perturbation budget: one value, one per feature (shape of a sample, or
    one per raw column of a DataFrame), or a dict ``{column: eps}`` (other
    numeric columns immutable). Categorical columns have no budget.""",
    "eps_minimal": """\
eps : float, array-like, dict or None, default=None
    Budget the output is projected into; ``None``: none (the smallest
    adversarial examples found). A per-feature ``eps`` also sets the unit
    of measure (see :meth:`minimal_norms`).""",
    "norm": """\
norm : {"linf", "l2", "l1"}, default="linf"
    The ball. With a per-feature ``eps``, the ball of the scaled norm
    ``||delta / eps||_p <= 1``.""",
    "norm_minimal": """\
norm : {"l2", "linf", "l1"}, default="l2"
    The norm minimised.""",
    "gradient_loss": """\
loss : {"ce", "cw", "dlr"}, default="ce"
    Cross-entropy, Carlini-Wagner margin, or Croce & Hein's DLR (needs 3
    classes, 4 targeted; falls back to "cw" with a warning).""",
    "bounds": """\
bounds : None, (low, high) or "data", default=None
    Valid input domain: scalars or per-feature arrays (``None`` for an
    open side), or ``"data"``: the per-feature min / max seen in ``fit``.""",
    "feature_mask": """\
feature_mask : array-like, default=None
    Features that may change (booleans, indices, or column names); the
    others stay fixed. ``None``: all numeric features may change. A
    categorical column changes only when named here.""",
    "direction": """\
direction : array-like or dict, default=None
    Per-feature sign constraint: +1 may only increase, -1 only decrease,
    0 free (e.g. ``{"debt": 1}``).""",
    "integer_features": """\
integer_features : array-like, default=None
    Features that stay an integer number of units from their clean value
    (rounded to the nearest step inside the budget, else toward the clean
    value). Columns of integer dtype in a DataFrame read by a
    ``ColumnTransformer`` are integer features anyway.""",
    "one_hot_groups": """\
one_hot_groups : list of array-like, default=None
    Groups of columns forming one-hot encodings; each stays a valid
    one-hot vector (reverted to clean if a category switch does not fit
    in the budget).""",
    "max_changes": """\
max_changes : int, default=None
    At most this many discrete features (categorical columns, one-hot
    groups, integer features) change per sample; those that moved most
    are kept. ``None``: no limit.""",
    "allowed_categories": """\
allowed_categories : dict, default=None
    ``{column: categories}``: the categories a categorical column may switch
    to (its clean one always stays possible). Categorical columns (read by
    an encoder of the model's ``ColumnTransformer``) change only when
    ``feature_mask`` names them, to categories the encoder knows.""",
    "eps_units": """\
eps_units : {"raw", "std"}, default="raw"
    ``"std"`` reads ``eps`` (and step sizes) in units of each feature's
    standard deviation, learned in :meth:`fit`; minimal norms are then
    measured in standard deviations too.""",
    "early_stop": """\
early_stop : bool, default=False
    Stop moving a sample once it is adversarial (robust accuracy needs no
    more; saves time on weak models).""",
    "batch_size": """\
batch_size : int or "auto", default="auto"
    Samples attacked together; ``"auto"`` sends about 4 million input
    values of per-sample state per batch (fewer samples where the attack
    keeps more state per sample).""",
    "n_jobs": """\
n_jobs : int or None, default=None
    Attack the batches in parallel with joblib (any backend:
    ``joblib.parallel_backend("dask")`` spreads them over a cluster). With
    an int, each batch has its own seed drawn from ``random_state`` and
    ``batch_size="auto"`` means batches of at most 256 samples, so the
    examples are the same for every ``n_jobs`` (1 included). ``None``: one
    process, one random stream through the batches.""",
    "random_state": """\
random_state : int, RandomState instance or None, default=None
    Seeds the attack's random draws (random starts, random search), which
    makes it reproducible. Deterministic attacks (FGSM, Carlini-Wagner, the
    exact attacks) ignore it: it is kept for a uniform interface.""",
    "verbose": """\
verbose : int, default=0
    Show a progress bar over batches (AutoAttack also prints the robust
    accuracy after each of its attacks).""",
    "attributes": """\
Attributes
----------
estimator_ : estimator
    The clone fitted by :meth:`fit` (only when ``estimator`` was unfitted).
n_features_in_ : int
    Set by :meth:`fit`.
feature_names_in_ : ndarray of str
    Column names seen in :meth:`fit` (only for a DataFrame).
data_min_, data_max_, data_std_ : ndarray
    Per-feature statistics of the data seen in :meth:`fit` (for
    ``bounds="data"`` and ``eps_units="std"``).""",
}
# the threat model of every attack (its discrete part where the attack
# repairs it), and the parameters of how it runs
_DOCS["discrete_features"] = _join(
    "integer_features", "one_hot_groups", "max_changes", "allowed_categories"
)
_DOCS["run"] = _join("batch_size", "random_state", "verbose")
_DOCS["threat_model_and_run"] = _join(
    "bounds", "feature_mask", "direction", "eps_units", "run"
)
# the exact attacks' parameters after their estimator
_DOCS["exact_parameters"] = _join("eps_minimal", "norm_minimal", "threat_model_and_run")

#: every shared text, for ``Substitution(**ATTACK_DOCS)``
ATTACK_DOCS = dict(_DOCS)


def _section(title, *entries):
    return "\n".join([title, "-" * len(title), *entries])


_EXAMPLES = "Examples\n--------\n"
_X = "X : array-like of shape (n_samples, ...)\n    Data shaped like the training data."
_X_TABULAR = "X : array-like of shape (n_samples, n_features)"

#: what the methods of many estimators share (their inputs and outputs) and
#: the set-ups of many examples, for ``Substitution(**SHARED_DOCS)``
SHARED_DOCS = {
    "X_parameters": _section("Parameters", _X),
    "X_tabular_parameters": _section("Parameters", _X_TABULAR),
    # ``certified_radius(X, y=None)``, the certificate protocol
    "radius_protocol": """\
``(certified_radius(X, y) >= r).mean()`` is the certified accuracy at
``r`` (every skrobust certifier offers this method).""",
    "radius_parameters": _section(
        "Parameters",
        _X,
        "y : array-like of shape (n_samples,), default=None",
        "    True labels: NaN where the certified class is not ``y``; ``None``:",
        "    the radius of the predicted class.",
    ),
    "predict_returns": _section("Returns", "y_pred : ndarray of shape (n_samples,)"),
    "proba_returns": _section(
        "Returns", "proba : ndarray of shape (n_samples, n_classes)"
    ),
    "scores_returns": _section(
        "Returns", "scores : ndarray of shape (n_samples,) or (n_samples, n_classes)"
    ),
    "certified_returns": _section(
        "Returns", "certified : ndarray of bool of shape (n_samples,)"
    ),
    "radius_returns": _section(
        "Returns", "radius : ndarray of float64 of shape (n_samples,)"
    ),
    # an Examples section opened with ``X``, ``y`` (iris) and ``clf`` (a
    # logistic regression fitted on them)
    "examples_iris": _EXAMPLES
    + """\
>>> from sklearn.datasets import load_iris
>>> from sklearn.linear_model import LogisticRegression
>>> X, y = load_iris(return_X_y=True)
>>> clf = LogisticRegression(max_iter=1000).fit(X, y)""",
    # an Examples section opened with ``X``, ``y`` (breast cancer) and
    # ``model``, an unfitted pipeline of a scaler and a logistic regression
    "examples_breast_cancer": _EXAMPLES
    + """\
>>> from sklearn.datasets import load_breast_cancer
>>> from sklearn.linear_model import LogisticRegression
>>> from sklearn.pipeline import make_pipeline
>>> from sklearn.preprocessing import StandardScaler
>>> X, y = load_breast_cancer(return_X_y=True)
>>> model = make_pipeline(StandardScaler(), LogisticRegression())""",
    # an Examples section opened with ``X``, ``y`` (iris) and ``clf``, a
    # small ReLU network fitted on them
    "examples_iris_mlp": _EXAMPLES
    + """\
>>> from sklearn.datasets import load_iris
>>> from sklearn.neural_network import MLPClassifier
>>> X, y = load_iris(return_X_y=True)
>>> clf = MLPClassifier((8,), solver="lbfgs", max_iter=500, random_state=0)
>>> clf = clf.fit(X, y)""",
    # an Examples section opened with ``rf``, a forest fitted on four points
    # ``X`` of the plane, and a point ``x0`` (for the tree engines, which
    # take a ``TreeEnsemble`` and a ``Region``)
    "examples_forest": _EXAMPLES
    + """\
>>> import numpy as np
>>> from sklearn.ensemble import RandomForestClassifier
>>> from skrobust._models import Region, TreeEnsemble
>>> X = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
>>> rf = RandomForestClassifier(3, random_state=0).fit(X, [0, 0, 1, 1])
>>> x0 = np.array([0.0, 0.0])""",
    # an Examples section opened with ``X``, ``y`` (breast cancer) and ``rf``,
    # a random forest fitted on them
    "examples_breast_cancer_forest": _EXAMPLES
    + """\
>>> from sklearn.datasets import load_breast_cancer
>>> from sklearn.ensemble import RandomForestClassifier
>>> X, y = load_breast_cancer(return_X_y=True)
>>> rf = RandomForestClassifier(n_estimators=10, max_depth=4, random_state=0)
>>> rf = rf.fit(X, y)""",
    # an Examples section opened with ``X``, ``y`` (iris) and what a skorch
    # network on them needs
    "examples_skorch_iris": _EXAMPLES
    + """\
>>> import torch
>>> from sklearn.datasets import load_iris
>>> from skorch import NeuralNetClassifier
>>> from skrobust.nn import MLP
>>> X, y = load_iris(return_X_y=True)""",
}
