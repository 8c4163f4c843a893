"""Progress output (bar on a terminal, lines otherwise) and the installed entry points."""

from __future__ import annotations

import io
import shutil
import subprocess
import sys

from softgrad.cli.progress import EpochProgress
from softgrad.training import History, TrainState


class FakeTerminal(io.StringIO):
    def isatty(self):
        return True


def _run_epochs(progress, n_epochs=2, n_batches=3):
    history = History()
    state = TrainState(epochs=n_epochs, n_batches=n_batches, history=history)
    for epoch in range(1, n_epochs + 1):
        state.epoch = epoch
        for batch in range(1, n_batches + 1):
            state.batch = batch
            state.logs = {"loss": 0.75, "batch_size": 8}
            progress.on_batch_end(state)
        history.append(
            train_loss=1.0 / epoch,
            train_acc=0.5,
            lr=0.01,
            epoch_time=0.25,
            val_loss=2.0 / epoch,
            val_acc=0.4,
        )
        progress.on_epoch_end(state)


def test_plain_lines_when_not_a_terminal():
    stream = io.StringIO()
    _run_epochs(EpochProgress(2, stream=stream))
    lines = stream.getvalue().splitlines()
    assert lines == [
        "epoch 1/2  loss 1.0000  acc 0.5000  val loss 2.0000  val acc 0.4000  lr 0.01  0.2s",
        "epoch 2/2  loss 0.5000  acc 0.5000  val loss 1.0000  val acc 0.4000  lr 0.01  0.2s",
    ]


def test_tqdm_bar_on_a_terminal():
    stream = FakeTerminal()
    _run_epochs(EpochProgress(2, stream=stream))
    text = stream.getvalue()
    assert "\r" in text  # a redrawn bar, not plain lines
    assert "epoch 1/2:" in text and "batch/s" in text  # tqdm's bar for each epoch
    # each bar is replaced by the epoch's summary line
    summaries = [part for part in text.split("\r") if part.startswith("epoch 2/2  loss")]
    assert summaries == [
        "epoch 2/2  loss 0.5000  acc 0.5000  val loss 1.0000  val acc 0.4000  lr 0.01  0.2s\n"
    ]


def test_quiet_prints_nothing_but_counts():
    stream = FakeTerminal()
    progress = EpochProgress(2, stream=stream, quiet=True)
    _run_epochs(progress, n_epochs=2)
    assert stream.getvalue() == ""
    assert progress.epochs_seen == 2


def test_python_dash_m(tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "softgrad",
            "train",
            "--epochs",
            "2",
            "--quiet",
            "--out",
            str(tmp_path / "m.npz"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert "test accuracy" in result.stdout
    bad = subprocess.run(
        [sys.executable, "-m", "softgrad", "train", "--epochs", "0"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert bad.returncode == 2
    assert bad.stderr.splitlines() == [
        "softgrad: error: train: argument --epochs: must be a positive integer; got '0'"
    ]


def test_console_script():
    script = shutil.which("softgrad") or str(
        __import__("pathlib").Path(sys.executable).with_name("softgrad")
    )
    result = subprocess.run(
        [script, "jacobian", "-1", "1"], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    assert "softmax(x)" in result.stdout
