"""AdversarialTrainingClassifier runs its attack's checks before training a
skorch network (issue 16, finding 3): the training loop calls the attack's
tensor routine, which checks nothing."""

import numpy as np
import pytest
import torch
from skorch import NeuralNetClassifier

from skrobust.attacks import PGD
from skrobust.defenses import AdversarialTrainingClassifier
from skrobust.nn import MLP


@pytest.mark.parametrize(
    "attack, message",
    [
        (PGD(eps=-0.3), "'eps' parameter of PGD"),
        (PGD(eps=0.1, n_iter=0), "'n_iter' parameter of PGD"),
        (PGD(eps=0.1, norm="l3"), "norm"),
        (PGD(eps=np.full(5, 0.1)), "`eps` has shape"),
        (PGD(eps=0.1, bounds=(0.5, 1.0)), "outside `bounds`"),
        (PGD(eps=0.1, bounds=(1.0, 0.0)), "lower bounds exceed"),
    ],
)
def test_bad_attacks_are_refused_before_training(digits_data, attack, message):
    X, y = digits_data.X_train[:64], digits_data.y_train[:64]
    net = NeuralNetClassifier(
        MLP,
        criterion=torch.nn.CrossEntropyLoss,
        max_epochs=1,
        train_split=None,
        verbose=0,
    )
    clf = AdversarialTrainingClassifier(net, attack=attack)
    with pytest.raises(ValueError, match=message):
        clf.fit(X, y)
    assert not hasattr(clf, "estimator_")
