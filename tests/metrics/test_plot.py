"""Display objects: each renders, holds the metric's numbers, and rejects bad input."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skrobust.attacks import FGSM, PGD
from skrobust.metrics import (
    AdversarialExamplesDisplay,
    CertifiedAccuracyDisplay,
    RobustnessCurveDisplay,
    RobustnessTradeoffDisplay,
    certified_accuracy_score,
    make_robust_scorer,
    robustness_curve,
)
from skrobust.metrics._plot._tradeoff import pareto_front

EPSILONS = [0.0, 0.05, 0.1, 0.2]


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def digits_small(digits_data):
    return (
        digits_data.X_test[:80],
        digits_data.images_test[:80],
        digits_data.y_test[:80],
    )


# -- RobustnessCurveDisplay ---------------------------------------------------


def test_robustness_curve_display_equals_robustness_curve(digits_mlp, digits_small):
    X, _, y = digits_small
    attacks = {
        "FGSM": FGSM(eps=0, bounds=(0, 1)),
        "PGD": PGD(eps=0, n_iter=5, bounds=(0, 1), random_state=0),
    }
    display = RobustnessCurveDisplay.from_estimator(
        digits_mlp, X, y, attack=attacks, epsilons=EPSILONS, name="MLP"
    )
    assert display.ax_ is not None and display.figure_ is display.ax_.figure
    assert len(display.lines_) == 2 and display.line_ is None
    for line, (label, attack) in zip(display.lines_, attacks.items()):
        eps, accuracy = robustness_curve(
            digits_mlp, X, y, attack=attack, epsilons=EPSILONS
        )
        np.testing.assert_allclose(line.get_xdata(), eps)
        np.testing.assert_allclose(line.get_ydata(), accuracy)
        assert line.get_label() == f"MLP, {label}"
    np.testing.assert_allclose(display.epsilons, EPSILONS)
    assert display.ax_.get_xlabel() == "eps (linf)"
    assert display.ax_.get_ylabel() == "robust accuracy"
    low, high = display.ax_.get_ylim()
    assert low <= 0 and high >= 1
    assert [t.get_text() for t in display.ax_.get_legend().get_texts()] == [
        "MLP, FGSM",
        "MLP, PGD",
    ]


def test_robustness_curve_display_one_attack_and_models_on_one_axes(
    digits_mlp, digits_cnn, digits_small
):
    X, images, y = digits_small
    attack = FGSM(eps=0, bounds=(0, 1))
    display = RobustnessCurveDisplay.from_estimator(
        digits_mlp, X, y, attack=attack, epsilons=EPSILONS, name="MLP"
    )
    assert display.line_ is display.lines_[0]
    assert display.line_.get_label() == "MLP, FGSM"
    assert display.attack_name == "FGSM" and display.norm == "linf"
    other = RobustnessCurveDisplay.from_estimator(
        digits_cnn, images, y, attack=attack, epsilons=EPSILONS, ax=display.ax_
    )
    assert other.ax_ is display.ax_ and other.figure_ is display.figure_
    labels = [t.get_text() for t in display.ax_.get_legend().get_texts()]
    assert labels == ["MLP, FGSM", "SkorchClassifier, FGSM"]
    _, accuracy = robustness_curve(
        digits_cnn, images, y, attack=attack, epsilons=EPSILONS
    )
    np.testing.assert_allclose(other.line_.get_ydata(), accuracy)


def test_robustness_curve_display_worst_case(digits_mlp, digits_small):
    X, _, y = digits_small
    attacks = {
        "FGSM": FGSM(eps=0, bounds=(0, 1)),
        "PGD": PGD(eps=0, n_iter=5, random_init=False, bounds=(0, 1)),
    }
    display = RobustnessCurveDisplay.from_estimator(
        digits_mlp, X, y, attack=attacks, epsilons=EPSILONS, worst_case=True
    )
    assert display.attack_name == ["FGSM", "PGD", "worst case"]
    fgsm, pgd, worst = (np.asarray(a) for a in display.robust_accuracy)
    both = list(attacks.values())
    _, expected = robustness_curve(digits_mlp, X, y, attack=both, epsilons=EPSILONS)
    np.testing.assert_allclose(worst, expected)
    assert display.lines_[2].get_linestyle() == "--"
    # deterministic attacks: the pointwise worst case is at most either one
    assert np.all(worst <= np.minimum(fgsm, pgd) + 1e-12)
    assert np.all(np.diff(worst) <= 0)
    assert worst[0] == fgsm[0] == pgd[0]  # eps = 0: clean accuracy


def test_robustness_curve_display_list_is_worst_case(digits_mlp, digits_small):
    # a list of attacks is one curve, their pointwise worst case, as in
    # robustness_curve and make_robust_scorer
    X, _, y = digits_small
    attacks = [FGSM(eps=0), FGSM(eps=0, norm="l2")]
    display = RobustnessCurveDisplay.from_estimator(
        digits_mlp, X, y, attack=attacks, epsilons=EPSILONS
    )
    assert display.line_.get_label() == "SkorchClassifier, FGSM + FGSM"
    _, expected = robustness_curve(digits_mlp, X, y, attack=attacks, epsilons=EPSILONS)
    np.testing.assert_allclose(display.line_.get_ydata(), expected)
    assert display.ax_.get_xlabel() == "eps (linf, l2)"


def test_robustness_curve_display_from_curve_and_plot():
    display = RobustnessCurveDisplay.from_curve(
        [0.2, 0.0, 0.1], [0.1, 0.9, 0.5], attack_name="PGD", norm="l2"
    )
    # drawn in increasing budget order, stored as given
    np.testing.assert_allclose(display.line_.get_xdata(), [0.0, 0.1, 0.2])
    np.testing.assert_allclose(display.line_.get_ydata(), [0.9, 0.5, 0.1])
    assert display.line_.get_label() == "PGD"
    assert display.ax_.get_xlabel() == "eps (l2)"
    fig, ax = plt.subplots()
    again = display.plot(ax=ax, name="net", color="k")
    assert again is display and display.ax_ is ax and display.figure_ is fig
    assert display.line_.get_label() == "net, PGD"
    assert display.line_.get_color() == "k"
    several = RobustnessCurveDisplay(
        epsilons=[0, 1], robust_accuracy=[[1, 0.5], [1, 0.2]], attack_name=["a", "b"]
    ).plot()
    assert len(several.lines_) == 2 and several.ax_.get_xlabel() == "eps"


def test_robustness_curve_display_errors(digits_mlp, digits_small):
    X, _, y = digits_small
    with pytest.raises(ValueError, match="robust_accuracy must have one value"):
        RobustnessCurveDisplay.from_curve([0.0, 0.1], [1.0])
    with pytest.raises(ValueError, match="attack_name has 1 entries for 2 curves"):
        RobustnessCurveDisplay(
            epsilons=[0, 1], robust_accuracy=[[1, 0], [1, 0]], attack_name=["a"]
        ).plot()
    with pytest.raises(ValueError, match="non-negative"):
        RobustnessCurveDisplay.from_curve([-0.1, 0.1], [1.0, 0.5])
    with pytest.raises(TypeError, match="skrobust attack"):
        RobustnessCurveDisplay.from_estimator(
            digits_mlp, X, y, attack="pgd", epsilons=EPSILONS
        )
    with pytest.raises(ValueError, match="empty dict"):
        RobustnessCurveDisplay.from_estimator(
            digits_mlp, X, y, attack={}, epsilons=EPSILONS
        )
    with pytest.raises(ValueError, match="one norm"):
        RobustnessCurveDisplay.from_estimator(
            digits_mlp,
            X,
            y,
            attack={"linf": FGSM(eps=0), "l2": FGSM(eps=0, norm="l2")},
            epsilons=EPSILONS,
            worst_case=True,
        )


# -- CertifiedAccuracyDisplay -------------------------------------------------

Y_TRUE = np.array([0, 1, 1, 0, 2, 2, 1, 0])
Y_PRED = np.array([0, 1, 0, 0, 2, 2, 1, -1])  # last one abstains
RADIUS = np.array([0.5, 0.2, 0.9, 0.0, np.nan, -1.0, 0.2, -1.0])


class Smoothed:
    """``certify(X) -> (y_pred, radius)``, like randomized smoothing."""

    def certify(self, X):
        return Y_PRED[: len(X)], RADIUS[: len(X)]

    def certified_radius(self, X, y=None):
        y_pred, radius = self.certify(X)
        radius = np.where(radius >= 0, radius, np.nan)  # abstained
        return radius if y is None else np.where(y_pred == y, radius, np.nan)


class Bounded:
    """``certify(X, y, *, eps) -> bool``, like interval bound propagation."""

    norm = "linf"

    def certify(self, X, y, *, eps=None):
        radius = np.nan_to_num(RADIUS[: len(X)], nan=-1.0)
        return (Y_PRED[: len(X)] == np.asarray(y)) & (radius >= eps)

    def certified_radius(self, X, y):
        return np.where(Y_PRED[: len(X)] == np.asarray(y), RADIUS[: len(X)], np.nan)


class BoundedNoRadius:
    """``certify`` without the certificate protocol: not a certifier."""

    def certify(self, X, y, *, eps):
        return Bounded().certify(X, y, eps=eps)


X_CERT = np.zeros((len(Y_TRUE), 3))


@pytest.mark.parametrize("radii", [None, [0.0, 0.1, 0.2, 0.3, 0.9, 1.5]])
@pytest.mark.parametrize("estimator", [Smoothed(), Bounded()])
def test_certified_display_equals_certified_accuracy_score(estimator, radii):
    display = CertifiedAccuracyDisplay.from_estimator(
        estimator, X_CERT, Y_TRUE, radii=radii
    )
    assert display.ax_ is not None and display.figure_ is display.ax_.figure
    assert len(display.radii) == len(display.certified_accuracy) >= 2
    for radius, value in zip(display.radii, display.certified_accuracy):
        expected = certified_accuracy_score(
            estimator, X_CERT, Y_TRUE, radius=float(radius)
        )
        assert value == pytest.approx(expected)
    assert np.all(np.diff(display.certified_accuracy) <= 0)
    assert display.certified_accuracy[-1] == 0.0  # past the largest radius
    np.testing.assert_allclose(display.line_.get_xdata(), display.radii)
    assert display.line_.get_drawstyle() == "steps-pre"
    assert display.line_.get_label() == type(estimator).__name__
    assert display.ax_.get_ylabel() == "certified accuracy"


def test_certified_display_exact_steps_and_abstentions():
    display = CertifiedAccuracyDisplay.from_predictions(
        Y_TRUE, Y_PRED, RADIUS, norm="l2"
    )
    # counted: correct and radius >= 0 -> radii 0.5, 0.2, 0.0, 0.2 (of 8 points);
    # NaN, negative (abstention) and wrong predictions never count
    np.testing.assert_allclose(display.radii, [0.0, 0.2, 0.5, 0.525])
    np.testing.assert_allclose(display.certified_accuracy, [4 / 8, 3 / 8, 1 / 8, 0])
    assert display.ax_.get_xlabel() == "radius (l2)"
    assert display.name is None and display.ax_.get_legend() is None
    none = CertifiedAccuracyDisplay.from_predictions([0, 1], [1, 1], [np.nan, -1.0])
    np.testing.assert_allclose(none.certified_accuracy, [0.0])


def test_certified_display_bounded_grid_and_given_ax():
    fig, ax = plt.subplots()
    display = CertifiedAccuracyDisplay.from_estimator(
        Bounded(), X_CERT, Y_TRUE, name="IBP", ax=ax
    )
    assert display.ax_ is ax and display.figure_ is fig
    # one call of certified_radius gives the exact steps (no grid of certify
    # calls): every certified radius, then where the curve reaches 0
    np.testing.assert_allclose(display.radii, [0.0, 0.2, 0.5, 0.525])
    np.testing.assert_allclose(display.certified_accuracy, [4 / 8, 3 / 8, 1 / 8, 0])
    assert display.ax_.get_xlabel() == "radius (linf)"
    assert display.line_.get_label() == "IBP"


def test_certified_display_of_a_model_without_certify():
    from sklearn.datasets import load_iris

    from skrobust.certification import certified_radius

    X, y = load_iris(return_X_y=True)
    clf = make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y)
    display = CertifiedAccuracyDisplay.from_estimator(clf, X, y, norm="l2")
    radius = certified_radius(clf, X, y, norm="l2")
    reference = CertifiedAccuracyDisplay.from_predictions(
        y, clf.predict(X), radius, norm="l2"
    )
    np.testing.assert_array_equal(display.radii, reference.radii)
    np.testing.assert_array_equal(
        display.certified_accuracy, reference.certified_accuracy
    )
    # at radius 0 every correct point counts; then the curve falls to 0
    assert display.certified_accuracy[0] == clf.score(X, y)
    assert np.all(np.diff(display.certified_accuracy) <= 0)
    assert display.certified_accuracy[-1] == 0
    assert display.ax_.get_xlabel() == "radius (l2)"


def test_certified_display_errors():
    from sklearn.ensemble import RandomForestClassifier

    from skrobust import NotDifferentiableError

    forest = RandomForestClassifier(n_estimators=2).fit(
        X_CERT + Y_TRUE[:, None], Y_TRUE
    )
    # not a certifier, and no view for bound propagation to certify
    with pytest.raises(NotDifferentiableError):
        CertifiedAccuracyDisplay.from_estimator(forest, X_CERT, Y_TRUE)
    # certify without the protocol: told what a certifier needs
    with pytest.raises(TypeError, match="no `certified_radius` method"):
        CertifiedAccuracyDisplay.from_estimator(BoundedNoRadius(), X_CERT, Y_TRUE)
    with pytest.raises(ValueError, match="radii must be"):
        CertifiedAccuracyDisplay.from_estimator(Smoothed(), X_CERT, Y_TRUE, radii=[-1])
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        CertifiedAccuracyDisplay.from_predictions([0, 1], [0, 1], [0.1])


# -- RobustnessTradeoffDisplay ------------------------------------------------


@pytest.fixture(scope="module")
def search(cancer_data):
    model = make_pipeline(StandardScaler(), LogisticRegression())
    robust = make_robust_scorer(FGSM(eps=0.3, eps_units="std"))
    return GridSearchCV(
        model,
        {"logisticregression__C": [0.001, 0.01, 0.1, 1.0, 10.0]},
        scoring={"clean": "accuracy", "robust": robust},
        refit="robust",
        cv=3,
    ).fit(cancer_data.X_train, cancer_data.y_train)


def test_tradeoff_display_from_grid_search(search):
    results = search.cv_results_
    display = RobustnessTradeoffDisplay.from_cv_results(results)
    np.testing.assert_allclose(display.clean_score, results["mean_test_clean"])
    np.testing.assert_allclose(display.robust_score, results["mean_test_robust"])
    np.testing.assert_allclose(display.robust_std, results["std_test_robust"])
    offsets = display.scatter_.get_offsets()
    np.testing.assert_allclose(offsets[:, 0], results["mean_test_clean"])
    np.testing.assert_allclose(offsets[:, 1], results["mean_test_robust"])
    assert display.labels == ["0.001", "0.01", "0.1", "1", "10"]
    assert [a.get_text() for a in display.annotations_] == display.labels
    assert display.errorbar_ is not None
    front = display.pareto_front_
    assert front.any()
    np.testing.assert_allclose(
        np.sort(display.pareto_line_.get_xdata()),
        np.sort(display.clean_score[front]),
    )
    # the most robust candidate (the most accurate among ties) is on the front
    best = np.lexsort((display.clean_score, display.robust_score))[-1]
    assert front[best]
    assert display.ax_.get_xlabel() == "clean score (mean test)"
    assert display.ax_.get_ylabel() == "robust score (mean test)"


def test_tradeoff_display_options(search):
    results = pd.DataFrame(search.cv_results_)
    fig, ax = plt.subplots()
    display = RobustnessTradeoffDisplay.from_cv_results(
        results, param="logisticregression__C", ax=ax, std_display_style=None
    )
    assert display.ax_ is ax and display.figure_ is fig
    assert display.errorbar_ is None
    assert display.labels[0] == "0.001"
    both = RobustnessTradeoffDisplay.from_cv_results(
        {
            "mean_test_accuracy": [0.9, 0.8],
            "mean_test_pgd": [0.2, 0.4],
            "params": [{"a__C": 1, "b__eps": 0.1}, {"a__C": 2, "b__eps": 0.2}],
        },
        clean="accuracy",
        robust="pgd",
    )
    assert both.labels == ["C=1, eps=0.1", "C=2, eps=0.2"]
    assert both.errorbar_ is None  # no std_test_* in these results
    assert both.ax_.get_xlabel() == "accuracy score (mean test)"


def test_pareto_front():
    clean = np.array([0.9, 0.8, 0.85, 0.7, 0.9, np.nan])
    robust = np.array([0.1, 0.5, 0.3, 0.4, 0.05, 0.9])
    np.testing.assert_array_equal(
        pareto_front(clean, robust), [True, True, True, False, False, False]
    )


def test_tradeoff_display_errors(search):
    results = search.cv_results_
    with pytest.raises(ValueError, match=r"no 'mean_test_pgd'.*\['clean', 'robust'\]"):
        RobustnessTradeoffDisplay.from_cv_results(results, robust="pgd")
    with pytest.raises(ValueError, match="no 'mean_test_clean'"):
        RobustnessTradeoffDisplay.from_cv_results(
            {"mean_test_score": [0.5], "params": [{}]}
        )
    with pytest.raises(ValueError, match="param \\['eps'\\] not found"):
        RobustnessTradeoffDisplay.from_cv_results(results, param="eps")
    with pytest.raises(ValueError, match="std_display_style"):
        RobustnessTradeoffDisplay.from_cv_results(results, std_display_style="fill")


# -- AdversarialExamplesDisplay -----------------------------------------------


def _titles(axes):
    return [ax.get_title() for ax in axes]


def test_gallery_flat_digits(digits_mlp, digits_small):
    X, _, y = digits_small
    attack = PGD(eps=0.2, n_iter=5, bounds=(0, 1), random_state=0)
    display = AdversarialExamplesDisplay.from_estimator(
        digits_mlp, X, y, attack=attack, n_examples=5, image_shape=(8, 8)
    )
    assert display.axes_.shape == (3, 5)
    assert display.figure_ is display.axes_[0, 0].figure
    assert display.X.shape == (5, 64) and display.X_adv.shape == (5, 64)
    np.testing.assert_array_equal(display.y_true, y[:5])
    np.testing.assert_array_equal(display.y_pred_clean, digits_mlp.predict(X[:5]))
    np.testing.assert_array_equal(display.y_pred_adv, digits_mlp.predict(display.X_adv))
    for j in range(5):
        assert display.axes_[0, j].get_title() == (
            f"pred {display.y_pred_clean[j]}\ntrue {y[j]}"
        )
        assert display.axes_[2, j].get_title() == f"pred {display.y_pred_adv[j]}"
        assert display.images_[0, j].get_array().shape == (8, 8)
        low, high = display.images_[1, j].get_clim()
        assert low == -high > -0.2 - 1e-6  # symmetric, at most eps
    delta = display.X_adv - display.X
    assert np.abs(delta).max() == pytest.approx(display.images_[1, 0].get_clim()[1])
    assert "PGD" in display.figure_.get_suptitle()


def test_gallery_images_cnn(digits_cnn, digits_small):
    _, images, y = digits_small
    attack = FGSM(eps=0.1, bounds=(0, 1))
    display = AdversarialExamplesDisplay.from_estimator(
        digits_cnn, images, y, attack=attack, n_examples=3, cmap="gray_r", name="CNN"
    )
    assert display.axes_.shape == (3, 3)
    assert display.images_[0, 0].get_array().shape == (8, 8)
    assert display.images_[0, 0].get_cmap().name == "gray_r"
    assert display.figure_.get_suptitle() == "CNN"
    np.testing.assert_array_equal(display.y_pred_adv, digits_cnn.predict(display.X_adv))


@pytest.mark.parametrize(
    "shape, image_shape, shown",
    [
        ((4, 6, 5), None, (6, 5)),
        ((4, 1, 6, 5), None, (6, 5)),
        ((4, 6, 5, 3), None, (6, 5, 3)),
        ((4, 3, 6, 5), None, (6, 5, 3)),
        ((4, 90), (6, 5, 3), (6, 5, 3)),
        ((4, 36), None, (6, 6)),
    ],
)
def test_gallery_from_predictions_shapes(shape, image_shape, shown):
    rng = np.random.default_rng(0)
    X = rng.uniform(size=shape)
    X_adv = np.clip(X + rng.uniform(-0.1, 0.1, size=shape), 0, 1)
    y = np.arange(4)
    display = AdversarialExamplesDisplay.from_predictions(
        X, X_adv, y, y, y[::-1], n_examples=3, image_shape=image_shape
    )
    assert display.axes_.shape == (3, 3)
    assert display.images_[2, 1].get_array().shape == shown
    assert _titles(display.axes_[2]) == ["pred 3", "pred 2", "pred 1"]
    assert display.axes_[2, 0].title.get_color() == "C3"  # wrong: in red


def test_gallery_given_axes():
    X = np.zeros((2, 4, 4))
    fig, axes = plt.subplots(3, 2)
    display = AdversarialExamplesDisplay.from_predictions(
        X, X + 0.1, [0, 1], [0, 1], [1, 0], ax=axes
    )
    assert display.axes_[1, 1] is axes[1, 1] and display.figure_ is fig
    fig, (left, right) = plt.subplots(1, 2)
    display = AdversarialExamplesDisplay.from_predictions(
        X, X + 0.1, [0, 1], [0, 1], [1, 0], ax=right
    )
    assert display.figure_ is fig and display.axes_.shape == (3, 2)
    assert right not in fig.axes and left in fig.axes


def test_gallery_errors(digits_mlp, digits_small):
    X, _, y = digits_small
    X_flat = np.zeros((3, 64))
    labels = [0, 1, 2]
    with pytest.raises(ValueError, match=r"image_shape=\(7, 7\) does not match"):
        AdversarialExamplesDisplay.from_predictions(
            X_flat, X_flat, labels, labels, labels, image_shape=(7, 7)
        )
    with pytest.raises(ValueError, match="not a square number"):
        AdversarialExamplesDisplay.from_predictions(
            np.zeros((3, 10)), np.zeros((3, 10)), labels, labels, labels
        )
    with pytest.raises(ValueError, match="X_adv must have the shape of X"):
        AdversarialExamplesDisplay.from_predictions(
            X_flat, np.zeros((3, 16)), labels, labels, labels
        )
    with pytest.raises(ValueError, match="cannot show samples of shape"):
        AdversarialExamplesDisplay.from_predictions(
            np.zeros((3, 2, 5, 5)), np.zeros((3, 2, 5, 5)), labels, labels, labels
        )
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        AdversarialExamplesDisplay.from_predictions(
            X_flat, X_flat, labels[:2], labels, labels
        )
    with pytest.raises(ValueError, match=r"array of shape \(3, 3\)"):
        _, axes = plt.subplots(2, 3)
        AdversarialExamplesDisplay.from_predictions(
            X_flat, X_flat, labels, labels, labels, ax=axes
        )
    with pytest.raises(ValueError, match="n_examples must be a positive int"):
        AdversarialExamplesDisplay.from_estimator(
            digits_mlp, X, y, attack=FGSM(eps=0.1), n_examples=0
        )
    with pytest.raises(ValueError, match="does not match"):
        AdversarialExamplesDisplay.from_estimator(
            digits_mlp, X, y, attack=FGSM(eps=0.1), n_examples=2, image_shape=(4, 4)
        )
