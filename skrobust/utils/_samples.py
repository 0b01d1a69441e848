"""One behaviour for inputs without samples across the library."""

import numpy as np
from sklearn.utils.validation import _num_samples


def check_samples(X, caller=None):
    """Refuse ``X`` without samples, in scikit-learn's words.

    Attacks, scorers, certificates and estimators alike raise scikit-learn's
    ``check_array`` error for 0 rows (an empty result would hide an empty
    split or filter upstream, and a score of 0 rows is undefined).

    Parameters
    ----------
    X : array-like, DataFrame or tensor
        Samples first. Anything without a length is left to the caller's
        own checks.
    caller : str, default=None
        The name the message gives (``"PGD"``, ``"certify"``).

    Returns
    -------
    n_samples : int or None
        ``None`` when ``X`` has no length.

    Examples
    --------
    >>> import numpy as np
    >>> from skrobust.utils import check_samples
    >>> check_samples(np.zeros((3, 2)), "PGD")
    3
    >>> check_samples(np.zeros((0, 2)), "PGD")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
        ...
    ValueError: Found array with 0 sample(s) (shape=(0, 2)) while a minimum ...
    """
    if type(X) is np.ndarray and X.ndim:  # the common case, quickly
        n = X.shape[0]
    else:
        try:
            n = _num_samples(X)
        except TypeError:  # a scalar or no array: the caller's checks say so
            return None
    if n == 0:
        shape = tuple(getattr(X, "shape", (0,)))
        by = f" by {caller}" if caller else ""
        raise ValueError(
            f"Found array with 0 sample(s) (shape={shape}) while a minimum of 1 "
            f"is required{by}."
        )
    return n
