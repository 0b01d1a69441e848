"""The attacks' tensor loops: tensors in, tensors out, no scikit-learn here."""

from ._apgd import apgd, checkpoints, halve_step
from ._categories import search_categories
from ._cw import carlini_wagner_l2
from ._exact import affine_map, linear_minimal, nearest_leaf
from ._fab import fab
from ._halfspace import hyperplane_projection, smallest_step
from ._hopskipjump import hopskipjump
from ._losses import (
    LOSSES,
    cross_entropy,
    cw_margin,
    dlr,
    reached,
    resolve_loss,
    success,
    top_classes,
)
from ._norms import (
    L1,
    L2,
    NORMS,
    Linf,
    Norm,
    finite_gradient,
    get_norm,
    weighted_size,
)
from ._projected_gradient import projected_gradient
from ._repair import BallBox, cast_inside, exact_box, inside, repair
from ._square import p_selection, square

__all__ = [
    "BallBox",
    "L1",
    "L2",
    "LOSSES",
    "NORMS",
    "Linf",
    "Norm",
    "affine_map",
    "apgd",
    "carlini_wagner_l2",
    "cast_inside",
    "checkpoints",
    "cross_entropy",
    "cw_margin",
    "dlr",
    "exact_box",
    "fab",
    "finite_gradient",
    "get_norm",
    "halve_step",
    "hopskipjump",
    "hyperplane_projection",
    "inside",
    "linear_minimal",
    "nearest_leaf",
    "p_selection",
    "projected_gradient",
    "reached",
    "repair",
    "resolve_loss",
    "search_categories",
    "smallest_step",
    "square",
    "success",
    "top_classes",
    "weighted_size",
]
