"""AutoAttack and APGD: robust accuracy and time against peer libraries.

A ``SmallCNN`` trained on the 8x8 digits (images in [0, 1], a stratified
75/25 split) is attacked at l-infinity ``--eps`` (0.1) on the first ``--n``
(200) test points, all on the same device, model and points:

* skrobust: ``AutoAttack`` (standard: APGD-CE, APGD-T, FAB-T, Square; 100
  iterations, 5,000 queries), with its robust accuracy after each attack;
  ``PGD`` with 20 steps; ``APGD`` (cross-entropy, 100 steps);
* pyautoattack (the authors' reference code, repackaged): its standard
  ``AutoAttack`` and its ``APGDAttack`` (cross-entropy, 100 steps);
* torchattacks: ``AutoAttack`` (standard version; note that its APGD and
  APGD-T default to 10 steps, not the reference's 100);
* ART: ``ProjectedGradientDescent``, 50 steps of ``2.5 * eps / 50``, 5
  random restarts.

A stronger attack gives a lower robust accuracy. Peers are skipped, with the
reason, when they are not importable. This is a benchmark, not a test: each
attack runs once (``--repeat`` repeats the APGD timings, which also get a
raw-torch floor of 101 forward and backward passes on the same points).

Run: ``python benchmarks/bench_autoattack.py [--device cpu] [--n 200]``
"""

import contextlib
import copy
import io
import logging
import time

import numpy as np
import torch
from _harness import environment, measure, parse_args, parser
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from skorch import NeuralNetClassifier

import skrobust
from skrobust.attacks import APGD, PGD, AutoAttack
from skrobust.nn import SmallCNN

F = torch.nn.functional


def _peer(name):
    """Import a peer library, or return the reason it is missing."""
    try:
        if name == "pyautoattack":
            import pyautoattack
            from pyautoattack.autopgd_base import APGDAttack

            return pyautoattack, APGDAttack
        if name == "torchattacks":
            import torchattacks

            return torchattacks, None
        import art
        from art.attacks.evasion import ProjectedGradientDescent
        from art.estimators.classification import PyTorchClassifier

        return art, (ProjectedGradientDescent, PyTorchClassifier)
    except ImportError as exc:
        reason = "needs torchvision" if "torchvision" in str(exc) else str(exc)
        return None, reason


def train(X, y, device):
    net = NeuralNetClassifier(
        SmallCNN,
        criterion=torch.nn.CrossEntropyLoss,
        optimizer=torch.optim.Adam,
        lr=0.01,
        max_epochs=10,
        batch_size=64,
        train_split=None,
        device=device,
        verbose=0,
    )
    torch.manual_seed(0)
    return skrobust.SkorchClassifier(net, random_state=0).fit(X, y)


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def accuracy(model, x, labels):
    with torch.no_grad():
        return float((model(x).argmax(dim=1) == labels).float().mean())


def main():
    p = parser(__doc__.splitlines()[0])
    p.set_defaults(device="cuda" if torch.cuda.is_available() else "cpu", repeat=3)
    p.add_argument("--eps", type=float, default=0.1, help="l-infinity budget")
    p.add_argument("--n", type=int, default=200, help="test points attacked")
    args = parse_args(p)
    device, eps = args.device, args.eps
    print(environment(device))

    X, y = load_digits(return_X_y=True)
    X = (X / 16.0).astype(np.float32).reshape(-1, 1, 8, 8)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.25, stratify=y, random_state=0
    )
    clf = train(X_train, y_train, device)
    X, y = X_test[: args.n], y_test[: args.n]
    model = copy.deepcopy(clf.net_.module_).eval().requires_grad_(False)
    x = torch.as_tensor(X, device=device)
    labels = torch.as_tensor(y, device=device)
    print(f"SmallCNN digits, {len(X)} test points, linf eps {eps}")
    rows = [("clean", "-", accuracy(model, x, labels), None)]

    def add(library, attack, robust, seconds):
        rows.append((attack, library, robust, seconds))

    # -- skrobust
    report, t = timed(
        lambda: AutoAttack(clf, eps=eps, bounds=(0, 1), random_state=0).evaluate(X, y)
    )
    stages = ", ".join(f"{k} {v:.3f}" for k, v in report.robust_accuracy.items())
    stage_times = ", ".join(f"{k} {v:.1f} s" for k, v in report.times.items())
    add("skrobust", "AutoAttack (standard)", clf.score(report.X_adv, y), t)
    pgd = PGD(clf, eps=eps, n_iter=20, bounds=(0, 1), random_state=0)
    out, t = timed(lambda: pgd.generate(X, y))
    add("skrobust", "PGD-20", clf.score(out, y), t)
    apgd = APGD(clf, eps=eps, n_iter=100, bounds=(0, 1), random_state=0)
    out, t = timed(lambda: apgd.generate(X, y))
    add("skrobust", "APGD-CE-100", clf.score(out, y), t)
    apgd_fn = lambda: apgd.generate(X, y)  # noqa: E731

    def floor():  # the passes APGD-100 makes, nothing else
        z = x.clone()
        for _ in range(101):
            z.requires_grad_(True)
            loss = F.cross_entropy(model(z), labels, reduction="sum")
            (g,) = torch.autograd.grad(loss, z)
            z = (z.detach() + 1e-3 * g.sign()).clamp(0, 1)
        return z

    missing = {}
    # -- pyautoattack (the reference code)
    aa, APGDAttack = _peer("pyautoattack")
    ref_apgd = None
    if aa is None:
        missing["pyautoattack"] = APGDAttack
    else:
        ref = aa.AutoAttack(
            model, norm="Linf", eps=eps, version="standard", seed=0, device=device
        )
        log = io.StringIO()
        handler = logging.StreamHandler(log)
        ref.logger.addHandler(handler)
        ref.logger.setLevel(logging.DEBUG)
        with contextlib.redirect_stdout(io.StringIO()):
            (out, _), t = timed(
                lambda: ref.run_standard_evaluation(x, labels, batch_size=len(x))
            )
        ref.logger.removeHandler(handler)
        ref_stages = [
            line.split("after ")[1].split(" (")[0]
            for line in log.getvalue().splitlines()
            if "robust accuracy after" in line
        ]
        add("pyautoattack", "AutoAttack (standard)", accuracy(model, out, labels), t)
        ref_apgd = APGDAttack(model, n_iter=100, eps=eps, seed=0, device=device)
        out, t = timed(lambda: ref_apgd.perturb(x, labels))
        add("pyautoattack", "APGD-CE-100", accuracy(model, out, labels), t)

    # -- torchattacks
    ta, reason = _peer("torchattacks")
    if ta is None:
        missing["torchattacks"] = reason
    else:
        atk = ta.AutoAttack(model, norm="Linf", eps=eps, version="standard", seed=0)
        out, t = timed(lambda: atk(x, labels))
        add(
            f"torchattacks {ta.__version__}",
            "AutoAttack (standard, APGD 10 steps)",
            accuracy(model, out, labels),
            t,
        )

    # -- ART
    art, classes = _peer("art")
    if art is None:
        missing["ART"] = classes
    else:
        ProjectedGradientDescent, PyTorchClassifier = classes
        estimator = PyTorchClassifier(
            model,
            loss=torch.nn.CrossEntropyLoss(),
            input_shape=X.shape[1:],
            nb_classes=10,
            clip_values=(0.0, 1.0),
            device_type="gpu" if device.startswith("cuda") else "cpu",
        )
        attack = ProjectedGradientDescent(
            estimator,
            eps=eps,
            eps_step=2.5 * eps / 50,
            max_iter=50,
            num_random_init=5,
            batch_size=len(X),
            verbose=False,
        )
        out, t = timed(lambda: attack.generate(X, y=y))
        add(f"ART {art.__version__}", "PGD-50, 5 restarts", clf.score(out, y), t)

    print(f"skrobust AutoAttack per stage: {stages} ({stage_times})")
    if aa is not None:
        print(f"pyautoattack AutoAttack per stage: {', '.join(ref_stages)}")
    print()
    header = ("attack", "library", "robust acc", "time s")
    widths = [
        max(len(header[0]), *(len(r[0]) for r in rows)),
        max(len(header[1]), *(len(r[1]) for r in rows)),
        10,
        8,
    ]
    print("  ".join(h.ljust(w) for h, w in zip(header, widths)))
    print("  ".join("-" * w for w in widths))
    for attack, library, robust, seconds in rows:
        t = "-" if seconds is None else f"{seconds:.2f}"
        print(
            f"{attack.ljust(widths[0])}  {library.ljust(widths[1])}  "
            f"{robust:>10.3f}  {t:>8}"
        )
    for name, reason in missing.items():
        print(f"{name}: not run ({reason})")

    # APGD timings, repeated, against the floor and the reference's APGD
    fns = [apgd_fn, floor] + ([lambda: ref_apgd.perturb(x, labels)] if ref_apgd else [])
    times = measure(*fns, device=device, warmup=1, repeat=args.repeat)
    line = (
        f"\nAPGD-CE-100: skrobust {times[0]:.3f} s = {times[0] / times[1]:.2f} x floor"
    )
    if ref_apgd:
        line += f", {times[0] / times[2]:.2f} x pyautoattack ({times[2]:.3f} s)"
    print(line)


if __name__ == "__main__":
    main()
