"""softgrad.sklearn.MLPClassifier on a dask.distributed cluster: out-of-core training through
dask-ml's Incremental, and hyperparameter search under joblib's dask backend.

Both run on a LocalCluster of 2 worker processes (1 thread each), so the estimator really travels
between processes: it is pickled to a worker, trained there, and pickled back. Training is in
float64, so a result computed on the cluster and one computed here agree to rounding.
Measured by hand, not here (timings and memory; the figures are in docs/scale-out.md's Dask
part): that page's reader keeps the client and workers small on Fashion-MNIST, and two threads
of one worker fit two estimators in about half the time of one after the other.
"""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV, RandomizedSearchCV

from softgrad.sklearn import MLPClassifier

pytestmark = pytest.mark.dask

BLOCK = 100  # rows per block of the dask array: one partial_fit call each


@pytest.fixture(scope="module")
def client():
    """A client of 2 worker processes x 1 thread, shared by the tests of this module."""
    from dask.distributed import Client, LocalCluster

    # the nanny starts each worker with OPENBLAS/OMP/MKL_NUM_THREADS=1 (dask's default).
    # No fixed port, so that two test runs on one machine cannot collide: the scheduler's own
    # (0 is LocalCluster's default, said here) and its HTTP server's, which starts without a
    # dashboard too, on 8787 unless given an address (Scheduler's default_port). 8787 held by
    # another run made it warn that it moved elsewhere, an error here: "Cluster closed without
    # starting up". dashboard_address=None keeps the dashboard itself off
    with (
        LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            scheduler_port=0,
            dashboard_address=None,
            scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
        ) as cluster,
        Client(cluster) as client,
    ):
        yield client


def _blobs(n_samples: int = 400, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Three Gaussian blobs in 6 dimensions: separable enough to learn in a few epochs."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, size=n_samples)
    centers = rng.normal(scale=2.0, size=(3, 6))
    return centers[y] + rng.normal(size=(n_samples, 6)), y


def _estimator(**params) -> MLPClassifier:
    params = {
        "hidden_layer_sizes": (16,),
        "learning_rate_init": 0.01,
        "random_state": 0,
        "dtype": np.float64,
        **params,
    }
    return MLPClassifier(**params)


def _npy_blocks(path, block: int):
    """docs/scale-out.md's way to read a .npy file bigger than memory into a dask array: each task
    maps the file on its worker and reads its rows there, so the graph holds the path and
    the bounds, never the rows (``da.from_array`` of the memory map holds all of them)."""
    import dask
    import dask.array as da

    def rows(path, start, stop):  # runs on a worker: maps the file there
        return np.load(path, mmap_mode="r")[start:stop]

    head = np.load(path, mmap_mode="r")  # reads the header only
    (n, d), dtype = head.shape, head.dtype
    bounds = [(start, min(start + block, n)) for start in range(0, n, block)]
    parts = [
        da.from_delayed(dask.delayed(rows)(str(path), a, b), (b - a, d), dtype) for a, b in bounds
    ]
    return da.concatenate(parts)


@pytest.mark.parametrize("dtype", [np.float32, np.uint8])
def test_incremental_trains_over_the_blocks_of_a_memory_mapped_file(client, tmp_path, dtype):
    import cloudpickle
    import dask.array as da
    from dask_ml.wrappers import Incremental

    X, y = _blobs()
    if dtype == np.uint8:  # pixels: each block is converted to the estimator's dtype
        X = np.round((X - X.min()) * 255 / np.ptp(X))
    X = X.astype(dtype)
    np.save(tmp_path / "X.npy", X)
    dX = _npy_blocks(tmp_path / "X.npy", BLOCK)
    dy = da.from_array(y, chunks=BLOCK)
    assert dX.dtype == dtype and dX.chunks[0] == (BLOCK,) * (len(X) // BLOCK)
    graph = cloudpickle.dumps(dict(dX.__dask_graph__()))  # what the client sends
    assert not any(row.tobytes() in graph for row in X)

    # blocks in order (dask-ml shuffles them by default), so the result can be checked
    incremental = Incremental(_estimator(), scoring="accuracy", shuffle_blocks=False)
    incremental.fit(dX, dy, classes=[0, 1, 2])

    # the same partial_fit calls, made here one block after another
    expected = _estimator()
    for start in range(0, len(X), BLOCK):
        expected.partial_fit(X[start : start + BLOCK], y[start : start + BLOCK], classes=[0, 1, 2])
    fitted = incremental.estimator_
    assert fitted.t_ == expected.t_ == len(X)
    got_weights = fitted.coefs_ + fitted.intercepts_
    for got, want in zip(got_weights, expected.coefs_ + expected.intercepts_, strict=True):
        # float64, and each block's step is the same code on each side: rounding only
        assert_allclose(got, want, rtol=1e-10, atol=1e-12)
    # predict and score on the dask array run block by block on the workers too
    assert_array_equal(incremental.predict(dX).compute(), expected.predict(X))
    assert incremental.score(dX, dy) == expected.score(X, y)


@pytest.mark.parametrize("labels", [None, ("b", "a"), ("eel", "cat", "dog")])
def test_parallel_post_fit_answers_on_a_dask_array_as_on_the_numpy_array(client, labels):
    import dask.array as da
    from dask_ml.wrappers import ParallelPostFit

    X, y = _blobs(n_samples=300)
    if labels is not None:
        y = np.asarray(labels)[y % len(labels)]
    est = _estimator(max_iter=20, tol=0.0, n_iter_no_change=np.inf, dtype=np.float32)
    with pytest.warns(Warning, match="Maximum iterations"):
        wrapped = ParallelPostFit(est, scoring="accuracy").fit(X, y)
    dX, dy = da.from_array(X, chunks=(BLOCK, -1)), da.from_array(y, chunks=BLOCK)
    assert_array_equal(wrapped.predict(dX).compute(), est.predict(X))
    assert wrapped.score(dX, dy) == est.score(X, y)
    # softmax of rows computed in batches of another size rounds within an ulp (see report)
    eps = np.finfo(np.float32).eps
    assert_allclose(wrapped.predict_proba(dX).compute(), est.predict_proba(X), rtol=0, atol=2 * eps)


@pytest.mark.parametrize("search", ["grid", "randomized"])
def test_search_spread_over_the_cluster_equals_the_serial_search(client, search):
    import joblib
    from dask.distributed import get_task_stream

    X, y = _blobs(n_samples=240, seed=1)
    grid = {"hidden_layer_sizes": [(8,), (16,)], "alpha": [1e-4, 1e-1]}
    # tol and n_iter_no_change stop every candidate before max_iter (no ConvergenceWarning)
    base = _estimator(max_iter=200, tol=1e-3, n_iter_no_change=3)

    def make():
        if search == "grid":
            return GridSearchCV(clone(base), grid, cv=2)
        return RandomizedSearchCV(clone(base), grid, n_iter=3, cv=2, random_state=0)

    with get_task_stream(client) as tasks, joblib.parallel_backend("dask"):
        spread = make().fit(X, y)
    serial = make().fit(X, y)

    workers = {task["worker"] for task in tasks.data}
    assert tasks.data and workers <= set(client.scheduler_info()["workers"])
    assert spread.cv_results_["params"] == serial.cv_results_["params"]
    assert_allclose(
        spread.cv_results_["mean_test_score"], serial.cv_results_["mean_test_score"], rtol=1e-12
    )
    assert spread.best_params_ == serial.best_params_


def test_a_fitted_estimator_survives_pickling_and_clones_without_its_weights():
    X, y = _blobs(n_samples=120)
    fitted = _estimator(max_iter=20, tol=1e-1, n_iter_no_change=2).fit(X, y)
    restored = pickle.loads(pickle.dumps(fitted))
    assert_array_equal(restored.predict_proba(X), fitted.predict_proba(X))
    # a restored estimator keeps training where the original stands
    restored.partial_fit(X, y)
    fitted.partial_fit(X, y)
    assert_array_equal(restored.coefs_[0], fitted.coefs_[0])
    # clone copies the constructor arguments only: nothing learned travels with it
    fresh = clone(fitted)
    assert fresh.get_params() == fitted.get_params()
    assert not hasattr(fresh, "coefs_") and not hasattr(fresh, "classes_")


def test_incremental_over_uneven_blocks_the_first_holding_one_class(client):
    import dask.array as da
    from dask_ml.wrappers import Incremental

    X, y = _blobs(n_samples=60)
    order = np.argsort(y, kind="stable")  # sorted labels: the first block holds class 0 alone
    X, y = X[order], y[order]
    sizes = (7, 20, 33)
    dX = da.from_array(X, chunks=(sizes, X.shape[1]))
    dy = da.from_array(y, chunks=(sizes,))
    incremental = Incremental(_estimator(), shuffle_blocks=False).fit(dX, dy, classes=[0, 1, 2])
    expected = _estimator()
    for start, stop in zip(np.cumsum((0, *sizes[:-1])), np.cumsum(sizes), strict=True):
        expected.partial_fit(X[start:stop], y[start:stop], classes=[0, 1, 2])
    fitted = incremental.estimator_
    assert fitted.t_ == len(X) and fitted.n_iter_ == 1 and len(fitted.loss_curve_) == 3
    for got, want in zip(fitted.coefs_, expected.coefs_, strict=True):
        assert_allclose(got, want, rtol=1e-10, atol=1e-12)  # float64, the same steps
    # without classes the first block's partial_fit refuses, as sklearn's does
    with pytest.raises(ValueError, match="classes must be given on the first call"):
        Incremental(_estimator(), shuffle_blocks=False).fit(dX, dy)


def test_class_weight_under_incremental_weighs_every_block_as_serial_partial_fit(client):
    # docs/scale-out.md's way to weigh samples under Incremental: a dict computed on all of y
    import dask.array as da
    from dask_ml.wrappers import Incremental

    X, y = _blobs(n_samples=200)
    class_weight = {0: 0.5, 1: 2.0, 2: 1.0}
    dX = da.from_array(X, chunks=(BLOCK, X.shape[1]))
    dy = da.from_array(y, chunks=BLOCK)
    weighted = Incremental(_estimator(class_weight=class_weight), shuffle_blocks=False)
    weighted.fit(dX, dy, classes=[0, 1, 2])
    expected = _estimator()  # the same steps with the weights given per sample
    for start in range(0, len(X), BLOCK):
        block = slice(start, start + BLOCK)
        weights = np.vectorize(class_weight.get)(y[block])
        expected.partial_fit(X[block], y[block], classes=[0, 1, 2], sample_weight=weights)
    unweighted = _estimator()
    for start in range(0, len(X), BLOCK):
        unweighted.partial_fit(
            X[start : start + BLOCK], y[start : start + BLOCK], classes=[0, 1, 2]
        )
    fitted = weighted.estimator_
    for got, want, plain in zip(fitted.coefs_, expected.coefs_, unweighted.coefs_, strict=True):
        assert_allclose(got, want, rtol=1e-10, atol=1e-12)  # float64, the same steps
        assert not np.allclose(got, plain)  # the weights did change the steps
    # "balanced" needs the class counts of the whole stream: each block refuses it
    with pytest.raises(ValueError, match="class_weight must be None or a dict for partial_fit"):
        Incremental(_estimator(class_weight="balanced")).fit(dX, dy, classes=[0, 1, 2])


@pytest.mark.parametrize("container", ["numpy", "dask"])
def test_sample_weight_under_incremental_is_refused_by_its_length(client, container):
    # dask-ml hands every block's partial_fit the whole sample_weight, not the block's rows
    import dask.array as da
    from dask_ml.wrappers import Incremental

    X, y = _blobs(n_samples=200)
    dX = da.from_array(X, chunks=(BLOCK, X.shape[1]))
    dy = da.from_array(y, chunks=BLOCK)
    weights = np.ones(len(X))
    if container == "dask":
        weights = da.from_array(weights, chunks=BLOCK)
    incremental = Incremental(_estimator(), shuffle_blocks=False)
    with pytest.raises(ValueError, match=r"sample_weight.shape == \(200,\), expected \(100,\)"):
        incremental.fit(dX, dy, classes=[0, 1, 2], sample_weight=weights)
