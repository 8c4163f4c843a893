"""A stdout that cannot encode a name (PYTHONIOENCODING=ascii) gets it as a backslash escape:
every command runs to its end with exit 0, instead of printing half its output and exiting 2."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from softgrad.cli import main

SRC = Path(__file__).resolve().parents[2] / "src"


@pytest.fixture(scope="module")
def accented(tmp_path_factory):
    """A folder with a model of classes 'café' and 'thé', its CSV data, three samples to predict
    and a node class named Café."""
    folder = tmp_path_factory.mktemp("accented")
    rng = np.random.default_rng(0)
    X = rng.standard_normal((60, 3))
    labels = np.where(X[:, 0] > 0, "café", "thé")
    rows = [
        ",".join([*(f"{v:.3f}" for v in row), label]) for row, label in zip(X, labels, strict=True)
    ]
    (folder / "d.csv").write_text("\n".join(["a,b,c,label", *rows]) + "\n", encoding="utf-8")
    np.save(folder / "x.npy", X[:3])
    (folder / "node.py").write_text(
        "class Café:\n"
        "    def forward(self, x):\n        return 2 * x\n"
        "    def backward(self, g):\n        return 2 * g\n",
        encoding="utf-8",
    )
    code = main(["train", "--data", str(folder / "d.csv"), "--out", str(folder / "m.npz"),
                 "--epochs", "1", "--quiet"])  # fmt: skip
    assert code == 0
    return folder


def _commands(folder):
    return {
        "predict": ["predict", "--model", folder / "m.npz", folder / "x.npy"],
        "evaluate": ["evaluate", "--model", folder / "m.npz", "--data", folder / "d.csv"],
        "gradcheck": ["gradcheck", f"{folder / 'node.py'}:Café"],
    }


@pytest.mark.parametrize("command", ["predict", "evaluate", "gradcheck"])
def test_every_command_escapes_what_an_ascii_stdout_cannot_show(
    accented, command, monkeypatch, capsys
):
    raw = io.BytesIO()
    stdout = io.TextIOWrapper(raw, encoding="ascii", errors="strict")
    monkeypatch.setattr(sys, "stdout", stdout)
    code = main([str(a) for a in _commands(accented)[command]])
    stdout.flush()
    assert code == 0, capsys.readouterr().err
    text = raw.getvalue().decode("ascii")
    assert "\\xe9" in text and "\u00e9" not in text
    assert stdout.errors == "strict"  # put back once the command ended


def test_the_tables_align_the_escaped_names(accented, monkeypatch):
    # widths were measured on 'café' (4 columns) while 'caf\\xe9' (7) was written
    raw = io.BytesIO()
    stdout = io.TextIOWrapper(raw, encoding="ascii", errors="strict")
    monkeypatch.setattr(sys, "stdout", stdout)
    assert main([str(a) for a in _commands(accented)["evaluate"]]) == 0
    stdout.flush()
    lines = raw.getvalue().decode("ascii").splitlines()
    start = lines.index(next(line for line in lines if line.startswith("class ")))
    rows = lines[start : start + 3]
    assert [row.split()[0] for row in rows] == ["class", "caf\\xe9", "th\\xe9"], rows
    assert len({len(row) for row in rows}) == 1, rows  # every column ends where its header does


def test_predict_under_pythonioencoding_ascii_prints_every_line(accented):
    env = {**os.environ, "PYTHONIOENCODING": "ascii", "PYTHONPATH": str(SRC)}
    argv = [str(a) for a in _commands(accented)["predict"]]
    done = subprocess.run(
        [sys.executable, "-m", "softgrad", *argv], env=env, capture_output=True, timeout=120
    )
    assert done.returncode == 0 and done.stderr == b"", done.stderr
    lines = done.stdout.decode("ascii").splitlines()
    assert len(lines) == 3 and all("\\xe9 (" in line for line in lines), lines
