"""Lipschitz-constrained layers: weight parametrizations and 1-Lipschitz activations.

While a network trains, every ``Linear`` and ``Conv1d`` / ``Conv2d`` weight is
replaced by a constrained function of a free parameter
(:mod:`torch.nn.utils.parametrize`), and after training the constrained
weights are written back as plain weights: the fitted network is a standard
module that pickles and that every certificate reads as it is.
"""

from ..._torch import torch
from ...nn import GroupSort

P = torch.nn.utils.parametrize
CONSTRAINTS = ("orthogonal", "spectral", "aol")
_LAYERS = (torch.nn.Linear, torch.nn.Conv1d, torch.nn.Conv2d)


class AOL(torch.nn.Module):
    """Almost-orthogonal rescaling (Prach & Lampert 2022): ``||W'||_2 <= 1``.

    A dense weight ``W`` becomes ``W D`` with ``D_ii = (sum_j |W^T W|_ij)^-1/2``
    (guaranteed 1-Lipschitz, no power iteration). A convolution kernel is
    divided by ``sqrt(r c)``, ``r`` and ``c`` the largest absolute sums of the
    kernel over an output and an input channel: the Schur bound of the
    convolution operator, so again ``||conv||_2 <= 1``.

    Examples
    --------
    >>> import torch
    >>> W = AOL()(torch.randn(5, 3))
    >>> bool(torch.linalg.matrix_norm(W, ord=2) <= 1 + 1e-6)
    True
    """

    def forward(self, weight):
        tiny = torch.finfo(weight.dtype).tiny
        if weight.dim() == 2:
            scale = (weight.T @ weight).abs().sum(dim=1).clamp_min(tiny).rsqrt()
            return weight * scale
        rows = weight.abs().flatten(1).sum(dim=1).max()
        cols = weight.abs().transpose(0, 1).flatten(1).sum(dim=1).max()
        return weight / (rows * cols).clamp_min(tiny).sqrt()


def constrain(module, constraint):
    """Parametrize every dense and convolutional weight of ``module`` in place.

    ``"orthogonal"``: dense weights orthogonal (:func:`torch.nn.utils.
    parametrizations.orthogonal`), convolutions rescaled by :class:`AOL`
    (torch has no orthogonal convolution); ``"spectral"``: every weight
    divided by its spectral-norm estimate (torch's power iteration; for a
    convolution, of the reshaped kernel: an estimate, not a bound);
    ``"aol"``: :class:`AOL` everywhere. Already parametrized layers are left
    alone.
    """
    for layer in module.modules():
        if not isinstance(layer, _LAYERS) or P.is_parametrized(layer, "weight"):
            continue
        dense = isinstance(layer, torch.nn.Linear)
        if constraint == "spectral":
            torch.nn.utils.parametrizations.spectral_norm(layer)
        elif constraint == "orthogonal" and dense:
            torch.nn.utils.parametrizations.orthogonal(layer)
        else:
            P.register_parametrization(layer, "weight", AOL())
    return module


def bake(module):
    """Write the constrained weights back as plain parameters (in place)."""
    for layer in module.modules():
        if isinstance(layer, _LAYERS) and P.is_parametrized(layer, "weight"):
            P.remove_parametrizations(layer, "weight", leave_parametrized=True)
    return module


def use_group_sort(module):
    """Replace every ``ReLU`` of ``module`` by ``GroupSort(2)`` (in place)."""
    for name, child in list(module.named_children()):
        if isinstance(child, torch.nn.ReLU):
            setattr(module, name, GroupSort(2))
        else:
            use_group_sort(child)
    return module
