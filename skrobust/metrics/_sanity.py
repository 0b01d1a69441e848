"""Sanity checks of a robustness evaluation: the signs of gradient masking.

After Carlini et al. (2019), "On evaluating adversarial robustness", and
AutoAttack's flags (Croce & Hein 2020).
"""

import warnings
from dataclasses import dataclass, field

import numpy as np

from .._models import as_differentiable
from .._torch import torch
from ..attacks import PGD, cross_entropy, get_norm
from ..utils import SHARED_DOCS, Substitution, check_samples, encode_labels
from ._robust import _take, attack_for, robust_accuracy_score


class GradientMaskingWarning(UserWarning):
    """Warned when a robustness evaluation shows signs of gradient masking.

    Examples
    --------
    >>> import warnings
    >>> from skrobust.metrics import GradientMaskingWarning
    >>> warnings.simplefilter("error", GradientMaskingWarning)
    """


@dataclass
class SanityCheck:
    """The outcome of one check: its name, whether it passed, and why."""

    name: str
    passed: bool
    message: str
    value: float = float("nan")


@dataclass
class SanityReport:
    """Outcomes of :func:`check_robustness_evaluation`.

    Attributes
    ----------
    checks : list of SanityCheck
    robust_accuracy : float
        Robust accuracy under the evaluated attack at its budget.
    """

    checks: list = field(default_factory=list)
    robust_accuracy: float = float("nan")

    @property
    def passed(self):
        """Whether every check passed."""
        return all(c.passed for c in self.checks)

    @property
    def failed(self):
        """The names of the failed checks."""
        return [c.name for c in self.checks if not c.passed]

    def __str__(self):
        lines = [f"robust accuracy: {self.robust_accuracy:.4f}"]
        lines += [
            f"[{'ok' if c.passed else 'FAIL'}] {c.name}: {c.message}"
            for c in self.checks
        ]
        return "\n".join(lines)


def _inputs_and_grads(view, X, y):
    """Logits and input gradients of the cross-entropy at clean points."""
    x = view.to_input(X)
    labels = torch.as_tensor(
        encode_labels(y, view.classes_), device=view.device, dtype=torch.long
    )
    with view.evaluating():
        x.requires_grad_(True)
        logits = view(x)
        (grad,) = torch.autograd.grad(cross_entropy(logits, labels).sum(), x)
    return logits.detach(), grad.reshape(len(grad), -1)


def _random_search(attack, estimator, X, y, n_samples, random_state):
    """Points broken by uniform samples of the threat model's ball."""
    view = as_differentiable(estimator)
    attack = attack_for(attack, estimator, X)
    Xw = X if view.preprocess is None else view.preprocess(X)
    x0 = view.to_input(Xw, in_space=True)
    layout = None if view.codec is None else view.codec.layout(X)
    columns = getattr(Xw, "columns", None)
    constraints = attack.threat_model(x0.shape[1:], columns, layout=layout)
    scale, u_low, u_high = constraints.tensors(x0, view.dtype)
    norm = get_norm(attack.norm)
    gen = torch.Generator(device=view.device).manual_seed(int(random_state))
    target = torch.as_tensor(encode_labels(y, view.classes_), device=view.device)
    broken = torch.zeros(len(x0), dtype=torch.bool, device=view.device)
    with view.evaluating(), torch.inference_mode():
        for _ in range(n_samples):
            u = norm.random(x0, gen) * (scale > 0)
            u = torch.clamp(norm.project(u), u_low, u_high)
            pred = view(torch.addcmul(x0, scale, u)).argmax(dim=1)
            broken |= pred != target
    return broken.cpu().numpy()


def _stronger(attack):
    """The same threat model with many more steps and restarts."""
    params = attack.get_params(deep=False)
    if isinstance(attack, PGD):
        params.update(
            n_iter=max(5 * attack.n_iter, 50), n_restarts=attack.n_restarts + 2
        )
        return PGD(**params)
    common = {k: v for k, v in params.items() if k in PGD._parameter_constraints}
    return PGD(**common, n_iter=50, n_restarts=3)


def _unbounded(attack, X):
    """The attack with a budget covering the whole domain (or 100x eps)."""
    params = attack.get_params(deep=False)
    low, high = (None, None)
    bounds = params.get("bounds")
    if isinstance(bounds, tuple | list) and len(bounds) == 2:
        low, high = bounds
    flat = np.asarray(X if not hasattr(X, "to_numpy") else X.to_numpy(), dtype=float)
    d = flat.reshape(len(flat), -1).shape[1]
    if low is not None and high is not None:
        width = float(np.max(np.asarray(high, float) - np.asarray(low, float)))
    else:
        width = 100 * float(np.max(np.atleast_1d(np.asarray(params["eps"], float))))
        if params.get("eps_units") == "std":
            width = 100 * width  # generous: the budget is read in std units
    factor = {"linf": 1.0, "l2": np.sqrt(d), "l1": float(d)}[params["norm"]]
    strong = _stronger(attack)
    return strong.set_params(eps=width * factor)


@Substitution(**SHARED_DOCS)
def check_robustness_evaluation(
    estimator,
    X,
    y,
    *,
    attack,
    epsilons=None,
    black_box=None,
    n_random=50,
    tol=0.05,
    warn=True,
    random_state=0,
):
    """Run Carlini et al.'s sanity checks on a robustness evaluation.

    Each failed check emits a :class:`GradientMaskingWarning` (with
    ``warn=True``) and is listed in the returned report. The checks:

    ``monotone``
        Robust accuracy must not increase with the budget (independent runs
        at each of ``epsilons``).
    ``unbounded``
        With a budget covering the whole domain (or 100x ``eps`` when
        unbounded), accuracy must reach about 0 (at most ``tol``).
    ``black_box_vs_gradient``
        A black-box attack (``black_box``; by default ``n_random`` uniform
        random points of the ball per sample) must not break points the
        gradient attack missed.
    ``more_iterations``
        Many more steps and restarts must not lower robust accuracy by more
        than ``tol`` (the attack has converged).
    ``zero_gradients``
        At most ``tol`` of the correctly classified points may have a zero
        input gradient.
    ``finite``
        The model's logits and input gradients at the clean points must be
        finite (NaN logits vote arbitrarily; an infinite gradient, ``sqrt``
        at 0 say, makes gradient steps take a limit direction).
    ``probability_outputs``
        The model's view must output logits, not probabilities (a softmax
        applied twice saturates gradients).

    Parameters
    ----------
    estimator : fitted classifier with a differentiable view
    X : array-like or DataFrame of shape (n_samples, ...)
    y : array-like of shape (n_samples,)
    attack : attack
        The white-box attack of the evaluation (its budget is the one checked).
    epsilons : array-like, default=None
        Budgets for the monotonicity check; ``None``: 0.25, 0.5, 1, 2 and 4
        times the attack's ``eps``.
    black_box : attack, default=None
        A black-box attack with the same threat model, compared with
        ``attack``; ``None`` samples the ball at random.
    n_random : int, default=50
        Random samples of the ball per point for the black-box baseline.
    tol : float, default=0.05
        Tolerated share of points in the quantitative checks.
    warn : bool, default=True
        Emit a :class:`GradientMaskingWarning` per failed check.
    random_state : int, default=0

    Returns
    -------
    report : SanityReport

    {examples_iris}
    >>> from skrobust.attacks import PGD
    >>> from skrobust.metrics import check_robustness_evaluation
    >>> report = check_robustness_evaluation(
    ...     clf, X, y, attack=PGD(eps=0.2, n_iter=10, random_state=0))
    >>> report.passed
    True
    """
    check_samples(X, "check_robustness_evaluation")
    y = np.asarray(y)
    view = as_differentiable(estimator)
    report = SanityReport()
    report.robust_accuracy = robust_accuracy_score(estimator, X, y, attack=attack)
    checks = report.checks
    eps = np.asarray(attack.eps, dtype=float)

    # the model's outputs
    logits, grads = _inputs_and_grads(view, X, y)
    probs_like = bool(
        (logits >= 0).all()
        and (logits <= 1).all()
        and torch.allclose(logits.sum(dim=1), torch.ones_like(logits[:, 0]), atol=1e-4)
    )
    checks.append(
        SanityCheck(
            "probability_outputs",
            not probs_like,
            "the model's outputs are probabilities: take logits (or log-"
            "probabilities) from the model instead"
            if probs_like
            else "the model outputs logits",
        )
    )
    bad_logits = int((~torch.isfinite(logits)).any(dim=1).sum())
    bad_grads = int((~torch.isfinite(grads)).any(dim=1).sum())
    checks.append(
        SanityCheck(
            "finite",
            bad_logits == bad_grads == 0,
            f"{bad_logits} of {len(logits)} points have non-finite logits and "
            f"{bad_grads} non-finite input gradients"
            + (
                " (attacks step around them: make the model finite there, e.g. "
                "sqrt(x + 1e-12) for sqrt)"
                if bad_logits or bad_grads
                else ""
            ),
            float(max(bad_logits, bad_grads)),
        )
    )
    correct = logits.argmax(dim=1).cpu().numpy() == encode_labels(y, view.classes_)
    zero = (grads.abs().amax(dim=1) == 0).cpu().numpy()[correct]
    share = float(zero.mean()) if len(zero) else 0.0
    checks.append(
        SanityCheck(
            "zero_gradients",
            share <= tol,
            f"{share:.1%} of correctly classified points have a zero input gradient",
            share,
        )
    )

    # the attack's strength
    robust_idx = np.flatnonzero(correct)
    X_c, y_c = _take(X, robust_idx), y[robust_idx]
    stronger = robust_accuracy_score(estimator, X, y, attack=_stronger(attack))
    drop = report.robust_accuracy - stronger
    checks.append(
        SanityCheck(
            "more_iterations",
            drop <= tol,
            f"more steps and restarts lower robust accuracy by {drop:.1%} "
            f"({report.robust_accuracy:.3f} -> {stronger:.3f})",
            drop,
        )
    )
    missed = 0.0
    if len(robust_idx):
        if black_box is None:
            by_black_box = _random_search(
                attack, estimator, X_c, y_c, n_random, random_state
            )
        else:
            X_bb = attack_for(black_box, estimator, X).generate(X_c, y_c)
            by_black_box = view.predict(X_bb, in_space=view.codec is None) != y_c
        X_adv = attack_for(attack, estimator, X).generate(X_c, y_c)
        by_gradient = view.predict(X_adv, in_space=view.codec is None) != y_c
        missed = float((by_black_box & ~by_gradient).mean())
    checks.append(
        SanityCheck(
            "black_box_vs_gradient",
            missed <= tol / 5,
            f"a black-box attack breaks {missed:.1%} of the points that the "
            "gradient attack missed",
            missed,
        )
    )
    unbounded = robust_accuracy_score(estimator, X, y, attack=_unbounded(attack, X))
    checks.append(
        SanityCheck(
            "unbounded",
            unbounded <= tol,
            f"an attack with an unbounded budget leaves accuracy at {unbounded:.1%}",
            unbounded,
        )
    )

    # robust accuracy against the budget
    if epsilons is None:
        epsilons = [f * eps for f in (0.25, 0.5, 1.0, 2.0, 4.0)]
    accuracies = [
        robust_accuracy_score(
            estimator, X, y, attack=attack_for(attack, estimator, X).set_params(eps=e)
        )
        for e in epsilons
    ]
    rises = float(np.max(np.diff(accuracies), initial=0.0))
    checks.append(
        SanityCheck(
            "monotone",
            rises <= tol / 5 + 1e-12,
            f"robust accuracy against eps: {np.round(accuracies, 3).tolist()}",
            rises,
        )
    )

    if warn:
        for check in checks:
            if not check.passed:
                warnings.warn(
                    f"possible gradient masking ({check.name}): {check.message}.",
                    GradientMaskingWarning,
                    stacklevel=2,
                )
    return report
