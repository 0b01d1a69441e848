"""Batch sizes: ``batch_size="auto"`` as a number of samples."""

import numbers

AUTO_BATCH_VALUES = 2**22
"""Values per batch that ``batch_size="auto"`` aims at (about 4 million)."""


def resolve_batch_size(batch_size, n_samples, values_per_sample):
    """Samples per batch: ``batch_size``, or for ``"auto"`` about 4 million values.

    Parameters
    ----------
    batch_size : int or "auto"
        A positive number of samples, or ``"auto"``: as many samples as hold
        :data:`AUTO_BATCH_VALUES` values of ``values_per_sample`` each (all
        of a typical tabular data set), at most ``n_samples`` and at least 1.
    n_samples : int
        The number of samples to go through.
    values_per_sample : int
        What one sample costs, in values held at once (its input values,
        times whatever each of them is multiplied into).

    Returns
    -------
    size : int

    Examples
    --------
    >>> from skrobust.utils import resolve_batch_size
    >>> resolve_batch_size("auto", 1_000_000, 784)  # MNIST images
    5349
    >>> resolve_batch_size("auto", 100, 30), resolve_batch_size(64, 100, 30)
    (100, 64)
    """
    if isinstance(batch_size, str) and batch_size == "auto":
        return max(
            1, min(int(n_samples), AUTO_BATCH_VALUES // max(1, values_per_sample))
        )
    if not isinstance(batch_size, numbers.Integral) or batch_size < 1:
        raise ValueError(
            f"batch_size must be a positive int or 'auto'; got {batch_size!r}."
        )
    return int(batch_size)
