"""Training the base classifier of a smoothed classifier.

Cohen et al. (2019) train the base on Gaussian noise of the smoothing level,
drawn anew on every batch; Salman et al. (2019, SmoothAdv) train it on
adversarial examples of the *smoothed* classifier. skorch networks do either
inside skorch's own training step (an :class:`~skrobust._skorch.Objective`);
other classifiers are fitted on noisy copies of the data.
"""

import numpy as np
from sklearn.base import clone
from skorch.utils import to_tensor

from ..._models import DifferentiableModel
from ..._skorch import Objective, fit_objective_net
from ..._threat import needs_data_statistics
from ..._torch import torch
from ...attacks import PGD
from ...utils import fit_weighted, store_params
from ._attack import GaussianSmoothing


def _first_copy(y_pred, n):
    if isinstance(y_pred, (tuple, list)):
        return type(y_pred)(_first_copy(y, n) for y in y_pred)
    return y_pred[:n]


class SmoothingObjective(Objective):
    """Training loss of a base classifier for randomized smoothing, per batch.

    Held by the skorch net that :class:`RandomizedSmoothingClassifier` trains
    (see :func:`skrobust._skorch.fit_objective_net`), inside skorch's
    ``train_step_single``.

    Parameters
    ----------
    sigma : float
        Noise level.
    training : {"noise", "smoothadv"}
        ``"noise"`` (Cohen et al. 2019): the loss at ``x + d`` with fresh
        ``d ~ N(0, sigma^2 I)`` on every batch. ``"smoothadv"`` (Salman et
        al. 2019): draw ``n_noise`` noise vectors per sample, find ``x'``
        maximising the cross-entropy of the smoothed soft classifier
        estimated with them (``attack``'s PGD), then average the loss at
        ``x' + d_k`` over the same draws.
    attack : gradient attack
        ``"smoothadv"``: the inner attack (its ``eps`` is the l2 budget).
    n_noise : int
        ``"smoothadv"``: noise draws per sample.
    """

    def __init__(self, sigma, training="noise", attack=None, n_noise=1):
        store_params(self, locals())

    def __repr__(self):
        return (
            f"SmoothingObjective(sigma={self.sigma!r}, training={self.training!r}, "
            f"n_noise={self.n_noise!r})"
        )

    def threat_model(self, sample_shape):
        """The inner attack's resolved threat model (``"smoothadv"``)."""
        return self.attack.threat_model(sample_shape)

    def __call__(self, net, Xi, yi, **fit_params):
        """``(loss, y_pred)`` of one training batch; the caller backpropagates."""
        x = to_tensor(Xi, device=net.device)
        y = to_tensor(yi, device=net.device)
        k = self.n_noise if self.training == "smoothadv" else 1
        noise = torch.randn((k * len(x), *x.shape[1:]), device=x.device, dtype=x.dtype)
        if self.training == "smoothadv":
            x = self._attack(net, x, y, noise)
        noisy = x.repeat(k, *[1] * (x.dim() - 1)) + self.sigma * noise
        y_pred = net.infer(noisy, **fit_params)
        loss = net.get_loss(y_pred, y.repeat(k), X=noisy, training=True)
        return loss, _first_copy(y_pred, len(x))

    def _attack(self, net, x, y, noise):
        """SmoothAdv's PGD on the smoothed soft classifier with fixed noise."""
        view = self.view(net, x)
        smoothed = DifferentiableModel(
            GaussianSmoothing(view.module, self.sigma, self.n_noise, noise=noise),
            view.classes_,
            device=view.device,
            dtype=view.dtype,
        )
        labels = y.long() if y.is_floating_point() else y
        with view.evaluating():
            return self.attack.perturb(
                smoothed,
                x,
                labels,
                self.constraints(tuple(x.shape[1:])),
                eps_factor=self.eps_factor(net),
                schedule={"n_restarts": 1},
            )


def fit_skorch(
    estimator,
    X,
    y,
    *,
    sigma,
    training,
    attack,
    n_noise,
    dtype,
    seed,
    sample_weight=None,
    verbose=0,
):
    """Train a copy of the skorch ``estimator`` on noise or SmoothAdv.

    ``attack``: SmoothAdv's inner attack (``None``: ``PGD(eps=2 * sigma,
    norm="l2", n_iter=2)``, Salman et al.'s setting); ``n_noise``: its noise
    draws per sample; ``sample_weight``: weights of the per-sample losses;
    ``verbose``: skorch's log and a progress bar (``show_progress``).
    Returns the fitted :class:`skrobust.SkorchClassifier`.
    """
    if training == "smoothadv":
        attack = (
            clone(attack)
            if attack is not None
            else PGD(eps=2 * sigma, norm="l2", n_iter=2)
        )
        # the inner attack keeps its noise draws over all its steps
        attack.set_params(estimator=None, early_stop=False)
        if needs_data_statistics(attack.get_params()):
            attack.fit(X)
    else:
        attack = None
    objective = SmoothingObjective(sigma, training, attack, n_noise=n_noise)
    return fit_objective_net(
        estimator,
        objective,
        X,
        y,
        dtype=dtype,
        random_state=seed,
        sample_weight=sample_weight,
        verbose=verbose,
    )


def fit_augmented(
    estimator, X, y, *, sigma, n_copies, rng, columns=None, sample_weight=None
):
    """Fit a clone of ``estimator`` on ``n_copies`` noisy copies of ``X``.

    ``columns``: the feature names ``estimator`` is fitted with (the noisy
    copies are then a DataFrame), or ``None``; ``sample_weight``: the
    weights of ``X``'s rows (repeated for each copy), or ``None``.
    """
    noise = rng.standard_normal((n_copies * len(X), *X.shape[1:])).astype(X.dtype)
    X_noisy = np.tile(X, (n_copies, *[1] * (X.ndim - 1))) + sigma * noise
    if columns is not None:
        import pandas as pd

        X_noisy = pd.DataFrame(X_noisy, columns=columns)
    if sample_weight is not None:
        sample_weight = np.tile(sample_weight, n_copies)
    return fit_weighted(clone(estimator), X_noisy, np.tile(y, n_copies), sample_weight)
