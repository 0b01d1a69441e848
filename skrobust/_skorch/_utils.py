"""Small helpers of the skorch layer: the net classes, seeding, module arguments."""

import contextlib
import inspect

import numpy as np
from sklearn.utils.validation import check_random_state
from skorch import NeuralNetBinaryClassifier, NeuralNetClassifier

from .._torch import torch
from ..utils import encode_labels

SKORCH_NETS = (NeuralNetClassifier, NeuralNetBinaryClassifier)
"""The skorch classifiers skrobust wraps, trains and converts."""

_LOGIT_CRITERIA = (torch.nn.CrossEntropyLoss, torch.nn.BCEWithLogitsLoss)


@contextlib.contextmanager
def seeded(random_state):
    """Seed torch from ``random_state`` inside a forked RNG (no-op for None).

    The global torch RNG (CPU and every visible CUDA device) is restored on
    exit, so seeding a fit does not change what the user's code draws next.
    """
    if random_state is None:
        yield
        return
    seed = int(check_random_state(random_state).randint(np.iinfo(np.int32).max))
    devices = (
        list(range(torch.cuda.device_count())) if torch.cuda.is_available() else []
    )
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield


def has_logit_criterion(net):
    """Whether the skorch ``net``'s criterion takes logits."""
    criterion = getattr(net, "criterion", None)
    if not isinstance(criterion, type):
        criterion = type(criterion)
    return issubclass(criterion, _LOGIT_CRITERIA)


def accepted_kwargs(factory):
    """Names of the keyword arguments ``factory`` accepts (empty if unknown)."""
    if isinstance(factory, torch.nn.Module) or not callable(factory):
        return set()
    try:
        parameters = inspect.signature(factory).parameters.values()
    except (TypeError, ValueError):
        return set()
    kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    return {p.name for p in parameters if p.kind in kinds}


def net_targets(net, y, *, dtype):
    """The classes of ``y`` and ``y`` encoded as the targets ``net`` trains on.

    The classes are ``net.classes`` when the net sets them (``y`` must then
    hold only those), else the sorted unique labels; the targets are their
    indices: int64 for a ``NeuralNetClassifier``, 0/1 of ``dtype`` for a
    ``NeuralNetBinaryClassifier``.
    """
    classes = getattr(net, "classes", None)
    if classes is not None and len(classes):
        classes = np.asarray(classes)
        try:
            codes = encode_labels(y, classes)
        except ValueError:
            unknown = ~np.isin(y, classes)
            raise ValueError(
                f"y contains labels {np.unique(y[unknown])[:5].tolist()} that are "
                f"not in the net's `classes` {classes.tolist()}; add them "
                "or leave `classes` unset to take the labels from y."
            ) from None
    else:
        classes, codes = np.unique(y, return_inverse=True)
    if not isinstance(net, NeuralNetBinaryClassifier):
        return classes, codes.astype(np.int64)
    if len(classes) != 2:
        n = len(classes)
        raise ValueError(
            "Only binary classification is supported by "
            f"{type(net).__name__}; y has {n} class"
            f"{'' if n == 1 else 'es'}. Use a NeuralNetClassifier (with "
            "CrossEntropyLoss) for other numbers of classes."
        )
    return classes, codes.astype(dtype)
