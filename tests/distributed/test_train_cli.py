"""``softgrad train`` under ``mpiexec -n 2``: one speaker, one model file, a plain run's result."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from numpy.testing import assert_allclose

pytestmark = pytest.mark.mpi

SRC = Path(__file__).resolve().parents[2] / "src"
TIMEOUT = 120
TRAIN = ["-m", "softgrad", "train", "--epochs", "2", "--dtype", "float64", "--quiet"]


def _softgrad(args: list[str], cwd: Path, ranks: int | None) -> subprocess.CompletedProcess:
    command = [sys.executable, *args]
    if ranks is not None:
        beside = Path(sys.executable).parent / "mpiexec"
        command = [str(beside) if beside.exists() else "mpiexec", "-n", str(ranks), *command]
    env = {**os.environ, "PYTHONPATH": f"{SRC}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    return subprocess.run(
        command, cwd=cwd, env=env, capture_output=True, text=True, timeout=TIMEOUT, check=False
    )


def test_train_under_mpiexec_matches_a_plain_run(tmp_path):
    (tmp_path / "plain").mkdir()
    (tmp_path / "ranks").mkdir()
    plain = _softgrad([*TRAIN, "--json"], tmp_path / "plain", None)
    assert plain.returncode == 0, plain.stderr
    done = _softgrad([*TRAIN, "--json", "--checkpoint", "ckpt.npz"], tmp_path / "ranks", 2)
    assert done.returncode == 0, done.stderr
    assert done.stderr.splitlines()[0] == "data-parallel over 2 MPI ranks, global batch 32"
    # rank 0 alone printed its summary and wrote the model and the checkpoint
    summary, expected = json.loads(done.stdout), json.loads(plain.stdout)
    assert sorted(p.name for p in (tmp_path / "ranks").iterdir()) == ["ckpt.npz", "model.npz"]
    # float64: the ranks' gradient sums differ from one process's only by rounding
    assert summary["test_accuracy"] == expected["test_accuracy"]
    assert_allclose(summary["test_loss"], expected["test_loss"], rtol=1e-10)
    assert_allclose(summary["history"]["train_loss"], expected["history"]["train_loss"], rtol=1e-10)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--epochs", "0"], "softgrad: error: train: argument --epochs: must be a positive"),
        (["--data", "missing.npz"], "softgrad: error: load_data: data must be one of"),
    ],
)
def test_a_bad_option_or_missing_file_ends_every_rank_with_one_line(tmp_path, args, message):
    done = _softgrad([*TRAIN, *args], tmp_path, 2)
    assert done.returncode == 2
    assert len(done.stderr.splitlines()) == 1 and done.stderr.startswith(message), done.stderr
    assert done.stdout == "" and not list(tmp_path.iterdir())


def test_other_commands_refuse_to_run_on_several_ranks(tmp_path):
    done = _softgrad(["-m", "softgrad", "evaluate", "--model", "model.npz"], tmp_path, 2)
    assert done.returncode == 2
    assert done.stderr == (
        "softgrad: error: evaluate: the number of MPI ranks must be 1 (only train runs "
        "data-parallel; start evaluate without mpiexec); got 2\n"
    )
