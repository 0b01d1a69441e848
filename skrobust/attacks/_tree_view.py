"""Query access to a tree model through its raw-unit leaf boxes.

The tree attacks see a fitted tree model as a
:class:`~skrobust._models.TreeEnsemble`: its scores are computed from the
leaves' contributions (exactly the model's, its tie rule included), and
each point of a batch gets its :class:`~skrobust._models.Region` from the
attack's threat model.
"""

import numpy as np
from sklearn.pipeline import Pipeline

from .._models import (
    NotPerFeatureError,
    Region,
    TreeEnsemble,
    is_tree_model,
    pipeline_steps,
    unwrap_estimator,
)
from .._torch import torch
from ._blackbox import BlackBoxModel

_NAMES = (
    "DecisionTreeClassifier, ExtraTreeClassifier, RandomForestClassifier, "
    "ExtraTreesClassifier, GradientBoostingClassifier, "
    "HistGradientBoostingClassifier or skrobust's robust trees"
)


class TreeView(BlackBoxModel):
    """A tree model's scores and leaf boxes, in the space the attack acts in.

    Raw input features when every step before the trees acts on one column
    at a time (scalers, quantile / power transforms, encoders); otherwise the
    output of the last such prefix (``preprocess`` maps raw inputs there).
    """

    def __init__(self, estimator, attack_name):
        final = pipeline_steps(estimator)[-1][1]
        if not is_tree_model(estimator):
            raise TypeError(
                f"{attack_name} needs a fitted tree model ({_NAMES}), alone or at "
                f"the end of a pipeline; got {type(final).__name__}."
            )
        try:
            self.ensemble = TreeEnsemble(estimator)
            super().__init__(unwrap_estimator(estimator), response="predict")
        except NotPerFeatureError:
            steps = pipeline_steps(estimator)
            self.ensemble = TreeEnsemble(final)
            super().__init__(final, response="predict")
            self.preprocess = Pipeline(steps[:-1]).transform
            self.space = f"output of pipeline step {steps[-2][0]!r}"
        self.input_shape = (self.ensemble.n_features,)

    def _logits(self, X):
        """Scores whose argmax is the model's prediction (ties resolved)."""
        e = self.ensemble
        scores = e.scores(e.encode(np.asarray(X, dtype=np.float64)))
        pred = e.decide(scores)
        tie = pred != scores.argmax(axis=1)
        if tie.any():
            scores[tie, pred[tie]] = scores[tie].max(axis=1) + 1.0
        return scores

    def __call__(self, x):
        self.n_queries += len(x)
        out = self._logits(x.detach().cpu().numpy().reshape(len(x), -1))
        return torch.as_tensor(out, dtype=self.dtype, device=x.device)

    def logits(self, X, *, in_space=False, batch_size=None):
        """Scores of ``X`` (in the attack's space)."""
        return self._logits(np.asarray(X, dtype=np.float64))

    def regions(self, x0, constraints, norm):
        """``(Z0, regions)``: the batch ``x0`` encoded, and each point's region.

        The unit of measure is ``constraints.weights``; categorical features
        keep their category (switch them with
        :func:`skrobust.certification.mip.verify` and ``feature_mask``).
        """
        e = self.ensemble
        n = len(x0)
        Z0 = e.encode(x0.detach().cpu().double().numpy().reshape(n, -1))
        low, high = (
            b.detach().cpu().double().numpy() for b in constraints.input_box(x0)
        )
        low, high = low.reshape(n, -1), high.reshape(n, -1)
        w = np.asarray(constraints.weights, dtype=np.float64).ravel()
        w = np.where(e.is_categorical, 0.0, w)
        return Z0, [Region(z, lo, hi, w, norm) for z, lo, hi in zip(Z0, low, high)]

    def decode(self, Z, like):
        """Encoded points back to the attack's space, as a tensor like ``like``."""
        X = self.ensemble.decode(np.asarray(Z, dtype=np.float64)).astype(np.float64)
        return torch.as_tensor(
            X.reshape(like.shape), dtype=like.dtype, device=like.device
        )
