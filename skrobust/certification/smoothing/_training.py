"""Training the base classifier of a smoothed classifier.

Cohen et al. (2019) train the base on Gaussian noise of the smoothing level,
drawn anew on every batch; Salman et al. (2019, SmoothAdv) train it on
adversarial examples of the *smoothed* classifier. skorch networks do either
inside skorch's own training step (through the adversarial-training mixin of
:mod:`skrobust.defenses`); other classifiers are fitted on noisy copies of
the data.
"""

import numpy as np
from sklearn.base import clone
from skorch.utils import to_tensor

from ..._models import DifferentiableModel
from ..._skorch._classifier import SkorchClassifier
from ..._threat import needs_data_statistics
from ..._torch import torch
from ...attacks import PGD
from ...defenses._objectives import AdversarialObjective
from ...defenses._skorch import adversarial_net
from ._attack import GaussianSmoothing

_MAX_SEED = np.iinfo(np.int32).max


def _first_copy(y_pred, n):
    if isinstance(y_pred, (tuple, list)):
        return type(y_pred)(_first_copy(y, n) for y in y_pred)
    return y_pred[:n]


class SmoothingObjective(AdversarialObjective):
    """Training loss of a base classifier for randomized smoothing, per batch.

    Held by the skorch net that :class:`RandomizedSmoothingClassifier` trains
    (see :func:`skrobust.defenses._skorch.adversarial_net`), inside skorch's
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
        super().__init__(attack, loss=training, guard=False)
        self.sigma = sigma
        self.n_noise = n_noise

    def __repr__(self):
        return (
            f"SmoothingObjective(sigma={self.sigma!r}, training={self.loss!r}, "
            f"n_noise={self.n_noise!r})"
        )

    def __call__(self, net, Xi, yi, **fit_params):
        """``(loss, y_pred)`` of one training batch; the caller backpropagates."""
        x = to_tensor(Xi, device=net.device)
        y = to_tensor(yi, device=net.device)
        k = self.n_noise if self.loss == "smoothadv" else 1
        noise = torch.randn((k * len(x), *x.shape[1:]), device=x.device, dtype=x.dtype)
        if self.loss == "smoothadv":
            x = self._attack(net, x, y, noise)
        noisy = x.repeat(k, *[1] * (x.dim() - 1)) + self.sigma * noise
        y_pred = net.infer(noisy, **fit_params)
        loss = net.get_loss(y_pred, y.repeat(k), X=noisy, training=True)
        return loss, _first_copy(y_pred, len(x))

    def _attack(self, net, x, y, noise):
        """SmoothAdv's PGD on the smoothed soft classifier with fixed noise."""
        view = self.view(net)
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


def fit_skorch(rs, X, y, rng):
    """Train a clone of ``rs.estimator`` (a skorch net) on noise or SmoothAdv.

    Returns the fitted :class:`skrobust.SkorchClassifier`.
    """
    if isinstance(rs.estimator, SkorchClassifier):
        net, dtype = rs.estimator.net, rs.estimator.dtype
    else:
        net, dtype = rs.estimator, rs.dtype
    attack = None
    if rs.training == "smoothadv":
        attack = (
            clone(rs.attack)
            if rs.attack is not None
            else PGD(eps=2 * rs.sigma, norm="l2", n_iter=2)
        )
        # the inner attack keeps its noise draws over all its steps
        attack.set_params(estimator=None, early_stop=False)
        if needs_data_statistics(attack.get_params()):
            attack.fit(X)
    objective = SmoothingObjective(
        rs.sigma, rs.training, attack, n_noise=rs.n_noise_attack
    )
    seed = int(rng.randint(_MAX_SEED))
    classifier = SkorchClassifier(
        adversarial_net(net, objective), dtype=dtype, random_state=seed
    )
    return classifier.fit(X, y)


def fit_augmented(rs, X, y, rng):
    """Fit a clone of ``rs.estimator`` on ``rs.n_noise_copies`` noisy copies."""
    if rs.training != "noise":
        raise ValueError(
            f"training={rs.training!r} trains skorch networks; "
            f"{type(rs.estimator).__name__} is trained on noisy copies of "
            "the data (training='noise')."
        )
    k = rs.n_noise_copies
    noise = rng.standard_normal((k * len(X), *X.shape[1:])).astype(X.dtype)
    X_noisy = np.tile(X, (k, *[1] * (X.ndim - 1))) + rs.sigma * noise
    return clone(rs.estimator).fit(rs._frame(X_noisy), np.tile(y, k))
