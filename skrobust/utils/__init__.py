"""Leaf helpers shared by every layer (no skrobust imports here)."""

from ._batching import AUTO_BATCH_VALUES, resolve_batch_size
from ._docstring import ATTACK_DOCS, SHARED_DOCS, Substitution
from ._labels import encode_labels
from ._params import store_params
from ._samples import check_samples
from ._weights import fit_weighted

__all__ = [
    "ATTACK_DOCS",
    "AUTO_BATCH_VALUES",
    "SHARED_DOCS",
    "Substitution",
    "check_samples",
    "encode_labels",
    "fit_weighted",
    "resolve_batch_size",
    "store_params",
]
