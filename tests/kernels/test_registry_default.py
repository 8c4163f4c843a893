"""The default lane is Numba's; where Numba cannot be imported the NumPy lane runs, and says so.

Each case runs in a fresh interpreter: the lane is a process-wide choice made at the first
kernel call, and Numba's threading layer is loaded at the first parallel launch.
"""

from __future__ import annotations

import json

import pytest

# makes "import numba" fail as it does where Numba is not installed
_NO_NUMBA = "import sys; sys.modules['numba'] = None\n"
_FALLBACK = "the default 'numba' kernels cannot run here"


def _ok(done) -> str:
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_the_default_lane_is_numba_where_numba_imports(fresh_python):
    pytest.importorskip("numba", reason="the Numba lane needs numba (pip install numba)")
    out = _ok(
        fresh_python(
            "from softgrad.kernels import get_ops, registry\n"
            "print(registry.DEFAULT, get_ops().name, registry.fallback())"
        )
    )
    assert out.split() == ["numba", "numba", "None"]


def test_without_numba_the_numpy_lane_runs_and_info_says_why(fresh_python):
    info = "from softgrad.cli import main\nmain(['info'])\nmain(['info', '--json'])"
    out = _ok(fresh_python(_NO_NUMBA + info))
    text, _, raw = out.partition("{")
    lines = dict(line.split(None, 1) for line in text.splitlines())
    assert lines["kernels"] == "numpy"
    assert lines["note"].startswith(_FALLBACK), lines["note"]
    assert "pip install numba" in lines["note"] and "SOFTGRAD_KERNELS=numpy" in lines["note"]
    kernels = json.loads("{" + raw)["kernels"]
    assert kernels["name"] == "numpy" and kernels["fallback"] == lines["note"]


def test_an_explicit_numpy_lane_is_not_a_fallback(fresh_python):
    out = _ok(
        fresh_python(
            "from softgrad.kernels import get_ops, registry\n"
            "print(get_ops().name, registry.fallback())",
            SOFTGRAD_KERNELS="numpy",
        )
    )
    assert out.split() == ["numpy", "None"]


def test_without_numba_train_notes_the_fallback_once_and_the_file_records_it(
    tmp_path, fresh_python
):
    train = (
        "from softgrad.cli import main\n"
        "raise SystemExit(main(['train', '--epochs', '1', '--out', 'm.npz']))"
    )
    done = fresh_python(_NO_NUMBA + train, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    notes = [line for line in done.stderr.splitlines() if _FALLBACK in line]
    assert len(notes) == 1 and notes[0].startswith("softgrad: note: "), done.stderr
    meta = _ok(
        fresh_python(
            "from softgrad.serialization import read_npz\n"
            "print(read_npz('m.npz', 'model')[1]['kernels'])",
            cwd=tmp_path,
        )
    )
    assert meta.strip() == "numpy"


def test_train_on_the_numba_lane_writes_no_note(tmp_path, fresh_python):
    pytest.importorskip("numba", reason="the Numba lane needs numba (pip install numba)")
    done = fresh_python(
        "from softgrad.cli import main\n"
        "raise SystemExit(main(['train', '--epochs', '1', '--out', 'm.npz']))",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert "note" not in done.stderr, done.stderr


def test_a_numba_that_is_installed_but_broken_is_a_fallback_too(tmp_path, fresh_python):
    # a numba whose llvmlite does not match raises at import, and not an ImportError: every
    # command that used the kernels ended in that traceback, exit 1
    broken = tmp_path / "numba"
    broken.mkdir()
    (broken / "__init__.py").write_text("raise RuntimeError('llvmlite 0.1 is too old')\n")
    inject = f"import sys; sys.path.insert(0, {str(tmp_path)!r})\n"
    out = _ok(
        fresh_python(
            inject + "from softgrad.kernels import get_ops, registry\n"
            "print(get_ops().name); print(registry.fallback())"
        )
    )
    name, note = out.splitlines()
    assert name == "numpy"
    assert note.startswith(f"{_FALLBACK} (RuntimeError: llvmlite 0.1 is too old); "), note
