"""``n_jobs`` of the black-box attacks: batches in parallel, same examples.

Each batch draws from its own seed when ``n_jobs`` is an int, so the
examples do not depend on how many workers attack the batches. The
threading backend keeps the tests light; process backends pickle one
batch's work (tested separately).
"""

import pickle

import joblib
import numpy as np
import pytest
import torch
from sklearn.datasets import load_breast_cancer
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression

from skrobust import as_differentiable
from skrobust.attacks import HopSkipJump, SquareAttack
from skrobust.attacks._batch_run import JOB_BATCH, BatchRun, batch_seeds
from skrobust.attacks._model import CastView


@pytest.fixture(scope="module")
def forest():
    X, y = load_breast_cancer(return_X_y=True)
    X, y = X[:96], y[:96]
    rf = RandomForestClassifier(n_estimators=10, random_state=0).fit(X, y)
    return rf, X, y


ATTACKS = {
    "square": lambda rf, **kw: SquareAttack(
        rf, eps=0.3, eps_units="std", n_queries=30, random_state=0, **kw
    ),
    "hopskipjump": lambda rf, **kw: HopSkipJump(
        rf, max_iter=1, init_eval=5, max_eval=20, random_state=0, **kw
    ),
}


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_examples_do_not_depend_on_n_jobs(forest, name):
    rf, X, y = forest
    make = ATTACKS[name]
    one = make(rf, n_jobs=1, batch_size=32).fit(X).generate(X, y)
    with joblib.parallel_backend("threading"):
        two = make(rf, n_jobs=2, batch_size=32).fit(X).generate(X, y)
        three = make(rf, n_jobs=3, batch_size=32).fit(X).generate(X, y)
    np.testing.assert_array_equal(one, two)
    np.testing.assert_array_equal(one, three)
    assert rf.score(one, y) < rf.score(X, y)  # a real attack ran
    # a single batch: the same random stream as without n_jobs
    single = make(rf, batch_size=96).fit(X).generate(X, y)
    np.testing.assert_array_equal(
        single, make(rf, n_jobs=1, batch_size=96).fit(X).generate(X, y)
    )


def test_batches_draw_distinct_seeds():
    seeds = batch_seeds(7, 5)
    assert seeds[0] == 7 and len(set(seeds)) == 5
    assert seeds == batch_seeds(7, 5)  # reproducible


def test_auto_batches_are_capped_with_n_jobs(forest, monkeypatch):
    rf, X, y = forest
    X = np.tile(X, (6, 1))  # 576 rows: one auto batch, three with n_jobs
    sizes = []
    call = BatchRun.__call__

    def spy(self, start, stop, generator):
        if isinstance(generator, torch.Generator):  # not the seed's re-entry
            sizes.append(stop - start)
        return call(self, start, stop, generator)

    monkeypatch.setattr(BatchRun, "__call__", spy)
    attack = ATTACKS["square"](rf).fit(X)
    attack.generate(X)
    assert sizes == [len(X)]
    sizes.clear()
    attack.set_params(n_jobs=1).generate(X)
    assert max(sizes) == JOB_BATCH and sum(sizes) == len(X)


def test_batch_work_pickles_for_process_workers(forest):
    rf, X, y = forest
    X = X[:, :4] / X[:, :4].max(axis=0)
    view = as_differentiable(LogisticRegression().fit(X, y))
    cast = pickle.loads(pickle.dumps(CastView(view, torch.float64)))
    x = torch.as_tensor(X[:3])
    torch.testing.assert_close(cast(x), view(x.to(view.dtype)))
