"""Tree ensembles: exact (MILP) robust accuracy next to the fast and black-box attacks.

Not a ratio benchmark to a torch floor (trees have none): for each model on
breast cancer -- RandomForest (100 trees, depth 6), GradientBoosting (100
trees, depth 3), HistGradientBoosting (defaults) -- and each l-inf budget
``--eps`` (in standard deviations of each training feature), on the first
``--n-points`` test samples:

* exact robust accuracy: the fraction MILP-verified
  (:func:`skrobust.certification.mip.verify`, Kantchelian et al.), with the
  unknowns (time limit) that would widen it, and MILP seconds per point;
* the leaf-tuple attack (:class:`skrobust.attacks.LeafTupleAttack`): its
  robust accuracy (1 - broken), the fraction its clique bound certifies, its
  seconds per point (the attack alone, and ``verify``: attack and bound) and
  the MILP / attack time ratio;
* Square (``--square-queries``) and HopSkipJump's robust accuracies.

Sanity checked on the way (an assertion fails otherwise): no attack breaks
a MILP-verified point (every attack's robust accuracy >= the exact one) and
every clique-certified point is MILP-verified.

``--groot``: skrobust's GROOT-style ``RobustRandomForestClassifier`` (100
trees, depth 6, trained at ``--groot-eps`` std) next to a standard forest of
the same size: clean and exact (MILP) robust accuracy at each ``--eps``.

``--peer-python PY`` (an interpreter with ART installed ``--no-deps``) adds
ART's clique verification (``peer_art_clique.py``) on the same fitted models
(pickled; same scikit-learn version), trained on min-max scaled features
(ART only takes inputs in [0, 1]) at l-inf budgets ``--art-eps`` in those
units: MILP-verified, skrobust's and ART's clique-certified fractions and
seconds per point, and the points ART certifies although the MILP falsified
them with a counterexample in the ball that the model's ``predict``
misclassifies (checked here): unsound certificates.

``--groot-peer-python PY`` (an interpreter with ``groot-trees`` and numba
installed ``--no-deps``) fits the peer's ``GrootRandomForestClassifier``
(``--groot-trees`` trees, depth 6, l-inf attack model ``--groot-eps`` on
standardised features: the same budget as ``eps_units="std"``) in that
interpreter (``peer_groot.py``), reads its compiled trees back (checked: the
same predictions as groot's on the test points) and verifies it exactly with
skrobust's MILP, its counterexamples confirmed by groot's own ``predict``;
next to skrobust's forest of the same size: clean and exact robust accuracy,
fit seconds and their ratio.

Run: ``python benchmarks/bench_tree_ensembles.py [--n-points 100] [--eps 0.3 0.6]
[--peer-python /path/to/venv/bin/python]``.
"""

import json
import pathlib
import pickle
import subprocess
import tempfile
import time

import numpy as np
from _harness import parse_args, parser
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.datasets import load_breast_cancer
from sklearn.ensemble import (
    GradientBoostingClassifier,
    HistGradientBoostingClassifier,
    RandomForestClassifier,
)
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import MinMaxScaler, StandardScaler

import skrobust
from skrobust._models import ModelTrees, Tree, read_trees
from skrobust.attacks import HopSkipJump, LeafTupleAttack, SquareAttack
from skrobust.certification.mip import verify
from skrobust.defenses import RobustRandomForestClassifier

MODELS = {
    "RF(100, depth 6)": RandomForestClassifier(
        n_estimators=100, max_depth=6, random_state=0
    ),
    "GB(100, depth 3)": GradientBoostingClassifier(
        n_estimators=100, max_depth=3, random_state=0
    ),
    "HGB(default)": HistGradientBoostingClassifier(random_state=0),
}


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def run_case(model, X_train, X, y, eps, args):
    std = X_train.std(axis=0)
    n = len(X)
    exact, t_milp = timed(
        lambda: verify(model, X, y, eps=eps * std, time_limit=args.time_limit)
    )
    verified = exact.status == "verified"
    unknown = exact.status == "unknown"
    threat = dict(eps=eps, norm="linf", eps_units="std")
    fast = LeafTupleAttack(model, random_state=0, **threat).fit(X_train)
    X_fast, t_fast = timed(lambda: fast.generate(X, y))
    report, t_verify = timed(lambda: fast.verify(X, y))
    assert ((model.predict(X_fast) != y) == (report.status == "broken")).all()
    broken = report.status == "broken"
    certified = report.status == "certified"
    assert not (broken & verified).any(), "leaf-tuple broke a verified point"
    assert not (certified & ~verified & ~unknown).any(), "clique bound unsound"
    row = {
        "exact": verified.mean(),
        "unknown": int(unknown.sum()),
        "milp_s": t_milp / n,
        "fast": 1 - broken.mean(),
        "clique": certified.mean(),
        "fast_s": t_fast / n,
        "verify_s": t_verify / n,
    }
    square = SquareAttack(
        model, n_queries=args.square_queries, random_state=0, **threat
    ).fit(X_train)
    hsj = HopSkipJump(model, max_iter=args.hsj_iter, random_state=0, **threat)
    for name, attack in (("square", square), ("hsj", hsj.fit(X_train))):
        X_adv, seconds = timed(lambda a=attack: a.generate(X, y))
        fooled = model.predict(X_adv) != y
        assert not (fooled & verified).any(), f"{name} broke a verified point"
        row[name], row[f"{name}_s"] = 1 - fooled.mean(), seconds / n
    return row


def art_section(X_train, y_train, X_test, y_test, args):
    scaler = MinMaxScaler().fit(X_train)
    X_train = scaler.transform(X_train)
    X = np.clip(scaler.transform(X_test), 0.0, 1.0)
    models = {name: clone(m).fit(X_train, y_train) for name, m in MODELS.items()}
    with tempfile.TemporaryDirectory() as tmp:
        data, out = pathlib.Path(tmp, "data.pkl"), pathlib.Path(tmp, "out.json")
        with open(data, "wb") as f:
            pickle.dump({"models": models, "X": X, "y": y_test, "eps": args.art_eps}, f)
        here = pathlib.Path(__file__).parent
        cmd = [args.peer_python, str(here / "peer_art_clique.py"), str(data), str(out)]
        subprocess.run(cmd, check=True)
        peer = json.loads(out.read_text())
    print("\nART clique method (peer) on min-max scaled features, l-inf eps in [0, 1]")
    print(
        f"{'model':18s} {'eps':>5s} {'MILP':>6s} {'clique':>6s} {'ART':>6s} "
        f"{'MILP s':>7s} {'LT+bd s':>7s} {'ART s':>7s} {'ART>MILP':>8s}"
    )
    for name, model in models.items():
        for eps in args.art_eps:
            result = peer.get(f"{name}@{eps}", peer.get(name, {}))
            if "error" in result:
                print(f"{name:18s} {eps:5.3f} ART cannot read it: {result['error']}")
                continue
            exact, t_milp = timed(lambda m=model, e=eps: verify(m, X, y_test, eps=e))
            verified = exact.status == "verified"
            # the MILP's counterexamples are real: in the ball, misclassified
            bad = exact.status == "falsified"
            C = exact.counterexample[bad]
            assert (np.abs(C - X[bad]).max(axis=1) <= eps + 1e-12).all()
            assert (model.predict(C) != y_test[bad]).all()
            fast = LeafTupleAttack(model, eps=eps, random_state=0)
            report, t_fast = timed(lambda a=fast: a.verify(X, y_test))
            art = np.array(result["certified"])
            print(
                f"{name:18s} {eps:5.3f} {verified.mean():6.3f} "
                f"{np.mean(report.status == 'certified'):6.3f} {art.mean():6.3f} "
                f"{t_milp / len(X):7.3f} {t_fast / len(X):7.3f} "
                f"{result['seconds']:7.3f} {int((art & ~verified).sum()):8d}"
            )


def groot_section(X_train, y_train, X_test, y_test, args):
    std = X_train.std(axis=0)
    forests = {
        "RF(100, depth 6)": RandomForestClassifier(
            n_estimators=100, max_depth=6, random_state=0
        ),
        f"GROOT RF(eps {args.groot_eps})": RobustRandomForestClassifier(
            100, max_depth=6, eps=args.groot_eps, eps_units="std", random_state=0
        ),
    }
    print("\nGROOT-style robust forest vs a standard forest (exact robust accuracy)")
    for name, forest in forests.items():
        _, seconds = timed(lambda f=forest: f.fit(X_train, y_train))
        row = (
            f"{name:24s} fit {seconds:6.1f} s  clean {forest.score(X_test, y_test):.3f}"
        )
        for eps in args.eps:
            status = verify(forest, X_test, y_test, eps=eps * std).status
            row += f"  exact@{eps}: {np.mean(status == 'verified'):.3f}"
        print(row)


class GrootForest(ClassifierMixin, BaseEstimator):
    """A fitted groot-trees forest read back from its compiled trees.

    Predicts as ``GrootRandomForestClassifier.predict`` does: float32
    thresholds compared with float64 inputs (``x <= t`` left), each tree's
    class-1 probability ``(v + 1) / 2`` in float32, averaged, ties to class 0.
    """

    def __init__(self, arrays=None):
        self.arrays = arrays

    def fit(self, X=None, y=None):
        a = self.arrays
        self.classes_, self.n_features_in_ = np.array([0, 1]), int(a["n_features"])
        self.trees_ = []
        for i in range(int(a["n_trees"])):
            p1 = (a[f"{i}_values"] + np.float32(1)) * np.float32(0.5)
            value = np.stack([np.float32(1) - p1, p1], axis=1).astype(np.float64)
            left, right = a[f"{i}_left_ids"], a[f"{i}_right_ids"]
            feature = a[f"{i}_features"]
            threshold = a[f"{i}_thresholds"].astype(np.float64)
            self.trees_.append(Tree(feature, threshold, left, right, value))
        return self

    def predict_proba(self, X):
        X = np.asarray(X, dtype=np.float64)
        total = np.zeros((len(X), 2))
        for t in self.trees_:
            node = np.zeros(len(X), dtype=np.intp)
            while not t.is_leaf[node].all():
                inner = ~t.is_leaf[node]
                go_left = X[np.arange(len(X)), t.feature[node]] <= t.threshold[node]
                nxt = np.where(go_left, t.left[node], t.right[node])
                node = np.where(inner, nxt, node)
            total += t.value[node]
        return total / len(self.trees_)

    def predict(self, X):
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]


@read_trees.register(GrootForest)
def _read_groot_forest(estimator):
    return ModelTrees(
        estimator.trees_,
        np.zeros(2),
        estimator.classes_,
        cast=None,
        n_features=estimator.n_features_in_,
        score="probability",
        weight=1.0 / len(estimator.trees_),
    )


def groot_peer_section(X_train, y_train, X_test, y_test, args):
    scaler = StandardScaler().fit(X_train)
    Z_train, Z = scaler.transform(X_train), scaler.transform(X_test)
    eps, n_trees = args.groot_eps, args.groot_trees
    here = pathlib.Path(__file__).parent
    with tempfile.TemporaryDirectory() as tmp:
        data, out = pathlib.Path(tmp, "data.npz"), pathlib.Path(tmp, "out.npz")
        np.savez(
            data,
            X_train=Z_train,
            y_train=y_train,
            X_test=Z,
            n_trees=n_trees,
            max_depth=6,
            eps=eps,
        )
        cmd = [args.groot_peer_python, str(here / "peer_groot.py"), str(data), str(out)]
        subprocess.run(cmd, check=True)
        peer = dict(np.load(out))
        peer["n_features"] = Z.shape[1]
        groot = GrootForest(peer).fit()
        assert (groot.predict(Z) == peer["predict"]).all(), "export != groot predict"
        exact = verify(groot, Z, y_test, eps=eps)
        # the MILP's counterexamples: in the ball, and groot itself misclassifies
        bad = exact.status == "falsified"
        C = exact.counterexample[bad]
        assert (np.abs(C - Z[bad]).max(axis=1) <= eps + 1e-9).all()
        x_file, p_file = pathlib.Path(tmp, "C.npy"), pathlib.Path(tmp, "p.npy")
        np.save(x_file, C)
        model = str(out) + ".pkl"
        cmd = [args.groot_peer_python, str(here / "peer_groot.py"), "--predict"]
        subprocess.run(cmd + [model, str(x_file), str(p_file)], check=True)
        assert (np.load(p_file) != y_test[bad]).all(), "counterexample not real"
    ours = RobustRandomForestClassifier(
        n_trees, max_depth=6, eps=eps, eps_units="std", random_state=0
    )
    _, seconds = timed(lambda: ours.fit(X_train, y_train))
    ours_exact = verify(ours, X_test, y_test, eps=eps * X_train.std(axis=0))
    print(f"\ngroot-trees (peer) vs skrobust's GROOT forest ({n_trees} trees, depth 6)")
    print(f"l-inf eps {eps} std (groot: standardised features), exact (MILP)")
    for name, clean, status, fit_s in (
        (
            "groot-trees",
            np.mean(peer["predict"] == y_test),
            exact.status,
            float(peer["fit_seconds"]),
        ),
        ("skrobust", ours.score(X_test, y_test), ours_exact.status, seconds),
    ):
        print(
            f"{name:12s} fit {fit_s:6.2f} s  clean {clean:.3f}  "
            f"exact {np.mean(status == 'verified'):.3f}  "
            f"unknown {int(np.sum(status == 'unknown'))}"
        )
    print(f"fit time groot / ours: {float(peer['fit_seconds']) / seconds:.2f}")


def main(argv=None):
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--n-points", type=int, default=100)
    p.add_argument("--eps", type=float, nargs="+", default=[0.3, 0.6])
    p.add_argument("--time-limit", type=float, default=60.0, help="MILP s/point")
    p.add_argument("--square-queries", type=int, default=1000)
    p.add_argument("--hsj-iter", type=int, default=20)
    p.add_argument("--peer-python", default=None, help="a python with ART")
    p.add_argument("--art-eps", type=float, nargs="+", default=[0.02, 0.05])
    p.add_argument("--skip-main", action="store_true", help="not the main table")
    p.add_argument("--groot", action="store_true", help="GROOT forest vs RF")
    p.add_argument("--groot-eps", type=float, default=0.3)
    p.add_argument("--groot-peer-python", default=None, help="a python with groot")
    p.add_argument("--groot-trees", type=int, default=100, help="for the peer")
    args = parse_args(p, argv)
    X, y = load_breast_cancer(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.25, stratify=y, random_state=0
    )
    X_test, y_test = X_test[: args.n_points], y_test[: args.n_points]
    print(f"skrobust {skrobust.__version__}; breast cancer, {len(X_test)} test points")
    header = (
        f"{'model':18s} {'eps':>4s} {'clean':>6s} {'exact':>6s} {'unk':>4s} "
        f"{'MILP s/pt':>9s} {'LT':>6s} {'clique':>6s} {'LT s/pt':>8s} "
        f"{'MILP/LT':>7s} {'LT+bd s':>7s} {'Square':>6s} {'HSJ':>6s}"
    )
    if args.peer_python:
        art_section(X_train, y_train, X_test, y_test, args)
    if args.groot:
        groot_section(X_train, y_train, X_test, y_test, args)
    if args.groot_peer_python:
        groot_peer_section(X_train, y_train, X_test, y_test, args)
    if args.skip_main:
        return
    print(header)
    for name, model in MODELS.items():
        model.fit(X_train, y_train)
        clean = model.score(X_test, y_test)
        for eps in args.eps:
            r = run_case(model, X_train, X_test, y_test, eps, args)
            print(
                f"{name:18s} {eps:4.2f} {clean:6.3f} {r['exact']:6.3f} "
                f"{r['unknown']:4d} {r['milp_s']:9.3f} {r['fast']:6.3f} "
                f"{r['clique']:6.3f} {r['fast_s']:8.3f} "
                f"{r['milp_s'] / r['fast_s']:7.1f} {r['verify_s']:7.3f} "
                f"{r['square']:6.3f} {r['hsj']:6.3f}"
            )


if __name__ == "__main__":
    main()
