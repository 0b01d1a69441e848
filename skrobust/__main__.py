"""The main job: clean and PGD robust accuracy of a small network on digits.

Run ``python -m skrobust --help`` for the options.
"""

import argparse
import sys
import time


def _parse_args(argv):
    parser = argparse.ArgumentParser(
        prog="python -m skrobust",
        description=(
            "Train a small network on scikit-learn's digits (pixels scaled to "
            "[0, 1]) and print its clean test accuracy and its robust accuracy "
            "under an L-infinity PGD attack."
        ),
    )
    parser.add_argument(
        "--eps", type=float, default=0.1, help="L-infinity budget (default: 0.1)"
    )
    parser.add_argument(
        "--n-iter", type=int, default=20, help="PGD iterations (default: 20)"
    )
    parser.add_argument(
        "--epochs", type=int, default=30, help="training epochs (default: 30)"
    )
    parser.add_argument(
        "--device", default="cpu", help="torch device, e.g. cpu or cuda (default: cpu)"
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="CPU threads for torch (default: 1, fastest for these tiny networks)",
    )
    parser.add_argument(
        "--model",
        choices=["mlp", "cnn"],
        default="mlp",
        help="network: skrobust.nn.MLP or skrobust.nn.SmallCNN (default: mlp)",
    )
    return parser.parse_args(argv)


def main(argv=None):
    args = _parse_args(argv)

    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    from skorch import NeuralNetClassifier

    import skrobust
    import skrobust.nn
    from skrobust._torch import torch
    from skrobust.attacks import PGD

    if args.device.startswith("cuda") and not torch.cuda.is_available():
        sys.exit(f"--device {args.device}: no CUDA device is available here.")
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    X, y = load_digits(return_X_y=True)
    X = (X / 16.0).astype("float32")  # pixels in [0, 1]
    if args.model == "cnn":
        X = X.reshape(-1, 1, 8, 8)
        module = skrobust.nn.SmallCNN
    else:
        module = skrobust.nn.MLP
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.25, stratify=y, random_state=0
    )

    net = NeuralNetClassifier(
        module,
        criterion=torch.nn.CrossEntropyLoss,
        optimizer=torch.optim.Adam,
        lr=1e-3,
        max_epochs=args.epochs,
        batch_size=64,
        train_split=None,
        device=args.device,
        verbose=0,
    )
    clf = skrobust.SkorchClassifier(net, random_state=0)

    start = time.perf_counter()
    clf.fit(X_train, y_train)
    fit_time = time.perf_counter() - start
    clean = clf.score(X_test, y_test)

    attack = PGD(clf, eps=args.eps, n_iter=args.n_iter, bounds=(0, 1), random_state=0)
    start = time.perf_counter()
    X_adv = attack.generate(X_test, y_test)
    attack_time = time.perf_counter() - start
    robust = clf.score(X_adv, y_test)

    name = module.__name__
    rows = [
        ("clean accuracy", f"{clean:.4f}", f"fit {fit_time:.1f} s"),
        (
            f"PGD robust accuracy (linf, eps={args.eps:g}, {args.n_iter} steps)",
            f"{robust:.4f}",
            f"attack {attack_time:.1f} s",
        ),
    ]
    print(
        f"skrobust {skrobust.__version__}: {name} on digits "
        f"({len(X_train)} train / {len(X_test)} test, {args.epochs} epochs, "
        f"device {args.device})"
    )
    width = max(len(r[0]) for r in rows)
    print(f"{'metric':<{width}}  {'value':>6}  time")
    print(f"{'-' * width}  {'-' * 6}  {'-' * 12}")
    for label, value, timing in rows:
        print(f"{label:<{width}}  {value:>6}  {timing}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
