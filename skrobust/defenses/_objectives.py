"""Adversarial training objectives, computed on one batch inside skorch's loop."""

import copy
import warnings

import numpy as np
from skorch.callbacks import Callback
from skorch.utils import to_tensor

from .._models import as_differentiable
from .._skorch import Objective, batch_mean, split_weights
from .._torch import torch
from ..attacks import PGD
from ..utils import store_params

F = torch.nn.functional

LOSSES = ("madry", "trades", "fast", "input_gradient")


def _kl(logits, p_clean, targeted=False, true_labels=None):
    """Per-sample KL(p_clean || softmax(logits)): TRADES' inner objective."""
    log_p = F.log_softmax(logits, dim=1)
    return (p_clean * (torch.log(p_clean.clamp_min(1e-12)) - log_p)).sum(dim=1)


class AdversarialObjective(Objective):
    """What an adversarially trained skorch net minimises on each batch.

    Held by :class:`AdversarialNeuralNetClassifier` (its ``objective``
    parameter); :class:`~skrobust.defenses.AdversarialTrainingClassifier`
    builds it from its own parameters. The view and threat-model caches,
    the warm-up and the callbacks hook come from the shared ``Objective``
    base of ``skrobust._skorch``.

    Parameters
    ----------
    attack : gradient attack
        The threat model (eps, norm, bounds, feature constraints) and the
        inner maximisation's steps.
    loss : {"madry", "trades", "fast", "input_gradient"}
        ``"madry"``: the loss at the attack's adversarial batch (mixed with
        the clean loss by ``clean_ratio``); ``"trades"``: clean loss plus
        ``beta`` times KL(p(x) || p(x')) with ``x'`` maximising the KL from
        ``x + 0.001 N(0, 1)``; ``"fast"``: one FGSM step of ``1.25 eps`` from a
        uniform random start (Wong et al. 2020); ``"input_gradient"``: clean
        loss plus ``gradient_penalty * ||grad_x CE||_2^2`` (double backprop).
    beta : float
    clean_ratio : float
    gradient_penalty : float
    eps_warmup : int
        Epochs over which the budget ramps linearly from ``eps / eps_warmup``
        to ``eps``.
    guard : bool
        With ``loss="fast"``, add a :class:`CatastrophicOverfittingGuard`.

    Examples
    --------
    >>> from skrobust.attacks import PGD
    >>> from skrobust.defenses import AdversarialObjective
    >>> objective = AdversarialObjective(PGD(eps=0.1), loss="fast")
    >>> [name for name, _ in objective.callbacks()]
    ['overfitting_guard']
    >>> objective.constraints((4,)).scale
    array([0.1, 0.1, 0.1, 0.1])
    """

    def __init__(
        self,
        attack,
        loss="madry",
        *,
        beta=6.0,
        clean_ratio=0.0,
        gradient_penalty=1.0,
        eps_warmup=0,
        guard=True,
    ):
        store_params(self, locals())

    def threat_model(self, sample_shape):
        """The attack's resolved threat model for samples of ``sample_shape``."""
        return self.attack.threat_model(sample_shape)

    def callbacks(self):
        """``[("overfitting_guard", guard)]`` for ``loss="fast"`` with ``guard``."""
        if self.loss == "fast" and self.guard:
            return [("overfitting_guard", CatastrophicOverfittingGuard(self))]
        return []

    def __repr__(self):
        return f"AdversarialObjective({self.attack!r}, loss={self.loss!r})"

    # -- the per-batch loss ----------------------------------------------------

    def __call__(self, net, Xi, yi, **fit_params):
        """``(loss, y_pred)`` of one training batch; the caller backpropagates."""
        x = to_tensor(Xi, device=net.device)
        y = to_tensor(yi, device=net.device)
        view = self.view(net, x)
        labels = y.long() if y.is_floating_point() else y
        if self.loss == "input_gradient":
            return self._input_gradient(net, view, x, y, labels, **fit_params)
        if self.loss == "trades":
            return self._trades(net, view, x, y, labels, **fit_params)
        schedule = None
        random_init = None
        if self.loss == "fast":
            schedule = {"n_iter": 1, "rel_step": 1.25, "n_restarts": 1}
            random_init = True
        with view.evaluating():
            x_adv = self.attack.perturb(
                view,
                x,
                labels,
                self.constraints(tuple(x.shape[1:])),
                eps_factor=self.eps_factor(net),
                random_init=random_init,
                schedule=schedule,
            )
        y_pred = net.infer(x_adv, **fit_params)
        loss = net.get_loss(y_pred, y, X=x_adv, training=True)
        if self.clean_ratio:
            clean = net.get_loss(net.infer(x, **fit_params), y, X=x, training=True)
            loss = (1 - self.clean_ratio) * loss + self.clean_ratio * clean
        return loss, y_pred

    def _logits(self, net, view, x, y_pred):
        """View logits of a batch, reusing ``y_pred`` when the net gives logits."""
        criterion = getattr(net.criterion_, "_orig_mod", net.criterion_)
        if isinstance(criterion, torch.nn.CrossEntropyLoss) and torch.is_tensor(y_pred):
            return y_pred  # the module's outputs are the logits: no second pass
        return view(x)

    def _trades(self, net, view, x, y, labels, **fit_params):
        with view.evaluating(), torch.no_grad():
            p_clean = F.softmax(view(x), dim=1)
        with view.evaluating():
            x_adv = self.attack.perturb(
                view,
                x,
                p_clean,
                self.constraints(tuple(x.shape[1:])),
                loss_fn=_kl,
                eps_factor=self.eps_factor(net),
                random_init=lambda x0, gen: (
                    0.001
                    * torch.randn(
                        x0.shape, generator=gen, device=x0.device, dtype=x0.dtype
                    )
                ),
            )
        y_pred = net.infer(x, **fit_params)
        natural = net.get_loss(y_pred, y, X=x, training=True)
        logits = self._logits(net, view, x, y_pred)
        robust = F.kl_div(
            F.log_softmax(view(x_adv), dim=1),
            F.softmax(logits, dim=1),
            reduction="none",
        ).sum(dim=1)
        return natural + self.beta * batch_mean(net, robust), y_pred

    def _input_gradient(self, net, view, x, y, labels, **fit_params):
        x = x.clone().requires_grad_(True)
        y_pred = net.infer(x, **fit_params)
        loss = net.get_loss(y_pred, y, X=x, training=True)
        logits = self._logits(net, view, x, y_pred)
        ce = F.cross_entropy(logits, labels, reduction="sum")
        (grad,) = torch.autograd.grad(ce, x, create_graph=True)
        penalty = grad.reshape(len(grad), -1).pow(2).sum(dim=1)
        finite = torch.isfinite(penalty)
        if not bool(finite.all()):  # an inf penalty would turn the weights NaN
            penalty = _finite_penalty(view, x, labels, finite)
        return loss + self.gradient_penalty * batch_mean(net, penalty), y_pred


def _finite_penalty(view, x, labels, finite):
    """The input-gradient penalty of the points where it is finite (0
    elsewhere), from a graph that never holds the infinite gradients: the
    backward pass of ``0 * inf`` would make every weight NaN."""
    warnings.warn(
        f"the model's input gradient is infinite or NaN at {int((~finite).sum())} "
        f"of {len(finite)} training points of a batch (sqrt at 0, say): their "
        "input-gradient penalty is left out; make the model finite there, e.g. "
        "sqrt(x + 1e-12).",
        RuntimeWarning,
        stacklevel=3,
    )
    penalty = torch.zeros(len(x), dtype=x.dtype, device=x.device)
    if bool(finite.any()):
        xs = x[finite].detach().requires_grad_(True)
        ce = F.cross_entropy(view(xs), labels[finite], reduction="sum")
        (grad,) = torch.autograd.grad(ce, xs, create_graph=True)
        penalty = penalty.index_put((finite,), grad.reshape(len(xs), -1).pow(2).sum(1))
    return penalty


class CatastrophicOverfittingGuard(Callback):
    """Stops fast adversarial training when PGD accuracy on a training batch collapses.

    After each epoch, an ``n_iter``-step PGD attack with the full training
    budget (no warm-up) runs on a fixed batch of ``n_samples`` training
    points; its robust accuracy is recorded in the history as
    ``"pgd_train_acc"``. When it drops by more than ``drop`` below the best
    seen, the weights of the best epoch are restored and training stops
    (Wong et al. 2020's early stopping, who check PGD-5 on one batch);
    ``"overfitting_stop"`` is then recorded in the history.

    Parameters
    ----------
    objective : AdversarialObjective
    n_samples : int, default=128
        Training points checked (drawn once, at the start of training).
    n_iter : int, default=5
        PGD steps of the check.
    drop : float, default=0.2
        Accuracy drop below the best epoch's that counts as a collapse.

    Examples
    --------
    >>> from skrobust.attacks import PGD
    >>> from skrobust.defenses import AdversarialObjective, CatastrophicOverfittingGuard
    >>> objective = AdversarialObjective(PGD(eps=0.1), loss="fast")
    >>> guard = CatastrophicOverfittingGuard(objective, n_samples=64).initialize()
    >>> guard.best_
    -1.0
    """

    def __init__(self, objective, n_samples=128, n_iter=5, drop=0.2):
        store_params(self, locals())

    def initialize(self):
        self.best_, self.state_, self.batch_ = -1.0, None, None
        return self

    def on_train_begin(self, net, X=None, y=None, **kwargs):
        rng = np.random.default_rng(0)
        index = rng.permutation(len(y))[: self.n_samples]
        X = split_weights(X)[0]  # the check is unweighted
        self.batch_ = (np.asarray(X)[index], np.asarray(y)[index])

    def pgd_accuracy(self, net):
        """PGD accuracy of ``net`` on the checked batch (full budget)."""
        X, y = self.batch_
        view = as_differentiable(net)
        x = to_tensor(X, device=net.device).to(view.dtype)
        labels = to_tensor(y, device=net.device).long()
        params = self.objective.attack.get_params(deep=False)
        params = {k: v for k, v in params.items() if k in PGD._parameter_constraints}
        check = PGD(
            **{
                **params,
                "n_iter": self.n_iter,
                "step_size": None,
                "n_restarts": 1,
                "random_init": True,
                "early_stop": False,
            }
        )
        constraints = self.objective.constraints(tuple(x.shape[1:]))
        generator = torch.Generator(device=view.device)
        generator.manual_seed(0)  # the same check every epoch; training RNG untouched
        with view.evaluating():
            x_adv = check.perturb(view, x, labels, constraints, generator=generator)
            with torch.no_grad():
                return float((view(x_adv).argmax(dim=1) == labels).float().mean())

    def on_epoch_end(self, net, **kwargs):
        accuracy = self.pgd_accuracy(net)
        net.history.record("pgd_train_acc", accuracy)
        if accuracy >= self.best_:
            self.best_ = accuracy
            self.state_ = copy.deepcopy(net.module_.state_dict())
        elif accuracy < self.best_ - self.drop:
            net.module_.load_state_dict(self.state_)
            net.history.record("overfitting_stop", True)
            raise KeyboardInterrupt  # skorch's way to end training
