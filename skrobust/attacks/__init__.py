"""Adversarial attacks as scikit-learn transformers.

``transform(X)`` attacks the model's own predictions (label-free);
``generate(X, y=None, *, target=None)`` attacks true labels or targets.
"""

from ._apgd import APGD
from ._autoattack import AutoAttack
from ._cw import CarliniWagnerL2
from ._exact_linear import LinearExactAttack
from ._exact_tree import DecisionTreeExactAttack
from ._fab import FAB
from ._fgsm import FGSM
from ._hopskipjump import HopSkipJump
from ._pgd import PGD
from ._square import SquareAttack

__all__ = [
    "APGD",
    "FAB",
    "FGSM",
    "PGD",
    "AutoAttack",
    "CarliniWagnerL2",
    "DecisionTreeExactAttack",
    "HopSkipJump",
    "LinearExactAttack",
    "SquareAttack",
]
