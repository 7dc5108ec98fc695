"""Cross-validation and grid search on a Dask cluster (joblib's dask backend).

A real ``LocalCluster`` of two worker processes with one thread each; the search and the
cross-validation give what they give run sequentially, and their fits ran on the workers.
"""

import importlib
import os

import joblib
import numpy as np
import pytest
import torch
from sklearn.datasets import make_classification
from sklearn.model_selection import GridSearchCV, cross_validate

from hsproto import HypersphericalClassifier


def _need(name):
    # CI installs the dev extra, which has dask[distributed]: there a missing one fails
    if os.environ.get("CI") == "true":
        return importlib.import_module(name)
    return pytest.importorskip(name)


distributed = _need("distributed")

pytestmark = pytest.mark.slow

GRID = {"lr": [1e-3, 1e-2], "n_dims": [2, 3]}


@pytest.fixture(scope="module")
def client():
    # dask's nanny starts workers with OMP_NUM_THREADS=1 (distributed.nanny.pre-spawn-
    # environ), which torch reads; set it explicitly and set torch's threads as well
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
        env={"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"})
    with cluster, distributed.Client(cluster) as client:
        client.run(torch.set_num_threads, 1)
        yield client


@pytest.fixture
def one_thread():
    """The sequential reference with one torch thread too, as on the workers."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _data():
    X, y = make_classification(n_samples=150, n_features=8, n_informative=5, n_classes=3,
                               random_state=0)
    return X.astype(np.float32), y


def _estimator():
    return HypersphericalClassifier(max_epochs=5, batch_size=32, random_state=0,
                                    module_params={"hidden_layer_sizes": (16,)})


def _on_the_cluster(client, run):
    """``run()`` under joblib's dask backend; the workers that ran its tasks."""
    with distributed.get_task_stream(client) as stream, \
            joblib.parallel_config(backend="dask"):
        result = run()
    return result, {task["worker"] for task in stream.data}


def test_workers_have_one_torch_thread(client):
    assert set(client.run(torch.get_num_threads).values()) == {1}


def test_grid_search_on_dask_equals_sequential(client, one_thread):
    X, y = _data()
    search, workers = _on_the_cluster(
        client, lambda: GridSearchCV(_estimator(), GRID, cv=3, n_jobs=-1).fit(X, y))
    sequential = GridSearchCV(_estimator(), GRID, cv=3, n_jobs=1).fit(X, y)
    assert workers == set(client.scheduler_info()["workers"])      # both workers fitted
    for key in [f"split{i}_test_score" for i in range(3)] + ["mean_test_score"]:
        np.testing.assert_allclose(search.cv_results_[key], sequential.cv_results_[key],
                                   atol=1e-12, err_msg=key)
    assert search.best_params_ == sequential.best_params_
    np.testing.assert_array_equal(search.predict(X), sequential.predict(X))


def test_cross_validate_on_dask_equals_sequential(client, one_thread):
    X, y = _data()
    scores, workers = _on_the_cluster(
        client, lambda: cross_validate(_estimator(), X, y, cv=3, n_jobs=-1,
                                       return_estimator=True))
    sequential = cross_validate(_estimator(), X, y, cv=3, n_jobs=1, return_estimator=True)
    assert workers and workers <= set(client.scheduler_info()["workers"])
    np.testing.assert_allclose(scores["test_score"], sequential["test_score"], atol=1e-12)
    for ours, theirs in zip(scores["estimator"], sequential["estimator"], strict=True):
        np.testing.assert_allclose(ours.history_[:, "train_loss"],
                                   theirs.history_[:, "train_loss"], rtol=1e-6)
