"""Ctrl-C during ``softgrad train``: one error line, exit 130, nothing half-written, and the
command that resumes the run when a checkpoint exists."""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

import softgrad
from softgrad.training.checkpoint import load_checkpoint

SRC = Path(softgrad.__file__).resolve().parents[1]


ENV = {**os.environ, "PYTHONPATH": str(SRC)}


def _interrupt_after_the_first_checkpoint(argv, folder):
    proc = subprocess.Popen(
        [sys.executable, "-m", "softgrad", *argv],
        cwd=folder,
        env=ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        # the first checkpoint is written atomically: once it exists, it is complete
        deadline = time.monotonic() + 300
        while not (folder / "ck.npz").exists() and proc.poll() is None:
            assert time.monotonic() < deadline, "no checkpoint was written"
            time.sleep(0.01)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    return proc.returncode, out, err


def test_ctrl_c_during_training_names_the_resume_command(tmp_path):
    argv = ["train", "--epochs", "100000", "--hidden", "8", "--lr-schedule", "constant"]
    argv += ["--checkpoint", "ck.npz", "--out", "m.npz", "--quiet"]
    code, out, err = _interrupt_after_the_first_checkpoint(argv, tmp_path)
    assert code == 130, err
    assert err.splitlines() == [
        "softgrad: error: interrupted; nothing else was written; resume with: softgrad train "
        "--data digits --resume ck.npz --epochs 100000 --out m.npz --checkpoint ck.npz --quiet"
    ]
    assert out == ""
    # no model, no temp file: only the checkpoint, which loads
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ck.npz"]
    assert load_checkpoint(tmp_path / "ck.npz").epoch >= 1


def test_the_resume_command_after_ctrl_c_finishes_the_run_bit_identically(tmp_path):
    # settings away from the defaults: the command repeats none of them, the checkpoint has them
    settings = ["--hidden", "8", "--lr-schedule", "constant", "--seed", "4", "--batch-size", "16"]
    # 200 epochs (about 1 s): with 12 (0.3 s, 6 ms an epoch) the run could end between the
    # first checkpoint and the signal, a 50 ms poll later, and exit 0 (a flaky failure)
    argv = ["train", "--epochs", "200", *settings, "--quiet"]
    code, _, err = _interrupt_after_the_first_checkpoint(
        [*argv, "--checkpoint", "ck.npz", "--out", "m.npz"], tmp_path
    )
    assert code == 130, err
    command = shlex.split(err.split("resume with: ", 1)[1])
    assert command[:2] == ["softgrad", "train"] and "--hidden" not in command
    resumed = subprocess.run(
        [sys.executable, "-m", "softgrad", *command[1:]], cwd=tmp_path, env=ENV, check=False
    )
    assert resumed.returncode == 0
    full = subprocess.run(
        [sys.executable, "-m", "softgrad", *argv, "--out", "full.npz"], cwd=tmp_path, env=ENV
    )
    assert full.returncode == 0
    a = softgrad.load(tmp_path / "m.npz").network.named_params()
    b = softgrad.load(tmp_path / "full.npz").network.named_params()
    for name, value in b.items():
        np.testing.assert_array_equal(a[name], value, err_msg=name)
