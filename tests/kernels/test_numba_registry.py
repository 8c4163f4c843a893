"""Choosing the Numba lane: explicit, never silent, and Numba is imported only when chosen."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from softgrad.kernels import registry

SRC = str(Path(__file__).resolve().parents[2] / "src")


def _python(code: str, **env: str) -> subprocess.CompletedProcess:
    # the test process's own choice of lane does not leak into the child
    environ = {k: v for k, v in os.environ.items() if k != "SOFTGRAD_KERNELS"}
    environ.update(PYTHONPATH=SRC, **env)
    return subprocess.run(
        [sys.executable, "-c", code], env=environ, capture_output=True, text=True, timeout=120
    )


# makes "import numba" fail as it does where Numba is not installed
_NO_NUMBA = "import sys; sys.modules['numba'] = None\n"


@pytest.mark.parametrize(
    "code",
    [
        "import softgrad",
        "import softgrad; softgrad.set_kernels('numpy')",
        "import softgrad.kernels; softgrad.kernels.get_ops()",
        "from softgrad.cli import main\ntry:\n    main(['--help'])\nexcept SystemExit:\n    pass",
        "from softgrad.cli import main\ntry:\n    main(['train', '--help'])\nexcept SystemExit:\n"
        "    pass",
    ],
    ids=[
        "import softgrad",
        "softgrad.set_kernels('numpy')",
        "the default lane",
        "softgrad --help",
        "softgrad train --help",
    ],
)
def test_numba_is_not_imported_unless_chosen(code):
    done = _python(code + "\nimport sys\nprint('numba' in sys.modules)")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "False", done.stdout


def test_set_kernels_numba_gives_the_numba_lane(monkeypatch):
    pytest.importorskip("numba", reason="the Numba lane needs numba (pip install numba)")
    monkeypatch.setattr(registry, "_active", {})
    ops = registry.set_kernels("numba")
    assert ops.name == "numba" and registry.get_ops() is ops
    assert ops.describe()["threads"] >= 1


def test_set_kernels_is_a_top_level_name():
    import softgrad

    assert softgrad.set_kernels is registry.set_kernels


def test_the_environment_variable_chooses_the_numba_lane():
    pytest.importorskip("numba", reason="the Numba lane needs numba (pip install numba)")
    done = _python(
        "from softgrad.kernels import get_ops; print(get_ops().name)", SOFTGRAD_KERNELS="numba"
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "numba"


def test_without_numba_choosing_it_says_why_in_one_error():
    done = _python(_NO_NUMBA + "from softgrad.kernels import set_kernels\nset_kernels('numba')")
    assert done.returncode != 0
    last = done.stderr.strip().splitlines()[-1]
    error = "softgrad.errors.MissingDependencyError: set_kernels: the 'numba' kernels need numba"
    assert last.startswith(error), last
    assert "pip install numba" in last and "set_kernels('numpy')" in last


def test_without_numba_a_numba_default_falls_back_to_numpy():
    done = _python(
        _NO_NUMBA + "from softgrad.kernels import registry\nregistry.DEFAULT = 'numba'\n"
        "print(registry.get_ops().name)"
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "numpy"


def test_without_numba_an_explicit_environment_choice_is_an_error():
    done = _python(
        _NO_NUMBA + "from softgrad.kernels import get_ops\nget_ops()", SOFTGRAD_KERNELS="numba"
    )
    assert done.returncode != 0
    assert "the 'numba' kernels need numba" in done.stderr
