"""Reading the user's model and data files."""

import sys
from pathlib import Path

import numpy as np

# Types a .skops file may hold without --trust: scikit-learn, skorch, torch
# modules / optimizers / data loaders, skrobust, and the few builtins skorch
# nets keep (their print sink, partials of skorch functions).
TRUSTED_PREFIXES = (
    "sklearn.",
    "skrobust.",
    "skorch.",
    "torch.nn.",
    "torch.optim.",
    "torch.utils.data.",
    "numpy.",
    "scipy.",
)
TRUSTED_NAMES = ("builtins.print", "functools.partial", "collections.OrderedDict")

_TABLES = (".csv", ".parquet", ".pq")
_ARRAYS = (".npy", ".npz")


class ReportInputError(ValueError):
    """A model, data or threat-model file the report cannot use."""


def _missing(package, what):
    return ReportInputError(
        f"{what} needs the {package!r} package: pip install {package} "
        "(or pip install 'skrobust[report]')."
    )


def trusted_types(untrusted, extra=()):
    """Split skops' untrusted types into accepted and refused ones."""
    accepted, refused = [], []
    for name in untrusted:
        ok = name in extra or name in TRUSTED_NAMES or name.startswith(TRUSTED_PREFIXES)
        (accepted if ok else refused).append(name)
    return accepted, refused


def load_model(path, *, trust=(), warn=print):
    """The fitted estimator stored in ``path``.

    ``.skops`` files are loaded with :func:`skops.io.load` and an explicit
    list of trusted types (the prefixes above plus ``trust``); any other type
    is refused with its name. ``.joblib`` / ``.pkl`` / ``.pickle`` files are
    unpickled after a warning: unpickling runs code from the file.
    """
    path = Path(path)
    if not path.is_file():
        raise ReportInputError(f"--model {path}: no such file.")
    suffix = path.suffix.lower()
    if suffix == ".skops":
        try:
            import skops.io as sio
        except ImportError:
            raise _missing("skops", "a .skops model") from None
        accepted, refused = trusted_types(
            sio.get_untrusted_types(file=path), extra=tuple(trust)
        )
        if refused:
            raise ReportInputError(
                f"--model {path} holds types outside the trusted list: "
                f"{', '.join(refused)}. If you trust them, add --trust NAME for "
                "each."
            )
        return sio.load(path, trusted=accepted)
    if suffix in (".joblib", ".pkl", ".pickle"):
        warn(
            f"WARNING: loading {path.name} unpickles it, which executes code "
            "stored in the file: load only files you trust. Save models with "
            "skops (skops.io.dump) to avoid this."
        )
        import joblib

        return joblib.load(path)
    raise ReportInputError(
        f"--model {path}: unknown file type {suffix!r}; use .skops (preferred), "
        ".joblib or .pkl."
    )


def _read_table(path):
    try:
        import pandas as pd
    except ImportError:
        raise _missing("pandas", "reading CSV or Parquet data") from None
    if path.suffix.lower() == ".csv":
        return pd.read_csv(path)
    try:
        return pd.read_parquet(path)
    except ImportError:
        raise _missing("pyarrow", "reading Parquet data") from None


def _read_array(path, key=None):
    if path.suffix.lower() == ".npy":
        return np.load(path, allow_pickle=False)
    with np.load(path, allow_pickle=False) as archive:
        names = list(archive.files)
        if key is None:
            if len(names) != 1 and "X" not in names:
                raise ReportInputError(
                    f"{path} holds arrays {names}: name the features 'X' (and "
                    "the labels 'y')."
                )
            key = "X" if "X" in names else names[0]
        elif key not in names:
            raise ReportInputError(f"{path} has no array {key!r}; it has {names}.")
        return archive[key]


def _read(path):
    suffix = path.suffix.lower()
    if suffix in _TABLES:
        return _read_table(path)
    if suffix in _ARRAYS:
        return _read_array(path)
    raise ReportInputError(
        f"{path}: unknown data file type {suffix!r}; use .csv, .parquet, .npy or .npz."
    )


def load_data(path, target):
    """Features and labels from ``path`` and ``target``.

    ``target`` is a column of a table, a second file (one column, or a
    ``.npy`` vector), or, for an ``.npz`` archive holding ``X`` and ``y``,
    may be omitted (or ``"y"``).
    """
    path = Path(path)
    if not path.is_file():
        raise ReportInputError(f"--data {path}: no such file.")
    data = _read(path)
    target_path = Path(target) if target is not None else None
    if target_path is not None and target_path.is_file():
        y = _read(target_path)
        if hasattr(y, "columns"):
            if y.shape[1] != 1:
                raise ReportInputError(
                    f"--target {target_path} has {y.shape[1]} columns; give it "
                    "one column of labels."
                )
            y = y.iloc[:, 0]
        return data, np.asarray(y).ravel()
    if hasattr(data, "columns"):
        if target is None or target not in data.columns:
            raise ReportInputError(
                f"--target {target!r} is not a column of {path.name} (columns: "
                f"{', '.join(map(str, data.columns))}) nor a file."
            )
        return data.drop(columns=[target]), data[target].to_numpy()
    if path.suffix.lower() == ".npz" and target in (None, "y"):
        return data, np.asarray(_read_array(path, "y")).ravel()
    raise ReportInputError(
        f"--target {target!r}: give the labels as a file (.npy, .csv) for array "
        "data, or store them as 'y' in the .npz archive."
    )


def announce(message):
    """Print a status line on stderr (stdout stays for the summary)."""
    print(message, file=sys.stderr)
