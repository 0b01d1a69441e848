"""Per-sample attack losses on logits; attacks *maximise* them.

Untargeted losses grow as the true class loses; targeted ones grow as the
target class wins (``labels`` are then the targets and ``target_of`` the true
classes, used by targeted DLR). Each returns a tensor of shape (n_samples,).
"""

import warnings

from ..._torch import torch

F = torch.nn.functional


def _other_max(logits, labels):
    """``max_{i != label} z_i``."""
    masked = logits.scatter(1, labels[:, None], float("-inf"))
    return masked.amax(dim=1)


def cross_entropy(logits, labels, targeted=False, target_of=None):
    """Cross-entropy of ``labels`` (negated for a targeted attack)."""
    loss = F.cross_entropy(logits, labels, reduction="none")
    return -loss if targeted else loss


def cw_margin(logits, labels, targeted=False, target_of=None):
    """Carlini-Wagner margin ``max_{i != y} z_i - z_y``.

    Targeted: ``z_t - max_{i != t} z_i``.
    """
    own = logits.gather(1, labels[:, None])[:, 0]
    margin = _other_max(logits, labels) - own
    return -margin if targeted else margin


def dlr(logits, labels, targeted=False, target_of=None):
    """Croce & Hein's difference-of-logits-ratio loss (scale invariant).

    Untargeted: ``-(z_y - max_{i != y} z_i) / (z_pi1 - z_pi3 + 1e-12)``.
    Targeted (``labels`` are the targets, ``target_of`` the true classes):
    ``-(z_y - z_t) / (z_pi1 - (z_pi3 + z_pi4) / 2 + 1e-12)``.
    """
    ordered = logits.sort(dim=1, descending=True).values
    if not targeted:
        own = logits.gather(1, labels[:, None])[:, 0]
        scale = ordered[:, 0] - ordered[:, 2] + 1e-12
        return -(own - _other_max(logits, labels)) / scale
    own = logits.gather(1, target_of[:, None])[:, 0]
    target = logits.gather(1, labels[:, None])[:, 0]
    scale = ordered[:, 0] - 0.5 * (ordered[:, 2] + ordered[:, 3]) + 1e-12
    return -(own - target) / scale


LOSSES = {"ce": cross_entropy, "cw": cw_margin, "dlr": dlr}


def reached(pred, labels, targeted):
    """Whether predicted classes ``pred`` are adversarial: not the label, or
    the target when ``targeted``."""
    return pred == labels if targeted else pred != labels


def success(logits, labels, targeted, margin=0.0):
    """Whether each sample is adversarial: misclassified, or hits its target.

    With ``margin`` (Carlini-Wagner's ``kappa``) the adversarial class must
    win by that much.
    """
    if margin:
        logits = logits.detach().clone()
        shift = torch.full_like(logits[:, :1], -margin if targeted else margin)
        logits.scatter_add_(1, labels[:, None], shift)
    return reached(logits.argmax(dim=1), labels, targeted)


def top_classes(logits, k):
    """Per sample, the classes ranked 2nd .. (k+1)-th by ``logits``: shape (n, k).

    AutoAttack's targets for APGD-T and FAB-T.
    """
    return logits.argsort(dim=1, descending=True)[:, 1 : k + 1]


def resolve_loss(name, n_classes, targeted):
    """The loss function for ``name``, falling back where it is undefined.

    DLR needs 3 classes (4 when targeted); with fewer it falls back to the
    CW margin loss with a warning, as AutoAttack's reference code does.
    """
    if name not in LOSSES:
        raise ValueError(f"unknown loss {name!r}; use one of {sorted(LOSSES)}.")
    needed = 4 if targeted else 3
    if name == "dlr" and n_classes < needed:
        warnings.warn(
            f"the DLR loss needs at least {needed} classes "
            f"({'targeted' if targeted else 'untargeted'}); this model has "
            f"{n_classes}, so the CW margin loss is used instead.",
            UserWarning,
            stacklevel=3,
        )
        name = "cw"
    return LOSSES[name]
