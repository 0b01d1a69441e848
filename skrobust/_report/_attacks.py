"""Which attacks a report runs, and how they are built."""

import inspect
import json
import warnings

from sklearn.pipeline import Pipeline
from sklearn.tree import DecisionTreeClassifier

from .. import NotDifferentiableError, PartiallyDifferentiableWarning, as_differentiable
from .._models import is_tree_model
from ..attacks import (
    APGD,
    FAB,
    FGSM,
    PGD,
    AutoAttack,
    CarliniWagnerL2,
    DecisionTreeExactAttack,
    HopSkipJump,
    LeafTupleAttack,
    LinearExactAttack,
    SquareAttack,
)
from ._load import ReportInputError

ATTACKS = {
    "autoattack": AutoAttack,
    "apgd": APGD,
    "pgd": PGD,
    "fgsm": FGSM,
    "fab": FAB,
    "cw": CarliniWagnerL2,
    "square": SquareAttack,
    "hopskipjump": HopSkipJump,
    "exact-linear": LinearExactAttack,
    "exact-tree": DecisionTreeExactAttack,
    "leaf-tuple": LeafTupleAttack,
}
WHITE_BOX = {"autoattack", "apgd", "pgd", "fgsm", "fab", "cw", "exact-linear"}


def final_estimator(model):
    """The last step of a pipeline (the model itself otherwise)."""
    while isinstance(model, Pipeline):
        model = model.steps[-1][1]
    return getattr(model, "estimator", None) if _is_frozen(model) else model


def _is_frozen(model):
    return type(model).__name__ == "FrozenEstimator"


def is_differentiable(model):
    """Whether white-box tools apply on the raw features.

    A pipeline whose first steps have no gradient counts as not
    differentiable here: a white-box attack would act after those steps,
    not on the columns of the data file.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("error", PartiallyDifferentiableWarning)
        try:
            as_differentiable(model)
        except (NotDifferentiableError, PartiallyDifferentiableWarning):
            return False
    return True


def default_attacks(model, norm):
    """A strong, cheap set of attacks for ``model``, by its type.

    Differentiable models: AutoAttack (APGD for the l1 norm, which AutoAttack
    does not cover). A single decision tree: its exact attack. A tree
    ensemble (forest, extra trees, gradient boosting, HGB): the leaf-tuple
    attack, which reads the trees (the exact MILP attack, ``exact-tree``,
    can cost minutes per point on large ensembles). Anything else: Square
    (score-based) and HopSkipJump (label-only; l2 / linf).
    """
    if is_differentiable(model):
        return ["apgd"] if norm == "l1" else ["autoattack"]
    if isinstance(final_estimator(model), DecisionTreeClassifier):
        return ["exact-tree"]
    if is_tree_model(model):
        return ["leaf-tuple"]
    return ["square", "hopskipjump"] if norm != "l1" else ["square"]


def parse_value(text):
    """``"200"`` -> 200, ``"true"`` -> True, ``"abc"`` -> ``"abc"``."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def parse_attack_params(items):
    """``["n_queries=200", "pgd.n_iter=20"]`` -> ``{(None, "n_queries"): 200,
    ("pgd", "n_iter"): 20}``."""
    out = {}
    for item in items or ():
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise ReportInputError(
                f"--attack-param {item!r}: write NAME=VALUE or ATTACK.NAME=VALUE."
            )
        attack, _, param = name.rpartition(".")
        if attack and attack not in ATTACKS:
            raise ReportInputError(f"--attack-param {item!r}: no attack {attack!r}.")
        out[(attack or None, param)] = parse_value(value)
    return out


def build_attack(name, *, eps, norm, threat, seed, extra):
    """Attack ``name`` at budget ``eps`` with the threat model and options.

    ``threat`` holds threat-model parameters (feature mask, bounds, ...);
    ``extra`` the ``--attack-param`` options, applied to every attack that
    takes them (or to the attack they name).
    """
    cls = ATTACKS[name]
    accepted = set(inspect.signature(cls).parameters)
    unsupported = sorted(set(threat) - accepted)
    if unsupported:
        raise ReportInputError(
            f"attack {name!r} ({cls.__name__}) does not support "
            f"{', '.join(unsupported)}; choose other --attacks."
        )
    params = {"eps": eps, "norm": norm, "random_state": seed, **threat}
    for (attack, param), value in extra.items():
        if attack == name and param not in accepted:
            raise ReportInputError(f"{cls.__name__} has no parameter {param!r}.")
        if attack in (None, name) and param in accepted:
            params[param] = value
    return cls(**{k: v for k, v in params.items() if k in accepted})


def check_norm(names, norm):
    """Refuse attacks that do not support ``norm``."""
    for name in names:
        if name not in ATTACKS:
            raise ReportInputError(
                f"--attacks: unknown attack {name!r}; choose from {', '.join(ATTACKS)}."
            )
        if norm == "l1" and name in ("autoattack", "hopskipjump"):
            raise ReportInputError(f"attack {name!r} does not support the l1 norm.")
        if norm != "l2" and name == "cw":
            raise ReportInputError("attack 'cw' (Carlini-Wagner L2) needs --norm l2.")
