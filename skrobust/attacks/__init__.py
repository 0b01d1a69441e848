"""Adversarial attacks as scikit-learn transformers.

``transform(X)`` attacks the model's own predictions (label-free);
``generate(X, y=None, *, target=None)`` attacks true labels or targets.
"""

from ._fgsm import FGSM
from ._pgd import PGD

__all__ = ["FGSM", "PGD"]

from ._square import SquareAttack  # noqa: E402

__all__ += ["SquareAttack"]

from ._apgd_attack import APGD  # noqa: E402
from ._autoattack import AutoAttack  # noqa: E402
from ._fab_attack import FAB  # noqa: E402

__all__ += ["APGD", "FAB", "AutoAttack"]

from ._hopskipjump import HopSkipJump  # noqa: E402

__all__ += ["HopSkipJump"]

from ._cw import CarliniWagnerL2  # noqa: E402

__all__ += ["CarliniWagnerL2"]

from ._exact_linear import LinearExactAttack  # noqa: E402

__all__ += ["LinearExactAttack"]

from ._exact_tree import DecisionTreeExactAttack  # noqa: E402

__all__ += ["DecisionTreeExactAttack"]
