"""``softgrad train`` under ``mpiexec -n 2``: one speaker, one model file, a plain run's result."""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from softgrad.training.checkpoint import load_checkpoint

pytestmark = pytest.mark.mpi

SRC = Path(__file__).resolve().parents[2] / "src"
TIMEOUT = 120
TRAIN = ["-m", "softgrad", "train", "--epochs", "2", "--dtype", "float64", "--quiet"]


THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def _command(
    args: list[str], ranks: int | None, threads_set: bool = True
) -> tuple[list[str], dict[str, str]]:
    """The command line and environment; without ``threads_set``, one that sets no thread
    count (BLAS's and Numba's defaults: every core)."""
    command = [sys.executable, *args]
    if ranks is not None:
        beside = Path(sys.executable).parent / "mpiexec"
        command = [str(beside) if beside.exists() else "mpiexec", "-n", str(ranks), *command]
    env = {**os.environ, "PYTHONPATH": f"{SRC}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    if not threads_set:
        for name in (*THREAD_VARIABLES, "NUMBA_NUM_THREADS"):
            env.pop(name, None)
    return command, env


def _softgrad(
    args: list[str], cwd: Path, ranks: int | None, threads_set: bool = True
) -> subprocess.CompletedProcess:
    command, env = _command(args, ranks, threads_set)
    return _run(command, cwd, env)


def _run(command: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        command, cwd=cwd, env=env, capture_output=True, text=True, timeout=TIMEOUT, check=False
    )


def _float_npz(path: Path) -> None:
    """Features that are standardised (not a pixel range), labels of 3 classes."""
    rng = np.random.default_rng(1)
    X = rng.normal(size=(211, 5)) * [1, 10, 100, 0.1, 3]
    y = (X[:, 0] > 0).astype(int) + (X[:, 1] > 5)
    np.savez(path, X=X, y=y)


@pytest.mark.parametrize(
    ("ranks", "data"),
    [(2, []), (3, ["--data", "float.npz", "--val-fraction", "0.2", "--batch-size", "16"])],
)
def test_train_under_mpiexec_matches_a_plain_run(tmp_path, ranks, data):
    for folder in ("plain", "ranks"):
        (tmp_path / folder).mkdir()
        _float_npz(tmp_path / folder / "float.npz")
    plain = _softgrad([*TRAIN, *data, "--json"], tmp_path / "plain", None)
    assert plain.returncode == 0, plain.stderr
    done = _softgrad(
        [*TRAIN, *data, "--json", "--checkpoint", "ckpt.npz"], tmp_path / "ranks", ranks
    )
    assert done.returncode == 0, done.stderr
    batch = 16 if data else 32
    assert (
        done.stderr.splitlines()[0] == f"data-parallel over {ranks} MPI ranks, global batch {batch}"
    )
    # rank 0 alone printed its summary and wrote the model and the checkpoint; the training rows
    # it shared with the other ranks (cli/ranks.py) are gone
    summary, expected = json.loads(done.stdout), json.loads(plain.stdout)
    written = sorted(p.name for p in (tmp_path / "ranks").iterdir())
    assert written == ["ckpt.npz", "float.npz", "model.npz"]
    # float64: the ranks' gradient sums differ from one process's only by rounding
    assert summary["test_accuracy"] == expected["test_accuracy"]
    assert_allclose(summary["test_loss"], expected["test_loss"], rtol=1e-10)
    for key in ("train_loss", "val_loss", "val_acc"):
        assert_allclose(summary["history"][key], expected["history"][key], rtol=1e-10)


def test_one_rank_trains_on_a_plain_runs_threads_and_weights_bit_for_bit(tmp_path):
    # no other rank shares the cores, so one rank keeps every core's BLAS thread as a plain
    # run does; limited to one, its GEMMs (128 x 784 x 64: OpenBLAS threads them) rounded
    # otherwise, and the weights differed from the plain run's in the 7th digit
    rng = np.random.default_rng(3)
    X = rng.integers(0, 256, size=(400, 784)).astype(np.float32)
    y = np.arange(400) % 4
    args = ["-m", "softgrad", "train", "--data", "wide.npz", "--epochs", "1", "--quiet"]
    args += ["--hidden", "64", "--batch-size", "128"]

    def data(folder):
        np.savez(folder / "wide.npz", X=X, y=y)

    _assert_one_rank_trains_as_a_plain_run(tmp_path, args, data, threads_set=False)


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_one_rank_trains_as_a_plain_run_bit_for_bit(tmp_path, optimizer):
    # with SGD, mpiexec -n 1 stepped through the sharded step, which never folds the gradient
    # into the update as a plain run does (softgrad.training.folded_step): the weights
    # differed from the plain run's by 1.2e-6 after 2 epochs
    args = ["-m", "softgrad", "train", "--epochs", "2", "--quiet", "--optimizer", optimizer]
    _assert_one_rank_trains_as_a_plain_run(tmp_path, args, lambda folder: None)


def _assert_one_rank_trains_as_a_plain_run(tmp_path, args, data, **options):
    """``softgrad args`` plainly and under mpiexec -n 1, each in a folder of its own that
    ``data(folder)`` fills: the two models' weights are equal bit for bit."""
    weights = []
    for folder, ranks in (("plain", None), ("ranks", 1)):
        (tmp_path / folder).mkdir()
        data(tmp_path / folder)
        done = _softgrad(args, tmp_path / folder, ranks, **options)
        assert done.returncode == 0, done.stderr
        with np.load(tmp_path / folder / "model.npz") as model:
            weights.append({k: model[k] for k in model.files if not k.startswith("__")})
    assert weights[0].keys() == weights[1].keys()
    for key, value in weights[0].items():
        assert_array_equal(weights[1][key], value, err_msg=key)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--epochs", "0"], "softgrad: error: train: argument --epochs: must be a positive"),
        (["--data", "missing.npz"], "softgrad: error: --data must be one of"),
        # the command line's own checks (a UsageError each) were a traceback and MPI_Abort
        (["--resume", "missing.npz"], "softgrad: error: --resume: file 'missing.npz' does not"),
        (["--out", "nowhere/model.npz"], "softgrad: error: --out: folder 'nowhere' does not"),
        (["--plot", "curves.txt"], "softgrad: error: --plot must end in one of .png"),
    ],
)
def test_a_bad_option_or_missing_file_ends_every_rank_with_one_line(tmp_path, args, message):
    done = _softgrad([*TRAIN, *args], tmp_path, 2)
    assert done.returncode == 2
    assert len(done.stderr.splitlines()) == 1 and done.stderr.startswith(message), done.stderr
    assert done.stdout == "" and not list(tmp_path.iterdir())


@pytest.mark.parametrize(
    ("command", "ranks"),
    [(["evaluate", "--model", "model.npz"], 2), (["predict", "--model", "model.npz", "x.png"], 3)],
)
def test_evaluate_and_predict_refuse_to_run_on_several_ranks(tmp_path, command, ranks):
    # the choice the issue asks to state: they refuse (N ranks would score and write N times)
    done = _softgrad(["-m", "softgrad", *command], tmp_path, ranks)
    assert done.returncode == 2
    name = command[0]
    assert done.stderr == (
        f"softgrad: error: {name}: the number of MPI ranks must be 1 (only train runs "
        f"data-parallel; start {name} without mpiexec); got {ranks}\n"
    )
    assert done.stdout == "" and not list(tmp_path.iterdir())


def test_a_diverged_run_ends_every_rank_with_one_line_and_writes_nothing(tmp_path):
    # every rank sees the same global batch loss, so each raises the same DivergenceError at
    # the same batch; rank 0 alone reports it
    done = _softgrad([*TRAIN, "--lr", "1e6", "--optimizer", "sgd"], tmp_path, 2)
    assert done.returncode == 2
    lines = done.stderr.splitlines()
    assert lines[0] == "data-parallel over 2 MPI ranks, global batch 32"
    assert len(lines) == 2 and lines[1].startswith("softgrad: error: fit: the mean training loss")
    assert "Nothing was written" in lines[1]
    assert done.stdout == "" and not list(tmp_path.iterdir())


def test_a_run_checkpointed_on_2_ranks_and_resumed_on_3_equals_a_plain_run(tmp_path):
    # a constant schedule: a cosine one spans the epochs a run started with
    base = ["-m", "softgrad", "train", "--dtype", "float64", "--quiet", "--json"]
    base += ["--lr-schedule", "constant"]
    (tmp_path / "plain").mkdir()
    plain = _softgrad([*base, "--epochs", "3"], tmp_path / "plain", None)
    assert plain.returncode == 0, plain.stderr
    first = _softgrad([*base, "--epochs", "2", "--checkpoint", "ckpt.npz"], tmp_path, 2)
    assert first.returncode == 0, first.stderr
    rest = _softgrad([*base, "--epochs", "3", "--resume", "ckpt.npz"], tmp_path, 3)
    assert rest.returncode == 0, rest.stderr
    summary, expected = json.loads(rest.stdout), json.loads(plain.stdout)
    assert summary["epochs_run"] == 3 and summary["epochs_this_run"] == 1
    assert summary["test_accuracy"] == expected["test_accuracy"]
    assert_allclose(summary["test_loss"], expected["test_loss"], rtol=1e-10)
    assert_allclose(summary["history"]["train_loss"], expected["history"]["train_loss"], rtol=1e-10)


def test_ctrl_c_under_mpiexec_ends_every_rank_with_one_line_and_the_resume_command(tmp_path):
    # mpiexec passes SIGINT to every rank; each stops at the end of its batch (train's
    # handler), the ranks agree on it at the next step and rank 0 reports it as a plain run
    # does: one line, exit 130, where every rank called MPI_Abort (exit 2, one "Abort" line
    # per rank, and rank 0's line raced the launcher's kill)
    args = ["-m", "softgrad", "train", "--epochs", "100000", "--hidden", "8", "--quiet"]
    args += ["--lr-schedule", "constant", "--checkpoint", "ck.npz", "--out", "m.npz"]
    command, env = _command(args, 2)
    proc = subprocess.Popen(
        command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        # the first checkpoint is written atomically: once it exists, it is complete
        deadline = time.monotonic() + TIMEOUT
        while not (tmp_path / "ck.npz").exists() and proc.poll() is None:
            assert time.monotonic() < deadline, "no checkpoint was written"
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=TIMEOUT)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    assert err.splitlines() == [
        "data-parallel over 2 MPI ranks, global batch 32",
        "softgrad: error: interrupted; nothing else was written; resume with: mpiexec -n 2 "
        "softgrad train --data digits --resume ck.npz --epochs 100000 --out m.npz --checkpoint "
        "ck.npz --quiet",
    ]
    # stdout holds only the launcher's own notice ("[mpiexec@host] Sending Ctrl-C ...")
    assert all(line.startswith("[mpiexec@") for line in out.splitlines()), out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ck.npz"]


# a command run by ranks.run_ranks as train runs its own: Ctrl-C reaches one rank, or every rank
# (as mpiexec passes it), inside a block of checks or loading, before training
_CTRL_C_BEFORE_TRAINING = """
import os, signal, sys
from softgrad.cli import ranks
from softgrad.cli.errors import run_guarded

comm = ranks.start()

def command():
    with ranks.together(comm, "train"):
        if comm.rank in {ctrl_c_on}:
            os.kill(os.getpid(), signal.SIGINT)
    with ranks.together(comm, "train"):
        print("not reached", flush=True)
    return 0

sys.exit(run_guarded(lambda: ranks.run_ranks(comm, command)))
"""


@pytest.mark.parametrize("ctrl_c_on", [(1,), (0, 1)])
def test_ctrl_c_before_training_ends_every_rank_as_a_plain_run_does(tmp_path, ctrl_c_on):
    # each rank keeps it until the ranks next agree, where every rank raises it: rank 0 says
    # "interrupted" (130) as a plain run does, where the rank that met it called MPI_Abort
    # (status 2, an "Abort(2) on node" line per rank)
    code = _CTRL_C_BEFORE_TRAINING.format(ctrl_c_on=set(ctrl_c_on))
    done = _softgrad(["-c", code], tmp_path, 2)
    expected = (130, "softgrad: error: interrupted\n", "")
    assert (done.returncode, done.stderr, done.stdout) == expected


# Ctrl-C (or SIGTERM) that mpiexec passes on while the ranks are still starting, before MPI
# has: softgrad.cli.main's own flow, with the signal sent as it reads its command line
_CTRL_C_WHILE_STARTING = """
import os, signal, sys
from softgrad import cli
from softgrad.cli import parser

parse = parser.parse_args

def signalled(argv):
    if int(os.environ["PMI_RANK"]) in {ctrl_c_on}:
        os.kill(os.getpid(), signal.{signal})
    return parse(argv)

parser.parse_args = signalled
sys.exit(cli.main(["train", "--epochs", "3", "--hidden", "8", "--out", "m.npz", "--quiet"]))
"""


@pytest.mark.parametrize("signal_name", ["SIGINT", "SIGTERM"])
@pytest.mark.parametrize("ctrl_c_on", [(1,), (0, 1)])
def test_ctrl_c_while_the_ranks_start_ends_every_rank_with_one_line(
    tmp_path, ctrl_c_on, signal_name
):
    # a rank that stopped before it joined MPI left the others waiting in MPI's start for
    # ever (mpiexec's time limit did not end them), and each such rank said "interrupted"
    code = _CTRL_C_WHILE_STARTING.format(ctrl_c_on=set(ctrl_c_on), signal=signal_name)
    done = _softgrad(["-c", code], tmp_path, 2)
    assert (done.returncode, done.stderr, done.stdout) == (
        130,
        "softgrad: error: interrupted\n",
        "",
    )
    assert list(tmp_path.iterdir()) == []


# Ctrl-C after the last batch (while the best weights are put back) on one rank, or on every
# rank as mpiexec passes it: softgrad.cli.main's own flow, the signal sent from the restore.
# SIGHUP too, which MPI's start had taken from Python's handler: the rank went on
_CTRL_C_AFTER_THE_LAST_BATCH = """
import os, signal, sys
from softgrad import cli
from softgrad.training.early_stopping import EarlyStopping

signal.signal(signal.SIGHUP, signal.SIG_DFL)  # as a terminal's process has it (not nohup's)
restore = EarlyStopping.restore

def restore_then_ctrl_c(self, params):
    restore(self, params)
    if int(os.environ["PMI_RANK"]) in {ctrl_c_on}:
        os.kill(os.getpid(), signal.{signal})

EarlyStopping.restore = restore_then_ctrl_c
argv = ["train", "--epochs", "2", "--hidden", "8", "--checkpoint", "ck.npz", "--quiet"]
sys.exit(cli.main(argv))
"""


@pytest.mark.parametrize(
    ("ctrl_c_on", "signal_name"), [((1,), "SIGINT"), ((0, 1), "SIGINT"), ((1,), "SIGHUP")]
)
def test_ctrl_c_after_the_last_batch_stops_every_rank_before_the_outputs(
    tmp_path, ctrl_c_on, signal_name
):
    # the ranks agreed on a Ctrl-C at a step only: one after the last batch was dropped, and
    # the run wrote its model and exited 0 as if it had not come (one process stops there)
    code = _CTRL_C_AFTER_THE_LAST_BATCH.format(ctrl_c_on=set(ctrl_c_on), signal=signal_name)
    done = _softgrad(["-c", code], tmp_path, 2)
    assert done.returncode == 130, done.stderr
    assert done.stderr.splitlines() == [
        "data-parallel over 2 MPI ranks, global batch 32",
        "softgrad: error: interrupted; nothing else was written; resume with: mpiexec -n 2 "
        "softgrad train --data digits --resume ck.npz --epochs 2 --out model.npz --checkpoint "
        "ck.npz --quiet",
    ]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ck.npz"]
    # the command it gives finishes the run: no epoch left to train, the model written
    resume = shlex.split(done.stderr.split("resume with: mpiexec -n 2 softgrad ")[1])
    resumed = _softgrad(["-m", "softgrad", *resume], tmp_path, 2)
    assert resumed.returncode == 0, resumed.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ck.npz", "model.npz"]


_CTRL_C_AT_SHUTDOWN = """
import os, signal, sys
from softgrad.cli import ranks
from softgrad.cli.errors import run_guarded

comm = ranks.start()
shut_down = comm.finish

def finish():  # Ctrl-C reaches rank 1 as the ranks shut MPI down after a complete run
    if comm.rank == 1:
        os.kill(os.getpid(), signal.SIGINT)
    shut_down()

comm.finish = finish
sys.exit(run_guarded(lambda: ranks.run_ranks(comm, lambda: 0)))
"""


def test_ctrl_c_as_a_complete_run_shuts_down_is_dropped(tmp_path):
    # every file was written and no point of agreement is left: the run ends complete (0),
    # where the rank that met it exited 130 without a word
    done = _softgrad(["-c", _CTRL_C_AT_SHUTDOWN], tmp_path, 2)
    assert (done.returncode, done.stderr, done.stdout) == (0, "", "")


def test_ranks_given_different_options_are_refused_naming_the_option(tmp_path):
    # a launch giving the ranks different commands: rank 1's --data and --out were ignored
    # (only rank 0 reads and writes), and another --lr was found after training as weights
    # that differ
    command, env = _command(TRAIN, 1)
    launcher, python_args = command[:3], command[3:]
    other = [*python_args, "--data", "missing.npz"]
    done = _run(
        [*launcher, *python_args, "--out", "m.npz", ":", "-n", "1", *other, "--out", "m.npz"],
        tmp_path,
        env,
    )
    assert done.returncode == 2
    assert done.stderr.splitlines()[0] == (
        "softgrad: error: train: rank 1 of 2 failed: ValueError: train: every rank must be "
        "given the same options; rank 1 has --data 'missing.npz' where rank 0 has 'digits'"
    )
    assert not (tmp_path / "m.npz").exists()


@pytest.fixture
def small_disk(tmp_path):
    """A 64 KiB tmpfs mounted for the test: a folder whose disk fills up (root only)."""
    folder = tmp_path / "small"
    folder.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(folder)],
        capture_output=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], check=True)


def test_a_full_disk_for_the_shared_rows_ends_every_rank_with_one_line(tmp_path, small_disk):
    # the rows every rank maps (400 KB here) were written through a map of a sparse file, so
    # the full disk was a SIGBUS: rank 0 died with no message and the file stayed, taking the
    # disk from every later run in the folder
    X = np.random.default_rng(1).normal(size=(5000, 20)).astype(np.float32)
    np.savez(tmp_path / "big.npz", X=X, y=(X[:, 0] > 0).astype(int))
    (small_disk / "model.npz").write_bytes(b"the model of an earlier run")
    args = ["--data", str(tmp_path / "big.npz"), "--out", "model.npz", "--epochs", "1"]
    done = _softgrad(["-m", "softgrad", "train", "--quiet", *args], small_disk, 2)
    assert done.returncode == 2, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.startswith("softgrad: error:")]
    assert len(lines) == 1, done.stderr
    assert "could not write the training rows" in lines[0] and "No space left" in lines[0]
    assert [p.name for p in small_disk.iterdir()] == ["model.npz"]
    assert (small_disk / "model.npz").read_bytes() == b"the model of an earlier run"


# softgrad.cli.main's own flow, the disk filling up as rank 0 (the one that writes) writes the
# checkpoint of epoch {fail_at}: the temp file named, as a real ENOSPC from the write names it
_FULL_AT_CHECKPOINT = """
import errno, sys
from softgrad import cli
from softgrad.training import together

real_save = together.save_checkpoint
calls = []

def save_until_full(path, ckpt):
    calls.append(path)
    if len(calls) == {fail_at}:
        raise OSError(errno.ENOSPC, "No space left on device", f".{{path}}.0123456789ab.tmp")
    real_save(path, ckpt)

together.save_checkpoint = save_until_full
argv = ["train", "--epochs", "3", "--hidden", "8", "--out", "m.npz", "--checkpoint", "ck.npz"]
sys.exit(cli.main([*argv, "--quiet"]))
"""


@pytest.mark.parametrize(
    ("fail_at", "survivor"),
    [
        (1, "no checkpoint was written"),
        (
            2,
            "its checkpoint of the epoch before is intact: make room, then resume with: "
            "mpiexec -n 2 softgrad train --data digits --resume ck.npz --epochs 3 --out m.npz "
            "--checkpoint ck.npz --quiet",
        ),
    ],
)
def test_a_checkpoint_that_cannot_be_written_is_told_as_in_a_plain_run(tmp_path, fail_at, survivor):
    # every rank raised a DistributedError, which train's "except OSError" never matched, and
    # rank 0 printed the raw "No space left on device: ck.npz": no epoch, nothing of what was
    # kept, no resume command
    done = _softgrad(["-c", _FULL_AT_CHECKPOINT.format(fail_at=fail_at)], tmp_path, 2)
    assert done.returncode == 2, done.stderr
    assert done.stderr.splitlines() == [
        "data-parallel over 2 MPI ranks, global batch 32",
        f"softgrad: error: train: could not write --checkpoint 'ck.npz' after epoch {fail_at} "
        f"(No space left on device); {survivor}; nothing else was written",
    ]
    assert done.stdout == ""
    written = sorted(p.name for p in tmp_path.iterdir())
    assert written == ([] if fail_at == 1 else ["ck.npz"])
    if fail_at == 2:
        assert load_checkpoint(tmp_path / "ck.npz").epoch == 1
