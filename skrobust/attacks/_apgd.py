"""Auto-PGD (Croce & Hein 2020): the step-size-free gradient attack."""

from sklearn.utils._param_validation import StrOptions

from .._repair import Repair
from .._torch import torch
from ..utils import ATTACK_DOCS, SHARED_DOCS, Substitution
from ._base import FRACTION, POSITIVE_INT, BaseAttack
from ._functional import (
    apgd,
    get_norm,
    resolve_loss,
    search_categories,
    top_classes,
)

# largest fused batch of runs, in input elements
FUSE_ELEMENTS = 2**22


def _start_draw(norm, x0, generator):
    """The random draw APGD's start is made of (see :func:`apgd`)."""
    if norm.name == "l1":
        return torch.randn(
            x0.shape, generator=generator, device=x0.device, dtype=x0.dtype
        )
    return norm.random(x0, generator)


def _seeds(n, generator, device):
    """``n`` generators seeded from ``generator``, one for each run."""
    at = device if generator is None else generator.device
    seeds = torch.randint(2**62, (n,), generator=generator, device=at)
    return iter([torch.Generator(device=device).manual_seed(s) for s in seeds.tolist()])


@Substitution(**ATTACK_DOCS, **SHARED_DOCS)
class APGD(BaseAttack):
    """Auto-PGD: projected gradient ascent with an automatic step size.

    From a random point of the sphere of the ball, ``n_iter`` steps with
    momentum 0.75 and a step size that starts at twice the budget and is
    halved at checkpoints (after 22 %, 41 %, 57 %, ... of the steps) for the
    samples whose loss oscillates or stalls; those restart from their best
    point. No step size to tune (Croce & Hein 2020, as in AutoAttack's
    reference code). With ``loss="dlr"`` and ``n_target_classes`` it is
    APGD-T: it runs once per target, the classes the model ranks 2nd, 3rd,
    ... on the clean input, on the samples not yet broken. Targeted through
    ``generate(..., target=)``. Points misclassified from the start (for a
    targeted attack: already predicted as their target) are returned
    unchanged; the others get their last adversarial iterate, or the iterate
    of highest loss if none was adversarial.

    Parameters
    ----------
    {estimator}
    {eps}
    norm : {"linf", "l2", "l1"}, default="linf"
        The ball. For l1, the reference's APGD-l1 (Croce & Hein 2021): a
        sparse step on an adaptive fraction of the coordinates, no momentum,
        and the exact projection onto the ball cut by the bounds.
    loss : {"ce", "dlr", "cw"}, default="ce"
        Cross-entropy, Croce & Hein's scale-invariant DLR loss, or the
        Carlini-Wagner margin. DLR needs 3 classes (4 when targeted); with
        fewer it falls back to "cw" with a warning.
    n_iter : int, default=100
        Steps per run.
    n_restarts : int, default=1
        Runs from new random points, on the samples not yet broken.
    rho : float, default=0.75
        Checkpoint threshold: the step size is halved when at most this
        fraction of the steps since the last checkpoint raised the loss.
    n_target_classes : int, default=None
        APGD-T: attack with the targeted loss towards each of the model's
        ``n_target_classes`` most likely other classes in turn (at most
        ``n_classes - 1``); a sample counts as broken once misclassified.
        ``None``: untargeted.
    eot_iter : int, default=1
        Gradients averaged per step (expectation over transformation, for
        models with randomness at inference).
    early_stop : bool, default=False
        Stop moving a sample once it is adversarial (the result is then the
        first adversarial iterate, not the last).
    {discrete_features}
    {threat_model_and_run}

    {attributes}

    See Also
    --------
    AutoAttack : APGD-CE, APGD-T, FAB-T and Square in turn.
    PGD : projected gradient descent with a fixed step size.

    References
    ----------
    F. Croce and M. Hein, "Reliable evaluation of adversarial robustness with
    an ensemble of diverse parameter-free attacks", ICML 2020.

    {examples_iris}
    >>> from skrobust.attacks import APGD
    >>> X_adv = APGD(clf, eps=0.3, n_iter=20, random_state=0).generate(X, y)
    >>> bool(clf.score(X_adv, y) < clf.score(X, y))
    True
    """

    _parameter_constraints = {
        **BaseAttack._parameter_constraints,
        "loss": [StrOptions({"ce", "dlr", "cw"})],
        "n_iter": POSITIVE_INT,
        "n_restarts": POSITIVE_INT,
        "rho": FRACTION,
        "n_target_classes": [None, *POSITIVE_INT],
        "eot_iter": POSITIVE_INT,
        "early_stop": ["boolean"],
    }

    def __init__(
        self,
        estimator=None,
        *,
        eps,
        norm="linf",
        loss="ce",
        n_iter=100,
        n_restarts=1,
        rho=0.75,
        n_target_classes=None,
        eot_iter=1,
        early_stop=False,
        integer_features=None,
        one_hot_groups=None,
        max_changes=None,
        allowed_categories=None,
        bounds=None,
        feature_mask=None,
        direction=None,
        eps_units="raw",
        batch_size="auto",
        random_state=None,
        verbose=0,
    ):
        self._set_params(locals())

    def _attack_batch(
        self, view, x0, labels, constraints, *, targeted, true_labels, generator
    ):
        scale, u_low, u_high = constraints.tensors(x0, view.dtype)
        n_classes = view.n_classes
        with torch.no_grad():
            clean = view(x0)
        if targeted:  # explicit targets: success is reaching them
            runs, reach = [labels], True
            done = clean.argmax(dim=1) == labels
        else:
            done = clean.argmax(dim=1) != true_labels
            reach = False
            if self.n_target_classes is None:
                runs = [None]
            else:
                k = min(self.n_target_classes, n_classes - 1)
                runs = list(top_classes(clean, k).T)
        use_targets = runs[0] is not None
        loss_fn = resolve_loss(self.loss, n_classes, use_targets)
        norm = get_norm(self.norm)
        repair = None
        if constraints.needs_repair:  # discrete constraints hold at every step
            repair = Repair(constraints, x0, self.norm)
        out_u = torch.zeros_like(x0)
        best = torch.full((len(x0),), float("-inf"), device=x0.device, dtype=x0.dtype)
        runs = [targets for targets in runs for _ in range(self.n_restarts)]
        # with early stopping, runs (targets, restarts) go together in one
        # batch: every sample's trajectory is its own, so the result is that
        # of running them one after another, on fewer, larger batches
        fuse = self.early_stop and repair is None
        # each run draws its random start for the points open at first, from
        # its own seed: fused and separate runs start from the same points,
        # and use the generator alike
        first = torch.nonzero(~done)[:, 0]
        seeds = _seeds(len(runs), generator, x0.device)
        at = torch.zeros(len(x0), dtype=torch.long, device=x0.device)
        at[first] = torch.arange(len(first), device=x0.device)
        while runs:
            index = torch.nonzero(~done)[:, 0]
            if len(index) == 0:
                break
            size = len(index) * x0[0].numel()
            count = max(1, min(len(runs), FUSE_ELEMENTS // size)) if fuse else 1
            chunk, runs = runs[:count], runs[count:]
            draws = [_start_draw(norm, x0[first], next(seeds)) for _ in chunk]
            start = torch.cat([draw[at[index]] for draw in draws])
            rows = index.repeat(len(chunk))
            labels_ = torch.cat(
                [true_labels[index] if t is None else t[index] for t in chunk]
            )
            u, found, loss = apgd(
                view,
                x0[rows],
                labels_,
                norm=norm,
                scale=scale,
                u_low=u_low[rows],
                u_high=u_high[rows],
                loss_fn=loss_fn,
                targeted=use_targets,
                true_labels=true_labels[rows],
                reach_target=reach,
                n_iter=self.n_iter,
                rho=self.rho,
                eot_iter=self.eot_iter,
                early_stop=self.early_stop,
                generator=generator,
                repair=None if repair is None else repair.rows(index),
                start=start,
                groups=rows if count > 1 else None,
            )
            m = len(index)
            for j in range(len(chunk)):  # in the order of separate runs
                part = slice(j * m, (j + 1) * m)
                open_ = ~done[index]
                keep = open_ & (found[part] | (loss[part] > best[index]))
                out_u[index[keep]] = u[part][keep]
                best[index[keep]] = loss[part][keep]
                done[index[open_ & found[part]]] = True
        x_adv = torch.addcmul(x0, scale, out_u)
        if repair is not None and repair.groups:  # polish the categories
            x_adv = search_categories(
                view,
                repair(x_adv),
                labels if targeted else true_labels,
                repair=repair,
                loss_fn=resolve_loss(self.loss, n_classes, targeted),
                targeted=targeted,
                true_labels=true_labels,
            )
        return x_adv, {}
