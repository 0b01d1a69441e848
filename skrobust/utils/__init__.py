"""Leaf helpers shared by every layer (no skrobust imports here)."""

from ._batching import AUTO_BATCH_VALUES, resolve_batch_size
from ._labels import encode_labels

__all__ = ["AUTO_BATCH_VALUES", "encode_labels", "resolve_batch_size"]
