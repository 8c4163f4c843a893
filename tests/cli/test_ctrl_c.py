"""Ctrl-C during ``softgrad train``: one error line, exit 130, nothing half-written, and the
command that resumes the run when a checkpoint exists."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import softgrad
from softgrad.training.checkpoint import load_checkpoint

SRC = Path(softgrad.__file__).resolve().parents[1]


def test_ctrl_c_during_training_names_the_resume_command(tmp_path):
    argv = ["train", "--epochs", "100000", "--hidden", "8", "--lr-schedule", "constant"]
    argv += ["--checkpoint", "ck.npz", "--out", "m.npz", "--quiet"]
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "softgrad", *argv],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        # the first checkpoint is written atomically: once it exists, it is complete
        deadline = time.monotonic() + 300
        while not (tmp_path / "ck.npz").exists() and proc.poll() is None:
            assert time.monotonic() < deadline, "no checkpoint was written"
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    assert err.splitlines() == [
        "softgrad: error: interrupted; nothing else was written; resume with: softgrad train "
        "--data digits --resume ck.npz --epochs 100000 --out m.npz --checkpoint ck.npz --quiet"
    ]
    assert out == ""
    # no model, no temp file: only the checkpoint, which loads
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ck.npz"]
    assert load_checkpoint(tmp_path / "ck.npz").epoch >= 1
