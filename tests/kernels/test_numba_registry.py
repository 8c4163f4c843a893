"""Choosing the Numba lane: explicit, never silent, and Numba is imported only at the first
kernel call of a process that uses it (tests/kernels/test_registry_default.py: the default and
its fallback)."""

from __future__ import annotations

import pytest

from softgrad.kernels import registry

# makes "import numba" fail as it does where Numba is not installed
_NO_NUMBA = "import sys; sys.modules['numba'] = None\n"


@pytest.mark.parametrize(
    "code",
    [
        "import softgrad",
        "import softgrad; softgrad.set_kernels('numpy')",
        "import os; os.environ['SOFTGRAD_KERNELS'] = 'numpy'\n"
        "import softgrad.kernels; softgrad.kernels.get_ops()",
        "from softgrad.cli import main\ntry:\n    main(['--help'])\nexcept SystemExit:\n    pass",
        "from softgrad.cli import main\ntry:\n    main(['train', '--help'])\nexcept SystemExit:\n"
        "    pass",
    ],
    ids=[
        "import softgrad",
        "softgrad.set_kernels('numpy')",
        "SOFTGRAD_KERNELS=numpy",
        "softgrad --help",
        "softgrad train --help",
    ],
)
def test_numba_is_not_imported_unless_chosen(code, fresh_python):
    done = fresh_python(code + "\nimport sys\nprint('numba' in sys.modules)")
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


def test_the_environment_variable_chooses_the_numba_lane(fresh_python):
    pytest.importorskip("numba", reason="the Numba lane needs numba (pip install numba)")
    done = fresh_python(
        "from softgrad.kernels import get_ops; print(get_ops().name)", SOFTGRAD_KERNELS="numba"
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "numba"


def test_without_numba_choosing_it_says_why_in_one_error(fresh_python):
    done = fresh_python(
        _NO_NUMBA + "from softgrad.kernels import set_kernels\nset_kernels('numba')"
    )
    assert done.returncode != 0
    last = done.stderr.strip().splitlines()[-1]
    error = "softgrad.errors.MissingDependencyError: set_kernels: the 'numba' kernels need numba"
    assert last.startswith(error), last
    assert "pip install numba" in last and "set_kernels('numpy')" in last


def test_without_numba_an_explicit_environment_choice_is_an_error(fresh_python):
    done = fresh_python(
        _NO_NUMBA + "from softgrad.kernels import get_ops\nget_ops()", SOFTGRAD_KERNELS="numba"
    )
    assert done.returncode != 0
    last = done.stderr.strip().splitlines()[-1]
    # the advice is the variable's (it said to call set_kernels('numpy'), which no CLI user can)
    error = "MissingDependencyError: SOFTGRAD_KERNELS=numba: the 'numba' kernels need numba"
    assert error in last and last.endswith("or set SOFTGRAD_KERNELS=numpy"), last


def test_an_empty_environment_variable_is_as_unset(fresh_python):
    # SOFTGRAD_KERNELS= (as `export SOFTGRAD_KERNELS=` leaves it) was refused as a lane name
    done = fresh_python(
        "from softgrad.kernels import get_ops, registry\nprint(get_ops().name == registry.DEFAULT)",
        SOFTGRAD_KERNELS="",
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "True"
