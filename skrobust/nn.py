"""Small torch networks for skrobust users, examples and tests.

Both networks are plain :class:`torch.nn.Sequential` stacks of standard layers
(``Flatten``, ``Linear``, ``Conv2d``, activations, pooling, ``Dropout``,
``BatchNorm``), so every tool in skrobust -- gradient attacks, interval bound
propagation, adversarial training -- can walk through them layer by layer.
They output **logits**: train them with ``torch.nn.CrossEntropyLoss``.

Their constructors take ``n_features_in`` / ``n_classes``, which
:class:`skrobust.SkorchClassifier` fills in from the training data when the
net does not set them, so ``SkorchClassifier(NeuralNetClassifier(MLP,
criterion=torch.nn.CrossEntropyLoss))`` fits any tabular data as is.
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


class SmallCNN(torch.nn.Sequential):
    """Small convolutional network for small images, producing logits.

    One block per entry of ``channels``: ``Conv2d -> (BatchNorm2d) -> ReLU``,
    the first block with stride 1 and the others with stride 2 (each halves
    the image); then ``Flatten -> (Linear -> ReLU) -> (Dropout) -> Linear``.
    Convolutions are zero-padded by ``kernel_size // 2``. With the defaults an
    8x8 image (scikit-learn's digits) becomes 32 maps of 4x4.

    Parameters
    ----------
    n_classes : int
        Number of outputs (logits).
    in_channels : int, default=1
        Channels of the input images ``(n_samples, in_channels, height,
        width)``.
    image_size : int or (int, int), default=8
        Height and width of the input images (sets the size of the first
        linear layer).
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

    Examples
    --------
    >>> import torch
    >>> from skrobust.nn import SmallCNN
    >>> net = SmallCNN(10)
    >>> net(torch.zeros(5, 1, 8, 8)).shape
    torch.Size([5, 10])
    >>> SmallCNN(10, in_channels=3, image_size=32)(torch.zeros(2, 3, 32, 32)).shape
    torch.Size([2, 10])
    """

    def __init__(
        self,
        n_classes,
        in_channels=1,
        image_size=8,
        channels=(16, 32),
        kernel_size=3,
        hidden_size=None,
        dropout=0.0,
        batch_norm=False,
    ):
        _check_dropout(dropout)
        if kernel_size % 2 != 1:
            raise ValueError(f"kernel_size must be odd; got {kernel_size!r}.")
        height, width = _pair(image_size, "image_size")
        padding = kernel_size // 2
        layers, c_in = [], int(in_channels)
        for i, c_out in enumerate(channels):
            stride = 1 if i == 0 else 2
            layers.append(
                torch.nn.Conv2d(
                    c_in, c_out, kernel_size, stride=stride, padding=padding
                )
            )
            if batch_norm:
                layers.append(torch.nn.BatchNorm2d(c_out))
            layers.append(torch.nn.ReLU())
            # Output size of a padded, strided convolution ("same" padding).
            height = math.ceil(height / stride)
            width = math.ceil(width / stride)
            c_in = c_out
        layers.append(torch.nn.Flatten())
        n_flat = c_in * height * width
        if hidden_size:
            layers += [torch.nn.Linear(n_flat, hidden_size), torch.nn.ReLU()]
            n_flat = hidden_size
        if dropout:
            layers.append(torch.nn.Dropout(dropout))
        layers.append(torch.nn.Linear(n_flat, int(n_classes)))
        super().__init__(*layers)
        self.n_classes = int(n_classes)
        self.in_channels = int(in_channels)
        self.image_size = _pair(image_size, "image_size")
