"""Cost of certifying with bound propagation, as a ratio to one forward pass.

``certify`` on the whole digits data (1797 samples, pixels in [0, 1], l-inf
eps 0.05 cut by the box [0, 1]) through interval bound propagation (IBP),
CROWN-IBP, full CROWN and alpha-CROWN, for a ``SkorchClassifier`` around
``skrobust.nn.MLP``, ``skrobust.nn.SmallCNN`` and a residual CNN with its
own ``forward`` (two conv blocks with skip additions, traced). The floor is
one forward pass of the raw torch module on the same batch (the goal for
IBP: at most 3 forward passes, numpy in and out included; for CROWN on the
digits CNN: at most 30). Each row names the share of points certified:
alpha-CROWN's gain over CROWN is the difference.

Run: ``python benchmarks/bench_ibp.py [--device cuda] [--threads 1]``.
"""

import copy
import os

import numpy as np
import torch
import torch.nn.functional as F
from _harness import compare, environment, parse_args, parser, print_table
from sklearn.datasets import load_digits
from skorch import NeuralNetClassifier

import skrobust
import skrobust.nn
from skrobust.certification import certify, interval_bounds

EPS = 0.05


class ResidualCNN(torch.nn.Module):
    """A stem and two conv blocks with skip additions, pooling, a head."""

    def __init__(self, n_classes=10, channels=8):
        super().__init__()
        conv = lambda: torch.nn.Conv2d(channels, channels, 3, padding=1)  # noqa: E731
        self.stem = torch.nn.Conv2d(1, channels, 3, padding=1)
        self.a1, self.a2, self.b1, self.b2 = conv(), conv(), conv(), conv()
        self.head = torch.nn.Linear(channels * 16, n_classes)

    def forward(self, x):
        h = F.relu(self.stem(x))
        h = F.relu(h + self.a2(F.relu(self.a1(h))))
        h = F.relu(h + self.b2(F.relu(self.b1(h))))
        return self.head(torch.flatten(F.avg_pool2d(h, 2), 1))


def fitted(module, X, y, device, **kwargs):
    net = NeuralNetClassifier(
        module,
        criterion=torch.nn.CrossEntropyLoss,
        optimizer=torch.optim.Adam,
        lr=0.005,
        max_epochs=5,
        train_split=None,
        device=device,
        verbose=0,
        **kwargs,
    )
    return skrobust.SkorchClassifier(net, random_state=0).fit(X, y)


def bench(name, clf, X, y, args, kw):
    module = copy.deepcopy(clf.net_.module_).eval().requires_grad_(False)
    x = torch.as_tensor(X, device=args.device)

    def forward():
        with torch.no_grad():
            return module(x)

    results = []
    for method in ("ibp", "crown-ibp", "crown", "alpha-crown"):
        kwargs = dict(eps=EPS, bounds=(0, 1), method=method, batch_size=len(X))
        certified = certify(clf, X, y, **kwargs).sum()
        results.append(
            compare(
                f"{name}: certify {method} ({certified} certified)",
                lambda kwargs=kwargs: certify(clf, X, y, **kwargs),
                forward,
                device=args.device,
                # CROWN rows: a median of (at least) 3
                **(kw if "crown" not in method else {"repeat": 3, "warmup": 1}),
            )
        )
    results.append(
        compare(
            f"{name}: interval_bounds ibp",
            lambda: interval_bounds(
                clf, X, eps=EPS, bounds=(0, 1), method="ibp", batch_size=len(X)
            ),
            forward,
            device=args.device,
            **kw,
        )
    )
    return results


def main():
    args = parse_args(parser(__doc__.splitlines()[0]))
    torch.manual_seed(0)
    kw = {"repeat": args.repeat, "warmup": args.warmup}
    X, y = load_digits(return_X_y=True)
    X = (X / 16.0).astype(np.float32)
    images = X.reshape(-1, 1, 8, 8)
    mlp = fitted(skrobust.nn.MLP, X, y, args.device)
    cnn = fitted(skrobust.nn.SmallCNN, images, y, args.device)
    residual = fitted(ResidualCNN, images, y, args.device)
    results = bench("MLP(100)", mlp, X, y, args, kw)
    results += bench("SmallCNN", cnn, images, y, args, kw)
    n = 200  # full CROWN through the residual blocks: a subset
    results += bench(f"ResidualCNN ({n})", residual, images[:n], y[:n], args, kw)
    print_table(
        results,
        title=(
            f"certify at l-inf eps {EPS}, digits ({len(X)}; ResidualCNN: {n}) in "
            f"one batch, floor: one forward pass; {environment(args.device)}; "
            f"load average {', '.join(f'{x:.1f}' for x in os.getloadavg())}"
        ),
    )


if __name__ == "__main__":
    main()
