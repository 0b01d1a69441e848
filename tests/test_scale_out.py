"""Scale-out through joblib backends: a dask LocalCluster, and Ray when present.

The cluster runs in this process (``processes=False``, two threads), which
keeps it light on small machines; the scheduling path (scattering,
serialization of the tasks, results gathered from the workers) is dask's.
"""

import numpy as np
import pytest
import sklearn
from joblib import parallel_backend
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, StratifiedKFold

from skrobust.attacks import PGD
from skrobust.defenses import AdversarialTrainingClassifier
from skrobust.metrics import (
    make_robust_scorer,
    robust_accuracy_score,
    robust_predictions,
)

distributed = pytest.importorskip("distributed")

PGD_FIXED = PGD(eps=0.3, n_iter=10, random_init=False)


@pytest.fixture(scope="module")
def dask_client():
    cluster = distributed.LocalCluster(
        n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None
    )
    client = distributed.Client(cluster)
    yield client
    client.close()
    cluster.close()


@pytest.fixture(scope="module")
def binary_iris():
    X, y = load_iris(return_X_y=True)
    keep = y > 0  # versicolor vs virginica: not separable
    return X[keep], np.where(y[keep] == 1, "versicolor", "virginica")


def _same_results(a, b):
    keys = {k for k in a if not k.endswith("_time")}
    assert keys == {k for k in b if not k.endswith("_time")}
    for key in keys:
        if np.asarray(a[key]).dtype.kind in "fc":
            np.testing.assert_array_equal(a[key], b[key], err_msg=key)
        else:
            assert list(a[key]) == list(b[key]), key


def _training_eps_search(n_jobs):
    at = AdversarialTrainingClassifier(
        LogisticRegression(max_iter=500), attack=PGD(eps=0.1), random_state=0
    )
    robust = make_robust_scorer(PGD_FIXED)
    return GridSearchCV(
        at,
        {"attack__eps": [0.05, 0.3]},
        scoring={"clean": "accuracy", "robust": robust},
        refit="robust",
        cv=StratifiedKFold(3, shuffle=True, random_state=0),
        n_jobs=n_jobs,
    )


def test_training_eps_grid_search_on_dask_equals_one_job(dask_client, binary_iris):
    X, y = binary_iris
    local = _training_eps_search(n_jobs=1).fit(X, y)
    with parallel_backend("dask"):
        remote = _training_eps_search(n_jobs=-1).fit(X, y)
    _same_results(local.cv_results_, remote.cv_results_)
    assert remote.best_params_ == local.best_params_
    np.testing.assert_array_equal(remote.predict(X), local.predict(X))
    # the search is not trivial: the training budget changes the scores
    robust = local.cv_results_["mean_test_robust"]
    assert robust[0] != robust[1]


def test_weighted_search_on_dask_equals_one_job(dask_client, binary_iris):
    X, y = binary_iris
    w = np.random.default_rng(0).uniform(0.2, 2.0, len(y))

    def search(n_jobs):
        robust = make_robust_scorer(PGD_FIXED).set_score_request(sample_weight=True)
        lr = LogisticRegression(max_iter=500).set_fit_request(sample_weight=True)
        return GridSearchCV(lr, {"C": [0.1, 10.0]}, scoring=robust, cv=3, n_jobs=n_jobs)

    with sklearn.config_context(enable_metadata_routing=True):
        local = search(1).fit(X, y, sample_weight=w)
        with parallel_backend("dask"):
            remote = search(-1).fit(X, y, sample_weight=w)
    _same_results(local.cv_results_, remote.cv_results_)


def test_chunked_robust_scoring_on_dask(dask_client, binary_iris):
    X, y = binary_iris
    clf = LogisticRegression(max_iter=500).fit(X, y)
    whole = robust_predictions(clf, X, y, attack=PGD_FIXED)
    with parallel_backend("dask"):
        remote = robust_predictions(
            clf, X, y, attack=PGD_FIXED, n_jobs=-1, chunk_size=16
        )
        score = robust_accuracy_score(
            clf, X, y, attack=PGD_FIXED, n_jobs=-1, chunk_size=16
        )
    np.testing.assert_array_equal(remote, whole)
    assert score == np.mean(whole == y)


def test_chunked_robust_scoring_on_ray(binary_iris):
    ray = pytest.importorskip("ray")
    from ray.util.joblib import register_ray

    X, y = binary_iris
    clf = LogisticRegression(max_iter=500).fit(X, y)
    whole = robust_predictions(clf, X, y, attack=PGD_FIXED)
    register_ray()
    ray.init(num_cpus=2, include_dashboard=False, ignore_reinit_error=True)
    try:
        with parallel_backend("ray"):
            remote = robust_predictions(
                clf, X, y, attack=PGD_FIXED, n_jobs=-1, chunk_size=16
            )
    finally:
        ray.shutdown()
    np.testing.assert_array_equal(remote, whole)
