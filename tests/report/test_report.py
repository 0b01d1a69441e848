"""``python -m skrobust report``: files written, numbers equal to the library's.

The two main tests run the command from models saved with skops, as a user
would (the gradient-boosting one in a fresh interpreter, ``python -m
skrobust``; the network one in-process, sparing a second interpreter's
imports), and recompute every reported number with skrobust's public
functions (same attack, same seed).
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.datasets import load_breast_cancer, load_digits
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeClassifier
from skorch import NeuralNetClassifier
from threadpoolctl import threadpool_limits

from skrobust import SkorchClassifier
from skrobust.attacks import PGD, LeafTupleAttack, SquareAttack
from skrobust.certification import certify
from skrobust.metrics import robust_accuracy_score
from skrobust.nn import MLP

sio = pytest.importorskip("skops.io")
ROOT = Path(__file__).resolve().parents[2]
FILES = ("report.md", "report.html", "results.json", "robustness_curve.png")


def run_report(*args):
    """The command in a fresh interpreter (one thread: small, shared CPUs)."""
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT))
    cmd = [sys.executable, "-m", "skrobust", "report", "--quiet", *map(str, args)]
    done = subprocess.run(
        cmd, capture_output=True, text=True, env=env, cwd=ROOT, timeout=600
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done


@pytest.fixture(scope="module")
def cancer_files(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("cancer")
    data = load_breast_cancer(as_frame=True).frame.iloc[::8].reset_index(drop=True)
    X, y = data.drop(columns="target"), data["target"]
    model = make_pipeline(
        StandardScaler(), HistGradientBoostingClassifier(max_iter=20, random_state=0)
    ).fit(X, y)
    data.to_csv(tmp / "cancer.csv", index=False)
    sio.dump(model, tmp / "hgb.skops")
    (tmp / "threat.json").write_text(
        json.dumps({"immutable": ["mean radius", "worst radius"], "bounds": "data"})
    )
    return tmp, model, X, y.to_numpy()


def test_report_of_a_gradient_boosting_pipeline(cancer_files):
    tmp, model, X, y = cancer_files
    out = tmp / "out"
    done = run_report(
        "--model", tmp / "hgb.skops", "--data", tmp / "cancer.csv",
        "--target", "target", "--eps", 0.1, "--out", out,
        "--threat-model", tmp / "threat.json", "--attacks", "square",
        "--attack-param", "n_queries=30", "--curve-points", 2,
    )  # fmt: skip
    for name in FILES:
        assert (out / name).stat().st_size > 0, name
    results = json.loads((out / "results.json").read_text())
    # clean accuracy is the model's own score on the same data, and robust
    # accuracy is robust_accuracy_score with the same attack and seed
    mask = ~X.columns.isin(["mean radius", "worst radius"])
    square = SquareAttack(
        eps=0.1, n_queries=30, bounds="data", feature_mask=mask, random_state=0
    )
    with threadpool_limits(1):  # as the subprocess (OMP_NUM_THREADS=1)
        expected = robust_accuracy_score(model, X, y, attack=square)
        assert results["clean_accuracy"] == model.score(X, y)
    assert results["robust_accuracy"]["square"] == [expected]
    assert expected < results["clean_accuracy"]  # the attack did something
    # the curve: clean at 0, then eps/2 and eps, never increasing
    assert results["curve"]["scales"] == [0.0, 0.05, 0.1]
    curve = results["curve"]["robust_accuracy"]["square"]
    assert curve[0] == results["clean_accuracy"] and curve[-1] == expected
    assert np.all(np.diff(curve) <= 0)
    # tabular data: the most-changed rows stay in the threat model
    rows = results["most_changed_rows"]
    assert rows
    for row in rows:
        assert row["clean_prediction"] == row["label"] != row["adversarial_prediction"]
        for change in row["changes"]:
            assert change["column"] not in ("mean radius", "worst radius")
            assert abs(change["adversarial"] - change["clean"]) <= 0.1 + 1e-9
    md = (out / "report.md").read_text()
    html = (out / "report.html").read_text()
    for text in (md, html):
        assert f"{expected:.4f}" in text and "immutable" in text
        assert "--threat-model" in text  # the exact command
    assert f"robust accuracy (square): {expected:.4f}" in done.stdout


@pytest.fixture(scope="module")
def digits_net_files(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("digits")
    X, y = load_digits(return_X_y=True)
    X, y = (X[:240] / 16.0).astype(np.float32), y[:240]
    net = NeuralNetClassifier(
        MLP,
        module__hidden_layer_sizes=(32,),
        criterion=torch.nn.CrossEntropyLoss,
        optimizer=torch.optim.Adam,
        lr=1e-2,
        max_epochs=15,
        train_split=None,
        verbose=0,
    )
    model = SkorchClassifier(net, random_state=0).fit(X, y)
    np.savez(tmp / "digits.npz", X=X, y=y)
    sio.dump(model, tmp / "net.skops")
    return tmp, model, X, y


def test_report_of_a_skorch_net(digits_net_files):
    tmp, model, X, y = digits_net_files
    out = tmp / "out"
    from skrobust.__main__ import main

    assert main(list(map(str, [
        "report", "--quiet",
        "--model", tmp / "net.skops", "--data", tmp / "digits.npz",
        "--eps", 0.05, 0.1, "--out", out, "--attacks", "pgd",
        "--attack-param", "n_iter=5", "--curve-points", 0,
        "--sanity-samples", 40,
    ]))) == 0  # fmt: skip
    for name in (*FILES, "certified_accuracy.png", "adversarial_examples.png"):
        assert (out / name).stat().st_size > 0, name
    results = json.loads((out / "results.json").read_text())
    assert results["clean_accuracy"] == model.score(X, y)
    assert results["model"]["differentiable"]
    for i, eps in enumerate((0.05, 0.1)):
        pgd = PGD(eps=eps, n_iter=5, random_state=0)
        expected = robust_accuracy_score(model, X, y, attack=pgd)
        assert results["robust_accuracy"]["pgd"][i] == expected
        # default certificate of a differentiable model: CROWN
        crown = certify(model, X, y, eps=eps).mean()
        assert results["certified_accuracy"]["crown"][i] == crown
        assert crown <= expected
    assert "most_changed_rows" in results and not results["most_changed_rows"]


def test_report_in_process_formats_and_warnings(tmp_path, capsys):
    from skrobust.__main__ import main

    X, y = load_breast_cancer(return_X_y=True)
    X, y = X[::10], y[::10]
    model = make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y)
    import joblib

    joblib.dump(model, tmp_path / "lr.joblib")
    np.save(tmp_path / "X.npy", X)
    pd.DataFrame({"label": y}).to_csv(tmp_path / "y.csv", index=False)
    code = main(
        ["report", "--model", str(tmp_path / "lr.joblib"), "--data",
         str(tmp_path / "X.npy"), "--target", str(tmp_path / "y.csv"),
         "--eps", "0.2", "--out", str(tmp_path / "out"), "--attacks", "fgsm",
         "pgd", "--curve-points", "1", "--sanity-samples", "0", "--quiet"]
    )  # fmt: skip
    captured = capsys.readouterr()
    assert code == 0
    assert "executes code" in captured.err  # pickle warning
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    fgsm, pgd, worst = (
        results["robust_accuracy"][k] for k in ("fgsm", "pgd", "worst case")
    )
    assert worst[0] <= min(fgsm[0], pgd[0])
    assert results["clean_accuracy"] == model.score(X, y)


def test_untrusted_skops_types_are_refused(tmp_path, capsys):
    from skrobust._report import main

    model = _Custom().fit(np.zeros((4, 2)), [0, 1, 0, 1])
    sio.dump(model, tmp_path / "m.skops")
    np.savez(tmp_path / "d.npz", X=np.zeros((4, 2)), y=[0, 1, 0, 1])
    args = ["--model", str(tmp_path / "m.skops"), "--data", str(tmp_path / "d.npz"),
            "--eps", "0.1", "--out", str(tmp_path / "out"), "--quiet"]  # fmt: skip
    assert main(args) == 2
    assert "_Custom" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


class _Custom(DecisionTreeClassifier):
    """A subclass skops does not know: untrusted by default."""


@pytest.mark.parametrize(
    "args, message",
    [
        (["--target", "nope", "--eps", "0.1"], "not a column"),
        (["--target", "target"], "give a budget"),
        (["--target", "target", "--eps", "-1"], "non-negative"),
        (["--target", "target", "--eps", "0.1", "--attacks", "cw"], "--norm l2"),
        (["--target", "target", "--eps", "0.1", "--attack-param", "x"], "NAME=VALUE"),
    ],
)
def test_bad_arguments_say_what_to_do(cancer_files, tmp_path, capsys, args, message):
    from skrobust._report import main

    tmp = cancer_files[0]
    code = main(["--model", str(tmp / "hgb.skops"), "--data", str(tmp / "cancer.csv"),
                 "--out", str(tmp_path), "--quiet", *args])  # fmt: skip
    assert code == 2
    assert message in capsys.readouterr().err


def test_default_attacks_by_model_type():
    from skrobust._report._attacks import default_attacks

    X, y = load_breast_cancer(return_X_y=True)
    X, y = X[:100], y[:100]
    lr = make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y)
    assert default_attacks(lr, "linf") == ["autoattack"]
    assert default_attacks(lr, "l1") == ["apgd"]
    tree = DecisionTreeClassifier(max_depth=3).fit(X, y)
    assert default_attacks(tree, "l2") == ["exact-tree"]
    forest = RandomForestClassifier(n_estimators=3).fit(X, y)
    assert default_attacks(forest, "linf") == ["leaf-tuple"]
    boosting = make_pipeline(
        StandardScaler(), HistGradientBoostingClassifier(max_iter=3)
    ).fit(X, y)
    assert default_attacks(boosting, "l1") == ["leaf-tuple"]
    # a pipeline ending in a model without gradients nor trees: black box
    knn = make_pipeline(StandardScaler(), KNeighborsClassifier()).fit(X, y)
    assert default_attacks(knn, "linf") == ["square", "hopskipjump"]
    assert default_attacks(knn, "l1") == ["square"]


def test_tree_ensemble_default_attack_is_the_leaf_tuple_attack():
    from skrobust._report._attacks import build_attack, default_attacks

    X, y = load_breast_cancer(return_X_y=True)
    X, y = X[:60], y[:60]
    forest = RandomForestClassifier(n_estimators=5, random_state=0).fit(X, y)
    (name,) = default_attacks(forest, "linf")
    attack = build_attack(name, eps=0.5, norm="linf", threat={}, seed=0, extra={})
    assert isinstance(attack, LeafTupleAttack)
    X_adv = attack.set_params(estimator=forest).generate(X, y)
    assert np.abs(X_adv - X).max() <= 0.5 + 1e-9  # inside the ball
    assert forest.score(X_adv, y) < forest.score(X, y)  # examples found
    # (tests/attacks/test_tree_attacks.py: never below the exact attack)


def test_threat_model_file(tmp_path):
    from skrobust._report._threat_file import attack_params, read_threat_model

    spec = {
        "eps": {"b": 0.5, "c": 2.0},
        "units": "std",
        "bounds": {"a": [0, 1]},
        "immutable": ["a"],
        "integer": ["c"],
        "direction": {"b": 1},
    }
    (tmp_path / "t.json").write_text(json.dumps(spec))
    params, eps = attack_params(
        read_threat_model(tmp_path / "t.json"), ["a", "b", "c"], 3
    )
    np.testing.assert_array_equal(eps, [0.0, 0.5, 2.0])
    np.testing.assert_array_equal(params["feature_mask"], [False, True, True])
    np.testing.assert_array_equal(params["bounds"][0], [0, -np.inf, -np.inf])
    np.testing.assert_array_equal(params["bounds"][1], [1, np.inf, np.inf])
    np.testing.assert_array_equal(params["direction"], [0, 1, 0])
    assert params["integer_features"] == [2] and params["eps_units"] == "std"
    pytest.importorskip("yaml")
    (tmp_path / "t.yaml").write_text("eps: 0.3\nimmutable: [0]\n")
    params, eps = attack_params(read_threat_model(tmp_path / "t.yaml"), None, 4)
    assert eps == 0.3
    np.testing.assert_array_equal(params["feature_mask"], [False, True, True, True])
    (tmp_path / "bad.json").write_text(json.dumps({"epsilon": 1}))
    with pytest.raises(ValueError, match="unknown keys"):
        read_threat_model(tmp_path / "bad.json")


def test_no_argument_keeps_the_demo_and_report_has_help(capsys):
    from skrobust.__main__ import _parse_args, main

    assert _parse_args([]).eps == 0.1  # the digits demo's defaults
    with pytest.raises(SystemExit) as exc:
        main(["report", "--help"])
    assert exc.value.code == 0
    assert "--threat-model" in capsys.readouterr().out
