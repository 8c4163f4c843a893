"""Non-ASCII file and class names under an ASCII file system encoding (``LC_ALL=C
PYTHONUTF8=0``), where Python reads ``modèle.npz`` as ``mod\\udcc3\\udca8le.npz``:
- ``evaluate`` of a model trained on ``café.csv`` (in a UTF-8 locale) failed with "'ascii'
  codec can't encode character" (another --data) or called the recorded file missing;
- ``gradcheck nœud.py:Échelle`` was told its argument was not FILE.py:CLASS;
- ``--json`` carried the name as lone surrogates, which no UTF-8 reader turns back into it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from softgrad.cli import main
from softgrad.cli.names import as_file_name, as_text, json_text

SRC = Path(__file__).resolve().parents[2] / "src"
ASCII_FS = {"LC_ALL": "C", "PYTHONUTF8": "0", "PYTHONIOENCODING": ""}


def _softgrad(folder: Path, *argv: str) -> subprocess.CompletedProcess[bytes]:
    """``softgrad ARGV`` in ``folder`` under an ASCII file system encoding."""
    env = {**os.environ, **ASCII_FS, "PYTHONPATH": str(SRC)}
    env.pop("PYTHONIOENCODING")
    return subprocess.run(
        [sys.executable, "-m", "softgrad", *argv],
        cwd=folder,
        env=env,
        capture_output=True,
        timeout=300,
    )


@pytest.fixture(scope="module")
def accented(tmp_path_factory):
    """A folder holding café.csv, more.csv, modèle.npz (trained on café.csv here, where names
    are UTF-8) and nœud.py with a class Échelle."""
    folder = tmp_path_factory.mktemp("names")
    rng = np.random.default_rng(0)
    for name, n in (("café.csv", 80), ("more.csv", 30)):
        X = rng.standard_normal((n, 3))
        rows = [f"{a:.3f},{b:.3f},{c:.3f},{int(a > 0)}" for a, b, c in X]
        (folder / name).write_text("\n".join(["a,b,c,label", *rows]) + "\n", encoding="utf-8")
    (folder / "nœud.py").write_text(
        "class Échelle:\n"
        "    def forward(self, x):\n        return 3 * x\n"
        "    def backward(self, g):\n        return 3 * g\n",
        encoding="utf-8",
    )
    argv = ["train", "--data", str(folder / "café.csv"), "--out", str(folder / "modèle.npz")]
    assert main([*argv, "--epochs", "2", "--quiet"]) == 0
    probe = _softgrad(folder, "--version")
    assert probe.returncode == 0, probe.stderr
    encoding = subprocess.run(
        [sys.executable, "-c", "import sys; print(sys.getfilesystemencoding())"],
        env={**os.environ, "LC_ALL": "C", "PYTHONUTF8": "0"},
        capture_output=True,
        text=True,
    ).stdout.strip()
    assert encoding == "ascii"  # the setting these tests are about
    return folder


def test_evaluate_another_file_with_the_recorded_name_unencodable(accented):
    done = _softgrad(accented, "evaluate", "--model", "modèle.npz", "--data", "more.csv")
    assert done.returncode == 0, done.stderr
    assert b"on more.csv all samples (30 samples)" in done.stdout


def test_evaluate_finds_the_recorded_file(accented):
    done = _softgrad(accented, "evaluate", "--model", "modèle.npz", "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["split"] == "test set" and report["n_samples"] == 16
    assert report["data"] == "café.csv"


def test_gradcheck_of_a_class_with_a_non_ascii_name(accented):
    done = _softgrad(accented, "gradcheck", "nœud.py:Échelle", "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["name"] == "Échelle" and report["ok"] is True


def test_json_carries_the_names_as_text(accented):
    np.save(accented / "x.npy", np.zeros((2, 3)))
    done = _softgrad(accented, "predict", "--model", "modèle.npz", "x.npy", "--json")
    assert done.returncode == 0, done.stderr
    done.stdout.decode("ascii")  # JSON is ASCII, its names escaped as \u00e8
    assert json.loads(done.stdout)["model"] == "modèle.npz"


def test_text_from_surrogates_and_back():
    assert json_text("mod\udcc3\udca8le.npz") == "modèle.npz"
    assert json_text("caf\udce9.csv") == "caf\\xe9.csv"  # not UTF-8: escaped, not lost
    assert json_text("thé") == "thé" and json_text("a\udc80") == "a\\x80"
    # in this process's encoding a name and its text are one round trip apart
    for text in ["café.csv", "plain.npz", "猫/x.csv"]:
        assert as_text(as_file_name(text)) == text


@pytest.fixture(scope="module")
def latin1_locale(tmp_path_factory):
    """A Latin-1 locale built with localedef into a temporary LOCPATH (skipped where the
    machine cannot build one)."""
    folder = tmp_path_factory.mktemp("locales")
    name = "en_US.ISO-8859-1"
    try:
        built = subprocess.run(
            ["localedef", "-i", "en_US", "-f", "ISO-8859-1", str(folder / name)],
            capture_output=True,
            timeout=60,
        )
    except FileNotFoundError:
        pytest.skip("no localedef on this machine")
    if not (folder / name).is_dir():
        pytest.skip(f"localedef could not build {name}: {built.stderr.decode(errors='replace')}")
    return {"LOCPATH": str(folder), "LC_ALL": name, "PYTHONUTF8": "0"}


def test_a_latin1_locale_keeps_the_names_python_read(latin1_locale, tmp_path):
    # only an ASCII file-system encoding reads a UTF-8 name as surrogates; reading a Latin-1
    # name's one byte as UTF-8 made Échelle into '\udcc9chelle', "not FILE.py:CLASS"
    env = {**os.environ, **latin1_locale, "PYTHONPATH": str(SRC)}
    probe = [sys.executable, "-c", "import sys; print(sys.getfilesystemencoding())"]
    assert subprocess.run(probe, env=env, capture_output=True, text=True).stdout.strip() in (
        "iso8859-1",
        "latin-1",
    )
    (tmp_path / "layer_e.py").write_bytes(
        "class Échelle:\n"
        "    def forward(self, x):\n        return 3 * x\n"
        "    def backward(self, g):\n        return 3 * g\n".encode()  # Python source is UTF-8
    )
    target = os.fsencode("layer_e.py:") + "Échelle".encode("latin-1")
    done = subprocess.run(
        [os.fsencode(sys.executable), b"-m", b"softgrad", b"gradcheck", target, b"--json"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["name"] == "Échelle"
