"""The smoothed classifier as a differentiable module (the adaptive attack's target).

Attacking a smoothed classifier needs the gradient of the *smoothed* model,
not of its base: Salman et al. (2019) attack the smoothed soft classifier
``G(x) = E_d softmax(f(x + d))``, ``d ~ N(0, sigma^2 I)``, estimated with a
few noise draws per step (expectation over transformation). The module below
computes ``log G(x)``; skrobust's white-box attacks use it as logits (its
softmax is ``G``), so PGD on it is SmoothAdv's PGD.
"""

import math

from ..._models import NotDifferentiableError, as_differentiable
from ..._torch import torch

F = torch.nn.functional


class GaussianSmoothing(torch.nn.Module):
    """``log mean_k softmax(f(x + sigma * d_k))``: the smoothed soft classifier.

    Each input is copied ``n_noise`` times and each copy gets its own
    Gaussian noise; the log of the average class probability is returned
    (computed stably with ``logsumexp``), differentiable in ``x``.

    Parameters
    ----------
    base : torch.nn.Module
        Maps inputs to logits.
    sigma : float
        Standard deviation of the noise.
    n_noise : int
        Noise draws per input.
    generator : torch.Generator, default=None
        Draws fresh noise on every call (on the input's device); ``None``
        uses torch's global generator.
    noise : Tensor, default=None
        Fixed standard-normal noise of shape ``(n_noise * n, ...)`` (copy
        ``k`` of sample ``i`` at row ``k * n + i``), used when the batch
        matches it (SmoothAdv keeps one draw over its attack's steps); fresh
        noise otherwise.

    Examples
    --------
    >>> import torch
    >>> from skrobust.certification.smoothing._attack import GaussianSmoothing
    >>> smoothed = GaussianSmoothing(torch.nn.Linear(3, 2), sigma=0.5, n_noise=4)
    >>> p = smoothed(torch.zeros(5, 3)).exp()  # class probabilities
    >>> p.shape, bool(torch.allclose(p.sum(dim=1), torch.ones(5)))
    (torch.Size([5, 2]), True)
    """

    def __init__(self, base, sigma, n_noise, *, generator=None, noise=None):
        super().__init__()
        self.base = base
        self.sigma = float(sigma)
        self.n_noise = int(n_noise)
        self.generator = generator
        self.noise = noise

    def forward(self, x):
        n, k = len(x), self.n_noise
        copies = x.unsqueeze(0).expand(k, *x.shape).reshape(k * n, *x.shape[1:])
        noise = self.noise
        if noise is None or noise.shape != copies.shape:
            noise = torch.randn(
                copies.shape, generator=self.generator, device=x.device, dtype=x.dtype
            )
        log_p = F.log_softmax(self.base(copies + self.sigma * noise), dim=1)
        return torch.logsumexp(log_p.view(k, n, -1), dim=0) - math.log(k)

    def extra_repr(self):
        return f"sigma={self.sigma}, n_noise={self.n_noise}"


def smoothed_module(estimator, *, sigma, n_noise, seed, dtype, device):
    """:class:`GaussianSmoothing` around the view of a fitted base ``estimator``.

    ``seed``: seeds a generator on the view's device (``None``: torch's
    global generator).
    """
    try:
        base = as_differentiable(estimator, dtype=dtype, device=device)
    except NotDifferentiableError as exc:
        raise NotDifferentiableError(
            f"the smoothed classifier is differentiable only when its base is; {exc}"
        ) from None
    if base.preprocess is not None:
        raise NotDifferentiableError(
            "the base pipeline starts with non-differentiable steps, but the "
            "smoothing noise is added to the raw features, before them: the "
            "smoothed classifier has no gradient there. Use a black-box attack."
        )
    generator = None
    if seed is not None:
        generator = torch.Generator(device=base.device)
        generator.manual_seed(int(seed))
    return GaussianSmoothing(base.module, sigma, n_noise, generator=generator)
