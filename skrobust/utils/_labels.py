"""Labels (values of a model's ``classes_``) as class indices."""

import numpy as np
from sklearn.utils.validation import column_or_1d


def encode_labels(labels, classes, *, name="y", n_samples=None):
    """Positions of ``labels`` in ``classes``, refusing unknown labels.

    Parameters
    ----------
    labels : label or array-like of shape (n_samples,)
        Values of ``classes`` (a single label is repeated ``n_samples`` times).
    classes : ndarray of shape (n_classes,)
        A model's ``classes_`` (any order, any comparable dtype).
    name : str, default="y"
        The argument's name, for error messages.
    n_samples : int, default=None
        The number of samples ``labels`` must cover (checked when given).

    Returns
    -------
    index : ndarray of shape (n_samples,), dtype intp
        ``classes[index] == labels``.

    Examples
    --------
    >>> import numpy as np
    >>> from skrobust.utils import encode_labels
    >>> encode_labels(["b", "a", "b"], np.array(["a", "b"]))
    array([1, 0, 1])
    """
    classes = np.asarray(classes)
    labels = np.asarray(labels)
    if labels.ndim == 0:
        if n_samples is None:
            raise ValueError(f"`{name}` is a single label; pass one per sample.")
        labels = np.full(n_samples, labels)
    if labels.ndim != 1:  # a 1-d array is what column_or_1d would return
        labels = column_or_1d(labels, warn=False)
    if n_samples is not None and len(labels) != n_samples:
        raise ValueError(f"`{name}` has {len(labels)} entries for {n_samples} samples.")
    if len(labels) == 0:
        return np.zeros(0, dtype=np.intp)
    try:
        sorter = np.argsort(classes)
        pos = np.searchsorted(classes, labels, sorter=sorter)
        index = sorter[np.minimum(pos, len(classes) - 1)]
        unknown = classes[index] != labels
    except TypeError:  # labels not comparable with the classes
        index, unknown = None, np.ones(len(labels), dtype=bool)
    if np.any(unknown):
        raise ValueError(
            f"`{name}` holds {labels[np.argmax(unknown)]!r}, which is not one of "
            f"the model's classes {classes.tolist()}."
        )
    return index.astype(np.intp, copy=False)
