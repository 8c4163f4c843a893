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
import pytest

import softgrad
from softgrad.training.checkpoint import load_checkpoint

SRC = Path(softgrad.__file__).resolve().parents[1]


ENV = {**os.environ, "PYTHONPATH": str(SRC)}


def _default_hangup() -> None:
    """SIGHUP as a terminal's process gets it, even under ``nohup`` (which ignores it)."""
    signal.signal(signal.SIGHUP, signal.SIG_DFL)


def _interrupt_after_the_first_checkpoint(argv, folder, signum=signal.SIGINT):
    proc = subprocess.Popen(
        [sys.executable, "-m", "softgrad", *argv],
        cwd=folder,
        env=ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=_default_hangup,
    )
    try:
        # the first checkpoint is written atomically: once it exists, it is complete
        deadline = time.monotonic() + 300
        while not (folder / "ck.npz").exists() and proc.poll() is None:
            assert time.monotonic() < deadline, "no checkpoint was written"
            time.sleep(0.01)
        proc.send_signal(signum)
        out, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    return proc.returncode, out, err


# SIGTERM (kill, timeout, a scheduler's time limit) and SIGHUP (the terminal closed) stop a
# run as Ctrl-C does: Python's default ended the process at once, with no word, and a
# checkpoint being written stayed as a temp file
@pytest.mark.parametrize(
    "signum",
    [signal.SIGINT, signal.SIGTERM, signal.SIGHUP],
    ids=["ctrl-c", "sigterm", "sighup"],
)
def test_ctrl_c_during_training_names_the_resume_command(tmp_path, signum):
    argv = ["train", "--epochs", "100000", "--hidden", "8", "--lr-schedule", "constant"]
    argv += ["--checkpoint", "ck.npz", "--out", "m.npz", "--quiet"]
    code, out, err = _interrupt_after_the_first_checkpoint(argv, tmp_path, signum)
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


def test_ctrl_c_while_the_command_line_is_imported_is_one_line(monkeypatch, capsys):
    # the console script imports softgrad.cli before main runs: a Ctrl-C during an import
    # (NumPy's takes tenths of a second) printed a traceback, not the promised line
    from softgrad.cli import main

    class Interrupting:
        def find_spec(self, name, path=None, target=None):
            if name == "softgrad.cli.parser":
                raise KeyboardInterrupt
            return None

    monkeypatch.delitem(sys.modules, "softgrad.cli.parser", raising=False)
    monkeypatch.setattr(sys, "meta_path", [Interrupting(), *sys.meta_path])
    assert main(["info"]) == 130
    captured = capsys.readouterr()
    assert captured.err == "softgrad: error: interrupted\n" and captured.out == ""


def test_sigterm_is_left_to_a_caller_that_handles_it_and_put_back_after(monkeypatch):
    from softgrad.cli.errors import sigterm_as_ctrl_c

    previous_hangup = signal.signal(signal.SIGHUP, signal.SIG_DFL)
    try:
        assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
        with sigterm_as_ctrl_c():
            for signum in (signal.SIGTERM, signal.SIGHUP):
                assert callable(signal.getsignal(signum))
                with pytest.raises(KeyboardInterrupt):  # as Ctrl-C, through SIGINT's handler
                    signal.raise_signal(signum)
        assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
        assert signal.getsignal(signal.SIGHUP) is signal.SIG_DFL
    finally:
        signal.signal(signal.SIGHUP, previous_hangup)
    set_handlers = []
    monkeypatch.setattr(signal, "getsignal", lambda signum: print)  # a handler of the caller's
    monkeypatch.setattr(signal, "signal", lambda *args: set_handlers.append(args))
    with sigterm_as_ctrl_c():
        pass
    assert set_handlers == []  # left alone


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full (Linux)")
def test_a_stdout_that_cannot_be_written_is_named_with_the_files_that_were(tmp_path):
    # "softgrad: error: No space left on device" said neither that it was stdout nor that the
    # model had been written all the same
    def run(*argv):
        with open("/dev/full", "w") as full:
            proc = subprocess.run(
                [sys.executable, "-m", "softgrad", *argv],
                cwd=tmp_path, env=ENV, stdout=full, stderr=subprocess.PIPE, text=True,
            )  # fmt: skip
        return proc.returncode, proc.stderr

    code, err = run("train", "--epochs", "1", "--hidden", "8", "--quiet", "--out", "m.npz")
    assert code == 2
    assert err == (
        "softgrad: error: could not write the report to stdout (No space left on device); "
        "the files were written: m.npz\n"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.npz"]
    assert softgrad.load(tmp_path / "m.npz").n_classes == 10
    assert run("info") == (
        2,
        "softgrad: error: could not write to stdout (No space left on device)\n",
    )


def test_the_command_line_reads_the_launchers_variables_that_training_reads():
    # main notes Ctrl-C on several ranks before it may import the training package
    import softgrad.cli
    from softgrad.training.mpi_rank import LAUNCHER_VARIABLES

    assert softgrad.cli._LAUNCHER_VARIABLES == LAUNCHER_VARIABLES


def test_ctrl_c_after_the_last_batch_is_not_dropped(cli, tmp_path, monkeypatch, python_ctrl_c):
    # it came while the last epoch was validated or the best weights put back: the run went
    # on, wrote its model and exited 0 as if no Ctrl-C had come
    from softgrad.training.early_stopping import EarlyStopping

    real_restore = EarlyStopping.restore

    def restore_then_ctrl_c(self, params):
        real_restore(self, params)
        os.kill(os.getpid(), signal.SIGINT)

    monkeypatch.setattr(EarlyStopping, "restore", restore_then_ctrl_c)
    monkeypatch.chdir(tmp_path)
    argv = ["train", "--epochs", "2", "--hidden", "8", "--checkpoint", "ck.npz", "--quiet"]
    result = cli(*argv)
    assert result.code == 130, result.err
    assert result.err.splitlines() == [
        "softgrad: error: interrupted; nothing else was written; resume with: softgrad train "
        "--data digits --resume ck.npz --epochs 2 --out model.npz --checkpoint ck.npz --quiet"
    ]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ck.npz"]
    # the command it gives finishes the run: no epoch left to train, the model written
    monkeypatch.setattr(EarlyStopping, "restore", real_restore)
    resumed = cli(*shlex.split(result.err.split("resume with: ")[1])[1:])
    assert resumed.code == 0, resumed.err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ck.npz", "model.npz"]
