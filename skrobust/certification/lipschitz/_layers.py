"""How each layer enters a Lipschitz bound: affine maps and constants.

A network is walked as a chain of leaves (``nn.Sequential`` containers are
opened). Each leaf becomes a list of *pieces*: affine rules (from the bound
registry, :func:`skrobust.certification.bound_layer`), whose operator norms
are computed on the operator itself, or a :class:`Constant` for nonlinear
layers. Layers that only reorder the classes' scores monotonically at the end
of the network (softmax, log-softmax) leave the margins' signs unchanged and
are dropped there (:data:`TAIL`).
"""

import functools
import math

from ..._models import Cast, LogProbability, ProbabilityLogit, Rescale
from ..._torch import torch
from ...nn import GroupSort
from ..bounds import MonotoneBound, bound_layer, leaf_layers


class Constant:
    """A nonlinear layer's Lipschitz constant in each norm (``p -> p``).

    Parameters
    ----------
    l2, linf, l1 : float
        ``||f(a) - f(b)||_p <= constant * ||a - b||_p``.
    name : str
        For error messages and reports.

    Examples
    --------
    >>> from skrobust.certification.lipschitz import Constant
    >>> Constant(0.25, name="sigmoid").value["linf"]
    0.25
    """

    def __init__(self, l2, linf=None, l1=None, *, name=""):
        self.value = {
            "l2": float(l2),
            "linf": float(l2 if linf is None else linf),
            "l1": float(l2 if l1 is None else l1),
        }
        self.name = name

    def __repr__(self):
        return f"Constant({self.name}: {self.value})"


TAIL = object()  # an order-preserving map of the scores: allowed only at the end


@functools.singledispatch
def lipschitz_layer(layer):
    """The pieces of one layer in a Lipschitz bound (an extensible registry).

    The default reads the layer's bound rule (see
    :func:`skrobust.certification.bound_layer`): affine rules (``Linear``,
    convolutions, batch norm in evaluation, scalers, reshapes, average
    pooling) are bounded by their operator norms; any other layer needs a
    registered constant. Register your own with
    ``@lipschitz_layer.register(YourLayer)``, returning a list of affine
    :class:`~skrobust.certification.AffineBound` rules and :class:`Constant`
    objects applied in order.

    Parameters
    ----------
    layer : torch.nn.Module

    Returns
    -------
    pieces : list of AffineBound or Constant

    Raises
    ------
    TypeError
        For a nonlinear layer without a registered constant.

    Examples
    --------
    >>> import torch
    >>> from skrobust.certification.lipschitz import Constant, lipschitz_layer
    >>> class HalfTanh(torch.nn.Module):
    ...     def forward(self, x):
    ...         return torch.tanh(x / 2)
    >>> @lipschitz_layer.register(HalfTanh)
    ... def _(layer):
    ...     return [Constant(0.5, name="HalfTanh")]
    >>> lipschitz_layer(HalfTanh())[0].value["l2"]
    0.5
    """
    try:
        rules = bound_layer(layer)
    except TypeError:
        rules = None
    rules = rules if isinstance(rules, (list, tuple, type(None))) else [rules]
    if rules is None or not all(rule.affine for rule in rules):
        raise TypeError(
            f"no Lipschitz constant is known for the layer {type(layer).__name__} "
            f"({layer!r}). Supported: affine layers (Linear, Conv1d/2d, BatchNorm "
            "in evaluation, AvgPool, Flatten, scalers), ReLU, LeakyReLU, Tanh, "
            "Sigmoid, ELU, Hardtanh, Softplus, GroupSort, MaxPool, and a final "
            "Softmax / LogSoftmax. Register one with "
            "`@skrobust.certification.lipschitz.lipschitz_layer.register"
            f"({type(layer).__name__})`."
        )
    return list(rules)


def _one(name):
    return lambda layer: [Constant(1.0, name=name)]


for _type in (
    torch.nn.ReLU,
    torch.nn.Tanh,
    torch.nn.Hardtanh,
    torch.nn.ReLU6,
    torch.nn.Softplus,
    GroupSort,
):
    lipschitz_layer.register(_type)(_one(_type.__name__))


@lipschitz_layer.register(torch.nn.Sigmoid)
def _sigmoid(layer):
    return [Constant(0.25, name="Sigmoid")]


@lipschitz_layer.register(torch.nn.LeakyReLU)
def _leaky_relu(layer):
    return [Constant(max(1.0, abs(layer.negative_slope)), name="LeakyReLU")]


@lipschitz_layer.register(torch.nn.ELU)
def _elu(layer):
    return [Constant(max(1.0, float(layer.alpha)), name="ELU")]


def _window(value, dims):
    return (value,) * dims if isinstance(value, int) else tuple(value)


@lipschitz_layer.register(torch.nn.MaxPool1d)
@lipschitz_layer.register(torch.nn.MaxPool2d)
def _max_pool(layer):
    # each input lies in at most prod(ceil(k / s)) windows; a max over a
    # window is 1-Lipschitz in l-inf, and |max a - max b| <= max |a - b|
    dims = 1 if isinstance(layer, torch.nn.MaxPool1d) else 2
    kernel = _window(layer.kernel_size, dims)
    stride = _window(layer.stride or layer.kernel_size, dims)
    dilation = _window(layer.dilation, dims)
    overlap = math.prod(
        min(k, math.ceil((d * (k - 1) + 1) / s))
        for k, s, d in zip(kernel, stride, dilation)
    )
    return [Constant(math.sqrt(overlap), 1.0, overlap, name="MaxPool")]


@lipschitz_layer.register(Rescale)
def _rescale(layer):
    rules = bound_layer(layer)  # a clip (MinMaxScaler(clip=True)) follows
    affine, *clip = rules if isinstance(rules, list) else [rules]
    # the clip is a clamp: 1-Lipschitz
    return [affine] + [Constant(1.0, name="clip")] * len(clip)


@lipschitz_layer.register(Cast)
def _cast(layer):
    return []  # the identity (the operators run in their own dtype)


@lipschitz_layer.register(torch.nn.Softmax)
@lipschitz_layer.register(torch.nn.LogSoftmax)
@lipschitz_layer.register(LogProbability)
def _tail(layer):
    return [TAIL]


@lipschitz_layer.register(ProbabilityLogit)
def _probability_logit(layer):
    return [TAIL]


@bound_layer.register(GroupSort)
def _group_sort_bounds(layer):
    # every output (an order statistic of its group) is non-decreasing in
    # every input, so interval ends map to interval ends
    return MonotoneBound(layer)


def pieces(module):
    """``[(layer, piece), ...]`` of a module, sigmoid-logit pairs simplified.

    ``Sigmoid`` then ``ProbabilityLogit`` (a binary net trained on
    probabilities) is the identity up to rounding; it is dropped.
    """
    chain = leaf_layers(module)
    out = []
    for i, layer in enumerate(chain):
        if isinstance(layer, ProbabilityLogit) and i and out:
            if isinstance(out[-1][0], torch.nn.Sigmoid):
                out.pop()
                continue
        out += [(layer, piece) for piece in lipschitz_layer(layer)]
    return out
