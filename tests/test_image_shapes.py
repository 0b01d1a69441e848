"""The bad-input matrix's image-shape cells (issue 16): a network fitted on
(1, 8, 8) images refuses flat samples, a smaller image and extra channels in
every attack, the certificates and the robust scorer, naming both shapes and
the reshape to do, with the input untouched."""

import numpy as np
import pytest

from skrobust import attacks as A
from skrobust.certification import certified_radius, certify
from skrobust.metrics import robust_accuracy_score

ENTRY_POINTS = {
    "FGSM": lambda m, X, y: A.FGSM(m, eps=0.1).generate(X, y),
    "PGD": lambda m, X, y: A.PGD(m, eps=0.1, n_iter=2).generate(X, y),
    "APGD": lambda m, X, y: A.APGD(m, eps=0.1, n_iter=2).generate(X, y),
    "FAB": lambda m, X, y: A.FAB(m, eps=0.1, n_iter=2).generate(X, y),
    "CarliniWagnerL2": lambda m, X, y: A.CarliniWagnerL2(
        m, max_iter=2, bounds=(0, 1)
    ).generate(X, y),
    "SquareAttack": lambda m, X, y: A.SquareAttack(m, eps=0.1, n_queries=5).generate(
        X, y
    ),
    "HopSkipJump": lambda m, X, y: A.HopSkipJump(m, max_iter=1).generate(X, y),
    "AutoAttack": lambda m, X, y: A.AutoAttack(
        m, eps=0.1, n_iter=2, n_queries=5
    ).generate(X, y),
    "certify": lambda m, X, y: certify(m, X, y, eps=0.01),
    "certified_radius": lambda m, X, y: certified_radius(m, X, y),
    "robust_accuracy_score": lambda m, X, y: robust_accuracy_score(
        m, X, y, attack=A.PGD(eps=0.1, n_iter=2)
    ),
}
SHAPES = {
    "flat": lambda X: X.reshape(len(X), -1),
    "7x7": lambda X: X[:, :, :7, :7].copy(),
    "3 channels": lambda X: np.repeat(X, 3, axis=1),
}


@pytest.mark.parametrize("shape", sorted(SHAPES))
@pytest.mark.parametrize("entry", sorted(ENTRY_POINTS))
def test_wrong_image_shape_is_refused(digits_cnn, digits_data, entry, shape):
    X = SHAPES[shape](digits_data.images_test[:4])
    y = digits_data.y_test[:4]
    before = X.copy()
    wrong = rf"X has samples of shape \({', '.join(map(str, X.shape[1:]))},?\)"
    with pytest.raises(ValueError, match=wrong + r".*expects \(1, 8, 8\): reshape X"):
        ENTRY_POINTS[entry](digits_cnn, X, y)
    np.testing.assert_array_equal(X, before)
