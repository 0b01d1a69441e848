"""Small torch networks for skrobust users, examples and tests.

Both networks are plain :class:`torch.nn.Sequential` stacks of standard layers
(``Flatten``, ``Linear``, ``Conv2d``, activations, pooling, ``Dropout``,
``BatchNorm``), so every tool in skrobust -- gradient attacks, interval bound
propagation, adversarial training -- can walk through them layer by layer.
They output **logits**: train them with ``torch.nn.CrossEntropyLoss``.

Their constructors take ``n_features_in`` / ``n_classes`` (and, for
:class:`SmallCNN`, ``in_channels`` / ``image_size``), which
:class:`skrobust.SkorchClassifier` fills in from the training data when the
net does not set them, so ``SkorchClassifier(NeuralNetClassifier(MLP,
criterion=torch.nn.CrossEntropyLoss))`` fits any tabular data and the same
with ``SmallCNN`` any batch of images as is. A bare skorch net with a
``SmallCNN`` of unknown input size infers it at its first forward pass (lazy
layers); give ``module__image_size`` to nets whose training reads the layers
before that (an ``AdversarialNeuralNetClassifier`` used without
``SkorchClassifier``).
"""

import math
from numbers import Integral

from ._torch import torch

__all__ = ["MLP", "GroupSort", "SmallCNN"]


def _pair(value, name):
    if isinstance(value, Integral):
        return int(value), int(value)
    value = tuple(int(v) for v in value)
    if len(value) != 2:
        raise ValueError(f"{name} must be an int or a pair of ints; got {value!r}.")
    return value


def _check_dropout(dropout):
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout must be in [0, 1); got {dropout!r}.")


class GroupSort(torch.nn.Module):
    """Sort the features in consecutive groups: a 1-Lipschitz activation.

    The features (dimension 1: the units of a dense layer, the channels of a
    convolution) are split into groups of ``group_size`` and each group is
    sorted in ascending order. Sorting only permutes values, so it is
    1-Lipschitz in every l-p norm and keeps the gradient norm (Anil et al.
    2019): with ``group_size=2`` ("MaxMin") it is the usual activation of
    Lipschitz networks, where ReLU would lose expressiveness. Every output is
    non-decreasing in every input, so interval bounds pass through it.

    Parameters
    ----------
    group_size : int, default=2
        Size of the groups; it must divide the number of features.

    Examples
    --------
    >>> import torch
    >>> from skrobust.nn import GroupSort
    >>> GroupSort()(torch.tensor([[3.0, -1.0, 0.0, 2.0]]))
    tensor([[-1.,  3.,  0.,  2.]])
    """

    def __init__(self, group_size=2):
        super().__init__()
        if not isinstance(group_size, Integral) or group_size < 1:
            raise ValueError(f"group_size must be a positive int; got {group_size!r}.")
        self.group_size = int(group_size)

    def forward(self, x):
        n_features = x.shape[1]
        if n_features % self.group_size:
            raise ValueError(
                f"GroupSort({self.group_size}) got {n_features} features, which "
                "the group size does not divide; use a layer width that is a "
                "multiple of it."
            )
        groups = x.reshape(len(x), n_features // self.group_size, self.group_size, -1)
        return groups.sort(dim=2).values.reshape(x.shape)

    def extra_repr(self):
        return f"group_size={self.group_size}"


class MLP(torch.nn.Sequential):
    """Multi-layer perceptron producing logits.

    ``Flatten -> [Linear -> activation -> (Dropout)] * len(hidden_layer_sizes)
    -> Linear``. Inputs of any shape ``(n_samples, ...)`` are flattened first,
    so the same network takes tabular rows and images.

    Parameters
    ----------
    n_features_in : int
        Number of input features (the product of the per-sample input shape
        for image inputs).
    n_classes : int
        Number of outputs (logits). Use 1 for a single logit, as
        ``skorch.NeuralNetBinaryClassifier`` expects.
    hidden_layer_sizes : tuple of int, default=(100,)
        Width of each hidden layer; ``()`` gives a linear model.
    activation : type or callable, default=torch.nn.ReLU
        Called without arguments to make each activation layer, e.g.
        ``torch.nn.Tanh``.
    dropout : float, default=0.0
        Dropout probability after each activation (no layer when 0).

    Examples
    --------
    >>> import torch
    >>> from skrobust.nn import MLP
    >>> net = MLP(64, 10, hidden_layer_sizes=(32,))
    >>> net(torch.zeros(5, 1, 8, 8)).shape
    torch.Size([5, 10])
    """

    def __init__(
        self,
        n_features_in,
        n_classes,
        hidden_layer_sizes=(100,),
        activation=torch.nn.ReLU,
        dropout=0.0,
    ):
        _check_dropout(dropout)
        sizes = [int(n_features_in), *(int(h) for h in hidden_layer_sizes)]
        layers = [torch.nn.Flatten()]
        for n_in, n_out in zip(sizes[:-1], sizes[1:]):
            layers += [torch.nn.Linear(n_in, n_out), activation()]
            if dropout:
                layers.append(torch.nn.Dropout(dropout))
        layers.append(torch.nn.Linear(sizes[-1], int(n_classes)))
        super().__init__(*layers)
        self.n_features_in = int(n_features_in)
        self.n_classes = int(n_classes)


def _record_input_size(module, args):
    """Forward pre-hook of :class:`SmallCNN`: the inferred input size."""
    shape = args[0].shape
    if module.in_channels is None:
        module.in_channels = int(shape[1])
    if module.image_size is None:
        module.image_size = tuple(int(s) for s in shape[2:])


def _linear(n_in):
    """``Linear(n_in, n_out)``; ``LazyLinear(n_out)`` when ``n_in`` is None."""
    if n_in is None:
        return torch.nn.LazyLinear
    return lambda n_out: torch.nn.Linear(n_in, n_out)


class SmallCNN(torch.nn.Sequential):
    """Small convolutional network for small images, producing logits.

    One block per entry of ``channels``: ``Conv2d -> (BatchNorm2d) -> ReLU``,
    the first block with stride 1 and the others with stride 2 (each halves
    the image); then ``Flatten -> (Linear -> ReLU) -> (Dropout) -> Linear``.
    Convolutions are zero-padded by ``kernel_size // 2``. With the defaults an
    8x8 image (scikit-learn's digits) becomes 32 maps of 4x4.

    The input size is inferred from the first batch unless given: the first
    convolution and the first linear layer are then torch's lazy modules,
    which become plain ``Conv2d`` / ``Linear`` layers at the first forward
    pass (the first training step), so the same network fits 8x8 digits,
    28x28 MNIST or 3x32x32 CIFAR images.

    Parameters
    ----------
    n_classes : int
        Number of outputs (logits).
    in_channels : int or None, default=None
        Channels of the input images ``(n_samples, in_channels, height,
        width)``; ``None``: inferred from the first batch.
    image_size : int, (int, int) or None, default=None
        Height and width of the input images (sets the size of the first
        linear layer); ``None``: inferred from the first batch.
    channels : tuple of int, default=(16, 32)
        Output channels of each convolution.
    kernel_size : int, default=3
        Side of every (odd) convolution kernel.
    hidden_size : int or None, default=None
        Width of an optional hidden linear layer after the convolutions.
    dropout : float, default=0.0
        Dropout probability before the last linear layer (no layer when 0).
    batch_norm : bool, default=False
        Whether to put a ``BatchNorm2d`` after each convolution.

    Attributes
    ----------
    in_channels : int or None
        The input channels, given or inferred (``None`` before the first
        forward pass when inferred).
    image_size : (int, int) or None
        The input height and width, given or inferred.

    Examples
    --------
    >>> import torch
    >>> from skrobust.nn import SmallCNN
    >>> net = SmallCNN(10)
    >>> net(torch.zeros(5, 1, 28, 28)).shape
    torch.Size([5, 10])
    >>> net.in_channels, net.image_size, net[-1].in_features
    (1, (28, 28), 6272)
    >>> SmallCNN(10, in_channels=3, image_size=32)(torch.zeros(2, 3, 32, 32)).shape
    torch.Size([2, 10])
    """

    def __init__(
        self,
        n_classes,
        in_channels=None,
        image_size=None,
        channels=(16, 32),
        kernel_size=3,
        hidden_size=None,
        dropout=0.0,
        batch_norm=False,
    ):
        _check_dropout(dropout)
        if kernel_size % 2 != 1:
            raise ValueError(f"kernel_size must be odd; got {kernel_size!r}.")
        if not channels:
            raise ValueError("channels must name at least one convolution.")
        size = None if image_size is None else _pair(image_size, "image_size")
        padding = kernel_size // 2
        layers, c_in = [], None if in_channels is None else int(in_channels)
        for i, c_out in enumerate(channels):
            stride = 1 if i == 0 else 2
            if c_in is None:
                conv = torch.nn.LazyConv2d(c_out, kernel_size, padding=padding)
            else:
                conv = torch.nn.Conv2d(
                    c_in, c_out, kernel_size, stride=stride, padding=padding
                )
            layers.append(conv)
            if batch_norm:
                layers.append(torch.nn.BatchNorm2d(c_out))
            layers.append(torch.nn.ReLU())
            c_in = c_out
        layers.append(torch.nn.Flatten())
        n_flat = None
        if size is not None:
            # output size of padded, strided convolutions ("same" padding)
            height, width = size
            for _ in channels[1:]:
                height, width = math.ceil(height / 2), math.ceil(width / 2)
            n_flat = c_in * height * width
        if hidden_size:
            layers += [_linear(n_flat)(hidden_size), torch.nn.ReLU()]
            n_flat = hidden_size
        if dropout:
            layers.append(torch.nn.Dropout(dropout))
        layers.append(_linear(n_flat)(int(n_classes)))
        super().__init__(*layers)
        self.n_classes = int(n_classes)
        self.in_channels = None if in_channels is None else int(in_channels)
        self.image_size = size
        if self.in_channels is None or size is None:
            self.register_forward_pre_hook(_record_input_size)
