"""The Numba lane's threads: the documented threading layer, launches that never collide, and
kernels compiled once (the disk cache serves a second process)."""

from __future__ import annotations

import importlib

import pytest

numba = pytest.importorskip("numba", reason="the Numba lane needs numba (pip install numba)")

from softgrad.kernels import numba_threads  # noqa: E402

KERNEL_MODULES = ["numba_activations", "numba_gather", "numba_losses", "numba_updates"]

# one threaded Adam step through the lane (above PARALLEL_MIN parameters)
_ADAM = """
import numpy as np
from softgrad.kernels import numba_threads, numba_updates, set_kernels
ops = set_kernels("numba")
p, g, m, v = (np.ones(numba_updates.PARALLEL_MIN + 1000, np.float32) for _ in range(4))
def step(k):
    ops.adam_update(p, g, m, v, [], lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8,
                    weight_decay=0.0, decoupled=False, fold_bias_correction=False, step=k)
"""


def test_the_lane_runs_on_the_documented_threading_layer(fresh_python):
    done = fresh_python(
        _ADAM + "step(1)\nimport numba\nprint(numba.threading_layer(), ops.describe()['layer'])"
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [numba_threads.LAYER, numba_threads.LAYER]
    assert numba_threads.LAYER == "workqueue"  # docs/architecture.md and the module say why


def test_a_layer_the_user_sets_wins(fresh_python):
    try:
        importlib.import_module("numba.np.ufunc.omppool")
    except ImportError as exc:  # Numba's OpenMP layer needs libgomp
        pytest.skip(f"Numba's omp layer cannot load here: {exc}")
    done = fresh_python(
        _ADAM + "step(1)\nimport numba\nprint(numba.threading_layer(), ops.describe()['layer'])",
        NUMBA_THREADING_LAYER="omp",
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["omp", "omp"]


def test_two_python_threads_can_train_at_once(fresh_python):
    # the workqueue layer aborts the process on concurrent launches; the launch lock serializes
    code = _ADAM + (
        "import threading\n"
        "def work():\n"
        "    for k in range(1, 300):\n"
        "        step(k)\n"
        "threads = [threading.Thread(target=work) for _ in range(2)]\n"
        "[t.start() for t in threads]\n"
        "[t.join() for t in threads]\n"
        "print('done')"
    )
    done = fresh_python(code)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "done"


@pytest.mark.parametrize("name", KERNEL_MODULES)
def test_every_parallel_kernel_launches_under_the_lock(name):
    module = importlib.import_module(f"softgrad.kernels.{name}")
    unlocked = [
        attr
        for attr, value in vars(module).items()
        if isinstance(value, numba.core.registry.CPUDispatcher)
        and value.targetoptions.get("parallel")
    ]
    assert unlocked == [], f"{name}: decorate {unlocked} with numba_threads.parallel_kernel"


def test_a_second_process_loads_the_kernels_from_the_disk_cache(tmp_path, fresh_python):
    # a fresh cache directory: the first process compiles and stores, the second only loads
    show = "step(1)\nstats = numba_updates.adam.dispatcher.stats\n"
    show += "print(sum(stats.cache_hits.values()), sum(stats.cache_misses.values()))"
    first = fresh_python(_ADAM + show, NUMBA_CACHE_DIR=str(tmp_path))
    assert first.returncode == 0, first.stderr
    assert first.stdout.split() == ["0", "1"]  # compiled once, then stored
    assert any(tmp_path.rglob("*.nbi")), "no cache index written"
    second = fresh_python(_ADAM + show, NUMBA_CACHE_DIR=str(tmp_path))
    assert second.returncode == 0, second.stderr
    assert second.stdout.split() == ["1", "0"]  # loaded, not compiled


def test_a_call_below_the_thread_threshold_compiles_only_the_serial_kernel(fresh_python):
    # the first `softgrad train` pays the compile of the kernels it calls: at the training
    # step's sizes that is the serial twin alone, which compiles 2-3x faster
    show = (
        "def compiled():\n"
        "    a = numba_updates.adam\n"
        "    return len(a.serial_dispatcher.signatures), len(a.dispatcher.signatures)\n"
        "small = [np.ones(1000, np.float32) for _ in range(4)]\n"
        "ops.adam_update(*small, [], lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8,\n"
        "                weight_decay=0.0, decoupled=False, fold_bias_correction=False, step=1)\n"
        "print(*compiled())\n"
        "step(1)\n"
        "print(*compiled())\n"
    )
    done = fresh_python(_ADAM + show)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["1 0", "1 1"]
