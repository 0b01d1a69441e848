"""``Objective``: what an objective-trained skorch net minimises on each batch."""

import copy

from .._models import as_differentiable, materialize


class Objective:
    """Base of the per-batch training objectives (adversarial, certified, noise).

    A net built by :func:`fit_objective_net` calls the objective in its
    ``train_step_single``: ``objective(net, Xi, yi, **fit_params)`` returns
    ``(loss, y_pred)`` and the net backpropagates the loss. Subclasses
    implement :meth:`__call__`, and may add training callbacks
    (:meth:`callbacks`) and a threat model (:meth:`threat_model`).

    The base keeps what every objective needs across batches, computed once
    and cached: the net's differentiable view (:meth:`view`) and the
    resolved threat model per sample shape (:meth:`constraints`). The
    caches are derived state: copies and pickles leave them out. It also
    holds the budget's linear warm-up (:meth:`eps_factor`).

    Attributes
    ----------
    eps_warmup : int
        Epochs over which the budget ramps linearly from ``eps / eps_warmup``
        to ``eps`` (0: no warm-up). A class attribute; subclasses set it.

    Examples
    --------
    >>> import torch
    >>> from skrobust._skorch import Objective
    >>> class Noisy(Objective):  # the loss at Gaussian noise around the batch
    ...     def __call__(self, net, Xi, yi, **fit_params):
    ...         x = torch.as_tensor(Xi, device=net.device)
    ...         x = x + 0.1 * torch.randn_like(x)
    ...         y_pred = net.infer(x, **fit_params)
    ...         return net.get_loss(y_pred, yi, X=x, training=True), y_pred
    >>> Noisy().callbacks()
    []
    """

    eps_warmup = 0

    _DERIVED = ("_constraints_cache", "_view_cache")

    def __call__(self, net, Xi, yi, **fit_params):
        """``(loss, y_pred)`` of one training batch; the caller backpropagates.

        Parameters
        ----------
        net : skorch.NeuralNet
            The net being trained (``net.infer``, ``net.get_loss``,
            ``net.history`` and ``net.device`` are at hand).
        Xi, yi : batch
            The batch as skorch's iterator gives it.
        **fit_params : dict
            Passed on to ``net.infer``.

        Returns
        -------
        loss : torch.Tensor
            A scalar.
        y_pred : torch.Tensor
            The module's outputs on the batch, for skorch's callbacks.
        """
        raise NotImplementedError(f"{type(self).__name__} must define __call__.")

    def callbacks(self):
        """Callbacks the net adds to its defaults: a list of ``(name, callback)``.

        Inserted before skorch's ``print_log``, so what they record in the
        history is printed with the epoch.
        """
        return []

    def threat_model(self, sample_shape):
        """The resolved :class:`~skrobust._threat.Constraints` for ``sample_shape``."""
        raise NotImplementedError(f"{type(self).__name__} has no threat model.")

    def constraints(self, sample_shape):
        """:meth:`threat_model` for samples of ``sample_shape``, cached."""
        cache = self.__dict__.setdefault("_constraints_cache", {})
        if sample_shape not in cache:
            cache[sample_shape] = self.threat_model(sample_shape)
        return cache[sample_shape]

    def eps_factor(self, net):
        """The warm-up's budget multiplier for the current epoch."""
        if not self.eps_warmup:
            return 1.0
        epoch = max(len(net.history), 1)  # a row per epoch, opened before it runs
        return min(1.0, epoch / self.eps_warmup)

    def view(self, net, x=None):
        """The differentiable view of ``net``, cached while its parts are the same.

        ``x``, the batch, first builds the module's lazy parameters (one dry
        forward, see :func:`~skrobust._models.materialize`): the view freezes
        them, and an attack runs before the training step's own forward.
        """
        if x is not None:
            materialize(net.module_, x)
        parts = (net, net.module_, net.criterion_, net.predict_nonlinearity)
        probe = next(iter(net.module_.parameters()), None)
        state = None if probe is None else (probe.dtype, probe.device)
        cached = self.__dict__.get("_view_cache")
        if (
            cached is None
            or any(a is not b for a, b in zip(cached[0], parts))
            or cached[1] != state
        ):
            cached = (parts, state, as_differentiable(net))
            self.__dict__["_view_cache"] = cached
        return cached[2]

    def __deepcopy__(self, memo):  # the caches are derived state
        new = type(self).__new__(type(self))
        new.__dict__.update(copy.deepcopy(self.__getstate__(), memo))
        return new

    def __getstate__(self):
        return {k: v for k, v in vars(self).items() if k not in self._DERIVED}
