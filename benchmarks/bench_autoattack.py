"""AutoAttack: skrobust's time and robust accuracy against the reference code.

Two networks trained on the 8x8 digits (images in [0, 1], a stratified 75/25
split) are attacked on the first ``--n`` (200) test points, all on the same
device, model and points:

* ``cnn``: a ``SmallCNN`` at l-infinity ``--eps-cnn`` (0.1);
* ``mlp``: a 64-unit ``MLP`` at l-infinity ``--eps-mlp`` (0.05) (the peers
  get the points as 8x8 images, flattened inside the model: their Square
  attack takes images only; skrobust's takes the flat vectors).

For each, in turn and ``--repeat`` (3) times, interleaved so that a busy
machine slows them alike:

* skrobust: ``AutoAttack(version="standard")`` (APGD-CE, APGD-T, FAB-T,
  Square; 100 iterations, 5,000 queries), with its robust accuracy after
  each attack;
* pyautoattack (the authors' reference code, repackaged): its standard
  ``AutoAttack`` (the oracle);
* torchattacks: ``AutoAttack`` (standard version; its APGD and APGD-T run 10
  steps, not the reference's 100).

Printed: the median time of each (wall clock, and CPU seconds of the
process), the ratios to the reference, every robust accuracy (lower is
stronger), each stage's seconds and the load average. Peers are skipped, with
the reason, when they are not importable; ``--peer-site DIR`` adds a
directory (a scratch environment's site-packages) to the import path for
them. ``--fast`` also measures the gap of ``AutoAttack(version="fast")`` to
the standard version on the two digits networks and a breast-cancer MLP
(l-infinity ``--eps-cancer``, 0.1, on standardised features): robust
accuracy of each and the time ratio. This is a benchmark, not a test.

Run: ``python benchmarks/bench_autoattack.py [--device cpu] [--fast]``
"""

import contextlib
import copy
import io
import logging
import os
import statistics
import sys
import time

import numpy as np
import torch
from _harness import environment, parse_args, parser, synchronize
from sklearn.datasets import load_breast_cancer, load_digits
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler
from skorch import NeuralNetClassifier

import skrobust
from skrobust.attacks import AutoAttack
from skrobust.nn import MLP, SmallCNN


def _peer(name):
    """Import a peer library, or return the reason it is missing."""
    try:
        if name == "pyautoattack":
            import pyautoattack

            return pyautoattack, None
        import torchattacks

        return torchattacks, None
    except ImportError as exc:
        return None, str(exc)


def train(module, X, y, device, **params):
    net = NeuralNetClassifier(
        module,
        criterion=torch.nn.CrossEntropyLoss,
        optimizer=torch.optim.Adam,
        lr=0.01,
        max_epochs=10,
        batch_size=64,
        train_split=None,
        device=device,
        verbose=0,
        **params,
    )
    torch.manual_seed(0)
    return skrobust.SkorchClassifier(net, random_state=0).fit(X, y)


def models(device, n, eps, names):
    """``(name, classifier, X, y, eps)`` for each network asked for."""
    X, y = load_digits(return_X_y=True)
    X = (X / 16.0).astype(np.float32)
    split = train_test_split(X, y, test_size=0.25, stratify=y, random_state=0)
    X_train, X_test, y_train, y_test = split
    if "cnn" in names:
        images = X_train.reshape(-1, 1, 8, 8)
        clf = train(SmallCNN, images, y_train, device)
        yield (
            "digits SmallCNN",
            clf,
            X_test[:n].reshape(-1, 1, 8, 8),
            y_test[:n],
            eps[0],
        )
    if "mlp" in names:
        clf = train(MLP, X_train, y_train, device, module__hidden_layer_sizes=(64,))
        yield "digits MLP (64)", clf, X_test[:n], y_test[:n], eps[1]
    if "cancer" in names:
        X, y = load_breast_cancer(return_X_y=True)
        split = train_test_split(X, y, test_size=0.25, stratify=y, random_state=0)
        X_train, X_test, y_train, y_test = split
        scaler = StandardScaler().fit(X_train)
        X_train = scaler.transform(X_train).astype(np.float32)
        X_test = scaler.transform(X_test).astype(np.float32)
        clf = train(MLP, X_train, y_train, device, module__hidden_layer_sizes=(32,))
        yield "breast-cancer MLP (32)", clf, X_test[:n], y_test[:n], eps[2]


def timed(fn, device):
    """Result, wall-clock seconds and CPU seconds of this process."""
    synchronize(device)
    start, cpu = time.perf_counter(), time.process_time()
    out = fn()
    synchronize(device)
    return out, time.perf_counter() - start, time.process_time() - cpu


def interleaved(fns, repeat, device, cpu=None):
    """Median time, the last result and all times of each function, in turn.

    ``cpu``: a list that receives the median CPU seconds of each function
    (on a shared machine less moved by the other jobs than the wall clock).
    """
    times, cpus, results = [[] for _ in fns], [[] for _ in fns], [None] * len(fns)
    for _ in range(repeat):
        for i, fn in enumerate(fns):
            results[i], t, c = timed(fn, device)
            times[i].append(t)
            cpus[i].append(c)
    if cpu is not None:
        cpu.extend(statistics.median(c) for c in cpus)
    return [statistics.median(t) for t in times], results, times


def load():
    return "load average " + ", ".join(f"{v:.2f}" for v in os.getloadavg())


def accuracy(model, x, labels):
    with torch.no_grad():
        return float((model(x).argmax(dim=1) == labels).float().mean())


def compare(name, clf, X, y, eps, args, peers):
    """skrobust, the reference and torchattacks on one network."""
    device = args.device
    model = copy.deepcopy(clf.net_.module_).eval().requires_grad_(False)
    x = torch.as_tensor(X, device=device)
    if x.dim() == 2:  # the peers' Square needs images: flatten inside
        model = torch.nn.Sequential(torch.nn.Flatten(), model)
        x = x.reshape(-1, 1, 8, 8)
    labels = torch.as_tensor(y, device=device)
    kwargs = dict(eps=eps, bounds=(0, 1), random_state=0)
    fns = [lambda: AutoAttack(clf, **kwargs).evaluate(X, y)]
    labels_ = ["skrobust"]
    ref_log = io.StringIO()
    aa = peers.get("pyautoattack")
    if aa is not None:

        def reference():
            ref = aa.AutoAttack(
                model, norm="Linf", eps=eps, version="standard", seed=0, device=device
            )
            ref_log.seek(0)
            ref_log.truncate()
            handler = logging.StreamHandler(ref_log)
            ref.logger.addHandler(handler)
            ref.logger.setLevel(logging.DEBUG)
            with contextlib.redirect_stdout(io.StringIO()):
                out = ref.run_standard_evaluation(x, labels, batch_size=len(x))
            ref.logger.removeHandler(handler)
            return out[0] if isinstance(out, tuple) else out

        fns.append(reference)
        labels_.append("pyautoattack")
    ta = peers.get("torchattacks")
    if ta is not None:
        fns.append(
            lambda: ta.AutoAttack(
                model, norm="Linf", eps=eps, version="standard", n_classes=10, seed=0
            )(x, labels)
        )
        labels_.append(f"torchattacks {ta.__version__}")
    print(f"\n{name}: {len(X)} test points, linf eps {eps} ({load()})")
    cpu = []
    times, results, runs = interleaved(fns, args.repeat, device, cpu)
    report = results[0]
    robust = [report.robust_accuracy["square"]]
    robust += [accuracy(model, out, labels) for out in results[1:]]
    stages = ", ".join(f"{k} {v:.3f}" for k, v in report.robust_accuracy.items())
    print(f"skrobust per stage: {stages}")
    if aa is not None:
        ref_stages = [
            line.split("after ")[1].split(" (")[0]
            for line in ref_log.getvalue().splitlines()
            if "robust accuracy after" in line
        ]
        print(f"pyautoattack per stage: {', '.join(ref_stages)}")
        totals = [0.0] + [
            float(line.split("total time ")[1].split(" s")[0])
            for line in ref_log.getvalue().splitlines()
            if "robust accuracy after" in line
        ]
        ref_times = ", ".join(
            f"{stage.split(':')[0]} {b - a:.1f}"
            for stage, a, b in zip(ref_stages, totals, totals[1:])
        )
        print(f"pyautoattack stage seconds (last run): {ref_times}")
    stage_times = ", ".join(f"{k} {v:.1f}" for k, v in report.times.items())
    print(f"skrobust stage seconds (last run): {stage_times}")
    base = times[1] if aa is not None else None
    print(
        f"{'library':<22} {'robust acc':>10} {'median s':>9} {'x reference':>11}"
        f" {'cpu s':>7} {'cpu x ref':>9}  runs s"
    )
    for lib, acc, t, c, each in zip(labels_, robust, times, cpu, runs):
        ratio = "-" if base is None else f"{t / base:.2f}"
        cpu_ratio = "-" if base is None else f"{c / cpu[1]:.2f}"
        each = ", ".join(f"{v:.1f}" for v in each)
        print(
            f"{lib:<22} {acc:>10.3f} {t:>9.2f} {ratio:>11} {c:>7.2f} {cpu_ratio:>9}"
            f"  {each}"
        )
    print(f"({args.repeat} interleaved runs each; {load()})")


def fast_gap(name, clf, X, y, eps, args):
    """The fast preset's robust accuracy and time against the standard one."""
    kwargs = dict(eps=eps, bounds=(0, 1) if X.min() >= 0 else None, random_state=0)
    fns = [
        lambda: AutoAttack(clf, **kwargs).evaluate(X, y),
        lambda: AutoAttack(clf, version="fast", **kwargs).evaluate(X, y),
    ]
    (t_std, t_fast), (std, fast), _ = interleaved(fns, args.repeat, args.device)
    acc_std = std.robust_accuracy["square"]
    acc_fast = fast.robust_accuracy["apgd-t"]
    print(
        f"{name:<24} {eps:>5} {clf.score(X, y):>6.3f} {acc_std:>9.3f} "
        f"{acc_fast:>6.3f} {100 * (acc_fast - acc_std):>+9.1f} "
        f"{t_fast / t_std:>10.3f}"
    )


def main():
    p = parser(__doc__.splitlines()[0])
    p.set_defaults(device="cuda" if torch.cuda.is_available() else "cpu", repeat=3)
    p.add_argument("--eps-cnn", type=float, default=0.1, help="SmallCNN budget")
    p.add_argument("--eps-mlp", type=float, default=0.05, help="MLP budget")
    p.add_argument("--eps-cancer", type=float, default=0.1, help="cancer budget")
    p.add_argument("--n", type=int, default=200, help="test points attacked")
    p.add_argument(
        "--models", default="cnn,mlp", help="comma-separated: cnn, mlp (default both)"
    )
    p.add_argument("--peer-site", default=None, help="extra path for the peers")
    p.add_argument("--peers", default="pyautoattack,torchattacks", help="peers to run")
    p.add_argument("--fast", action="store_true", help="the fast preset's gap")
    p.add_argument("--no-compare", action="store_true", help="only --fast")
    args = parse_args(p)
    unknown = set(args.models.split(",")) - {"cnn", "mlp"}
    if unknown:
        p.error(f"--models: unknown {sorted(unknown)}; give cnn, mlp or cnn,mlp")
    if args.peer_site:
        sys.path.append(args.peer_site)
    print(environment(args.device))
    eps = (args.eps_cnn, args.eps_mlp, args.eps_cancer)
    if not args.no_compare:
        peers, missing = {}, {}
        for name in args.peers.split(","):
            lib, reason = _peer(name)
            if lib is None:
                missing[name] = reason
            else:
                peers[name] = lib
        for name, reason in missing.items():
            print(f"{name}: not run ({reason})")
        for model in models(args.device, args.n, eps, args.models.split(",")):
            compare(*model, args, peers)
    if args.fast:
        print(f"\nversion='fast' against 'standard' ({load()})")
        print(
            f"{'model':<24} {'eps':>5} {'clean':>6} {'standard':>9} {'fast':>6} "
            f"{'gap (pt)':>9} {'time ratio':>10}"
        )
        for model in models(args.device, args.n, eps, ("cnn", "mlp", "cancer")):
            fast_gap(*model, args)
        print(f"({args.repeat} interleaved runs each; {load()})")


if __name__ == "__main__":
    main()
