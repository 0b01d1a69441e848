"""The main job: a small network on digits, attacked, defended and certified.

A standard and an adversarially trained network (PGD, Madry et al.) are each
scored clean, under PGD and under AutoAttack, and certified with CROWN
bounds (l-infinity, same budget).

Run ``python -m skrobust --help`` for the options. ``python -m skrobust
report ...`` evaluates a saved model on a data file instead (see
``python -m skrobust report --help``).
"""

import argparse
import sys
import time


def _parse_args(argv):
    parser = argparse.ArgumentParser(
        prog="python -m skrobust",
        description=(
            "Train a small network on scikit-learn's digits (pixels scaled to "
            "[0, 1]), standard and adversarially trained, and print clean "
            "accuracy, PGD and AutoAttack robust accuracy and CROWN-certified "
            "accuracy under an L-infinity budget. To evaluate your own saved "
            "model on your data, run `python -m skrobust report --help`."
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
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["report"]:
        from ._report import main as report

        return report(argv[1:])
    args = _parse_args(argv)

    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    from skorch import NeuralNetClassifier

    import skrobust
    import skrobust.nn
    from skrobust._torch import torch
    from skrobust.attacks import PGD, AutoAttack
    from skrobust.certification import certify
    from skrobust.defenses import AdversarialTrainingClassifier
    from skrobust.metrics import robust_accuracy_score

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
    bounds = (0.0, 1.0)
    models = {
        "standard": skrobust.SkorchClassifier(net, random_state=0),
        "adversarial training": AdversarialTrainingClassifier(
            net, attack=PGD(eps=args.eps, n_iter=7, bounds=bounds), random_state=0
        ),
    }
    pgd = PGD(eps=args.eps, n_iter=args.n_iter, bounds=bounds, random_state=0)
    autoattack = AutoAttack(eps=args.eps, bounds=bounds, random_state=0)
    columns = [
        "clean",
        f"PGD-{args.n_iter}",
        "AutoAttack",
        "certified",
        "fit s",
        "eval s",
    ]
    print(
        f"skrobust {skrobust.__version__}: {module.__name__} on digits "
        f"({len(X_train)} train / {len(X_test)} test, {args.epochs} epochs, "
        f"device {args.device}); l-infinity eps={args.eps:g}, pixels in [0, 1]"
    )
    width = max(len(name) for name in models)
    print(f"{'model':<{width}}  " + "  ".join(f"{c:>10}" for c in columns))
    print(f"{'-' * width}  " + "  ".join("-" * 10 for _ in columns))
    for name, model in models.items():
        start = time.perf_counter()
        model.fit(X_train, y_train)
        fit_time = time.perf_counter() - start
        start = time.perf_counter()
        row = [
            model.score(X_test, y_test),
            robust_accuracy_score(model, X_test, y_test, attack=pgd),
            robust_accuracy_score(model, X_test, y_test, attack=autoattack),
            certify(model, X_test, y_test, eps=args.eps, bounds=bounds).mean(),
        ]
        cells = [f"{v:>10.4f}" for v in row]
        cells += [f"{fit_time:>10.1f}", f"{time.perf_counter() - start:>10.1f}"]
        print(f"{name:<{width}}  " + "  ".join(cells))
    return 0


if __name__ == "__main__":
    sys.exit(main())
