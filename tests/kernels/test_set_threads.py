"""``set_threads``: one limit for NumPy's BLAS and the Numba lane's kernels, undone by None."""

from __future__ import annotations

import os

import pytest
from threadpoolctl import threadpool_info

from softgrad.kernels import threads
from softgrad.kernels.threads import set_threads, wanted_threads


def numpy_blas_threads() -> int:
    pools = [
        pool
        for pool in threadpool_info()
        if pool["user_api"] == "blas" and "numpy" in pool["filepath"]
    ]
    assert len(pools) == 1, pools
    return pools[0]["num_threads"]


@pytest.fixture(autouse=True)
def no_limit_after():
    yield
    set_threads(None)


def test_one_thread_limits_numpys_blas_and_none_puts_its_count_back():
    before = numpy_blas_threads()
    set_threads(1)
    assert numpy_blas_threads() == 1
    assert wanted_threads() == 1
    set_threads(None)
    assert numpy_blas_threads() == before
    assert wanted_threads() is None


def test_a_new_limit_replaces_the_last_one_and_none_still_restores_the_first():
    before = numpy_blas_threads()
    set_threads(2)
    set_threads(1)
    assert numpy_blas_threads() == 1
    set_threads(None)
    assert numpy_blas_threads() == before


@pytest.mark.parametrize("bad", [0, -1, 1.5, 2.0, True, "2", [1]])
def test_a_thread_count_that_is_not_a_positive_int_is_named(bad):
    with pytest.raises((TypeError, ValueError), match=r"set_threads: n must be a positive int"):
        set_threads(bad)
    assert wanted_threads() is None  # nothing changed


def test_usable_cpus_counts_the_cpus_this_process_may_run_on():
    cpus = threads.usable_cpus()
    assert 1 <= cpus <= (os.cpu_count() or cpus)


def test_a_count_beyond_a_c_int_asks_the_blas_for_as_many_as_it_runs():
    # ctypes refused 2**64 ("int too long to convert"): a traceback from --threads
    set_threads(2**64)
    assert wanted_threads() == 2**64
    assert numpy_blas_threads() >= 1


def test_two_threads_limiting_at_once_still_let_none_put_the_count_back(monkeypatch):
    # both read "no limit yet" and made a limiter; the second recorded the first's 1 as the
    # count to put back, and None left the BLAS on one thread for the rest of the process.
    # A stand-in BLAS (one global count) keeps this off OpenBLAS's own rules for threads.
    import threading
    import time

    import threadpoolctl

    blas = {"threads": 2}

    class Limits:  # threadpoolctl.threadpool_limits on the stand-in
        def __init__(self, limits, user_api):
            time.sleep(0.05)  # both threads have read "no limit yet" before either limits
            self.original = blas["threads"]
            blas["threads"] = limits

        def restore_original_limits(self):
            blas["threads"] = self.original

    monkeypatch.setattr(threadpoolctl, "threadpool_limits", Limits)
    barrier = threading.Barrier(2)

    def limit():
        barrier.wait()
        set_threads(1)

    workers = [threading.Thread(target=limit) for _ in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert blas["threads"] == 1
    set_threads(None)
    assert blas["threads"] == 2
