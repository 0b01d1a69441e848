"""``python -m skrobust report``: how robust is *my* model on *my* data?"""

import argparse
import shlex
import sys
import time
from pathlib import Path

import numpy as np

from ._attacks import (
    ATTACKS,
    check_norm,
    default_attacks,
    final_estimator,
    is_differentiable,
    parse_attack_params,
)
from ._evaluate import (
    CERTIFY_METHODS,
    certified_results,
    robust_results,
    sanity_warnings,
)
from ._load import ReportInputError, announce, load_data, load_model
from ._threat_file import attack_params, describe, format_eps, read_threat_model


def _parser():
    p = argparse.ArgumentParser(
        prog="python -m skrobust report",
        description=(
            "Evaluate a saved model on a data file: clean, robust (per attack and "
            "budget, and their pointwise worst case) and certified accuracy, "
            "sanity checks, figures. Writes report.md, report.html, results.json "
            "and PNG figures to --out."
        ),
    )
    p.add_argument("--model", required=True, help=".skops (preferred), .joblib, .pkl")
    p.add_argument("--data", required=True, help=".csv, .parquet, .npy or .npz")
    p.add_argument(
        "--target",
        help="label column of --data, or a file of labels ('y' of an .npz: omit)",
    )
    p.add_argument("--eps", type=float, nargs="+", help="budget(s), e.g. 0.05 0.1")
    p.add_argument("--norm", choices=["linf", "l2", "l1"], help="default: linf")
    p.add_argument(
        "--threat-model",
        help="JSON (or YAML) file: per-feature eps, units, bounds, immutable, "
        "integer and categorical columns, direction",
    )
    p.add_argument(
        "--attacks",
        nargs="+",
        choices=list(ATTACKS),
        help="default: AutoAttack for differentiable models, the exact attack "
        "for a decision tree, Square + HopSkipJump otherwise",
    )
    p.add_argument(
        "--attack-param",
        action="append",
        metavar="[ATTACK.]NAME=VALUE",
        help="attack option, e.g. n_queries=500 or pgd.n_iter=40 (repeatable)",
    )
    p.add_argument(
        "--certify",
        nargs="+",
        default=["auto"],
        choices=["auto", "none", *CERTIFY_METHODS],
        help="certificates (default auto: the model's own certified_radius, "
        "else CROWN for differentiable models, else none)",
    )
    p.add_argument("--out", default="skrobust-report", help="output folder")
    p.add_argument("--device", help="torch device for skorch nets, e.g. cuda")
    p.add_argument("--n-jobs", type=int, help="joblib workers for the attacks")
    p.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    p.add_argument("--max-samples", type=int, help="evaluate a random subset")
    p.add_argument(
        "--curve-points",
        type=int,
        default=4,
        help="extra budgets on the robustness curve (default: 4)",
    )
    p.add_argument(
        "--sanity-samples",
        type=int,
        default=200,
        help="points for the gradient-masking checks (0: skip; default: 200)",
    )
    p.add_argument("--trust", action="append", default=[], help="trust a skops type")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    return p


def _budgets(args, file_eps):
    """Table budgets as (scale, eps) pairs, and the per-feature base budget.

    With per-feature budgets from the threat-model file, ``--eps`` values
    scale them (default 1); otherwise they are the budgets.
    """
    base = None
    if file_eps is not None and np.ndim(file_eps) > 0:
        base = np.asarray(file_eps, dtype=float)
        scales = args.eps or [1.0]
    else:
        scales = args.eps or ([] if file_eps is None else [float(file_eps)])
    if not scales:
        raise ReportInputError("give a budget: --eps E (or eps in --threat-model).")
    if any(s < 0 for s in scales):
        raise ReportInputError(f"--eps must be non-negative; got {scales}.")
    return [(s, s if base is None else s * base) for s in scales], base


def _curve_budgets(budgets, base, n_points):
    """The table's budgets and ``n_points`` more, evenly up to the largest."""
    scales = {s for s, _ in budgets}
    top = max(scales)
    scales |= {top * k / n_points for k in range(1, n_points + 1)}
    return [(s, s if base is None else s * base) for s in sorted(scales)]


def _set_device(model, device):
    """Move every skorch net inside ``model`` to ``device``."""
    seen, stack = set(), [model]
    while stack:
        obj = stack.pop()
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        if hasattr(obj, "module_") and hasattr(obj, "device"):
            obj.device = device
            obj.module_.to(device)
        for name in ("steps", "net_", "estimator_", "estimator", "estimators_"):
            value = getattr(obj, name, None)
            if name == "steps" and value:
                stack += [step for _, step in value]
            elif isinstance(value, list):
                stack += value
            elif value is not None:
                stack.append(value)


def _subset(X, y, n, seed):
    if n is None or n >= len(y):
        return X, y
    index = np.sort(np.random.default_rng(seed).permutation(len(y))[:n])
    return (X.iloc[index] if hasattr(X, "iloc") else X[index]), y[index]


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    args = _parser().parse_args(argv)
    try:
        return _run(args, argv)
    except ReportInputError as exc:
        print(f"python -m skrobust report: error: {exc}", file=sys.stderr)
        return 2


def _run(args, argv):
    from .. import __version__
    from . import _figures, _write

    start = time.perf_counter()
    opts = {
        "quiet": args.quiet,
        "n_jobs": args.n_jobs,
        "sanity_samples": max(0, args.sanity_samples),
    }
    announce(f"loading {args.model}")
    model = load_model(args.model, trust=args.trust, warn=announce)
    if args.device:
        _set_device(model, args.device)
    X, y = load_data(args.data, args.target)
    X, y = _subset(X, y, args.max_samples, args.seed)
    columns = list(map(str, X.columns)) if hasattr(X, "columns") else None
    n_features = np.shape(X)[1] if np.ndim(X) == 2 else None
    spec = read_threat_model(args.threat_model) if args.threat_model else {}
    threat, file_eps = attack_params(spec, columns, n_features)
    norm = args.norm or threat.pop("norm", "linf")
    threat.pop("norm", None)
    budgets, base = _budgets(args, file_eps)
    per_feature = base is not None
    curve = _curve_budgets(budgets, base, max(0, args.curve_points))
    names = args.attacks or default_attacks(model, norm)
    check_norm(names, norm)
    extra = parse_attack_params(args.attack_param)
    model_name = type(final_estimator(model)).__name__

    y_clean = np.asarray(model.predict(X))
    clean = float(np.mean(y_clean == y))
    announce(f"clean accuracy {clean:.4f}; attacks: {', '.join(names)}")
    # the attacks and the sanity checks of their results see the same setting
    setting = {
        "budgets": curve,
        "norm": norm,
        "threat": threat,
        "seed": args.seed,
        "opts": opts,
    }
    robust, adversarial, params, seconds = robust_results(
        model, X, y, names=names, extra=extra, **setting
    )
    worst = np.logical_and.reduce([robust[n] for n in names])
    table = [next(i for i, c in enumerate(curve) if c[0] == s) for s, _ in budgets]
    robust_acc = {n: robust[n].mean(axis=1)[table] for n in names}
    if len(names) > 1:
        robust_acc["worst case"] = worst.mean(axis=1)[table]

    methods = _certify_methods(args.certify, model)
    bounds = _certify_bounds(threat.get("bounds"), X)
    certified, radii, cert_notes = (
        certified_results(
            model,
            X,
            y,
            methods=methods,
            budgets=_raw(budgets, threat, X),
            norm=norm,
            bounds=bounds,
            opts=opts,
        )
        if methods
        else ({}, {}, [])
    )
    notes = (
        sanity_warnings(model, X, y, robust=robust, clean=clean, **setting) + cert_notes
    )

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    figures = ["robustness_curve.png"]
    curve_acc = {n: robust[n].mean(axis=1) for n in names}
    if len(names) > 1:
        curve_acc["worst case"] = worst.mean(axis=1)
    scales = [0.0] + [s for s, _ in curve]
    curve_acc = {n: np.concatenate([[clean], a]) for n, a in curve_acc.items()}
    _figures.robustness_curve(
        out / figures[0],
        {"scales": scales, "accuracy": curve_acc},
        model_name=model_name,
        norm=norm,
        per_feature=per_feature,
    )
    if radii:
        figures.append("certified_accuracy.png")
        _figures.certified_accuracy(
            out / figures[-1], y, y_clean, radii, model_name=model_name, norm=norm
        )
    y_adv, X_adv = adversarial[table[-1]]
    # flat arrays of a square number of pixels are images; tables never are
    shape = _figures.image_shape(X) if X_adv is not None and not columns else None
    changed = []
    if shape is not None and _figures.adversarial_examples(
        out / "adversarial_examples.png",
        X,
        X_adv,
        y,
        y_clean,
        y_adv,
        model_name=model_name,
        shape=shape,
    ):
        figures.append("adversarial_examples.png")
    elif X_adv is not None and n_features is not None:
        changed = _figures.most_changed_rows(
            X, X_adv, y, y_clean, y_adv, columns=columns,
            scale=_raw(budgets, threat, X)[-1][1],
        )  # fmt: skip

    results = {
        "skrobust_version": __version__,
        "command": "python -m skrobust report " + shlex.join(argv),
        "model": {
            "path": str(args.model),
            "type": model_name,
            "differentiable": is_differentiable(model),
        },
        "data": {
            "path": str(args.data),
            "n_samples": len(y),
            "n_features": int(np.prod(np.shape(X)[1:])),
            "target": args.target,
        },
        "seed": args.seed,
        "norm": norm,
        "threat_model": describe(spec, [e for _, e in budgets], norm),
        "budgets": [{"scale": s, "eps": e, "label": format_eps(e)} for s, e in budgets],
        "clean_accuracy": clean,
        "attacks": {
            n: {"class": ATTACKS[n].__name__, "params": params[n]} for n in names
        },
        "robust_accuracy": robust_acc,
        "curve": {"scales": scales, "robust_accuracy": curve_acc},
        "certified_accuracy": certified,
        "warnings": notes,
        "most_changed_rows": changed,
        "figures": figures,
        "seconds": {**seconds, "total": time.perf_counter() - start},
    }
    _write.write_json(out / "results.json", results)
    _write.write_markdown(out / "report.md", results)
    _write.write_html(out / "report.html", results)
    print(f"clean accuracy: {clean:.4f}")
    for name, acc in robust_acc.items():
        cells = ", ".join(f"{a:.4f}" for a in acc)
        print(f"robust accuracy ({name}): {cells}")
    for method, acc in certified.items():
        print(f"certified accuracy ({method}): {', '.join(f'{a:.4f}' for a in acc)}")
    for note in notes:
        print(f"warning: {note}")
    print(f"report written to {out}/ (report.html, report.md, results.json)")
    return 0


def _certify_methods(requested, model):
    if "none" in requested:
        return []
    if requested == ["auto"]:
        if hasattr(model, "certified_radius"):
            return ["model"]
        return ["crown"] if is_differentiable(model) else []
    return [m for m in requested if m != "auto"]


def _certify_bounds(bounds, X):
    """The threat model's bounds as certification takes them."""
    if isinstance(bounds, str):  # "data": the per-feature range of X
        flat = np.asarray(X, dtype=float)
        return flat.min(axis=0), flat.max(axis=0)
    return bounds


def _raw(budgets, threat, X):
    """Budgets in raw units (certificates know no ``eps_units="std"``)."""
    if threat.get("eps_units") != "std":
        return budgets
    std = np.asarray(X, dtype=float).std(axis=0)
    return [(s, np.asarray(e) * std) for s, e in budgets]
