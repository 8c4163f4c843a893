"""Shared by the kernel tests: comparing two lanes with a tolerance derived from the dtype."""

from __future__ import annotations

import numpy as np
import pytest


def _agree(actual, expected, n_ops, what="result", magnitude=1.0):
    """``actual`` matches ``expected`` within ``n_ops`` roundings of their dtype, relative to the
    largest finite magnitude (of the result, or ``magnitude``, the largest operand a result
    was computed from, where a difference cancels), with NaN, +inf and -inf at exactly the
    same places."""
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.shape == expected.shape, (what, actual.shape, expected.shape)
    assert actual.dtype == expected.dtype, (what, actual.dtype, expected.dtype)
    for special in (np.isnan, np.isposinf, np.isneginf):
        where = np.flatnonzero(special(actual) != special(expected))
        assert where.size == 0, (
            f"{what}: {special.__name__} differs at flat index {where[:5]}: "
            f"expected {expected.ravel()[where[:5]]}, got {actual.ravel()[where[:5]]}"
        )
    finite = np.isfinite(expected)
    if not finite.any():
        return
    eps = float(np.finfo(expected.dtype).eps)
    scale = max(1.0, magnitude, float(np.max(np.abs(expected[finite]))))
    tol = n_ops * eps * scale
    err = np.abs(actual[finite].astype(np.float64) - expected[finite].astype(np.float64))
    worst = int(np.argmax(err))
    assert err[worst] <= tol, (
        f"{what}: expected {expected[finite][worst]!r}, got {actual[finite][worst]!r} at finite "
        f"entry {worst} (error {err[worst]:.3g} > {n_ops} roundings = {tol:.3g})"
    )


@pytest.fixture
def agree():
    """``agree(actual, expected, n_ops, what)``: see :func:`_agree`."""
    return _agree


@pytest.fixture
def numpy_lane(monkeypatch):
    """The NumPy lane for everything that reaches the kernels through ``get_ops()``
    (``softgrad.functional``, the optimizers), whatever the default or SOFTGRAD_KERNELS says:
    a test comparing the Numba lane with the NumPy lane calls NumbaOps directly and the NumPy
    lane through the public functions, so it compares both lanes on every run."""
    from softgrad.kernels import registry
    from softgrad.kernels.numpy_ops import NumpyOps

    monkeypatch.setattr(registry, "_active", {"ops": NumpyOps()})
    assert registry.get_ops().name == "numpy"


def _run_python(code: str, cwd=None, **env: str):
    """Run ``code`` in a fresh interpreter on this tree's sources, with SOFTGRAD_KERNELS and
    Numba's threading and cache settings of the test process removed (the child chooses its
    own, from ``env``)."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    unset = ("SOFTGRAD_KERNELS", "NUMBA_THREADING_LAYER", "NUMBA_CACHE_DIR")
    environ = {k: v for k, v in os.environ.items() if k not in unset}
    environ.update(PYTHONPATH=str(Path(__file__).resolve().parents[2] / "src"), **env)
    return subprocess.run(
        [sys.executable, "-c", code],
        env=environ,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture
def fresh_python():
    """``fresh_python(code, cwd=None, **env)``: see :func:`_run_python`."""
    return _run_python


# prefixed to the code of first_compiles: records what Numba compiles (not what it loads)
_RECORD_COMPILES = (
    "from numba.core import event\n"
    "compiled = set()\n"
    "class _Seen(event.Listener):\n"
    "    def on_start(self, ev):\n"
    "        pass\n"
    "    def on_end(self, ev):\n"
    "        compiled.add(ev.data['dispatcher'].py_func.__qualname__)\n"
    "event.register('numba:compile', _Seen())\n"
)


@pytest.fixture
def first_compiles(tmp_path):
    """``first_compiles(code)``: the qualified names of the Numba functions that running
    ``code`` in a fresh interpreter on an empty cache compiles (a kernel's cache name without
    its ``_<SOURCE_DIGEST>``; a parallel kernel's calling-thread twin is ``<name>_serial``):
    what a user's first run pays for."""
    import ast

    from softgrad.kernels.numba_threads import SOURCE_DIGEST

    def run(code: str) -> set[str]:
        done = _run_python(
            _RECORD_COMPILES + code + "\nprint(sorted(compiled))\n",
            NUMBA_CACHE_DIR=str(tmp_path / "numba-cache"),
        )
        assert done.returncode == 0, done.stderr
        names = ast.literal_eval(done.stdout.splitlines()[-1])
        return {name.removesuffix(f"_{SOURCE_DIGEST}") for name in names}

    return run
