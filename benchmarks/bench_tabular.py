"""Tabular threat models on real data: clean, PGD and Square robust accuracy.

Not only a ratio benchmark. On the two tables of ``../shared/data/tabular``
(``--data-dir``; see its README): ``credit_data.csv`` (target ``Status``) and
``mlc_churn.csv`` (target ``churn``), each model is a
``Pipeline(ColumnTransformer(OneHotEncoder on the string columns, median
imputer + StandardScaler on the numbers), model)`` fed the raw DataFrame, with
``model`` an ``MLPClassifier`` (white-box: PGD and Square) or a
``HistGradientBoostingClassifier`` (no gradient: Square only). The threat
model, for two budgets ``--eps`` in standard deviations of each numeric
column: bounds from the training data, integer columns move by whole steps
(their dtype), immutable columns (credit: Age; churn: state, area_code), two
categorical columns that may switch category (credit: Home, Job; churn: the
two plans), at most ``--max-changes`` discrete changes per row. Robust
accuracies are those of ``robust_accuracy_score`` (early stopping, the
model's own ``predict`` on the returned rows).

Times: seconds per test row of each attack, and as a ratio to the seconds
per row of the pipeline's own ``predict`` on the same rows (the price of one
query).

``--numeric`` also runs the case of issue 12: the credit table's numeric
columns only (missing values filled), ``SimpleImputer + StandardScaler +
MLPClassifier`` on an array, with and without ``integer_features``: PGD
rounding integers only after its loop reported 0.616 where Square found 0.307.

Integer columns whose budget (``eps`` standard deviations) is below one step
cannot move; the attacks' warning about it is silenced here.
"""

import argparse
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from skrobust.attacks import PGD, SquareAttack
from skrobust.metrics import robust_accuracy_score

DATA_DIR = "../shared/data/tabular"  # relative to the repository root
TABLES = {
    "credit": dict(
        file="credit_data.csv",
        target="Status",
        immutable=["Age"],
        switch=["Home", "Job"],
    ),
    "churn": dict(
        file="mlc_churn.csv",
        target="churn",
        immutable=["state", "area_code"],
        switch=["international_plan", "voice_mail_plan"],
    ),
}


def load(table, args):
    spec = TABLES[table]
    df = pd.read_csv(Path(args.data_dir) / spec["file"])
    y = df.pop(spec["target"])
    return train_test_split(df, y, test_size=args.n, random_state=args.seed, stratify=y)


def pipeline(X, kind, seed):
    strings = [c for c in X if X[c].dtype.kind not in "biuf"]
    numbers = [c for c in X if c not in strings]
    ct = ColumnTransformer(
        [
            (
                "categories",
                OneHotEncoder(handle_unknown="ignore", sparse_output=False),
                strings,
            ),
            (
                "numbers",
                make_pipeline(SimpleImputer(strategy="median"), StandardScaler()),
                numbers,
            ),
        ]
    )
    if kind == "mlp":
        model = MLPClassifier((64,), max_iter=300, random_state=seed)
    else:
        model = HistGradientBoostingClassifier(max_iter=100, random_state=seed)
    return make_pipeline(ct, model), strings, numbers


def predict_seconds_per_row(clf, X, repeat=3):
    """The pipeline's own ``predict`` on ``X``, per row (median of repeats)."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        clf.predict(X)
        times.append(time.perf_counter() - start)
    return float(np.median(times)) / len(X)


def timed_score(clf, X, y, attack):
    start = time.perf_counter()
    score = robust_accuracy_score(clf, X, y, attack=attack)
    return score, (time.perf_counter() - start) / len(X)


def run_table(table, args):
    X_train, X_test, y_train, y_test = load(table, args)
    spec = TABLES[table]
    print(f"\n== {table}: {len(X_train)} training rows, {len(X_test)} test rows")
    header = f"{'model':>5} {'eps':>5} {'clean':>6} {'PGD':>6} {'Square':>6}"
    print(header + "   s/row PGD (x predict)   s/row Square (x predict)")
    for kind in ("mlp", "hgb"):
        clf, strings, numbers = pipeline(X_train, kind, args.seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            clf.fit(X_train, y_train)
        clean = clf.score(X_test, y_test)
        per_query = predict_seconds_per_row(clf, X_test)
        mutable = [c for c in numbers if c not in spec["immutable"]]
        for eps in args.eps:
            threat = dict(
                eps={c: eps for c in mutable},
                eps_units="std",
                bounds="data",
                feature_mask=[*mutable, *spec["switch"]],
                max_changes=args.max_changes,
                random_state=args.seed,
            )
            pgd = pgd_time = None
            if kind == "mlp":
                attack = PGD(clf, n_iter=args.n_iter, **threat).fit(X_train)
                pgd, pgd_time = timed_score(clf, X_test, y_test, attack)
            attack = SquareAttack(clf, n_queries=args.n_queries, **threat)
            square, square_time = timed_score(clf, X_test, y_test, attack.fit(X_train))
            pgd_cells = ("   n/a", " " * 23)
            if pgd is not None:
                pgd_cells = (
                    f"{pgd:6.3f}",
                    f"{pgd_time:9.2e} ({pgd_time / per_query:7.0f} x)",
                )
            print(
                f"{kind:>5} {eps:5.2f} {clean:6.3f} {pgd_cells[0]} {square:6.3f}   "
                f"{pgd_cells[1]}   {square_time:9.2e} "
                f"({square_time / per_query:7.0f} x)"
            )


def run_numeric(args):
    """Issue 12's case: numeric columns, integer features on an array."""
    X_train, X_test, y_train, y_test = load("credit", args)
    numbers = [c for c in X_train if X_train[c].dtype.kind in "biuf"]
    fill = X_train[numbers].median()
    X_train = X_train[numbers].fillna(fill)
    X_test = X_test[numbers].fillna(fill)
    integer = [c for c in numbers if X_train[c].dtype.kind in "iu"]
    clf = make_pipeline(
        SimpleImputer(),
        StandardScaler(),
        MLPClassifier((64,), max_iter=300, random_state=args.seed),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf.fit(X_train, y_train)
    clean = clf.score(X_test, y_test)
    print(f"\n== credit, numeric columns (arrays), clean accuracy {clean:.3f}")
    mutable = [c for c in numbers if c != "Age"]
    for eps in args.eps:
        for ints in (integer, None):
            threat = dict(
                eps=eps,
                eps_units="std",
                bounds="data",
                feature_mask=mutable,
                integer_features=ints,
                random_state=args.seed,
            )
            pgd = PGD(clf, n_iter=args.n_iter, **threat).fit(X_train)
            square = SquareAttack(clf, n_queries=args.n_queries, **threat)
            by_pgd = robust_accuracy_score(clf, X_test, y_test, attack=pgd)
            by_square = robust_accuracy_score(
                clf, X_test, y_test, attack=square.fit(X_train)
            )
            label = "integer" if ints else "float"
            print(
                f"eps {eps:4.2f} {label:>8}: PGD-{args.n_iter} {by_pgd:.3f}  "
                f"Square-{args.n_queries} {by_square:.3f}  "
                f"gap {by_pgd - by_square:+.3f}"
            )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=DATA_DIR)
    parser.add_argument("--tables", nargs="+", default=list(TABLES), choices=TABLES)
    parser.add_argument("--n", type=int, default=500, help="test rows per table")
    parser.add_argument("--eps", type=float, nargs="+", default=[0.1, 0.3])
    parser.add_argument("--n-iter", type=int, default=50)
    parser.add_argument("--n-queries", type=int, default=1000)
    parser.add_argument("--max-changes", type=int, default=2)
    parser.add_argument("--numeric", action="store_true")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(1)
    # integer columns whose budget is below one step cannot move (the attacks
    # warn once per run; the threat model is the same for every attack)
    warnings.filterwarnings("ignore", message=".*below one step")
    for table in args.tables:
        run_table(table, args)
    if args.numeric:
        run_numeric(args)


if __name__ == "__main__":
    main()
