"""Adversarial attacks as scikit-learn transformers.

``transform(X)`` attacks the model's own predictions (label-free);
``generate(X, y=None, *, target=None)`` attacks true labels or targets.

Besides the public attacks (``__all__``), the names the other subpackages
build on are importable here: the attack bases, black-box query access and
the norms and losses of the tensor loops.
"""

from ._apgd import APGD
from ._autoattack import AutoAttack
from ._base import BaseAttack as BaseAttack
from ._blackbox import BlackBoxAttack as BlackBoxAttack
from ._blackbox import BlackBoxModel as BlackBoxModel
from ._cw import CarliniWagnerL2
from ._exact_linear import LinearExactAttack
from ._exact_tree import DecisionTreeExactAttack
from ._fab import FAB
from ._fgsm import FGSM
from ._functional import cross_entropy as cross_entropy
from ._functional import get_norm as get_norm
from ._gradient import GradientAttack as GradientAttack
from ._hopskipjump import HopSkipJump
from ._leaf_tuple import LeafTupleAttack
from ._minimal import MinimalNormMixin as MinimalNormMixin
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
    "LeafTupleAttack",
    "LinearExactAttack",
    "SquareAttack",
]
