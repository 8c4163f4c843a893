"""``softgrad info``: versions, the BLAS and the kernel lane in use."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from softgrad import __version__
from softgrad.cli import info as info_command
from softgrad.kernels import registry


@pytest.fixture
def fresh_lane(monkeypatch):
    """The lane is chosen again from SOFTGRAD_KERNELS, and the test's choice is undone after."""
    monkeypatch.setattr(registry, "_active", {})
    monkeypatch.delenv("SOFTGRAD_KERNELS", raising=False)
    return monkeypatch


def test_info_names_versions_blas_and_the_default_lane(cli, fresh_lane):
    result = cli("info")
    assert result.code == 0, result.err
    lines = dict(line.split(None, 1) for line in result.out.splitlines())
    assert lines["softgrad"] == __version__
    assert lines["numpy"] == np.__version__
    assert lines["kernels"].split()[0] == registry.DEFAULT  # then "(numba 0.68.1, threads 2, ...)"
    assert lines["blas"]


def test_info_says_through_which_routines_sgd_folds_its_gradients(cli, monkeypatch):
    from softgrad.kernels import blas

    found = blas.blas_routines()
    lines = dict(line.split(None, 1) for line in cli("info").out.splitlines())
    folding = cli("info", "--json").json()["folding"]
    assert lines["folding"] == (
        f"SGD's gradients into its update, in {found.description} "
        "(SGD's fold_gradients, True by default)"
    )
    assert folding == {"blas": found.description, "why": blas.why_unavailable(),
                       "summary": lines["folding"]}  # fmt: skip
    # where NumPy's BLAS is not found, SGD still folds, through np.matmul, and says why
    monkeypatch.setattr(blas, "_found", {"blas": None, "why": "no BLAS inside NumPy's package"})
    line = dict(x.split(None, 1) for x in cli("info").out.splitlines())["folding"]
    assert line == (
        "SGD's gradients into its update, in np.matmul and NumPy's elementwise passes "
        "(no BLAS inside NumPy's package) (SGD's fold_gradients, True by default)"
    )


def test_info_json(cli, fresh_lane):
    info = cli("info", "--json").json()
    assert info["softgrad"] == __version__
    assert info["kernels"]["name"] == registry.DEFAULT
    assert info["blas"]["name"]
    installed = importlib.util.find_spec("numba") is not None
    assert (info["numba"] is not None) == installed


def test_info_reports_the_numba_lane_with_its_threads(cli, fresh_lane):
    numba = pytest.importorskip("numba", reason="the Numba lane needs numba (pip install numba)")
    fresh_lane.setenv("SOFTGRAD_KERNELS", "numba")
    kernels = cli("info", "--json").json()["kernels"]
    assert kernels["name"] == "numba"
    assert kernels["numba"] == numba.__version__
    assert kernels["threads"] == numba.get_num_threads()


def test_a_bad_lane_is_one_error_line(usage_error, fresh_lane):
    fresh_lane.setenv("SOFTGRAD_KERNELS", "cuda")
    line = usage_error("info")
    assert "SOFTGRAD_KERNELS must be one of 'numpy', 'numba'; got 'cuda'" in line


AVX512 = {"AVX512F": True, "AVX512_SKX": True}


@pytest.mark.parametrize(
    ("coretype", "architecture", "cpu", "noted"),
    [
        ("Haswell", "Haswell", AVX512, True),  # pinned below what the CPU runs
        ("Sandybridge", "Sandybridge", AVX512, True),
        (None, "Haswell", AVX512, False),  # OpenBLAS's own pick: nothing pins it
        ("SkylakeX", "SkylakeX", AVX512, False),  # pinned to AVX-512 kernels
        ("Haswell", "Haswell", {"AVX2": True, "AVX512_SKX": False}, False),  # no AVX-512
        ("Haswell", "Haswell", {}, False),  # a NumPy that does not say
    ],
)
def test_a_coretype_that_holds_an_avx512_cpu_on_older_kernels_gets_a_note(
    coretype, architecture, cpu, noted
):
    note = info_command.coretype_note(coretype, architecture, cpu)
    assert (note is not None) == noted
    if noted:
        assert note.startswith(f"OPENBLAS_CORETYPE={coretype} holds this CPU")
        assert f"on OpenBLAS's {architecture} kernels" in note


def test_info_reports_the_coretype_in_effect_and_its_note(cli, fresh_lane):
    blas = cli("info", "--json").json()["blas"]
    if blas["name"] != "openblas":
        pytest.skip(f"NumPy's BLAS here is {blas['name']}, not OpenBLAS")
    coretype = os.environ.get("OPENBLAS_CORETYPE")
    assert blas["coretype"] == coretype
    features = info_command._cpu_features()
    assert features, "NumPy's reading of the CPU's features was not found"
    expected = info_command.coretype_note(coretype, blas["architecture"], features)
    assert blas["note"] == expected  # the note for this machine and environment


@pytest.mark.parametrize("argv", [["info", "--help"], ["info"], ["info", "--json"]])
def test_info_on_the_numpy_lane_never_imports_numba(argv):
    # its version is read from the package metadata: importing it costs a second and can fail
    code = (
        "import sys\nfrom softgrad.cli import main\ntry:\n"
        f"    main({argv!r})\nexcept SystemExit:\n    pass\n"
        "print('numba' in sys.modules)"
    )
    src = str(Path(__file__).resolve().parents[2] / "src")
    env = {**os.environ, "SOFTGRAD_KERNELS": "numpy", "PYTHONPATH": src}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "False", done.stdout
    if argv == ["info"] and importlib.util.find_spec("numba") is not None:
        assert "(installed, not in use)" in done.stdout
