"""The figures of a report (PNG files) and the table of most-changed rows."""

import numpy as np

from ..metrics import (
    AdversarialExamplesDisplay,
    CertifiedAccuracyDisplay,
    RobustnessCurveDisplay,
)


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def robustness_curve(path, curve, *, model_name, norm, per_feature):
    """Robust accuracy against the budget: one line per attack."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    scales = np.asarray(curve["scales"])
    for name, acc in curve["accuracy"].items():
        RobustnessCurveDisplay.from_curve(
            scales, acc, name=model_name, attack_name=name, norm=norm, ax=ax
        )
    if per_feature:
        ax.set_xlabel("fraction of the per-feature budget")
    ax.set_ylim(-0.02, 1.02)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def certified_accuracy(path, y, y_pred, radii, *, model_name, norm):
    """Certified accuracy against the radius: one line per method."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    for method, radius in radii.items():
        CertifiedAccuracyDisplay.from_predictions(
            y, y_pred, radius, name=f"{model_name} ({method})", norm=norm, ax=ax
        )
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def image_shape(X):
    """The image shape of samples ``X.shape[1:]``, or None for tabular data."""
    shape = np.shape(X)[1:]
    if len(shape) in (2, 3):
        return shape
    side = int(round(np.sqrt(shape[0]))) if len(shape) == 1 else 0
    return None if side * side != shape[0] or side < 8 else (side, side)


def adversarial_examples(path, X, X_adv, y, y_clean, y_adv, *, model_name, shape):
    """A gallery of clean images, perturbations and adversarial images."""
    plt = _pyplot()
    broken = np.flatnonzero((y_clean == y) & (y_adv != y))[:8]
    if not len(broken):
        return False
    X, X_adv = np.asarray(X, dtype=float), np.asarray(X_adv, dtype=float)
    display = AdversarialExamplesDisplay.from_predictions(
        X[broken],
        X_adv[broken],
        y[broken],
        y_clean[broken],
        y_adv[broken],
        n_examples=len(broken),
        image_shape=shape,
        name=model_name,
    )
    display.figure_.savefig(path, dpi=120)
    plt.close(display.figure_)
    return True


def most_changed_rows(
    X, X_adv, y, y_clean, y_adv, *, columns, scale, n_rows=10, n_columns=5
):
    """The broken rows whose features moved most (in budget units).

    Returns a list of dicts: row index, labels, the number of changed
    columns and the ``n_columns`` that moved most, with their clean and
    adversarial values.
    """
    X, X_adv = np.asarray(X, dtype=float), np.asarray(X_adv, dtype=float)
    broken = np.flatnonzero((y_clean == y) & (y_adv != y))
    scale = np.broadcast_to(np.where(np.asarray(scale) > 0, scale, 1.0), X.shape[1:])
    moved = np.abs(X_adv[broken] - X[broken]) / scale
    order = broken[np.argsort(-moved.max(axis=1), kind="stable")][:n_rows]
    rows = []
    for i in order:
        changed = np.flatnonzero(X_adv[i] != X[i])
        size = np.abs(X_adv[i, changed] - X[i, changed]) / scale[changed]
        top = changed[np.argsort(-size, kind="stable")][:n_columns]
        rows.append(
            {
                "row": int(i),
                "label": _plain(y[i]),
                "clean_prediction": _plain(y_clean[i]),
                "adversarial_prediction": _plain(y_adv[i]),
                "n_changed": len(changed),
                "changes": [
                    {
                        "column": str(columns[j]) if columns is not None else int(j),
                        "clean": float(X[i, j]),
                        "adversarial": float(X_adv[i, j]),
                    }
                    for j in top
                ],
            }
        )
    return rows


def _plain(value):
    return value.item() if hasattr(value, "item") else value
