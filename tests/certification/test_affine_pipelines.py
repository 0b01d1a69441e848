"""Pipelines of affine steps before a linear model: the Lipschitz radius and
the MILP distance both equal the closed form of the composed linear map."""

import numpy as np
import pytest
from sklearn.datasets import load_wine
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import (
    MaxAbsScaler,
    MinMaxScaler,
    RobustScaler,
    StandardScaler,
)

from skrobust.certification import lipschitz, mip

DUAL = {"l2": 2, "linf": 1, "l1": np.inf}
STEPS = {
    "minmax-pca-standard": lambda: [
        MinMaxScaler(),
        PCA(5, whiten=True),
        StandardScaler(),
    ],
    "robust-maxabs": lambda: [RobustScaler(), MaxAbsScaler()],
    "minmax-clip": lambda: [MinMaxScaler(clip=True)],
}


def _closed_form(model, X, norm):
    """``min_k (z_c - z_k) / ||w_c - w_k||_q`` of the composed linear map."""
    n = X.shape[1]
    origin = model.decision_function(np.zeros((1, n)))[0]
    W = (model.decision_function(np.eye(n)) - origin).T  # (classes, features)
    z = model.decision_function(X)
    c = z.argmax(1)
    gap = z[np.arange(len(X)), c][:, None] - z
    norms = np.linalg.norm(W[c][:, None] - W[None], ord=DUAL[norm], axis=2)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(norms > 0, gap / norms, np.inf)
    ratio[np.arange(len(X)), c] = np.inf
    return ratio.min(1)


@pytest.mark.parametrize("steps", list(STEPS))
def test_affine_pipelines_are_exact(steps):
    X, y = load_wine(return_X_y=True)
    model = make_pipeline(*STEPS[steps](), LogisticRegression(max_iter=5000))
    model.fit(X, y)
    X, y = X[::9], y[::9]
    for norm in ("l2", "linf", "l1"):
        exact = _closed_form(model, X, norm)
        radius = lipschitz.certified_radius(model, X, norm=norm)
        if steps == "minmax-clip":  # the clamp splits the affine run: a bound
            assert np.all(radius <= exact * (1 + 1e-9))
            assert np.all(radius > 0)
        else:
            np.testing.assert_allclose(radius, exact, rtol=1e-9)
    if steps == "minmax-clip":  # a clamp is no affine step: MILP refuses it
        with pytest.raises(TypeError, match="affine layers and ReLU"):
            mip.verify(model, X, y, eps=0.1)
        return
    for norm in ("linf", "l1"):
        exact = _closed_form(model, X, norm)
        cap = float(np.median(exact))  # some samples below it, some above
        distance = mip.minimal_distance(model, X, norm=norm, max_eps=cap)
        np.testing.assert_allclose(distance.radius, np.minimum(exact, cap), rtol=1e-6)
