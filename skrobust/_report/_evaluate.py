"""The numbers of a report: clean, robust and certified accuracy."""

import time
import warnings

import numpy as np

from ..attacks import PGD
from ..certification import certified_radius, certify
from ..metrics import check_robustness_evaluation, robust_predictions
from ._attacks import build_attack, is_differentiable

CERTIFY_METHODS = ("crown", "crown-ibp", "ibp", "lipschitz", "milp", "model")


def _progress(total, desc, quiet):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, disable=quiet, unit="step", leave=False)


def robust_results(model, X, y, *, names, budgets, norm, threat, seed, extra, opts):
    """Per-point robustness of every attack at every budget.

    Each attack runs alone at each budget on every point the model gets
    right (as :func:`skrobust.metrics.robust_accuracy_score` does, with the
    same seed), so each number equals that function's; the worst case is a
    point broken by any of them.

    Returns
    -------
    robust : dict name -> bool array (n_budgets, n_samples)
    adversarial : dict budget index -> (y_pred, X_adv or None) of the
        strongest attack at that budget (for the examples figure)
    params : dict name -> the attack's parameters at the first budget
    """
    robust = {name: np.zeros((len(budgets), len(y)), bool) for name in names}
    adversarial, params, seconds = {}, {}, {}
    bar = _progress(len(names) * len(budgets), "attacks", opts["quiet"])
    with bar:
        for name in names:
            seconds[name] = 0.0
            for i, (_, eps) in enumerate(budgets):
                bar.set_postfix_str(f"{name} eps={_short(eps)}")
                attack = build_attack(
                    name, eps=eps, norm=norm, threat=threat, seed=seed, extra=extra
                )
                params.setdefault(name, attack.get_params(deep=False))
                start = time.perf_counter()
                y_adv, X_adv = robust_predictions(
                    model,
                    X,
                    y,
                    attack=attack,
                    return_inputs=True,
                    n_jobs=opts["n_jobs"],
                )
                seconds[name] += time.perf_counter() - start
                robust[name][i] = y_adv == y
                kept = adversarial.get(i)
                if kept is None or (y_adv == y).sum() < (kept[0] == y).sum():
                    adversarial[i] = (y_adv, X_adv)
                bar.update()
    return robust, adversarial, params, seconds


def certified_results(model, X, y, *, methods, budgets, norm, bounds, opts):
    """Certified accuracy of each method at each budget, and radii."""
    out, radii, notes = {}, {}, []
    bar = _progress(len(methods) * (len(budgets) + 1), "certify", opts["quiet"])
    with bar:
        for method in methods:
            try:
                out[method], radii[method] = _certify_one(
                    model, X, y, method, budgets, norm, bounds, bar
                )
            except Exception as exc:  # a method that does not apply: say why
                notes.append(f"certification {method!r} skipped: {exc}")
                bar.update(len(budgets) + 1 - bar.n % (len(budgets) + 1))
    return out, radii, notes


def _certify_one(model, X, y, method, budgets, norm, bounds, bar):
    if method == "model":  # the estimator's own certificate
        radius = np.asarray(model.certified_radius(X, y), dtype=float)
        radius = np.where(np.isnan(radius), -1.0, radius)
        acc = [float(np.mean(radius >= _scalar(eps))) for _, eps in budgets]
        bar.update(len(budgets) + 1)
        return acc, radius
    acc = []
    for _, eps in budgets:
        ok = certify(model, X, y, eps=eps, norm=norm, bounds=bounds, method=method)
        acc.append(float(np.mean(ok)))
        bar.update()
    top = max(_scalar(eps) for _, eps in budgets) * 2 or 1.0
    radius = certified_radius(
        model, X, y, norm=norm, bounds=bounds, method=method, max_eps=top
    )
    bar.update()
    return acc, np.asarray(radius, dtype=float)


def _scalar(eps):
    return float(np.max(eps)) if np.ndim(eps) else float(eps)


def _short(eps):
    return f"{float(eps):g}" if np.ndim(eps) == 0 else "per-feature"


def sanity_warnings(model, X, y, *, budgets, robust, clean, norm, threat, seed, opts):
    """Warnings about the evaluation itself (Carlini et al.'s checklist).

    Always: robust accuracy must not grow with the budget, and must not
    exceed clean accuracy. For differentiable models, also
    :func:`skrobust.metrics.check_robustness_evaluation` with PGD on up to
    ``opts["sanity_samples"]`` points at the largest budget.
    """
    notes = []
    for name, table in robust.items():
        acc = table.mean(axis=1)
        order = np.argsort([scale for scale, _ in budgets], kind="stable")
        if np.any(np.diff(acc[order]) > 1e-12):
            notes.append(
                f"{name}: robust accuracy grows with the budget "
                f"({', '.join(f'{a:.3f}' for a in acc[order])}): the attack is "
                "too weak or gets stuck; try more iterations or queries."
            )
        if np.any(acc > clean + 1e-12):
            notes.append(f"{name}: robust accuracy above clean accuracy.")
    n = min(len(y), opts["sanity_samples"])
    if n and is_differentiable(model):
        eps = budgets[int(np.argmax([s for s, _ in budgets]))][1]
        pgd = PGD(eps=eps, norm=norm, n_iter=20, random_state=seed, **_pgd(threat))
        index = np.random.default_rng(seed).permutation(len(y))[:n]
        Xs = X.iloc[index] if hasattr(X, "iloc") else np.asarray(X)[index]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                checks = check_robustness_evaluation(
                    model, Xs, np.asarray(y)[index], attack=pgd, warn=False
                )
            except Exception as exc:
                return notes + [f"sanity checks could not run: {exc}"]
        notes += [f"{c.name}: {c.message}" for c in checks.checks if not c.passed]
    return notes


def _pgd(threat):
    return {k: v for k, v in threat.items() if k != "max_changes"}
