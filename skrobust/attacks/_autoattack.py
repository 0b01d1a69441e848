"""AutoAttack (Croce & Hein 2020): APGD-CE, APGD-T, FAB-T and Square in turn."""

import time
import warnings

import numpy as np
from sklearn.utils import Bunch
from sklearn.utils._param_validation import StrOptions

from .._torch import torch
from ..utils import ATTACK_DOCS, SHARED_DOCS, Substitution
from ._apgd import APGD
from ._base import POSITIVE_INT, BaseAttack
from ._fab import FAB
from ._functional import repair
from ._minimal import in_units
from ._square import SquareAttack

VERSIONS = {
    "standard": ("apgd-ce", "apgd-t", "fab-t", "square"),
    "rand": ("apgd-ce", "apgd-dlr"),
    "fast": ("apgd-ce", "apgd-t"),
}
# the fast preset: a quarter of the iterations, at most 3 targets
FAST_ITER_DIVISOR, FAST_TARGETS = 4, 3

# on a CPU, a batch whose activations overflow the caches runs faster in
# pieces of at most this many activations (4 MB of float32)
PIECE_ACTIVATIONS = 1 << 20


class _Pieces:
    """A view that runs batches of more than ``rows`` samples in pieces.

    The joined APGD-T and FAB-T batches (9 targets of every point) overflow
    a CPU's caches on a convolutional network: on the digits SmallCNN a
    forward and backward pass on 927 images costs 1.35x, and a forward pass
    3x, what the same images cost in pieces of 232. The rows are independent
    (eval mode), so the logits and gradients are the whole batch's.
    """

    def __init__(self, view, rows):
        self.view, self.rows = view, rows

    def __call__(self, x):
        if len(x) <= self.rows:
            return self.view(x)
        pieces = x.tensor_split(-(-len(x) // self.rows))
        return torch.cat([self.view(piece) for piece in pieces])

    def __getattr__(self, name):
        return getattr(self.view, name)


def piece_rows(view, x0):
    """Rows per piece for ``view`` on a CPU, from its activations on one sample.

    ``None`` (no pieces) off the CPU or for a model that is not a torch
    module.
    """
    module = getattr(view, "module", None)
    if x0.device.type != "cpu" or not isinstance(module, torch.nn.Module):
        return None
    sizes = []
    hooks = [
        m.register_forward_hook(
            lambda m, i, out: sizes.append(out.numel() if torch.is_tensor(out) else 0)
        )
        for m in module.modules()
        if next(m.children(), None) is None
    ]
    try:
        with torch.no_grad():
            view(x0[:1])
    finally:
        for hook in hooks:
            hook.remove()
    return max(PIECE_ACTIVATIONS // max(sum(sizes), 1), 64)


@Substitution(**ATTACK_DOCS, **SHARED_DOCS)
class AutoAttack(BaseAttack):
    """AutoAttack: an ensemble of parameter-free attacks, the reference evaluation.

    ``version="standard"`` runs, as Croce & Hein's reference code does:
    APGD with cross-entropy (no restarts), APGD-T (targeted DLR loss, one run
    per target: the 9 classes the model ranks highest after the true one, or
    all ``n_classes - 1``), FAB-T (9 targets), and the Square attack (5,000
    queries, ``p_init=0.8``), each with 100 iterations. Each attack runs only
    on the points still robust, from the clean input; a point keeps the first
    adversarial example found (the pointwise worst case). Points no attack
    breaks are returned unchanged. Every attack shares the threat model.

    ``version="rand"``, for models with randomness at inference (randomized
    defenses), runs APGD-CE and APGD-DLR with expectation over
    transformation (``eot_iter=20`` gradients per step).

    ``version="fast"``, for model selection (a scorer inside
    ``GridSearchCV``), runs APGD-CE and APGD-T only, with a quarter of
    ``n_iter`` (25 by default) and at most 3 target classes. It is weaker
    than the standard version (its robust accuracy is an upper bound of the
    standard one's; the user guide gives the measured gap): report the
    standard version's figures.

    With fewer than 4 classes the targeted DLR loss is undefined (fewer than
    3: the untargeted one too): APGD falls back to the Carlini-Wagner margin
    loss with a warning, so binary and 3-class models work.

    Parameters
    ----------
    {estimator}
    {eps}
    norm : {"linf", "l2"}, default="linf"
    version : {"standard", "fast", "rand"}, default="standard"
    n_iter : int, default=100
        Iterations of APGD and FAB (the reference's 100; fewer is faster and
        weaker, and no longer AutoAttack's standard evaluation).
    n_queries : int, default=5000
        Queries of the Square attack.
    n_target_classes : int, default=9
        Targets of APGD-T and FAB-T (at most ``n_classes - 1``).
    eot_iter : int, default=20
        Gradients averaged per APGD step in ``version="rand"``.
    {discrete_features}
    {threat_model_and_run}

    {attributes}

    See Also
    --------
    APGD, FAB, SquareAttack : the attacks it runs.
    skrobust.metrics.make_robust_scorer : robust accuracy as a scorer.

    References
    ----------
    F. Croce and M. Hein, "Reliable evaluation of adversarial robustness with
    an ensemble of diverse parameter-free attacks", ICML 2020.

    {examples_iris}
    >>> from skrobust.attacks import AutoAttack
    >>> attack = AutoAttack(clf, eps=0.3, n_iter=10, n_queries=100, random_state=0)
    >>> report = attack.evaluate(X, y)  # 3 classes: DLR falls back, with a warning
    >>> list(report.robust_accuracy)
    ['clean', 'apgd-ce', 'apgd-t', 'fab-t', 'square']
    >>> bool(clf.score(report.X_adv, y) == report.robust_accuracy["square"])
    True
    """

    _parameter_constraints = {
        **BaseAttack._parameter_constraints,
        "norm": [StrOptions({"linf", "l2"})],
        "version": [StrOptions(set(VERSIONS))],
        "n_iter": POSITIVE_INT,
        "n_queries": POSITIVE_INT,
        "n_target_classes": POSITIVE_INT,
        "eot_iter": POSITIVE_INT,
    }

    def __init__(
        self,
        estimator=None,
        *,
        eps,
        norm="linf",
        version="standard",
        n_iter=100,
        n_queries=5000,
        n_target_classes=9,
        eot_iter=20,
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

    def _stages(self, n_classes):
        """``(name, attack)`` pairs; their threat model comes from ``self``."""
        k = min(self.n_target_classes, n_classes - 1)
        shared = dict(eps=self.eps, norm=self.norm, n_iter=self.n_iter)
        stop = dict(early_stop=True)  # success at any iterate counts
        if self.version == "fast":
            fast = dict(shared, n_iter=max(self.n_iter // FAST_ITER_DIVISOR, 1))
            return [
                ("apgd-ce", APGD(loss="ce", **fast, **stop)),
                (
                    "apgd-t",
                    APGD(
                        loss="dlr",
                        n_target_classes=min(k, FAST_TARGETS),
                        **fast,
                        **stop,
                    ),
                ),
            ]
        if self.version == "rand":
            eot = dict(n_restarts=1, eot_iter=self.eot_iter, **stop)
            return [
                ("apgd-ce", APGD(loss="ce", **shared, **eot)),
                ("apgd-dlr", APGD(loss="dlr", **shared, **eot)),
            ]
        fab = FAB(n_target_classes=k, **shared)
        fab._stop_in_budget = True  # only broken points count
        return [
            ("apgd-ce", APGD(loss="ce", n_restarts=1, **shared, **stop)),
            ("apgd-t", APGD(loss="dlr", n_target_classes=k, **shared, **stop)),
            ("fab-t", fab),
            (
                "square",
                SquareAttack(
                    eps=self.eps, norm=self.norm, n_queries=self.n_queries, p_init=0.8
                ),
            ),
        ]

    def _attack_batch(
        self, view, x0, labels, constraints, *, targeted, true_labels, generator
    ):
        with torch.no_grad():
            clean = view(x0)
            # (a tolerance: GPU kernels need not be bitwise reproducible)
            again = view(x0) if self.version == "standard" else clean
            if not torch.allclose(clean, again, rtol=1e-4, atol=1e-5):
                warnings.warn(
                    "the model's outputs change between two identical calls: it "
                    "looks randomized; use AutoAttack(version='rand') for EOT.",
                    UserWarning,
                    stacklevel=2,
                )
        correct = clean.argmax(dim=1) == true_labels
        robust = correct.clone()
        rows = piece_rows(view, x0) if len(x0) else None
        pieced = view if rows is None else _Pieces(view, rows)
        broken_by = torch.full((len(x0),), -1, device=x0.device)
        x_adv = x0.clone()
        times = []
        # FAB measures sizes in units of the shared budget (its radius: 1)
        in_budget = in_units(constraints, constraints.scale, 1.0)
        for number, (_name, stage) in enumerate(self._stages(view.n_classes)):
            start = time.perf_counter()
            index = torch.nonzero(robust)[:, 0]
            if len(index):
                out, _ = stage._attack_batch(
                    pieced,
                    x0[index],
                    true_labels[index],
                    in_budget if isinstance(stage, FAB) else constraints,
                    targeted=False,
                    true_labels=true_labels[index],
                    generator=generator,
                )
                out = repair(out, x0[index], constraints, self.norm)
                with torch.no_grad():
                    hit = view(out).argmax(dim=1) != true_labels[index]
                x_adv[index[hit]] = out[hit]
                robust[index[hit]] = False
                broken_by[index[hit]] = number
            times.append(time.perf_counter() - start)
        return x_adv, {"correct": correct, "broken_by": broken_by, "times": times}

    def generate(self, X, y=None, *, target=None):
        """Adversarial examples of ``X``: the first each attack finds.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, ...)
        y : array-like of shape (n_samples,), default=None
            True labels; ``None`` attacks the model's predictions.
        target : None
            AutoAttack is untargeted (it chooses its own targets).

        Returns
        -------
        X_adv : same type as X
        """
        return self.evaluate(X, y, target=target).X_adv

    def evaluate(self, X, y=None, *, target=None):
        """Run AutoAttack and report the robust accuracy after each attack.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, ...)
        y : array-like of shape (n_samples,), default=None
            True labels; ``None``: the model's predictions.
        target : None
            Must be None (AutoAttack is untargeted).

        Returns
        -------
        report : Bunch
            ``X_adv`` (as :meth:`generate`); ``robust_accuracy``: a dict from
            ``"clean"`` and each attack's name to the accuracy after it (in
            order); ``robust``: per point, whether every attack failed;
            ``broken_by``: per point, the name of the attack that broke it
            (``"clean"`` if misclassified already, ``""`` if robust);
            ``times``: seconds spent in each attack.
        """
        if target is not None:
            raise ValueError(
                "AutoAttack is untargeted (APGD-T and FAB-T choose their own "
                "targets); for a targeted attack use APGD(...).generate(X, "
                "target=...)."
            )
        X_adv, extras = self._run(X, y)
        names = ["clean"] + [name for name, _ in self._stages(10)]
        if extras:
            correct, by = extras["correct"], extras["broken_by"]
        else:  # nothing to attack (eps = 0 or no sample): clean accuracy
            correct = self._clean_correct(X, y)
            by = np.full(len(correct), -1)
        log = extras.get("times", [])
        n = max(len(correct), 1)
        accuracy = {"clean": float(correct.sum() / n)}
        for number, name in enumerate(names[1:]):
            accuracy[name] = float((correct & ((by < 0) | (by > number))).sum() / n)
        times = {name: sum(t[i] for t in log) for i, name in enumerate(names[1:])}
        broken_by = np.where(
            ~correct, "clean", np.where(by >= 0, np.array(names[1:])[by], "")
        )
        if self.verbose:
            print(f"initial accuracy: {accuracy['clean']:.2%}")
            total = 0.0
            for name in names[1:]:
                total += times[name]
                print(
                    f"robust accuracy after {name.upper()}: {accuracy[name]:.2%} "
                    f"(total time {total:.1f} s)"
                )
        return Bunch(
            X_adv=X_adv,
            robust_accuracy=accuracy,
            robust=correct & (by < 0),
            broken_by=broken_by,
            times=times,
        )
