"""Bound propagation: interval bounds (IBP), CROWN and certified training.

The ``"ibp"``, ``"crown-ibp"``, ``"crown"`` and ``"alpha-crown"`` method
family of :func:`skrobust.certification.certify` (``METHODS``, ``certify``,
``certified_radius``). Besides the public names (``__all__``), the engine's
pieces other certification families build on are importable here: the
perturbation ``Region``, the graph of bound rules of a module
(``bound_graph``, traced from its ``forward``) or of a chain of rules
(``chain_graph``; ``leaf_layers`` and ``layer_rules`` list a module's
chain), interval propagation (``propagate``), CROWN's refinement
(``refine``) and the bounds of a specification (``bound_tensors``,
``margin_spec``).
"""

from . import _relaxations, _torch_layers, _view_layers  # noqa: F401  (rules)
from ._bounds import METHODS, interval_bounds, margin_bounds
from ._bounds import margin_spec as margin_spec
from ._certify import certified_radius, certify
from ._graph import bound_graph as bound_graph
from ._graph import chain_graph as chain_graph
from ._graph_crown import bound_tensors as bound_tensors
from ._graph_crown import refine as refine
from ._graph_ibp import propagate as propagate
from ._ibp_classifier import IBPClassifier
from ._layers import (
    ActivationBound,
    AffineBound,
    LayerBound,
    MonotoneBound,
    bound_layer,
)
from ._layers import layer_rules as layer_rules
from ._layers import leaf_layers as leaf_layers
from ._region import Region as Region

__all__ = [
    "METHODS",
    "ActivationBound",
    "AffineBound",
    "IBPClassifier",
    "LayerBound",
    "MonotoneBound",
    "bound_layer",
    "certified_radius",
    "certify",
    "interval_bounds",
    "margin_bounds",
]
