"""``set_threads`` on the Numba lane: the limit reaches every parallel launch, including from a
thread that never called it, and ``None`` gives the kernels Numba's whole pool back."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

numba = pytest.importorskip("numba", reason="the Numba lane needs numba (pip install numba)")

from softgrad.kernels import numba_threads, set_kernels  # noqa: E402
from softgrad.kernels.threads import set_threads  # noqa: E402

POOL = numba.config.NUMBA_NUM_THREADS


def _thread_ids(out):
    for i in numba.prange(out.shape[0]):
        out[i] = numba.get_thread_id()


# launched as softgrad launches its own kernels (the launch lock, the calling-thread twin)
thread_ids_kernel = numba_threads.parallel_kernel(_thread_ids)


def threads_used(n: int = 4 * numba_threads.PARALLEL_MIN) -> set[int]:
    """The Numba threads that ran a parallel kernel's ``n`` iterations."""
    ids = np.full(n, -1, np.int64)
    thread_ids_kernel(ids)
    assert (ids >= 0).all()
    return set(ids.tolist())


@pytest.fixture(autouse=True)
def no_limit_after():
    yield
    set_threads(None)


@pytest.mark.skipif(POOL < 2, reason="Numba has one thread here: nothing to limit")
def test_one_thread_runs_a_parallel_kernel_on_the_calling_thread_alone():
    assert threads_used() == set(range(POOL))
    set_threads(1)
    assert numba_threads.thread_count() == 1
    assert threads_used() == {0}
    set_threads(None)
    assert threads_used() == set(range(POOL))


# this file's threads_used, in a fresh interpreter whose pool is 4 (Numba's pool is threads,
# not cores): a pool of 2 or less, as on a 2-core machine, always skipped it
_TWO_OF_FOUR = f"""
import sys
sys.path.insert(0, {str(Path(__file__).parent)!r})
import test_set_threads_numba as here
here.set_threads(2)
print(*sorted(here.threads_used()))
"""


def test_a_limit_of_two_runs_two_threads(fresh_python, tmp_path):
    done = fresh_python(_TWO_OF_FOUR, cwd=tmp_path, NUMBA_NUM_THREADS="4")
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["0", "1"], done.stdout


@pytest.mark.skipif(POOL < 2, reason="Numba has one thread here: nothing to limit")
def test_the_limit_holds_in_a_thread_that_never_set_it():
    set_threads(1)
    seen = []
    worker = threading.Thread(target=lambda: seen.append(threads_used()))
    worker.start()
    worker.join()
    assert seen == [{0}]


def test_a_limit_above_numbas_pool_runs_the_whole_pool():
    set_threads(POOL + 3)
    assert numba_threads.thread_count() == POOL
    assert threads_used() == set(range(POOL))


def test_the_lane_reports_the_limit_and_computes_the_same_update(monkeypatch):
    from softgrad.kernels import registry

    monkeypatch.setattr(registry, "_active", {})  # the lane chosen here is undone after
    ops = set_kernels("numba")
    size = numba_threads.PARALLEL_MIN + 1000
    grad = np.random.default_rng(0).standard_normal(size).astype(np.float32)
    updated = []
    for limit in (None, 1):
        set_threads(limit)
        p, m, v = (np.zeros(size, np.float32) for _ in range(3))
        ops.adam_update(
            p, grad, m, v, [], lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8,
            weight_decay=0.0, decoupled=False, fold_bias_correction=False, step=1,
        )  # fmt: skip
        updated.append(p)
    assert ops.describe()["threads"] == 1
    # the threaded kernel and its calling-thread twin: one formula per element
    np.testing.assert_allclose(updated[1], updated[0], rtol=4 * np.finfo(np.float32).eps, atol=0)


_WORKER_SCRIPT = """
import threading, queue, numba, numpy as np
from softgrad import functional as F
from softgrad.kernels import get_ops
from softgrad.kernels.threads import set_threads

assert get_ops().name == "numba"
big = np.zeros((1 << 12, 1 << 9), np.float32)  # 2**21 entries: the parallel kernel
orders, seen = queue.Queue(), queue.Queue()

def worker():
    while orders.get():
        F.softmax(big)
        seen.put(numba.get_num_threads())

thread = threading.Thread(target=worker)
thread.start()
set_threads(2)
orders.put(True)
limited = seen.get()
set_threads(None)
orders.put(True)
orders.put(False)
thread.join()
print(limited, seen.get(), numba.get_num_threads())
"""


def test_none_gives_numbas_pool_back_to_a_thread_that_ran_under_the_limit(fresh_python, tmp_path):
    # Numba's count is each thread's own, and set_threads(None) put back its caller's alone: a
    # worker that had run a kernel under set_threads(2) ran the rest of its life on 2 of 4
    done = fresh_python(
        _WORKER_SCRIPT, cwd=tmp_path, NUMBA_NUM_THREADS="4", SOFTGRAD_KERNELS="numba"
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["2", "4", "4"], done.stdout
