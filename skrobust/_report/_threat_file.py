"""The threat model of a report, from a small JSON (or YAML) file.

Keys (all optional)::

    eps          number, or {column: budget} (per-feature budgets)
    norm         "linf", "l2" or "l1"
    units        "raw" or "std" (budgets in standard deviations of each column)
    bounds       "data", [low, high], or {column: [low, high]}
    immutable    [column, ...]   columns no attack may change
    integer      [column, ...]   columns that stay integers
    categorical  [[column, ...], ...]  one-hot groups (one category at a time)
    direction    {column: +1 | -1}    columns that may only grow / shrink
    max_changes  int             at most this many discrete columns change

Column names need a table (CSV / Parquet); with array data use indices.
"""

import json
from pathlib import Path

import numpy as np

from ._load import ReportInputError

KEYS = (
    "eps",
    "norm",
    "units",
    "bounds",
    "immutable",
    "integer",
    "categorical",
    "direction",
    "max_changes",
)


def read_threat_model(path):
    """The dict stored in ``path`` (``.json``, or ``.yaml`` / ``.yml``)."""
    path = Path(path)
    if not path.is_file():
        raise ReportInputError(f"--threat-model {path}: no such file.")
    text = path.read_text()
    if path.suffix.lower() in (".yaml", ".yml"):
        try:
            import yaml
        except ImportError:
            raise ReportInputError(
                "a YAML threat model needs PyYAML (pip install pyyaml); or write "
                "it as JSON."
            ) from None
        spec = yaml.safe_load(text)
    else:
        try:
            spec = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ReportInputError(f"{path} is not valid JSON: {exc}") from None
    if not isinstance(spec, dict):
        raise ReportInputError(f"{path} must hold a mapping of {', '.join(KEYS)}.")
    unknown = sorted(set(spec) - set(KEYS))
    if unknown:
        raise ReportInputError(
            f"{path}: unknown keys {unknown}; the threat model knows {list(KEYS)}."
        )
    return spec


def _index(columns, name, what):
    """A column name (tables) or an integer index (arrays) -> an index."""
    if columns is not None and name in columns:
        return columns.index(name)
    if isinstance(name, int) and 0 <= name < (len(columns) if columns else 1 << 62):
        return name
    raise ReportInputError(f"{what}: {name!r} is not a column of the data.")


def _per_feature(mapping, columns, n_features, what, fill):
    if n_features is None:
        raise ReportInputError(f"{what} per column needs tabular (2-D) data.")
    out = np.full(n_features, fill, dtype=float)
    for name, value in mapping.items():
        out[_index(columns, name, what)] = value
    return out


def attack_params(spec, columns, n_features):
    """Attack parameters (the shared threat model) from the file's spec.

    Returns the parameters and the file's ``eps`` (``None`` if absent),
    resolved to a number or a per-feature array.
    """
    spec = dict(spec)
    params = {}
    if "norm" in spec:
        params["norm"] = spec["norm"]
    if "units" in spec:
        params["eps_units"] = spec["units"]
    bounds = spec.get("bounds")
    if isinstance(bounds, dict):
        lows = {k: v[0] for k, v in bounds.items()}
        highs = {k: v[1] for k, v in bounds.items()}
        bounds = (
            _per_feature(lows, columns, n_features, "bounds", -np.inf),
            _per_feature(highs, columns, n_features, "bounds", np.inf),
        )
    elif isinstance(bounds, list):
        bounds = tuple(bounds)
    if bounds is not None:
        params["bounds"] = bounds
    if spec.get("immutable"):
        fixed = {_index(columns, c, "immutable") for c in spec["immutable"]}
        if n_features is None:
            raise ReportInputError("immutable columns need tabular (2-D) data.")
        params["feature_mask"] = np.array([i not in fixed for i in range(n_features)])
    if spec.get("integer"):
        params["integer_features"] = [
            _index(columns, c, "integer") for c in spec["integer"]
        ]
    if spec.get("categorical"):
        params["one_hot_groups"] = [
            [_index(columns, c, "categorical") for c in group]
            for group in spec["categorical"]
        ]
    if spec.get("direction"):
        params["direction"] = _per_feature(
            spec["direction"], columns, n_features, "direction", 0
        )
    if "max_changes" in spec:
        params["max_changes"] = spec["max_changes"]
    eps = spec.get("eps")
    if isinstance(eps, dict):
        eps = _per_feature(eps, columns, n_features, "eps", 0.0)
    return params, eps


def describe(spec, eps, norm):
    """Lines describing the threat model, for the report."""
    lines = [f"norm: {norm}", f"budgets (eps): {', '.join(map(format_eps, eps))}"]
    for key in KEYS[2:]:
        if key in spec:
            lines.append(f"{key}: {spec[key]}")
    return lines


def format_eps(eps):
    if np.ndim(eps) == 0:
        return f"{float(eps):g}"
    eps = np.asarray(eps, dtype=float)
    return f"per feature (max {eps.max():g}, {int((eps > 0).sum())} columns > 0)"
