"""Exact verification by mixed-integer linear programming (HiGHS)."""

from ..._models import MILPResult, TreeEnsembleMILP
from ._distance import certified_radius, minimal_distance
from ._verify import METHODS, certify, verify

__all__ = [
    "METHODS",
    "MILPResult",
    "TreeEnsembleMILP",
    "certified_radius",
    "certify",
    "minimal_distance",
    "verify",
]
