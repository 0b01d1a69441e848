"""Cost of an adversarial training epoch as a ratio to clean training epochs.

One epoch of skorch training on the digits (1797 samples, ``--batch-size``
64, Adam), timed in the same run, on the same device, net and data:

* ``PGD-k`` (``loss="madry"``, ``k = --n-iter`` steps, linf eps 0.1, bounds
  [0, 1]) against its floor, ``k + 1`` clean epochs of the same skorch net
  (each step of the attack costs at most one forward and backward pass, the
  training step one more). Goal: <= 1.15. The peer column is a hand-written
  torch loop of the same Madry epoch (no skorch), for context;
* ``fast`` (FGSM from a random start, one step) against 2 clean epochs: goal
  <= 2.3 x a clean epoch, i.e. a ratio <= 1.15 here. With the catastrophic-
  overfitting guard (its PGD check on a training batch after the epoch) and
  without it;
* for context, no goal: ``trades`` (k KL steps, then the clean and the
  adversarial forward passes) against ``k + 1`` clean epochs, and
  ``input_gradient`` (double backpropagation) against 2 clean epochs;
* a clean skorch epoch against a clean epoch of a plain torch loop: skorch's
  own per-batch overhead, which the ratios above inherit.

Models: ``skrobust.nn.MLP`` (one hidden layer of 100) on the flat digits and
``skrobust.nn.SmallCNN`` on the (N, 1, 8, 8) images.

Run: ``python benchmarks/bench_adversarial_training.py [--device cuda]
[--case mlp] [--n-iter 7] [--repeat 7]``.
"""

import copy

import numpy as np
import torch
from _harness import compare, environment, parse_args, parser, print_table
from sklearn.datasets import load_digits
from skorch import NeuralNetClassifier

import skrobust
from skrobust.attacks import PGD
from skrobust.defenses import AdversarialTrainingClassifier
from skrobust.nn import MLP, SmallCNN

F = torch.nn.functional


def make_net(module, args, **module_kwargs):
    return NeuralNetClassifier(
        module,
        criterion=torch.nn.CrossEntropyLoss,
        optimizer=torch.optim.Adam,
        lr=0.01,
        max_epochs=1,
        batch_size=args.batch_size,
        train_split=None,
        device=args.device,
        verbose=0,
        **{f"module__{k}": v for k, v in module_kwargs.items()},
    )


def torch_epoch(module, optimizer, X, y, batch_size, attack=None):
    """One epoch of a plain torch loop (shuffled batches), optionally Madry's."""
    for index in torch.randperm(len(X), device=X.device).split(batch_size):
        xb, yb = X[index], y[index]
        if attack is not None:
            module.eval().requires_grad_(False)
            xb = attack(module, xb, yb)
            module.train().requires_grad_(True)
        optimizer.zero_grad()
        F.cross_entropy(module(xb), yb).backward()
        optimizer.step()


def torch_pgd(eps, n_iter):
    alpha = 2.5 * eps / n_iter

    def attack(model, x0, labels):
        x = (x0 + torch.empty_like(x0).uniform_(-eps, eps)).clamp_(0.0, 1.0)
        low, high = (x0 - eps).clamp_(min=0.0), (x0 + eps).clamp_(max=1.0)
        for _ in range(n_iter):
            x.requires_grad_(True)
            loss = F.cross_entropy(model(x), labels, reduction="sum")
            (grad,) = torch.autograd.grad(loss, x)
            x = x.detach() + alpha * grad.sign()
            x = torch.minimum(torch.maximum(x, low), high)
        return x

    return attack


def bench_model(name, module, X, y, args, kw, **module_kwargs):
    k = args.n_iter
    net = make_net(module, args, **module_kwargs)
    attack = PGD(eps=args.eps, n_iter=k, bounds=(0.0, 1.0))

    def fitted(loss=None, guard=True):
        if loss is None:
            clf = skrobust.SkorchClassifier(net, random_state=0)
        else:
            clf = AdversarialTrainingClassifier(
                net, attack=attack, loss=loss, overfitting_guard=guard, random_state=0
            )
        clf.fit(X, y)
        return clf.estimator_.net_ if loss else clf.net_

    clean, madry = fitted(), fitted("madry")
    fast, fast_unguarded = fitted("fast"), fitted("fast", guard=False)
    trades, input_gradient = fitted("trades"), fitted("input_gradient")
    y_index = y.astype(np.int64)  # digits labels are the class indices

    def epoch(skorch_net):
        return lambda: skorch_net.partial_fit(X, y_index, epochs=1)

    def epochs(fn, n):
        def run():
            for _ in range(n):
                fn()

        return run

    # the plain torch loops train their own copy of the clean net's module
    raw = copy.deepcopy(clean.module_)
    optimizer = torch.optim.Adam(raw.parameters(), lr=0.01)
    Xt = torch.as_tensor(X, device=args.device)
    yt = torch.as_tensor(y_index, device=args.device)

    def raw_clean():
        torch_epoch(raw, optimizer, Xt, yt, args.batch_size)

    pgd = torch_pgd(args.eps, k)

    def raw_madry():
        torch_epoch(raw, optimizer, Xt, yt, args.batch_size, attack=pgd)

    size = f"{X.shape[0]}x{'x'.join(map(str, X.shape[1:]))}"
    title = f"{name} {size}, batch {args.batch_size}"
    device = args.device
    return [
        compare(
            f"{title}: PGD-{k} epoch / ({k}+1) clean epochs",
            epoch(madry),
            epochs(epoch(clean), k + 1),
            device=device,
            peer="torch loop",
            peer_fn=raw_madry,
            **kw,
        ),
        compare(
            f"{title}: fast epoch, guard / 2 clean epochs",
            epoch(fast),
            epochs(epoch(clean), 2),
            device=device,
            **kw,
        ),
        compare(
            f"{title}: fast epoch, no guard / 2 clean epochs",
            epoch(fast_unguarded),
            epochs(epoch(clean), 2),
            device=device,
            **kw,
        ),
        compare(
            f"{title}: TRADES-{k} epoch / ({k}+1) clean epochs",
            epoch(trades),
            epochs(epoch(clean), k + 1),
            device=device,
            **kw,
        ),
        compare(
            f"{title}: input-gradient epoch / 2 clean epochs",
            epoch(input_gradient),
            epochs(epoch(clean), 2),
            device=device,
            **kw,
        ),
        compare(
            f"{title}: clean skorch epoch / torch loop epoch",
            epoch(clean),
            raw_clean,
            device=device,
            **kw,
        ),
    ]


def digits():
    X, y = load_digits(return_X_y=True)
    return (X / 16.0).astype(np.float32), y


def mlp_case(args, kw):
    X, y = digits()
    return bench_model("MLP digits", MLP, X, y, args, kw, hidden_layer_sizes=(100,))


def cnn_case(args, kw):
    X, y = digits()
    return bench_model("SmallCNN digits", SmallCNN, X.reshape(-1, 1, 8, 8), y, args, kw)


CASES = {"mlp": mlp_case, "cnn": cnn_case}


def main():
    p = parser(__doc__.splitlines()[0])
    p.set_defaults(repeat=7, warmup=1)
    p.add_argument("--eps", type=float, default=0.1, help="l-infinity budget")
    p.add_argument("--n-iter", type=int, default=7, help="PGD steps (k)")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument(
        "--case", choices=sorted(CASES), action="append", help="default: all"
    )
    args = parse_args(p)
    torch.manual_seed(0)
    kw = {"repeat": args.repeat, "warmup": args.warmup}
    results = []
    for case in args.case or list(CASES):
        results += CASES[case](args, kw)
    print_table(
        results,
        title=(
            f"adversarial training epochs, linf eps {args.eps}; "
            f"{environment(args.device)}; median of {args.repeat}. Goals: PGD-k "
            "<= 1.15 x (k+1) clean epochs; fast <= 2.3 x a clean epoch (1.15 here)"
        ),
    )


if __name__ == "__main__":
    main()
