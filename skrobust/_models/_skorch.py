"""Views of skorch classifiers: the net's own ``module_``, shared, not copied."""

from sklearn.exceptions import NotFittedError
from skorch import NeuralNetBinaryClassifier, NeuralNetClassifier

from .._torch import torch
from ._base import NotDifferentiableError, check_converted_fitted, to_torch


class FirstOutput(torch.nn.Module):
    """Pass a tensor through; of a tuple or list keep the first element.

    skorch does the same with modules returning several outputs.

    Examples
    --------
    >>> import torch
    >>> FirstOutput()((torch.ones(1), torch.zeros(1)))
    tensor([1.])
    """

    def forward(self, out):
        return out[0] if isinstance(out, (tuple, list)) else out


class LogProbability(torch.nn.Module):
    """``log(p + eps)``: logits from probabilities, as skorch's ``get_loss``.

    ``eps`` is the machine epsilon of ``p``'s dtype; the softmax of the
    result is ``p`` (up to ``eps``) when ``p`` sums to one.

    Examples
    --------
    >>> import torch
    >>> LogProbability()(torch.tensor([[0.5, 0.0]])).round(decimals=2)
    tensor([[ -0.6900, -15.9400]])
    """

    def forward(self, p):
        return torch.log(p + torch.finfo(p.dtype).eps)


class ProbabilityLogit(torch.nn.Module):
    """``log(p) - log(1 - p)``: the logit of a probability (``BCELoss`` nets).

    Examples
    --------
    >>> import torch
    >>> ProbabilityLogit()(torch.tensor([0.5]))
    tensor([0.])
    """

    def forward(self, p):
        eps = torch.finfo(p.dtype).eps
        return torch.log(p + eps) - torch.log1p(eps - p)


class BinaryLogits(torch.nn.Module):
    """Two logits ``[-z/2, z/2]`` from one logit ``z`` of shape (N,) or (N, 1).

    Examples
    --------
    >>> import torch
    >>> BinaryLogits()(torch.tensor([2.0]))
    tensor([[-1.,  1.]])
    """

    def forward(self, z):
        z = z.reshape(len(z), -1)[:, :1]
        return torch.cat([-0.5 * z, 0.5 * z], dim=1)


class NonlinearityLogits(torch.nn.Module):
    """``log(f(out) + eps)`` for a user ``predict_nonlinearity`` ``f``.

    Parameters
    ----------
    func : callable
        The net's ``predict_nonlinearity``; it must map tensors to class
        probabilities of shape (N, n_classes).
    flatten : bool, default=False
        Reshape an (N, 1) output to (N,) first, as skorch's binary nets do.
    """

    def __init__(self, func, *, flatten=False):
        super().__init__()
        self.func = func
        self.flatten = flatten

    def forward(self, out):
        if self.flatten and out.dim() == 2 and out.shape[1] == 1:
            out = out.reshape(-1)
        p = self.func(out)
        return torch.log(p + torch.finfo(p.dtype).eps)


class Cast(torch.nn.Module):
    """Cast a tensor to ``dtype`` (parameter-free).

    Examples
    --------
    >>> import torch
    >>> Cast(torch.float64)(torch.ones(1)).dtype
    torch.float64
    """

    def __init__(self, dtype):
        super().__init__()
        self.dtype = dtype

    def forward(self, x):
        return x.to(self.dtype)

    def extra_repr(self):
        return f"dtype={self.dtype}"


def _is_plain_sequential(module):
    return isinstance(module, torch.nn.Sequential) and (
        type(module).forward is torch.nn.Sequential.forward
    )


def _ends_with(module, layer_type):
    """Whether a plain ``nn.Sequential`` ends in ``layer_type`` (over its last dim)."""
    module = getattr(module, "_orig_mod", module)  # torch.compile wrapper
    if not _is_plain_sequential(module) or len(module) == 0:
        return False
    last = module[-1]
    if layer_type is torch.nn.Softmax:
        return type(last) is torch.nn.Softmax and last.dim in (-1, 1)
    return type(last) is layer_type


def _without_last(module):
    """The plain ``nn.Sequential`` without its last layer (layers shared)."""
    module = getattr(module, "_orig_mod", module)
    return torch.nn.Sequential(*list(module)[:-1])


def _parameter_dtype(module):
    for p in module.parameters():
        if p.is_floating_point():
            return p.dtype
    return None


def _parameter_device(net):
    for tensor in (*net.module_.parameters(), *net.module_.buffers()):
        return tensor.device
    return torch.device(net.device or "cpu")


def _check_net(net, device):
    check_converted_fitted(net)
    if not getattr(net, "initialized_", False):
        raise NotFittedError(
            f"This {type(net).__name__} is not initialized. A differentiable view "
            "needs a fitted estimator: call `fit` (or `initialize`) on it first, "
            "or give an attack an unfitted estimator and call the attack's "
            "`fit(X, y)` to train it."
        )
    own = _parameter_device(net)
    if device is not None:
        wanted = torch.device(device)
        same = wanted.type == own.type and wanted.index in (None, own.index)
        if not same:
            raise ValueError(
                f"the view of a skorch net shares the net's parameters, which "
                f"live on {own}; it cannot run on {wanted} without moving the "
                f"net. Use device=None, or move the net first with "
                f"net.set_params(device={str(wanted)!r}) and refit or initialize."
            )


def _criterion(net):
    criterion = getattr(net, "criterion_", None)
    return getattr(criterion, "_orig_mod", criterion)


def _returns_tensor(network):
    """Whether ``network`` surely returns a tensor: a plain ``nn.Sequential``
    ending in a linear layer (no need to unwrap a tuple, one call less)."""
    network = getattr(network, "_orig_mod", network)
    return (
        isinstance(network, torch.nn.Sequential)
        and type(network).forward is torch.nn.Sequential.forward
        and len(network) > 0
        and isinstance(network[-1], torch.nn.Linear)
    )


def _compose(network, tail, *, dtype):
    """``network`` followed by ``tail`` modules, with input/output casts if needed."""
    own = _parameter_dtype(network)
    cast = dtype is not None and own is not None and dtype != own
    if not cast and not tail and _returns_tensor(network):
        return network  # the net's own module, as is
    layers = [Cast(own)] if cast else []
    layers += [network, FirstOutput(), *tail]
    if cast:
        layers.append(Cast(dtype))
    return torch.nn.Sequential(*layers)


def _unknown_criterion(net):
    return NotDifferentiableError(
        f"{type(net).__name__} with criterion {type(_criterion(net)).__name__}: "
        "it is unknown whether its module returns logits or probabilities. Use "
        "CrossEntropyLoss (logits) or NLLLoss (probabilities), give the net a "
        "callable `predict_nonlinearity` returning class probabilities, or "
        "register a converter with `@skrobust.to_torch.register`."
    )


@to_torch.register(NeuralNetClassifier)
def _skorch_classifier(net, *, dtype, device):
    """Logits of a skorch ``NeuralNetClassifier``; its ``module_`` is shared.

    ``CrossEntropyLoss``: the module's outputs. ``NLLLoss`` (outputs are
    probabilities): the module without its final ``nn.Softmax`` when it is a
    plain ``nn.Sequential`` ending in one (same softmax, no saturation), else
    ``log(p + eps)``. A callable ``predict_nonlinearity`` ``f`` gives
    ``log(f(out) + eps)``.
    """
    _check_net(net, device)
    network, criterion = net.module_, _criterion(net)
    nonlinearity = net.predict_nonlinearity
    if callable(nonlinearity):
        tail = [NonlinearityLogits(nonlinearity)]
    elif isinstance(criterion, torch.nn.CrossEntropyLoss):
        tail = []
    elif isinstance(criterion, torch.nn.NLLLoss):
        if _ends_with(network, torch.nn.Softmax):
            network, tail = _without_last(network), []
        else:
            tail = [LogProbability()]
    else:
        raise _unknown_criterion(net)
    return _compose(network, tail, dtype=dtype)


@to_torch.register(NeuralNetBinaryClassifier)
def _skorch_binary_classifier(net, *, dtype, device):
    """Two logits ``[-z/2, z/2]`` of a skorch ``NeuralNetBinaryClassifier``.

    ``z`` is the module's logit (``BCEWithLogitsLoss``) or the logit of its
    probability (``BCELoss``; a plain ``nn.Sequential`` ending in
    ``nn.Sigmoid`` loses that layer instead). Their softmax is
    ``predict_proba``; their argmax is ``predict`` for ``threshold=0.5``
    (with another threshold, ``predict`` compares ``z`` to
    ``logit(threshold)`` instead of 0).
    """
    _check_net(net, device)
    network, criterion = net.module_, _criterion(net)
    nonlinearity = net.predict_nonlinearity
    if callable(nonlinearity):
        tail = [NonlinearityLogits(nonlinearity, flatten=True)]
    elif isinstance(criterion, torch.nn.BCEWithLogitsLoss):
        tail = [BinaryLogits()]
    elif isinstance(criterion, torch.nn.BCELoss):
        if _ends_with(network, torch.nn.Sigmoid):
            network, tail = _without_last(network), [BinaryLogits()]
        else:
            tail = [ProbabilityLogit(), BinaryLogits()]
    else:
        raise _unknown_criterion(net)
    return _compose(network, tail, dtype=dtype)
