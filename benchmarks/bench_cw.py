"""Carlini-Wagner L2: median perturbation norm and time against foolbox and ART.

The same model, points and setting for every library: untargeted, confidence
0, ``--binary-steps`` binary search steps from c = 1e-3, learning rate 0.01,
``--max-iter`` optimisation steps per binary search step, early abort, inputs
in [0, 1]. Reported per library, on the points the model classifies
correctly: the success rate, the median L2 norm of the successful
perturbations, the median over all points (a failure counts as infinite), and
the wall time of one run (CW runs for seconds; repeats would add little).

* skrobust: ``CarliniWagnerL2(clf, bounds=(0, 1), ...).minimal_norms(X, y)``
  (the norms of the examples ``generate`` returns), numpy in and out;
* foolbox: ``L2CarliniWagnerAttack`` with ``epsilons=None`` (minimisation),
  when importable. For a point it did not solve it returns the all-zero
  input, which is often misclassified: counted as found (it is adversarial),
  with its large norm;
* ART: ``CarliniL2Method`` (ART's own optimiser: gradient steps with a line
  search instead of Adam), when importable.

The floor is the time of ``binary_steps * max_iter`` forward and backward
passes of the bare module on the batch: the work of CW without early abort.

Models (skorch networks in ``skrobust.SkorchClassifier``): ``mlp``
(``skrobust.nn.MLP``, one hidden layer of 64, on the flat 8x8 digits) and
``cnn`` (``skrobust.nn.SmallCNN`` on the digit images).

Run: ``python benchmarks/bench_cw.py [--device cpu] [--case mlp]
[--n-points 100] [--max-iter 1000]``. Install the peers with ``--no-deps``
(see README.md): foolbox needs eagerpy and GitPython, ART needs six and tqdm.
"""

import time

import numpy as np
import torch
from _harness import environment, parse_args, parser, synchronize
from sklearn.datasets import load_digits
from skorch import NeuralNetClassifier

from skrobust import SkorchClassifier
from skrobust.attacks import CarliniWagnerL2
from skrobust.nn import MLP, SmallCNN


def _peer(name):
    try:
        if name == "foolbox":
            import foolbox

            return foolbox, None
        from art.attacks.evasion import CarliniL2Method
        from art.estimators.classification import PyTorchClassifier

        return (CarliniL2Method, PyTorchClassifier), None
    except ImportError as exc:
        missing = "needs torchvision" if "torchvision" in str(exc) else str(exc)
        return None, missing


def fit_model(case, device):
    X, y = load_digits(return_X_y=True)
    X = (X / 16.0).astype(np.float32)
    if case == "cnn":
        X = X.reshape(-1, 1, 8, 8)
        module, kwargs = SmallCNN, {}
    else:
        module, kwargs = MLP, {"module__hidden_layer_sizes": (64,)}
    net = NeuralNetClassifier(
        module,
        criterion=torch.nn.CrossEntropyLoss,
        optimizer=torch.optim.Adam,
        lr=0.01,
        max_epochs=20,
        batch_size=64,
        train_split=None,
        verbose=0,
        device=device,
        **kwargs,
    )
    clf = SkorchClassifier(net, random_state=0).fit(X[:1300], y[:1300])
    return clf, X[1300:], y[1300:]


def timed(fn, device):
    synchronize(device)
    start = time.perf_counter()
    out = fn()
    synchronize(device)
    return out, time.perf_counter() - start


def run_skrobust(clf, X, y, args):
    attack = CarliniWagnerL2(
        clf,
        bounds=(0, 1),
        n_binary_search=args.binary_steps,
        max_iter=args.max_iter,
        batch_size=len(X),
    )
    return attack.minimal_norms(X, y)


def run_foolbox(foolbox, module, X, y, args, device):
    model = foolbox.PyTorchModel(module.eval(), bounds=(0, 1), device=device)
    attack = foolbox.attacks.L2CarliniWagnerAttack(
        binary_search_steps=args.binary_steps,
        steps=args.max_iter,
        stepsize=0.01,
        confidence=0,
        initial_const=1e-3,
        abort_early=True,
    )
    x = torch.as_tensor(X, device=device)
    labels = torch.as_tensor(y, device=device)
    _, adv, success = attack(model, x, labels, epsilons=None)
    norms = (adv - x).flatten(1).norm(dim=1).cpu().numpy().astype(np.float64)
    return np.where(success.cpu().numpy(), norms, np.inf)


def run_art(art, module, X, y, args, device, predict):
    CarliniL2Method, PyTorchClassifier = art
    classifier = PyTorchClassifier(
        model=module.eval(),
        loss=torch.nn.CrossEntropyLoss(),
        input_shape=X.shape[1:],
        nb_classes=10,
        clip_values=(0.0, 1.0),
        device_type="gpu" if torch.device(device).type == "cuda" else "cpu",
    )
    attack = CarliniL2Method(
        classifier,
        confidence=0.0,
        targeted=False,
        learning_rate=0.01,
        binary_search_steps=args.binary_steps,
        max_iter=args.max_iter,
        initial_const=1e-3,
        batch_size=len(X),
        verbose=False,
    )
    adv = attack.generate(X, y=np.eye(10, dtype=np.float32)[y])
    norms = np.linalg.norm((adv - X).reshape(len(X), -1), axis=1).astype(np.float64)
    return np.where(predict(adv) != y, norms, np.inf)


def floor(module, X, y, args, device):
    x = torch.as_tensor(X, device=device)
    target = torch.as_tensor(y, device=device)
    module = module.eval().requires_grad_(False)
    for _ in range(args.binary_steps * args.max_iter):
        x.requires_grad_(True)
        loss = torch.nn.functional.cross_entropy(module(x), target)
        (g,) = torch.autograd.grad(loss, x)
        x = (x.detach() - 0.01 * g).clamp(0, 1)
    module.requires_grad_(True)


def main(argv=None):
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--case", choices=["mlp", "cnn"], default="mlp")
    p.add_argument("--n-points", type=int, default=100)
    p.add_argument("--max-iter", type=int, default=1000)
    p.add_argument("--binary-steps", type=int, default=9)
    args = parse_args(p, argv)
    device = args.device
    torch.manual_seed(0)
    clf, X, y = fit_model(args.case, device)
    correct = clf.predict(X) == y
    X, y = X[correct][: args.n_points], y[correct][: args.n_points]
    module = clf.net_.module_
    print(environment(device))
    print(
        f"CW-L2 on the digits {args.case}: {len(y)} correctly classified points, "
        f"{args.binary_steps} binary search steps x {args.max_iter} iterations, "
        "lr 0.01, c0 1e-3, confidence 0, early abort"
    )
    rows = [("skrobust", *timed(lambda: run_skrobust(clf, X, y, args), device))]
    foolbox, why = _peer("foolbox")
    if foolbox is None:
        rows.append(("foolbox", why, None))
    else:
        run = lambda: run_foolbox(foolbox, module, X, y, args, device)  # noqa: E731
        rows.append((f"foolbox {foolbox.__version__}", *timed(run, device)))
    art, why = _peer("art")
    if art is None:
        rows.append(("ART", why, None))
    else:
        import art as art_pkg

        run = lambda: run_art(art, module, X, y, args, device, clf.predict)  # noqa: E731
        rows.append((f"ART {art_pkg.__version__}", *timed(run, device)))
    _, t_floor = timed(lambda: floor(module, X, y, args, device), device)
    print(
        f"{'library':<16} {'success':>8} {'median L2':>10} {'median (all)':>13} "
        f"{'time s':>8} {'x floor':>8}"
    )
    for name, norms, seconds in rows:
        if seconds is None:
            print(f"{name:<16} skipped: {norms}")
            continue
        found = np.isfinite(norms)
        med = np.median(norms[found]) if found.any() else np.inf
        print(
            f"{name:<16} {found.mean():>8.1%} {med:>10.4f} {np.median(norms):>13.4f} "
            f"{seconds:>8.2f} {seconds / t_floor:>8.2f}"
        )
    print(
        f"floor: {args.binary_steps * args.max_iter} forward+backward passes, "
        f"{t_floor:.2f} s"
    )


if __name__ == "__main__":
    main()
