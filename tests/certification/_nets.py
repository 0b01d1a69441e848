"""Networks with their own ``forward``, and hand-flattened equivalents.

Each network of the first kind has a ``sequential()`` method returning an
``nn.Sequential`` computing the same function with the same parameters
(where one exists), so bounds of the traced graph can be compared with those
of the plain chain.
"""

import torch
import torch.nn.functional as F
from torch import nn


class CustomMLP(nn.Module):
    """A block whose ``forward`` returns ``self.net(x)``."""

    def __init__(self, n_features_in=64, n_classes=10, hidden=32):
        super().__init__()
        self.net = nn.Sequential(
            nn.Flatten(),
            nn.Linear(n_features_in, hidden),
            nn.ReLU(),
            nn.Linear(hidden, hidden),
            nn.ReLU(),
            nn.Linear(hidden, n_classes),
        )

    def forward(self, x):
        return self.net(x)

    def sequential(self):
        return nn.Sequential(*self.net)


class FunctionalCNN(nn.Module):
    """``F.relu``, ``torch.relu`` and ``x.view(x.size(0), -1)`` in ``forward``."""

    def __init__(self, n_classes=10, channels=8):
        super().__init__()
        self.c1 = nn.Conv2d(1, channels, 3, padding=1)
        self.c2 = nn.Conv2d(channels, channels, 3, stride=2, padding=1)
        self.fc = nn.Linear(channels * 16, n_classes)

    def forward(self, x):
        h = F.relu(self.c1(x))
        h = torch.relu(self.c2(h))
        return self.fc(h.view(h.size(0), -1))

    def sequential(self):
        return nn.Sequential(
            self.c1, nn.ReLU(), self.c2, nn.ReLU(), nn.Flatten(), self.fc
        )


class TwoBranch(nn.Module):
    """Two branches joined by ``torch.cat``.

    With ReLU on both branches the network equals one wider layer (the two
    weight matrices stacked); ``activation="tanh"`` gives the right branch a
    tanh, which has no such equivalent.
    """

    def __init__(self, n_features_in=64, n_classes=10, hidden=16, activation="relu"):
        super().__init__()
        self.left = nn.Sequential(nn.Linear(n_features_in, hidden), nn.ReLU())
        act = nn.ReLU() if activation == "relu" else nn.Tanh()
        self.right = nn.Sequential(nn.Linear(n_features_in, hidden), act)
        self.head = nn.Linear(2 * hidden, n_classes)

    def forward(self, x):
        x = torch.flatten(x, 1)
        return self.head(torch.cat([self.left(x), self.right(x)], dim=1))

    def sequential(self):
        first, second = self.left[0], self.right[0]
        wide = nn.Linear(first.in_features, 2 * first.out_features)
        with torch.no_grad():
            wide.weight.copy_(torch.cat([first.weight, second.weight]))
            wide.bias.copy_(torch.cat([first.bias, second.bias]))
        wide.to(first.weight.dtype)
        return nn.Sequential(nn.Flatten(), wide, nn.ReLU(), self.head)


class ResidualCNN(nn.Module):
    """A stem and two conv blocks with a skip addition, average pooling, a head."""

    def __init__(self, n_classes=10, channels=8):
        super().__init__()
        self.stem = nn.Conv2d(1, channels, 3, padding=1)
        self.a1 = nn.Conv2d(channels, channels, 3, padding=1)
        self.a2 = nn.Conv2d(channels, channels, 3, padding=1)
        self.b1 = nn.Conv2d(channels, channels, 3, padding=1)
        self.b2 = nn.Conv2d(channels, channels, 3, padding=1)
        self.head = nn.Linear(channels * 16, n_classes)

    def forward(self, x):
        h = F.relu(self.stem(x))
        h = F.relu(h + self.a2(F.relu(self.a1(h))))
        h = F.relu(h + self.b2(F.relu(self.b1(h))))
        h = F.avg_pool2d(h, 2)
        return self.head(torch.flatten(h, 1))

    def sequential(self):
        """The skips carried as extra channels: ``h >= 0`` (after a ReLU)
        goes through the block's inner ReLU unchanged."""
        layers = [self.stem, nn.ReLU()]
        for first, second in ((self.a1, self.a2), (self.b1, self.b2)):
            layers += [_with_copy(first, keep="out"), nn.ReLU()]
            layers += [_with_copy(second, keep="in"), nn.ReLU()]
        return nn.Sequential(*layers, nn.AvgPool2d(2), nn.Flatten(), self.head)


def _with_copy(conv, keep):
    """``conv`` (3x3, padding 1, C -> C) with an identity copy of its input:
    ``x -> [conv(x); x]`` (``keep="out"``) or ``[r; x] -> conv(r) + x``."""
    c = conv.out_channels
    identity = torch.zeros(c, c, 3, 3, dtype=conv.weight.dtype)
    identity[range(c), range(c), 1, 1] = 1
    zeros = torch.zeros_like(conv.bias)
    if keep == "out":
        weight = torch.cat([conv.weight, identity])
        bias = torch.cat([conv.bias, zeros])
        wide = nn.Conv2d(c, 2 * c, 3, padding=1)
    else:
        weight, bias = torch.cat([conv.weight, identity], 1), conv.bias
        wide = nn.Conv2d(2 * c, c, 3, padding=1)
    with torch.no_grad():
        wide.weight.copy_(weight)
        wide.bias.copy_(bias)
    return wide.to(conv.weight.dtype)


class ShapeControl(nn.Module):
    """Python control flow on the input's shape: torch.fx cannot trace it."""

    def __init__(self, n_features_in=64, n_classes=10, hidden=16):
        super().__init__()
        self.fc1 = nn.Linear(n_features_in, hidden)
        self.fc2 = nn.Linear(hidden, n_classes)

    def forward(self, x):
        if x.dim() > 2:
            x = x.reshape(len(x), -1)
        return self.fc2(F.relu(self.fc1(x)))

    def sequential(self):
        return nn.Sequential(nn.Flatten(), self.fc1, nn.ReLU(), self.fc2)
