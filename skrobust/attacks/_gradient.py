"""Shared machinery of the gradient (white-box) attacks."""

import numbers

import numpy as np
from sklearn.utils._param_validation import Interval, StrOptions

from .._repair import Repair
from .._threat import per_feature
from .._torch import torch
from ._base import BaseAttack
from ._functional import (
    BallBox,
    get_norm,
    projected_gradient,
    resolve_loss,
    search_categories,
)


class GradientAttack(BaseAttack):
    """A :class:`BaseAttack` running the norm-generic projected-gradient loop.

    Subclasses set the loop's schedule through :meth:`_schedule`.
    """

    _parameter_constraints = {
        **BaseAttack._parameter_constraints,
        "loss": [StrOptions({"ce", "cw", "dlr"})],
        "early_stop": ["boolean"],
    }

    #: l-infinity runs keep every iterate in the box they are given
    _keeps_box = True

    def _schedule(self, constraints):
        """``dict(n_iter, rel_step, random_init, n_restarts)`` for the loop."""
        raise NotImplementedError

    def _attack_batch(self, view, x0, labels, constraints, **kwargs):
        return self.perturb(view, x0, labels, constraints, **kwargs), {}

    def perturb(
        self,
        view,
        x0,
        labels,
        constraints,
        *,
        targeted=False,
        true_labels=None,
        loss_fn=None,
        eps_factor=1.0,
        random_init=None,
        schedule=None,
        generator=None,
        box=None,
    ):
        """Adversarial examples of a batch of tensors, on the view's device.

        The tensor-level entry point that defenses call inside their training
        step (no numpy round trip); :meth:`generate` uses it batch by batch.
        Call it inside ``view.evaluating()``.

        Parameters
        ----------
        view : DifferentiableModel
        x0 : Tensor
            Clean inputs in the view's space, dtype and device.
        labels : Tensor
            Class indices to attack (targets when ``targeted``), or any
            per-sample tensor a custom ``loss_fn`` reads (e.g. probabilities).
        constraints : Constraints
            The resolved threat model (``attack.threat_model(shape, columns)``).
        targeted : bool, default=False
        true_labels : Tensor, default=None
            True classes, for targeted losses that need them.
        loss_fn : callable, default=None
            ``(logits, labels, targeted, true_labels) -> (n,)`` loss to
            maximise; default: the attack's ``loss``.
        eps_factor : float, default=1.0
            Multiplies the budget (an eps warm-up).
        random_init : bool or callable, default=None
            Overrides the attack's random start (see ``projected_gradient``).
        schedule : dict, default=None
            Overrides of the loop's schedule (``n_iter``, ``rel_step`` — the
            step in units of eps —, ``n_restarts``).
        generator : torch.Generator, default=None
        box : tuple of Tensor, default=None
            ``(low, high)`` shaped like ``x0``: the bounds every iterate
            stays in, instead of the threat model's (for l-infinity, a box
            inside the ball, exact in ``x0``'s dtype as ``exact_box`` makes
            it, keeps the iterates exactly inside the ball). Still
            intersected with the ball, unless it is ``exact_box``'s
            l-infinity :class:`BallBox` and ``eps_factor`` is 1.

        Returns
        -------
        x_adv : Tensor
            Detached adversarial inputs.
        """
        if box is None:
            scale, low, high = constraints.box(x0, x0.dtype, eps_factor, shared=True)
        else:
            scale = constraints.budget(x0, x0.dtype, eps_factor, shared=True)
            low, high = box
        # exact_box's l-inf box lies inside the ball of factor 1
        in_ball = type(box) is BallBox and eps_factor == 1
        schedule = {**self._schedule(constraints), **(schedule or {})}
        rel_step = schedule.pop("rel_step")
        if type(rel_step) is not float and np.ndim(rel_step):
            rel_step = torch.as_tensor(rel_step, device=x0.device, dtype=x0.dtype)
        if random_init is not None:
            schedule["random_init"] = random_init
        if loss_fn is None:
            loss_fn = resolve_loss(self.loss, view.n_classes, targeted)
        repair = None
        if constraints.needs_repair:  # discrete constraints hold at every step
            repair = Repair(constraints, x0, self.norm)
        x_adv, _ = projected_gradient(
            view,
            x0,
            labels,
            norm=get_norm(self.norm),
            scale=scale,
            low=low,
            high=high,
            loss_fn=loss_fn,
            targeted=targeted,
            true_labels=true_labels if targeted else None,
            rel_step=rel_step,
            early_stop=self.early_stop,
            generator=generator,
            repair=repair,
            in_ball=in_ball,
            **schedule,
        )
        if repair is not None and repair.groups:  # polish the categories
            x_adv = search_categories(
                view,
                x_adv,
                labels,
                repair=repair,
                loss_fn=loss_fn,
                targeted=targeted,
                true_labels=true_labels if targeted else None,
            )
        return x_adv


def relative_step(step_size, eps, default):
    """``step_size / eps`` per feature (``default`` when ``step_size`` is None).

    ``eps`` is the per-feature budget in the user's units, so a step size
    given in the same units (raw or standard deviations) means the same.
    """
    if step_size is None:
        return default
    if isinstance(step_size, numbers.Real) and eps.size:  # one budget: quickly
        first = float(eps.flat[0])
        if first > 0 and bool((eps == first).all()):
            return float(step_size) / first
    step = per_feature(step_size, eps.shape, "step_size")
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = np.where(eps > 0, step / np.where(eps > 0, eps, 1.0), 0.0)
    return float(rel.flat[0]) if np.all(rel == rel.flat[0]) else rel


def kept_relative_step(step_size, constraints, default):
    """:func:`relative_step` of ``constraints.eps``, kept with the threat
    model for a number ``step_size`` (the same on every call)."""
    if type(step_size) not in (int, float):
        return relative_step(step_size, constraints.eps, default)
    cache = constraints.__dict__.setdefault("_tensors", {})
    key = ("rel_step", step_size, default)
    eps, rel = cache.get(key, (None, None))
    if eps is not constraints.eps:  # first, or another eps array
        rel = relative_step(step_size, constraints.eps, default)
        cache[key] = constraints.eps, rel
    return rel


STEP_SIZE = [None, "array-like", Interval(numbers.Real, 0, None, closed="neither")]
