"""The bridges users already know, on the embedded cluster: a joblib backend (scikit-learn's
``GridSearchCV(n_jobs=-1)``, results equal to the sequential run) and a Dask scheduler (a
dataframe groupby-aggregate, an array reduction and a bag word count, equal to Dask's own
synchronous scheduler's answers). Skipped where the optional packages are missing."""

from __future__ import annotations

import os

import pytest

import pymesos_rt as rt

pytestmark = pytest.mark.integration


def test_joblib_backend_runs_on_the_cluster(cluster):
    joblib = pytest.importorskip("joblib")
    rt.util.joblib.register_pymesos_rt()
    with joblib.parallel_backend("pymesos_rt"):
        pids = joblib.Parallel(n_jobs=-1)(joblib.delayed(os.getpid)() for _ in range(8))
    assert os.getpid() not in pids  # run by executors, not here


def test_grid_search_equals_the_sequential_run(cluster):
    joblib = pytest.importorskip("joblib")
    pytest.importorskip("sklearn")
    from sklearn.datasets import load_iris
    from sklearn.model_selection import GridSearchCV
    from sklearn.svm import SVC

    x, y = load_iris(return_X_y=True)
    grid = {"C": [0.1, 1.0, 10.0], "gamma": ["scale", 0.1]}
    sequential = GridSearchCV(SVC(), grid, cv=3, n_jobs=1).fit(x, y)
    rt.util.joblib.register_pymesos_rt()
    with joblib.parallel_backend("pymesos_rt"):
        on_cluster = GridSearchCV(SVC(), grid, cv=3, n_jobs=-1).fit(x, y)
    assert on_cluster.best_params_ == sequential.best_params_
    assert list(on_cluster.cv_results_["mean_test_score"]) == list(
        sequential.cv_results_["mean_test_score"]
    )
    assert (on_cluster.predict(x) == sequential.predict(x)).all()


def test_dask_dataframe_groupby_aggregate(cluster):
    dask = pytest.importorskip("dask")
    pd = pytest.importorskip("pandas")
    dd = pytest.importorskip("dask.dataframe")
    import numpy as np

    rng = np.random.default_rng(7)
    frame = pd.DataFrame(
        {
            "k": rng.integers(0, 10, 2000),
            "x": rng.normal(size=2000),
            "y": rng.integers(0, 100, 2000),
        }
    )
    ddf = dd.from_pandas(frame, npartitions=4)
    query = ddf.groupby("k").agg({"x": "sum", "y": "mean"})
    ours = query.compute(scheduler=rt.util.dask.get)
    theirs = query.compute(scheduler="sync")
    pd.testing.assert_frame_equal(ours.sort_index(), theirs.sort_index())
    with dask.config.set(scheduler=rt.util.dask.get):
        assert ddf.x.sum().compute() == pytest.approx(frame.x.sum())


def test_dask_array_reduction(cluster):
    dask = pytest.importorskip("dask")
    da = pytest.importorskip("dask.array")
    import numpy as np

    values = np.arange(10_000, dtype=float).reshape(100, 100)
    x = da.from_array(values, chunks=(25, 50))
    expr = ((x**2).sum(axis=0) + x.mean(axis=1)) / x.std()
    ours, total = dask.compute(expr, x.sum(), scheduler=rt.util.dask.get)
    theirs, total_sync = dask.compute(expr, x.sum(), scheduler="sync")
    np.testing.assert_array_equal(ours, theirs)
    assert total == total_sync == values.sum()


def test_dask_bag_word_count(cluster):
    db = pytest.importorskip("dask.bag")
    lines = ["the quick brown fox", "jumps over the lazy dog", "the end"] * 20
    counts = db.from_sequence(lines, npartitions=6).str.split().flatten().frequencies()
    assert dict(counts.compute(scheduler=rt.util.dask.get)) == dict(
        counts.compute(scheduler="sync")
    )
