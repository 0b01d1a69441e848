"""Overhead of the differentiable view on an input-gradient step.

One forward + backward pass for the gradient of the cross-entropy with respect
to the input, the inner step of every white-box attack, timed:

* through ``as_differentiable`` of a skorch network (``SkorchClassifier`` with
  ``skrobust.nn.MLP``) trained on digits, against the same torch module called
  directly (the floor);
* through the converted ``make_pipeline(StandardScaler(), MLPClassifier())``,
  against a hand-built torch equivalent with the same weights (the floor).

Run: ``python benchmarks/bench_view.py [--device cuda]``.
"""

import copy
import warnings

import numpy as np
import torch
from _harness import compare, environment, parse_args, parser, print_table
from sklearn.datasets import load_digits
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from skorch import NeuralNetClassifier

import skrobust
import skrobust.nn


def input_grad(f, x, y):
    x = x.detach().requires_grad_()
    loss = torch.nn.functional.cross_entropy(f(x), y)
    (grad,) = torch.autograd.grad(loss, x)
    return grad


def raw_module(clf, view):
    """The trained torch module, found on the wrapped skorch net."""
    for value in vars(clf).values():
        if isinstance(getattr(value, "module_", None), torch.nn.Module):
            return value.module_
    return view.module


def frozen(module):
    module = copy.deepcopy(module).eval()
    return module.requires_grad_(False)


def bench_skorch(X, y, args, kw):
    net = NeuralNetClassifier(
        skrobust.nn.MLP,
        criterion=torch.nn.CrossEntropyLoss,
        optimizer=torch.optim.Adam,
        max_epochs=5,
        batch_size=128,
        train_split=None,
        device=args.device,
        verbose=0,
    )
    clf = skrobust.SkorchClassifier(net, random_state=0).fit(X, y)
    view = skrobust.as_differentiable(clf)
    floor = frozen(raw_module(clf, view))
    x = view.to_input(X)
    t = torch.as_tensor(np.searchsorted(view.classes_, y), device=view.device)
    xf = x.detach().clone()

    def through_view():
        with view.evaluating():
            return input_grad(view, x, t)

    def build_and_grad():
        v = skrobust.as_differentiable(clf)
        with v.evaluating():
            return input_grad(v, v.to_input(X), t)

    def bare():
        return input_grad(floor, xf, t)

    name = "SkorchClassifier(MLP)"
    return [
        compare(f"{name}: view grad", through_view, bare, device=args.device, **kw),
        compare(
            f"{name}: as_differentiable + to_input + grad",
            build_and_grad,
            bare,
            device=args.device,
            **kw,
        ),
    ]


def bench_pipeline(X, y, args, kw):
    clf = make_pipeline(
        StandardScaler(), MLPClassifier(hidden_layer_sizes=(100,), max_iter=50)
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning: speed, not accuracy
        clf.fit(X, y)
    view = skrobust.as_differentiable(clf, device=args.device)
    dev, dtype = view.device, view.dtype

    scaler, mlp = clf[0], clf[-1]
    mean = torch.as_tensor(scaler.mean_, device=dev, dtype=dtype)
    scale = torch.as_tensor(scaler.scale_, device=dev, dtype=dtype)
    layers = []
    for W, b in zip(mlp.coefs_, mlp.intercepts_):
        lin = torch.nn.Linear(*W.shape, device=dev, dtype=dtype)
        with torch.no_grad():
            lin.weight.copy_(torch.as_tensor(W.T))
            lin.bias.copy_(torch.as_tensor(b))
        layers += [lin, torch.nn.ReLU()]
    hand = torch.nn.Sequential(*layers[:-1]).requires_grad_(False)

    def hand_built(x):
        return hand((x - mean) / scale)

    x = view.to_input(X)
    t = torch.as_tensor(np.searchsorted(view.classes_, y), device=dev)
    with torch.no_grad():
        np.testing.assert_allclose(
            view(x).cpu().numpy(), hand_built(x).cpu().numpy(), rtol=1e-6, atol=1e-8
        )

    def through_view():
        with view.evaluating():
            return input_grad(view, x, t)

    name = f"StandardScaler + MLPClassifier ({str(dtype).removeprefix('torch.')})"
    return [
        compare(
            f"{name}: view grad",
            through_view,
            lambda: input_grad(hand_built, x, t),
            device=args.device,
            **kw,
        )
    ]


def main():
    args = parse_args(parser(__doc__.splitlines()[0]))
    torch.manual_seed(0)
    kw = {"repeat": args.repeat, "warmup": args.warmup}
    X, y = load_digits(return_X_y=True)
    X = (X / 16.0).astype(np.float32)
    results = bench_skorch(X, y, args, kw) + bench_pipeline(X, y, args, kw)
    print_table(
        results,
        title=(
            f"input gradient, forward + backward, digits {X.shape[0]} x "
            f"{X.shape[1]} in one batch; {environment(args.device)}"
        ),
    )


if __name__ == "__main__":
    main()
