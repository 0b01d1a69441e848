"""Exact MILP verification next to PGD, IBP and CROWN; Lipschitz networks.

Part 1: a digits MLP (one hidden layer of 64 ReLUs, pixels in [0, 1]) on the
first ``--n-points`` test samples at l-inf eps 0.05 and 0.1 (cut by the box
[0, 1]): clean accuracy, PGD-50x5 robust accuracy (an upper bound of the
truth), IBP-, CROWN- and MILP-verified accuracy (lower bounds; MILP's is the
truth where no sample is "unknown"), MILP seconds per sample and its ratio to
CROWN's and to one raw-torch forward pass of the sample, unknowns, binaries
per sample. Invariants checked on the way: IBP <= CROWN <= MILP <= PGD, and
every MILP counterexample is misclassified.

Part 2 (``--lipschitz``): certified l2 accuracy at radius 0.5 and 1.0 on the
digits test set of ``LipschitzClassifier`` (AOL layers, GroupSort,
certified-margin cross-entropy), of randomized smoothing (sigma 0.5) and, if
``deel-torchlip`` imports, of the same architecture trained with it.

Run: ``python benchmarks/bench_certificates.py [--n-points 100] [--lipschitz]``.
"""

import time

import numpy as np
import torch
from _harness import environment, measure, parse_args, parser
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
    view = skrobust.as_differentiable(clf)
    x = view.to_input(X)
    with torch.no_grad():  # the floor: one forward pass of the whole batch
        forward = measure(lambda: view.module(x), repeat=30) / len(X)
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
                forward_seconds=forward,
                binaries=float(result.n_binary.mean()),
            )
        )
    return rows


def print_milp(rows, n):
    print(f"\n## Digits MLP (64 ReLUs), first {n} test samples, l-inf, box [0, 1]\n")
    print(
        "| eps | clean | PGD-50x5 | IBP | CROWN | MILP | unknown | MILP s/sample "
        "(median, max) | MILP / CROWN time | MILP / forward | binaries / sample |"
    )
    print("| --- " * 11 + "|")
    for r in rows:
        print(
            f"| {r['eps']} | {r['clean']:.3f} | {r['pgd']:.3f} | {r['ibp']:.3f} | "
            f"{r['crown']:.3f} | {r['milp']:.3f} | {r['unknown']} | "
            f"{r['seconds']:.3f} ({r['median']:.3f}, {r['worst']:.2f}) | "
            f"{r['seconds'] / r['crown_seconds']:.0f} | "
            f"{r['seconds'] / r['forward_seconds']:.2g} | {r['binaries']:.1f} |"
        )


def lipschitz_net(epochs, **kwargs):
    return NeuralNetClassifier(
        MLP,
        module__hidden_layer_sizes=(128, 128),
        criterion=torch.nn.CrossEntropyLoss,
        optimizer=torch.optim.Adam,
        lr=0.005,
        max_epochs=epochs,
        batch_size=64,
        train_split=None,
        verbose=0,
        **kwargs,
    )


def certified_at(radius, radii=(0.5, 1.0)):
    radius = np.nan_to_num(np.asarray(radius, dtype=float), nan=-1.0)
    return [float((radius >= r).mean()) for r in radii]


def torchlip_peer(X_train, X_test, y_train, args, tau=8.0):
    """Train deel-torchlip's version in its venv; certify the exported weights."""
    import pathlib
    import subprocess
    import tempfile

    from skrobust import DifferentiableModel
    from skrobust.nn import GroupSort

    here = pathlib.Path(__file__).parent
    with tempfile.TemporaryDirectory() as tmp:
        data, out = f"{tmp}/digits.npz", f"{tmp}/torchlip.pt"
        np.savez(data, X_train=X_train, y_train=y_train, tau=tau, lr=0.005)
        cmd = [args.peer_python, str(here / "peer_torchlip.py"), data, out]
        subprocess.run([*cmd, str(args.epochs)], check=True)
        saved = torch.load(out)
    module = torch.nn.Sequential(
        torch.nn.Linear(64, 128),
        GroupSort(2),
        torch.nn.Linear(128, 128),
        GroupSort(2),
        torch.nn.Linear(128, 10),
    )
    module.load_state_dict(saved["state"])
    view = DifferentiableModel(
        module.eval(), np.arange(10), device="cpu", dtype=torch.float32
    )
    return view, saved["seconds"]


def lipschitz_table(X_train, X_test, y_train, y_test, args):
    from skrobust import SkorchClassifier
    from skrobust.certification import RandomizedSmoothingClassifier
    from skrobust.certification.lipschitz import (
        LipschitzClassifier,
        certified_radius,
        lipschitz_constant,
    )

    rows = []
    for margin in (0.5, 1.0):
        start = time.perf_counter()
        clf = LipschitzClassifier(
            lipschitz_net(args.epochs), margin=margin, random_state=0
        ).fit(X_train, y_train)
        seconds = time.perf_counter() - start
        radius = clf.certified_radius(X_test, y_test)
        rows.append(
            (
                f"LipschitzClassifier (AOL, GroupSort, margin-CE, margin {margin})",
                clf.score(X_test, y_test),
                *certified_at(radius),
                f"L = {lipschitz_constant(clf):.3f}",
                seconds,
            )
        )
    plain = SkorchClassifier(lipschitz_net(args.epochs), random_state=0)
    start = time.perf_counter()
    plain.fit(X_train, y_train)
    seconds = time.perf_counter() - start
    rows.append(
        (
            "the same MLP (ReLU), trained as usual",
            plain.score(X_test, y_test),
            *certified_at(certified_radius(plain, X_test, y_test)),
            f"L = {lipschitz_constant(plain):.1f}",
            seconds,
        )
    )
    smooth = RandomizedSmoothingClassifier(
        SkorchClassifier(lipschitz_net(args.epochs), random_state=0),
        sigma=0.5,
        n_samples=10_000,
        random_state=0,
    )
    start = time.perf_counter()
    smooth.fit(X_train, y_train)
    y_pred, radius = smooth.certify(X_test)
    seconds = time.perf_counter() - start
    radius = np.where(y_pred == y_test, radius, np.nan)
    rows.append(
        (
            "randomized smoothing, sigma 0.5 (n = 10,000, alpha 0.001)",
            float(np.mean(y_pred == y_test)),
            *certified_at(radius),
            "probabilistic",
            seconds,
        )
    )
    if args.peer_python:
        view, seconds = torchlip_peer(X_train, X_test, y_train, args)
        z = view.logits(X_test)
        top2 = np.sort(z, axis=1)[:, -2:]
        own = np.where(z.argmax(1) == y_test, (top2[:, 1] - top2[:, 0]) / 2**0.5, -1)
        ours = certified_radius(view, X_test, y_test)
        clean = float(np.mean(z.argmax(1) == y_test))
        rows.append(
            (
                "deel-torchlip (spectral + Bjorck), its sqrt(2) certificate",
                clean,
                *certified_at(own),
                "assumes L = 1",
                seconds,
            )
        )
        rows.append(
            (
                "deel-torchlip, certified by skrobust (exported weights)",
                clean,
                *certified_at(ours),
                f"L = {lipschitz_constant(view, input_shape=(64,)):.3f}",
                seconds,
            )
        )
    print("\n## Certified l2 accuracy on the digits test set (450 samples)\n")
    print("| model | clean | r = 0.5 | r = 1.0 | constant | fit + certify s |")
    print("| --- " * 6 + "|")
    for name, clean, a, b, note, seconds in rows:
        print(f"| {name} | {clean:.3f} | {a:.3f} | {b:.3f} | {note} | {seconds:.0f} |")


def main():
    p = parser(__doc__)
    p.add_argument("--n-points", type=int, default=100)
    p.add_argument("--time-limit", type=float, default=60.0)
    p.add_argument("--lipschitz", action="store_true")
    p.add_argument("--epochs", type=int, default=60)
    p.add_argument(
        "--peer-python", default=None, help="a python with deel-torchlip installed"
    )
    args = parse_args(p)
    print(environment(args.device))
    X_train, X_test, y_train, y_test = digits()
    clf = digits_mlp(X_train, y_train)
    n = args.n_points
    rows = milp_table(clf, X_test[:n], y_test[:n], (0.05, 0.1), args.time_limit)
    print_milp(rows, n)
    if args.lipschitz:
        lipschitz_table(X_train, X_test, y_train, y_test, args)


if __name__ == "__main__":
    main()
