"""Randomized smoothing: CERTIFY time against the forward-pass floor.

Cohen's CERTIFY (``RandomizedSmoothingClassifier.certify``) on a digits CNN
(``SkorchClassifier(SmallCNN)`` trained with Gaussian noise), for
``--points`` test images with ``n0 + n`` noisy forward passes each, timed
against, in the same run and on the same model:

* the floor: ``points * (n0 + n)`` forward passes of the same torch module
  in batches of ``--batch-size`` (the last one partial), in inference mode,
  on a preallocated input: no noise, no counting, no statistics. Any
  implementation of CERTIFY must at least do this work;
* the peer, when ART is importable: ``art``'s
  ``PyTorchRandomizedSmoothing.certify`` with the same weights, ``n0``
  (ART's ``sample_size``), ``n``, ``alpha`` and batch size.

Run: ``python benchmarks/bench_smoothing.py [--device cuda] [--threads 1]``.
"""

import numpy as np
import torch
from _harness import compare, environment, parse_args, parser, print_table
from sklearn.datasets import load_digits
from skorch import NeuralNetClassifier

from skrobust import as_differentiable
from skrobust.certification import RandomizedSmoothingClassifier
from skrobust.nn import SmallCNN


def floor_fn(module, n_forwards, batch_size, sample_shape, device):
    """``n_forwards`` forward passes of ``module`` at full batch."""
    x = torch.rand((batch_size, *sample_shape), device=device)

    def run():
        with torch.inference_mode():
            done = 0
            while done < n_forwards:
                size = min(batch_size, n_forwards - done)
                module(x[:size]).argmax(dim=1)
                done += size

    return run


def art_certify(rs, X, args):
    """ART's CERTIFY on the same module, or None (with the reason) if missing."""
    try:
        from art.estimators.certification.randomized_smoothing import (
            PyTorchRandomizedSmoothing,
        )
    except Exception as exc:  # ImportError or a missing ART dependency
        return None, f"ART not importable: {type(exc).__name__}: {exc}"
    module = as_differentiable(rs).module.base  # the trained CNN
    peer = PyTorchRandomizedSmoothing(
        model=module,
        loss=torch.nn.CrossEntropyLoss(),
        input_shape=X.shape[1:],
        nb_classes=len(rs.classes_),
        clip_values=None,
        device_type="gpu" if torch.device(args.device).type == "cuda" else "cpu",
        sample_size=args.n0,
        scale=rs.sigma,
        alpha=rs.alpha,
    )

    def run():
        return peer.certify(X, n=args.n, batch_size=args.batch_size)

    return run, "ART PyTorchRandomizedSmoothing"


def main():
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--points", type=int, default=20, help="points certified")
    p.add_argument("--n0", type=int, default=100, help="selection draws")
    p.add_argument("--n", type=int, default=5000, help="estimation draws")
    p.add_argument("--batch-size", type=int, default=1024)
    p.set_defaults(repeat=5, warmup=1)
    args = parse_args(p)
    torch.manual_seed(0)

    X, y = load_digits(return_X_y=True)
    X = (X / 16.0).astype(np.float32).reshape(-1, 1, 8, 8)
    net = NeuralNetClassifier(
        SmallCNN,
        criterion=torch.nn.CrossEntropyLoss,
        optimizer=torch.optim.Adam,
        lr=0.01,
        max_epochs=5,
        batch_size=128,
        train_split=None,
        device=args.device,
        verbose=0,
    )
    rs = RandomizedSmoothingClassifier(
        net,
        sigma=0.25,
        n_samples=args.n,
        n_samples_select=args.n0,
        batch_size=args.batch_size,
        random_state=0,
    ).fit(X[:1000], y[:1000])
    X_test = X[1000 : 1000 + args.points]
    module = as_differentiable(rs.estimator_).module.eval()
    n_forwards = args.points * (args.n0 + args.n)
    floor = floor_fn(module, n_forwards, args.batch_size, X.shape[1:], args.device)
    kw = {"repeat": args.repeat, "warmup": args.warmup}

    def ours():
        return rs.certify(X_test)

    peer_run, peer_name = art_certify(rs, X_test, args)
    if peer_run is None:
        print(peer_name)
        result = compare("certify", ours, floor, device=args.device, **kw)
    else:  # ART loops over points in Python: fewer repeats
        result = compare(
            "certify",
            ours,
            floor,
            device=args.device,
            peer=peer_name,
            peer_fn=peer_run,
            warmup=1,
            repeat=3,
        )
        print(f"ART certify / floor: {result.peer_time / result.floor:.2f}")
    results = [result]
    print_table(
        results,
        title=(
            f"CERTIFY, digits SmallCNN, {args.points} points x (n0={args.n0} + "
            f"n={args.n}) draws, batch {args.batch_size}; "
            f"{environment(args.device)}"
        ),
    )


if __name__ == "__main__":
    main()
