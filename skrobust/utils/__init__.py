"""Leaf helpers shared by every layer (no skrobust imports here)."""

from ._labels import encode_labels

__all__ = ["encode_labels"]
