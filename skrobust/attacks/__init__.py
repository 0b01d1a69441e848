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
from ._fab_attack import FAB  # noqa: E402
from ._autoattack import AutoAttack  # noqa: E402

__all__ += ["APGD", "FAB", "AutoAttack"]
