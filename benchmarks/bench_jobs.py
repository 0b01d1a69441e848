"""Square attack on a 100-tree random forest: 1 job against 2 jobs.

Robust accuracy of a ``RandomForestClassifier(n_estimators=100)`` on breast
cancer under ``SquareAttack`` (l-infinity, budget in standard deviations),
scored by ``robust_accuracy_score(..., n_jobs=n, chunk_size=...)``: the rows
are cut into the same two chunks in both runs (so the two numbers are equal),
attacked in one process (``n_jobs=1``) or in two joblib workers
(``n_jobs=2``).

The floor is the query cost on one core: the forest's own ``predict_proba``
on all the points, once per query of the attack (``n_queries`` calls), which
any score-based attack must pay. ``x floor`` > 1 is skrobust's overhead (and
the points that stop early make it < 1); the speed-up of 2 jobs is the ratio
of the two times. On a machine shared with other work, the speed-up is
bounded by the cores actually free.

Run: ``python benchmarks/bench_jobs.py [--n-queries 200] [--repeat 3]``
"""

from _harness import Result, environment, measure, parse_args, parser, print_table
from sklearn.datasets import load_breast_cancer
from sklearn.ensemble import RandomForestClassifier

from skrobust.attacks import SquareAttack
from skrobust.metrics import robust_accuracy_score


def main():
    p = parser(__doc__.splitlines()[0])
    p.set_defaults(repeat=3, warmup=1)
    p.add_argument("--n-queries", type=int, default=200, help="Square queries")
    p.add_argument("--eps", type=float, default=0.3, help="budget (std units)")
    args = parse_args(p)
    X, y = load_breast_cancer(return_X_y=True)
    forest = RandomForestClassifier(n_estimators=100, random_state=0).fit(X, y)
    square = SquareAttack(
        eps=args.eps, eps_units="std", n_queries=args.n_queries, random_state=0
    ).fit(X)
    chunk = -(-len(y) // 2)

    def score(n_jobs):
        return robust_accuracy_score(
            forest, X, y, attack=square, n_jobs=n_jobs, chunk_size=chunk
        )

    def floor():
        for _ in range(args.n_queries):
            forest.predict_proba(X)

    one, two = score(1), score(2)
    assert one == two, (one, two)
    t1, t2, t_floor = measure(
        lambda: score(1), lambda: score(2), floor, warmup=args.warmup,
        repeat=args.repeat,
    )  # fmt: skip
    title = (
        f"Square (linf, eps {args.eps} std, {args.n_queries} queries) on a "
        f"100-tree forest, {len(y)} points, clean {forest.score(X, y):.3f}, "
        f"robust {one:.3f}"
    )
    print_table(
        [Result("1 job", t1, t_floor), Result("2 jobs", t2, t_floor)],
        title=f"{title}; {environment('cpu')}; median of {args.repeat}",
    )
    print(f"\nspeed-up of 2 jobs over 1 job: {t1 / t2:.2f}x")


if __name__ == "__main__":
    main()
