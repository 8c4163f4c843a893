"""The Numba lane's threads: the documented threading layer, launches that never collide, and
kernels compiled once (the disk cache serves a second process)."""

from __future__ import annotations

import importlib
import sys
import threading
import time

import numpy as np
import pytest

numba = pytest.importorskip("numba", reason="the Numba lane needs numba (pip install numba)")

from softgrad.kernels import numba_threads  # noqa: E402

KERNEL_MODULES = [
    "numba_activations",
    "numba_gather",
    "numba_loss_rows",
    "numba_losses",
    "numba_penalty",
    "numba_softmax",
    "numba_updates",
]

# one threaded Adam step through the lane (above PARALLEL_MIN parameters)
_ADAM = """
import numpy as np
from softgrad.kernels import numba_threads, numba_updates, set_kernels
ops = set_kernels("numba")
p, g, m, v = (np.ones(numba_threads.PARALLEL_MIN + 1000, np.float32) for _ in range(4))
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


def test_a_layer_the_user_sets_in_code_wins(fresh_python):
    # numba.config.THREADING_LAYER set before softgrad's kernels load is Numba's documented
    # choice in code; softgrad overwrote it, for the user's own parallel code as well
    try:
        importlib.import_module("numba.np.ufunc.omppool")
    except ImportError as exc:  # Numba's OpenMP layer needs libgomp
        pytest.skip(f"Numba's omp layer cannot load here: {exc}")
    chosen = "import numba\nnumba.config.THREADING_LAYER = 'omp'\n"
    done = fresh_python(
        chosen + _ADAM + "step(1)\nprint(numba.threading_layer(), numba.config.THREADING_LAYER)"
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


def _entry_points(module):
    """(name, dispatcher) of every compiled entry point of a kernel module: the cached kernels
    and both compiles of each parallel kernel."""
    for attr, value in vars(module).items():
        if isinstance(value, numba.core.registry.CPUDispatcher):
            if type(value._cache).__name__ != "NullCache":  # cached: a kernel, not a helper
                yield attr, value
        elif hasattr(value, "dispatcher") and hasattr(value, "serial_dispatcher"):
            yield attr, value.dispatcher
            if value.serial_dispatcher is not None:
                yield f"{attr} (serial twin)", value.serial_dispatcher


@pytest.mark.parametrize("name", KERNEL_MODULES)
def test_every_kernel_is_compiled_without_the_gil(name):
    module = importlib.import_module(f"softgrad.kernels.{name}")
    entries = list(_entry_points(module))
    assert entries, f"{name}: no kernel found"
    holding = [attr for attr, dispatcher in entries if not dispatcher.targetoptions.get("nogil")]
    assert holding == [], f"{name}: compile {holding} with numba_threads.kernel"


def _python_ran_during(call) -> int:
    """How often this thread ran Python while another thread was inside ``call``: with the
    interpreter's forced switches off (a 100 s interval), only a call that releases the GIL
    lets it run at all, so a call that holds it gives exactly 0."""
    call()  # compiled (or loaded) before the measurement, which compiling would cover
    counter, seen = [0], []

    def work():
        before = counter[0]
        call()
        seen.append(counter[0] - before)

    interval = sys.getswitchinterval()
    sys.setswitchinterval(100.0)
    try:
        worker = threading.Thread(target=work)
        worker.start()
        while worker.is_alive():
            counter[0] += 1
            time.sleep(0)  # hands the GIL over whenever the worker wants it
        worker.join()
    finally:
        sys.setswitchinterval(interval)
    return seen[0]


def _repeat(kernel, *args, times=40):
    def call():
        for _ in range(times):
            kernel(*args)

    return call


def _kernel_calls():
    """A call of 50-250 ms (here) per kind of kernel: calling-thread twins, a threaded compile
    (under the launch lock) and a plain cached kernel; long enough for the other thread to be
    scheduled on a loaded machine."""
    from softgrad.kernels import (
        numba_activations,
        numba_gather,
        numba_losses,
        numba_softmax,
        numba_updates,
    )

    f32 = np.float32
    big = numba_threads.PARALLEL_MIN
    small = [np.ones(big - 1, f32) for _ in range(4)]
    large = [np.ones(big + 1000, f32) for _ in range(4)]
    # beta1, beta2, 1 - beta1, 1 - beta2, step size, root, eps, weight decay, shrink, tiny
    adam_args = tuple(map(f32, (0.9, 0.999, 0.1, 0.001, 1e-3, 1.0, 1e-8, 0.0, 1.0, 1.2e-38)))
    logits = np.ones((100_000, 10), f32)
    images = np.ones((10_000, 784), np.uint8)
    one = np.ones(1, f32)
    return {
        "adam twin": _repeat(numba_updates.adam, *small, *adam_args),
        "adam threaded": _repeat(numba_updates.adam, *large, *adam_args, times=300),
        "bias + relu twin": _repeat(
            numba_activations.bias_relu,
            np.ones((1000, 1000), f32),
            np.ones(1000, f32),
            False,
            times=500,
        ),
        "softmax twin": _repeat(numba_softmax.softmax_rows, logits, np.empty_like(logits), 1.0, 1),
        "cross-entropy": _repeat(
            numba_losses.softmax_cross_entropy,
            logits,
            np.zeros(100_000, np.int64),
            np.empty(0),
            -100,
            False,
            np.empty_like(logits),
        ),
        "gather twin": _repeat(
            numba_gather.gather_rows_scaled,
            images,
            np.arange(1000),
            0 * one,
            one,
            np.empty((1000, 784), f32),
            times=300,
        ),
    }


@pytest.mark.parametrize("which", ["adam twin", "adam threaded", "bias + relu twin",
                                   "softmax twin", "cross-entropy", "gather twin"])  # fmt: skip
def test_another_python_thread_runs_while_a_kernel_computes(which):
    # a threaded dask worker or joblib backend fitting estimators side by side: one thread's
    # kernel must not stop the others (compiled with nogil, as their BLAS products are)
    assert _python_ran_during(_kernel_calls()[which]) > 0


@pytest.mark.parametrize("name", KERNEL_MODULES)
def test_every_kernel_is_cached_under_the_digest_of_the_lanes_sources(name):
    module = importlib.import_module(f"softgrad.kernels.{name}")
    suffix = f"_{numba_threads.SOURCE_DIGEST}"
    stale = [
        attr
        for attr, dispatcher in _entry_points(module)
        if not dispatcher.py_func.__qualname__.endswith(suffix)
    ]
    assert stale == [], f"{name}: compile {stale} with numba_threads.kernel"


@pytest.mark.parametrize(
    ("name", "old", "new"),
    [
        ("numba_math.py", "", "# one more line\n"),
        # a constant a kernel compiles in: a kernel cached before it changed kept the old one
        ("gather.py", "MAX_CODES = 256", "MAX_CODES = 16"),
    ],
    ids=["a helper kernels inline", "a constant kernels compile in"],
)
def test_a_change_to_any_file_of_the_kernels_package_changes_the_digest(tmp_path, name, old, new):
    # a kernel's cache is named after it: editing a helper file (numba_math) must make every
    # kernel compile anew, though Numba only hashes the file that defines each kernel
    from pathlib import Path

    package = Path(numba_threads.__file__).parent
    for path in package.glob("*.py"):
        (tmp_path / path.name).write_bytes(path.read_bytes())
    assert numba_threads._source_digest(tmp_path) == numba_threads.SOURCE_DIGEST
    edited = tmp_path / name
    text = edited.read_text()
    assert old in text
    edited.write_text(text.replace(old, new) if old else text + new)
    assert numba_threads._source_digest(tmp_path) != numba_threads.SOURCE_DIGEST


def test_a_process_removes_the_kernel_caches_an_earlier_version_left(tmp_path, fresh_python):
    # what an upgrade leaves in the cache folder: the kernels of another digest, and those of
    # a version from before caches carried one; the current kernels and other files stay
    show = "step(1)\nstats = numba_updates.adam.dispatcher.stats\n"
    show += "print(sum(stats.cache_hits.values()), sum(stats.cache_misses.values()))"
    first = fresh_python(_ADAM + show, NUMBA_CACHE_DIR=str(tmp_path))
    assert first.returncode == 0, first.stderr
    current = sorted(tmp_path.rglob("numba_*.nb[ic]"))
    assert current, "no kernel cache written"
    folder = current[0].parent
    digest = numba_threads.SOURCE_DIGEST
    stale = []
    for path in current:
        for old in (path.name.replace(digest, "0" * 12), path.name.replace(f"_{digest}", "")):
            (folder / old).write_bytes(path.read_bytes())
            stale.append(old)
    (folder / "notes.txt").write_text("not a kernel cache")
    second = fresh_python(_ADAM + show, NUMBA_CACHE_DIR=str(tmp_path))
    assert second.returncode == 0, second.stderr
    assert second.stdout.split() == ["1", "0"]  # the current kernel still loads
    left = {path.name for path in folder.iterdir()}
    assert left.isdisjoint(stale)
    assert {path.name for path in current} | {"notes.txt"} <= left


def test_pruning_a_folder_that_does_not_exist_removes_nothing(tmp_path):
    assert numba_threads.prune_stale_caches(tmp_path / "never compiled") == []
