"""Tree models (decision trees, forests, boosting) read as boxes in raw units."""

from ._clique import CliqueBound
from ._ensemble import LeafBoxes, TreeEnsemble
from ._features import FeatureMap, NotPerFeatureError
from ._milp import MILPResult, TreeEnsembleMILP
from ._readers import ModelTrees, Tree, is_tree_model, read_trees
from ._region import Region, tree_regions
from ._search import LeafSearch

__all__ = [
    "CliqueBound",
    "FeatureMap",
    "LeafBoxes",
    "LeafSearch",
    "MILPResult",
    "ModelTrees",
    "NotPerFeatureError",
    "Region",
    "Tree",
    "TreeEnsemble",
    "TreeEnsembleMILP",
    "is_tree_model",
    "read_trees",
    "tree_regions",
]
