"""Test-suite policy shared by every test module.

* ``oracle`` tests compare against PyTorch. They are skipped when torch is not installed, unless
  SOFTGRAD_REQUIRE_ORACLE=1 (set by .ci/run), where a missing torch fails the run instead.
* ``slow`` tests train on the real Fashion-MNIST files. They are skipped when the data is absent,
  unless SOFTGRAD_REQUIRE_DATA=1 (set by .ci/run, which installs the Debian package).
* ``mpi`` tests start ranks under mpiexec and ``dask`` tests a dask.distributed LocalCluster. They
  are skipped without the extra (``softgrad[mpi]``, ``softgrad[dask]``), unless
  SOFTGRAD_REQUIRE_EXTRAS=1 (set by .ci/run, which installs both).
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import signal
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

# CI machines are shared and slow: a deadline would turn load into flaky failures. The same
# examples on every run (derandomize): a red run is the code's, never a new draw's (a random run
# once found a log-softmax case at logits near 1e3 that failed one run in thousands); `pytest
# --hypothesis-profile explore` draws new examples (1,000 where a test sets no count of its
# own) to look for such cases.
settings.register_profile(
    "softgrad",
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    max_examples=100,
    derandomize=True,
)
settings.register_profile(
    "explore", settings.get_profile("softgrad"), derandomize=False, max_examples=1000
)
settings.load_profile("softgrad")

# tests/typing holds programs for mypy (tests/test_typing.py), never run: --doctest-modules
# would import them
collect_ignore = ["typing"]

FASHION_DIRS = [os.environ.get("SOFTGRAD_DATA"), "/usr/share/datasets/fashion-mnist"]


def fashion_mnist_root() -> Path | None:
    """The folder holding the Fashion-MNIST IDX files, or None when it is not installed."""
    for folder in FASHION_DIRS:
        if folder and (Path(folder) / "t10k-labels-idx1-ubyte.gz").exists():
            return Path(folder)
        if folder and (Path(folder) / "t10k-labels-idx1-ubyte").exists():
            return Path(folder)
    return None


# marker -> (modules it needs, the extra that installs them)
EXTRAS = {"mpi": (("mpi4py",), "mpi"), "dask": (("distributed", "dask_ml"), "dask")}


def mpiexec() -> str | None:
    """The mpiexec of this interpreter's environment (the mpich wheel puts it beside python)."""
    beside = Path(sys.executable).parent / "mpiexec"
    return str(beside) if beside.exists() else shutil.which("mpiexec")


def _require(var: str) -> bool:
    return os.environ.get(var, "") == "1"


def _missing_extra(marker: str) -> str | None:
    """Why tests marked ``marker`` cannot run here (a module of its extra is missing), or None."""
    modules, extra = EXTRAS[marker]
    missing = [name for name in modules if importlib.util.find_spec(name) is None]
    if marker == "mpi" and mpiexec() is None:
        missing.append("mpiexec")
    if not missing:
        return None
    return f"{', '.join(missing)} not installed: pip install 'softgrad[{extra}]'"


def pytest_collection_modifyitems(config, items):
    has_torch = importlib.util.find_spec("torch") is not None
    has_data = fashion_mnist_root() is not None
    missing_extras = {marker: _missing_extra(marker) for marker in EXTRAS}
    for item in items:
        if "oracle" in item.keywords and not has_torch:
            if _require("SOFTGRAD_REQUIRE_ORACLE"):
                raise pytest.UsageError(
                    "SOFTGRAD_REQUIRE_ORACLE=1 but torch is not installed: "
                    "pip install torch==2.13.0"
                )
            item.add_marker(pytest.mark.skip(reason="oracle test: torch is not installed"))
        if "slow" in item.keywords and not has_data:
            if _require("SOFTGRAD_REQUIRE_DATA"):
                raise pytest.UsageError(
                    "SOFTGRAD_REQUIRE_DATA=1 but Fashion-MNIST is not installed: "
                    "apt-get install dataset-fashion-mnist"
                )
            item.add_marker(pytest.mark.skip(reason="Fashion-MNIST is not installed"))
        for marker in EXTRAS:
            if marker in item.keywords and (reason := missing_extras[marker]) is not None:
                if _require("SOFTGRAD_REQUIRE_EXTRAS"):
                    raise pytest.UsageError(f"SOFTGRAD_REQUIRE_EXTRAS=1 but {reason}")
                item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture
def rng():
    """A fresh, seeded generator per test: tests never share random state."""
    import numpy as np

    return np.random.default_rng(12345)


@pytest.fixture(
    params=[
        "numpy",
        pytest.param(
            "numba",
            marks=pytest.mark.skipif(
                importlib.util.find_spec("numba") is None, reason="the Numba lane needs numba"
            ),
        ),
    ]
)
def kernel_lane(request, monkeypatch):
    """Each test once per kernel lane, whatever the default or SOFTGRAD_KERNELS says."""
    from softgrad.kernels import registry
    from softgrad.kernels.numpy_ops import NumpyOps

    if request.param == "numpy":
        ops = NumpyOps()
    else:
        from softgrad.kernels.numba_ops import NumbaOps

        ops = NumbaOps()
    monkeypatch.setattr(registry, "_active", {"ops": ops})
    return request.param


@pytest.fixture
def forbid_draws(monkeypatch):
    """Call it to make every initial draw of a Linear from then on fail the test (what builds
    a network from given weights must not draw weights to overwrite)."""

    def draw(*args, **kwargs):
        raise AssertionError("a Linear drew initial weights")

    return lambda: monkeypatch.setattr("softgrad.nn.linear._draw_weights", draw)


@pytest.fixture
def traced_peak():
    """``traced_peak(make)``: what ``make()`` returns, and the peak (bytes) of what it allocated
    as tracemalloc counts it."""
    import tracemalloc

    def measure(make):
        tracemalloc.start()
        try:
            result = make()
            return result, tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    return measure


@pytest.fixture
def python_ctrl_c():
    """Python's own SIGINT handler (KeyboardInterrupt wherever the signal comes) for the test,
    whatever an earlier test or the runner left in force; put back after."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)
