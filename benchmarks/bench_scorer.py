"""Robust scorer (early stopping) against attacking every point for all steps.

The robust scorer ``make_robust_scorer(PGD(...))(clf, X, y)`` predicts the
clean inputs once, attacks only the points the model gets right, and stops
moving a point as soon as it is misclassified. The baseline attacks every
point for every step, ``PGD(clf, ..., early_stop=False).generate(X, y)``, then
predicts the adversarial inputs. Both give a robust accuracy; the budget is
chosen so that about half the points fall (robust accuracy near 50 %), where
early stopping saves about half the work at best.

Also timed, in the same run: the raw-torch floor of each path -- a plain
torch loop on the bare module (eval mode, frozen parameters) doing the same
forward and backward passes, with and without dropping fallen points.

Models (skorch networks in ``skrobust.SkorchClassifier``, digits in [0, 1]):

* ``cnn``: ``skrobust.nn.SmallCNN`` on the (N, 1, 8, 8) digit images: the
  forward and backward passes dominate, as for any real model;
* ``mlp``: ``skrobust.nn.MLP`` (one hidden layer of 100) on the flat digits:
  so small that fixed per-step costs (shrinking the batch as points fall)
  weigh as much as the passes saved; even the raw-torch floors gain little.

Run: ``python benchmarks/bench_scorer.py [--case mlp] [--n-iter 20] [--eps E]``
(the device defaults to cuda when available).
"""

import copy

import numpy as np
import torch
from _harness import Result, environment, measure, parse_args, parser, print_table
from sklearn.datasets import load_digits
from skorch import NeuralNetClassifier

import skrobust
from skrobust.attacks import PGD
from skrobust.metrics import make_robust_scorer
from skrobust.nn import MLP, SmallCNN

F = torch.nn.functional


def train(module, X, y, device, **module_kwargs):
    net = NeuralNetClassifier(
        module,
        criterion=torch.nn.CrossEntropyLoss,
        optimizer=torch.optim.Adam,
        lr=0.01,
        max_epochs=5,
        batch_size=128,
        train_split=None,
        device=device,
        verbose=0,
        **{f"module__{k}": v for k, v in module_kwargs.items()},
    )
    return skrobust.SkorchClassifier(net, random_state=0).fit(X, y)


def floor_robust_accuracy(model, X, y, *, eps, alpha, n_iter, device, early_stop):
    """l-infinity PGD robust accuracy in plain torch, numpy in, float out.

    ``early_stop``: attack only the clean-correct points and drop each point
    from the batch once it is misclassified (the scorer's work); otherwise
    attack every point for every step, then predict (the baseline's work).
    """
    x0 = torch.as_tensor(X, device=device)
    labels = torch.as_tensor(y, device=device)
    n = len(x0)
    if early_stop:
        with torch.no_grad():
            keep = model(x0).argmax(dim=1) == labels
        x0, labels = x0[keep], labels[keep]
    x = (x0 + torch.empty_like(x0).uniform_(-eps, eps)).clamp_(0.0, 1.0)
    low, high = (x0 - eps).clamp_(min=0.0), (x0 + eps).clamp_(max=1.0)
    for _ in range(n_iter):
        x.requires_grad_(True)
        logits = model(x)
        (grad,) = torch.autograd.grad(
            F.cross_entropy(logits, labels, reduction="sum"), x
        )
        x = x.detach()
        if early_stop:
            alive = logits.detach().argmax(dim=1) == labels
            x, grad = x[alive], grad[alive]
            low, high, labels = low[alive], high[alive], labels[alive]
            if not len(x):
                break
        x = torch.minimum(torch.maximum(x + alpha * grad.sign(), low), high)
    with torch.no_grad():
        robust = (model(x).argmax(dim=1) == labels).sum()
    return robust.item() / n


def bench_model(name, clf, X, y, args):
    device, eps, n_iter = args.device, args.eps[name], args.n_iter
    alpha = 2.5 * eps / n_iter
    model = copy.deepcopy(clf.net_.module_).eval().requires_grad_(False)
    labels = np.searchsorted(clf.classes_, y)
    params = dict(eps=eps, n_iter=n_iter, bounds=(0.0, 1.0), batch_size=len(X))
    scorer = make_robust_scorer(PGD(**params, random_state=0))
    full_attack = PGD(clf, **params, early_stop=False, random_state=0)
    view = skrobust.as_differentiable(clf)

    def ours():
        return scorer(clf, X, y)

    def every_point():
        return np.mean(view.predict(full_attack.generate(X, y)) == y)

    def floor(early_stop):
        def run():
            return floor_robust_accuracy(
                model,
                X,
                labels,
                eps=eps,
                alpha=alpha,
                n_iter=n_iter,
                device=device,
                early_stop=early_stop,
            )

        return run

    accuracies = {
        "robust scorer": ours(),
        "every point, all steps": every_point(),
        "floor, early stop": floor(True)(),
        "floor, all steps": floor(False)(),
    }
    t_ours, t_all, t_floor_es, t_floor_all = measure(
        ours,
        every_point,
        floor(True),
        floor(False),
        device=device,
        repeat=args.repeat,
        warmup=args.warmup,
    )
    clean = clf.score(X, y)
    title = f"{name} {len(X)} pts, clean {clean:.3f}, PGD-{n_iter} eps {eps}"
    print(
        f"{title}: robust accuracy "
        + ", ".join(f"{k} {v:.3f}" for k, v in accuracies.items())
    )
    results = [
        Result(f"{title}: robust scorer", t_ours, t_floor_es),
        Result(f"{title}: generate all + predict", t_all, t_floor_all),
    ]
    speedups = (t_all / t_ours, t_floor_all / t_floor_es)
    return results, (name, *speedups)


def mlp_case(args):
    X, y = load_digits(return_X_y=True)
    X = (X / 16.0).astype(np.float32)
    clf = train(MLP, X, y, args.device, hidden_layer_sizes=(100,))
    return bench_model("mlp", clf, X, y, args)


def cnn_case(args):
    X, y = load_digits(return_X_y=True)
    X = (X / 16.0).astype(np.float32).reshape(-1, 1, 8, 8)
    clf = train(SmallCNN, X, y, args.device)
    return bench_model("cnn", clf, X, y, args)


CASES = {"cnn": cnn_case, "mlp": mlp_case}
# budgets where PGD-20 robust accuracy is about 50 % on these models
EPS = {"mlp": 0.11, "cnn": 0.12}


def main():
    p = parser(__doc__.splitlines()[0])
    p.set_defaults(
        device="cuda" if torch.cuda.is_available() else "cpu", repeat=7, warmup=1
    )
    p.add_argument("--n-iter", type=int, default=20, help="PGD steps")
    p.add_argument("--eps", type=float, default=None, help="l-infinity budget")
    p.add_argument("--case", choices=sorted(CASES), action="append")
    args = parse_args(p)
    args.eps = {k: args.eps or v for k, v in EPS.items()}
    torch.manual_seed(0)
    results, speedups = [], []
    for case in args.case or list(CASES):
        rows, speedup = CASES[case](args)
        results += rows
        speedups.append(speedup)
    print()
    print_table(
        results,
        title=(
            f"robust accuracy, l-infinity PGD-{args.n_iter}, one batch; "
            f"{environment(args.device)}; median of {args.repeat}"
        ),
    )
    print()
    print("speed-up of early stopping (time of every point, all steps / time of")
    print("the robust scorer; > 1: the scorer is faster)")
    for name, ours, floor in speedups:
        print(f"  {name}: {ours:.2f}x   (raw-torch floors: {floor:.2f}x)")


if __name__ == "__main__":
    main()
