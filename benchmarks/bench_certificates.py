"""Exact MILP verification next to PGD, IBP and CROWN; Lipschitz networks.

Part 1: a digits MLP (one hidden layer of 64 ReLUs, pixels in [0, 1]) on the
first ``--n-points`` test samples at l-inf eps 0.05 and 0.1 (cut by the box
[0, 1]): clean accuracy, PGD-50x5 robust accuracy (an upper bound of the
truth), IBP-, CROWN- and MILP-verified accuracy (lower bounds; MILP's is the
truth where no sample is "unknown"), MILP seconds per sample and its ratio to
CROWN's, unknowns, binaries per sample. Invariants checked on the way:
IBP <= CROWN <= MILP <= PGD, and every MILP counterexample is misclassified.

Part 2 (``--lipschitz``): certified l2 accuracy at radius 0.5 and 1.0 on the
digits test set of ``LipschitzClassifier`` (orthogonal layers, GroupSort,
certified-margin cross-entropy), of randomized smoothing (sigma 0.5) and, if
``deel-torchlip`` imports, of the same architecture trained with it.

Run: ``python benchmarks/bench_certificates.py [--n-points 100] [--lipschitz]``.
"""

import time

import numpy as np
import torch
from _harness import environment, parse_args, parser
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from skorch import NeuralNetClassifier

import skrobust
from skrobust.attacks import PGD
from skrobust.certification import certify
from skrobust.certification.mip import verify
from skrobust.nn import MLP


def digits():
    X, y = load_digits(return_X_y=True)
    X = (X / 16.0).astype(np.float32)
    return train_test_split(X, y, test_size=0.25, stratify=y, random_state=0)


def digits_mlp(X, y, hidden=64):
    net = NeuralNetClassifier(
        MLP,
        module__hidden_layer_sizes=(hidden,),
        criterion=torch.nn.CrossEntropyLoss,
        optimizer=torch.optim.Adam,
        lr=0.01,
        max_epochs=20,
        batch_size=64,
        train_split=None,
        verbose=0,
    )
    return skrobust.SkorchClassifier(net, random_state=0).fit(X, y)


def milp_table(clf, X, y, epsilons, time_limit):
    rows = []
    clean = clf.predict(X) == y
    for eps in epsilons:
        kw = dict(eps=eps, bounds=(0, 1))
        attack = PGD(clf, n_iter=50, n_restarts=5, random_state=0, **kw)
        pgd = clf.predict(attack.generate(X, y)) == y
        t0 = time.perf_counter()
        ibp = certify(clf, X, y, method="ibp", **kw)
        t1 = time.perf_counter()
        crown = certify(clf, X, y, method="crown", **kw)
        t2 = time.perf_counter()
        result = verify(clf, X, y, time_limit=time_limit, **kw)
        t3 = time.perf_counter()
        milp = result.status == "verified"
        falsified = result.status == "falsified"
        assert np.all(crown[ibp]) and np.all(milp[crown]) and np.all(pgd[milp])
        adv = result.counterexample[falsified]
        assert np.all(clf.predict(adv) != y[falsified])
        rows.append(
            dict(
                eps=eps,
                clean=clean.mean(),
                pgd=pgd.mean(),
                ibp=ibp.mean(),
                crown=crown.mean(),
                milp=milp.mean(),
                unknown=int((result.status == "unknown").sum()),
                seconds=(t3 - t2) / len(X),
                median=float(np.median(result.seconds)),
                worst=float(result.seconds.max()),
                crown_seconds=(t2 - t1) / len(X),
                ibp_seconds=(t1 - t0) / len(X),
                binaries=float(result.n_binary.mean()),
            )
        )
    return rows


def print_milp(rows, n):
    print(f"\n## Digits MLP (64 ReLUs), first {n} test samples, l-inf, box [0, 1]\n")
    print(
        "| eps | clean | PGD-50x5 | IBP | CROWN | MILP | unknown | MILP s/sample "
        "(median, max) | MILP / CROWN time | binaries / sample |"
    )
    print("| --- " * 10 + "|")
    for r in rows:
        print(
            f"| {r['eps']} | {r['clean']:.3f} | {r['pgd']:.3f} | {r['ibp']:.3f} | "
            f"{r['crown']:.3f} | {r['milp']:.3f} | {r['unknown']} | "
            f"{r['seconds']:.3f} ({r['median']:.3f}, {r['worst']:.2f}) | "
            f"{r['seconds'] / r['crown_seconds']:.0f} | {r['binaries']:.1f} |"
        )


def main():
    p = parser(__doc__)
    p.add_argument("--n-points", type=int, default=100)
    p.add_argument("--time-limit", type=float, default=60.0)
    p.add_argument("--lipschitz", action="store_true")
    args = parse_args(p)
    print(environment(args.device))
    X_train, X_test, y_train, y_test = digits()
    clf = digits_mlp(X_train, y_train)
    n = args.n_points
    rows = milp_table(clf, X_test[:n], y_test[:n], (0.05, 0.1), args.time_limit)
    print_milp(rows, n)
    if args.lipschitz:
        from _lipschitz_bench import lipschitz_table

        lipschitz_table(X_train, X_test, y_train, y_test, args)


if __name__ == "__main__":
    main()
