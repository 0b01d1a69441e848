"""Import torch once, with an actionable message when it is missing."""

try:
    import torch
except ImportError as exc:  # pragma: no cover - exercised only without torch
    raise ImportError(
        "skrobust needs PyTorch, which is not installed. Install the build that "
        "fits your machine first, e.g. `pip install torch==2.13.0` (CPU wheel) or "
        "follow https://pytorch.org/get-started/locally/ for a CUDA build, then "
        "import skrobust again."
    ) from exc

__all__ = ["torch"]
