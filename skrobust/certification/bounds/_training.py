"""Certified training objective (Gowal et al. 2018; Zhang et al. 2020).

Computed on each batch inside skorch's loop, in the ``train_step_single`` of
the objective-trained nets of :mod:`skrobust._skorch`.
"""

from skorch.utils import to_tensor

from ..._skorch import Objective, batch_mean
from ..._torch import torch
from ._bounds import bound_tensors, margin_spec
from ._graph import bound_graph
from ._region import Region

F = torch.nn.functional


class CertifiedObjective(Objective):
    """``kappa * CE(z, y) + (1 - kappa) * CE(z_hat, y)`` with a schedule.

    ``z_hat`` are the worst-case logits, ``z_hat_k = -lower(z_y - z_k)``, over
    the ball of the current training budget. The schedule follows Gowal et
    al.: ``warmup_epochs`` of clean training (eps 0, kappa ``kappa_start``),
    then over ``ramp_epochs`` a linear ramp of the budget to
    ``eps_train_factor * eps`` and of kappa to ``kappa_end`` (and, for
    CROWN-IBP, of ``beta`` from ``beta_start`` to ``beta_end``); the ramps
    move on every batch.

    Parameters
    ----------
    constraints : Constraints
        The resolved threat model of the training samples (budget, bounds,
        mask, direction; :func:`skrobust._threat.resolve_constraints`): the
        ball of the full budget, cut by the box.
    norm : str
    method : {"ibp", "crown-ibp"}
    warmup_epochs, ramp_epochs : int
    kappa_start, kappa_end, eps_train_factor, beta_start, beta_end : float
    """

    def __init__(
        self,
        constraints,
        *,
        norm="linf",
        method="ibp",
        warmup_epochs=0,
        ramp_epochs=0,
        kappa_start=1.0,
        kappa_end=0.5,
        eps_train_factor=1.1,
        beta_start=1.0,
        beta_end=0.0,
    ):
        self.threat = constraints
        self.norm = norm
        self.method = method
        self.warmup_epochs = warmup_epochs
        self.ramp_epochs = ramp_epochs
        self.kappa_start, self.kappa_end = kappa_start, kappa_end
        self.eps_train_factor = eps_train_factor
        self.beta_start, self.beta_end = beta_start, beta_end

    def __repr__(self):
        return f"CertifiedObjective(method={self.method!r}, norm={self.norm!r})"

    def threat_model(self, sample_shape):
        """The training threat model (for samples of the training shape)."""
        return self.threat

    def progress(self, net):
        """Position in the ramp, in [0, 1] (negative during the warm-up)."""
        history = net.history
        epoch = max(len(history), 1) - 1  # epochs already finished
        done = sum("train_loss" in b for b in history[-1, "batches"]) if history else 0
        per_epoch = history[-2].get("train_batch_count", 0) if epoch else 0
        t = epoch + (done / per_epoch if per_epoch else 0.0) - self.warmup_epochs
        if t < 0:
            return -1.0
        return 1.0 if self.ramp_epochs <= 0 else min(1.0, t / self.ramp_epochs)

    def schedule(self, net):
        """``(eps_factor, kappa, beta)`` of the current batch."""
        p = self.progress(net)
        if p < 0:
            return 0.0, self.kappa_start, self.beta_start
        kappa = self.kappa_start + p * (self.kappa_end - self.kappa_start)
        beta = self.beta_start + p * (self.beta_end - self.beta_start)
        return p * self.eps_train_factor, kappa, beta

    def __call__(self, net, Xi, yi, **fit_params):
        """``(loss, y_pred)`` of one training batch; the caller backpropagates."""
        x = to_tensor(Xi, device=net.device)
        y = to_tensor(yi, device=net.device)
        y_pred = net.infer(x, **fit_params)
        loss = net.get_loss(y_pred, y, X=x, training=True)
        factor, kappa, beta = self.schedule(net)
        if kappa >= 1:
            return loss, y_pred
        lower = self.margin_lower(net, x, y, factor, beta)
        labels = (y.long() if y.is_floating_point() else y).reshape(-1)
        robust = batch_mean(net, F.cross_entropy(-lower, labels, reduction="none"))
        return kappa * loss + (1 - kappa) * robust, y_pred

    def margin_lower(self, net, x, y, factor, beta):
        """Lower bounds of ``z_y - z_k`` over the ball of ``factor * eps``."""
        view = self.view(net, x)
        x = x.to(view.dtype)
        constraints = self.constraints(tuple(x.shape[1:]))
        scale, low, high = constraints.box(x, view.dtype, factor)
        region = Region(x, scale, self.norm, low=low, high=high)
        labels = (y.long() if y.is_floating_point() else y).reshape(-1)
        spec = margin_spec(labels, view.n_classes, view.dtype)
        graph = bound_graph(view.module, x.shape[1:], x.dtype, x.device)
        method = "ibp" if self.method == "ibp" or beta == 0 else "crown-ibp"
        lower, _ = bound_tensors(
            graph, region, method=method, spec=spec, upper=False, beta=beta
        )
        return lower
