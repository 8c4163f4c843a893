"""Data-parallel fit under a real ``mpiexec -n N``: the same weights as one process.

Each run is tests/distributed/mpi_fit.py, started under mpiexec or as a plain process (then fit
gets ``comm=None``: softgrad.training.distributed.world() finds no launcher). Every rank writes
its weights and history; the tests compare them. float64 runs differ from one process only in
the order of the gradient sums (shards summed by the Allreduce instead of in one GEMM): a few
hundred float64 roundings over 3-6 epochs, far inside rtol 1e-10. float32 SGD gets 1e-5.
"""

from __future__ import annotations

import gzip
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

pytestmark = pytest.mark.mpi

SCRIPT = Path(__file__).with_name("mpi_fit.py")
SRC = Path(__file__).resolve().parents[2] / "src"
TIMEOUT = 120  # seconds for a whole mpiexec run, failures included


def _mpiexec() -> str:
    beside = Path(sys.executable).parent / "mpiexec"
    return str(beside) if beside.exists() else "mpiexec"


def _run(
    case: str, out: Path, ranks: int | None, threads_set: bool = True
) -> subprocess.CompletedProcess:
    """mpi_fit.py under ``mpiexec -n ranks`` (a plain process when ranks is None); without
    ``threads_set``, in an environment that sets no thread count."""
    out.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, str(SCRIPT), case, str(out)]
    if ranks is not None:
        command = [_mpiexec(), "-n", str(ranks), *command]
    env = {**os.environ, "PYTHONPATH": f"{SRC}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    env.setdefault("OPENBLAS_NUM_THREADS", "1")
    if not threads_set:
        for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            env.pop(name, None)
        env.pop("NUMBA_NUM_THREADS", None)
    return subprocess.run(
        command, env=env, capture_output=True, text=True, timeout=TIMEOUT, check=False
    )


def _trained(
    case: str, out: Path, ranks: int | None, threads_set: bool = True
) -> list[dict[str, np.ndarray]]:
    """Every rank's weights and history after a run that must succeed."""
    done = _run(case, out, ranks, threads_set)
    assert done.returncode == 0, done.stderr
    return [dict(np.load(out / f"rank{r}.npz")) for r in range(ranks or 1)]


@pytest.fixture(scope="module")
def plain(tmp_path_factory):
    """One-process results, computed once per case."""
    cache: dict[str, dict[str, np.ndarray]] = {}

    def get(case: str) -> dict[str, np.ndarray]:
        if case not in cache:
            cache[case] = _trained(case, tmp_path_factory.mktemp(f"plain-{case}"), None)[0]
        return cache[case]

    return get


@pytest.mark.parametrize(
    ("case", "ranks", "rtol"),
    [
        ("sgd", 2, 1e-10),
        ("sgd", 3, 1e-10),
        ("adam_weighted_val", 2, 1e-10),
        ("adam_weighted_val", 3, 1e-10),
        ("sgd_val", 2, 1e-10),
        ("sgd_val", 3, 1e-10),
        ("sgd32", 2, 1e-5),
        ("class_weight", 3, 1e-10),
        ("class_weight_val", 3, 1e-10),
        ("class_weight_weighted", 2, 1e-10),
        ("class_weight_weighted", 3, 1e-10),
        ("sum", 2, 1e-10),
        ("sum_weighted", 3, 1e-10),
        ("ignored_batch", 2, 1e-10),
        ("smooth_zero_class", 2, 1e-10),
        ("smooth_zero_class", 3, 1e-10),
        ("l2", 2, 1e-10),
        ("l2_weighted", 3, 1e-10),
        # rank 1 passes the same values as a Fortran-ordered float64 X and a list of int32 y:
        # fit converts them alike, so the data check agrees
        ("data_agrees", 2, 1e-5),
    ],
)
def test_ranks_train_the_weights_of_one_process(plain, tmp_path, case, ranks, rtol):
    results = _trained(case, tmp_path, ranks)
    expected = plain(case)
    for rank, result in enumerate(results):
        # every rank holds bit-identical weights and history
        for key in expected:
            assert_array_equal(result[key], results[0][key], err_msg=f"rank {rank}: {key}")
    for key, want in expected.items():
        if key.startswith("param."):
            assert_allclose(results[0][key], want, rtol=rtol, atol=rtol, err_msg=key)
    # the same epochs (early stopping, at epoch 13 of 40 in adam_weighted_val, decided on the
    # same figures), the same losses to rounding
    assert results[0]["train_loss"].shape == expected["train_loss"].shape
    assert_allclose(results[0]["train_loss"], expected["train_loss"], rtol=rtol)
    # the validation figures: each rank scored its shard (uneven: 41 samples on 2 and 3 ranks
    # in adam_weighted_val, 37 in sgd_val), summed in float64
    assert_allclose(results[0]["val_loss"], expected["val_loss"], rtol=rtol)
    assert_allclose(results[0]["val_acc"], expected["val_acc"], rtol=rtol)


@pytest.mark.parametrize("ranks", [None, 2, 3])
@pytest.mark.parametrize(
    ("case", "unweighted"), [("class_weight_unit", "class_weight_val"), ("sum_unit", "sum")]
)
def test_unit_sample_weights_train_and_score_as_no_weights_with_class_weights(
    plain, tmp_path, ranks, case, unweighted
):
    # class weights and ignore_index: the weighted mean divides by sum w * cw[y] over the
    # targets not ignored, so weights of 1 are no weights, in the step (each shard's share of
    # the batch) and in the validation figures (summed over the shards). It divided by sum w:
    # a class-weighted loss trained on another scale and an ignored target still counted.
    # A weighted "sum" is sum w l (it was the weighted mean)
    (result,) = _trained(case, tmp_path, ranks)[:1]
    expected = plain(unweighted)
    # float64, 3 epochs of 7 steps whose sums run in another order (weights times 1)
    rtol = 1e-10
    for key, want in expected.items():
        if key.startswith("param.") or key in ("train_loss", "train_acc", "val_loss", "val_acc"):
            assert_allclose(result[key], want, rtol=rtol, atol=rtol, err_msg=key)


@pytest.mark.parametrize("ranks", [2, 3])
@pytest.mark.parametrize("case", ["ignored_acc", "ignored_acc_weighted"])
def test_accuracy_counts_the_targets_the_loss_does_not_ignore_on_every_rank(
    plain, tmp_path, case, ranks
):
    # the ranks sum their shards' hits and counted weights: with lr 0 every epoch scores the
    # initial weights, whose accuracy mpi_fit.py computed by hand. A third of the targets is
    # ignored: the accuracy over every sample would read a third lower
    results = _trained(case, tmp_path, ranks)
    expected = plain(case)
    for rank, result in enumerate(results):
        for key in ("train_acc", "val_acc"):
            assert_array_equal(result[key], results[0][key], err_msg=f"rank {rank}: {key}")
    # float64 sums of at most 203 terms in another order
    rtol = 203 * np.finfo(np.float64).eps
    for figures in (results[0], expected):
        assert_allclose(figures["train_acc"], [figures["hand_acc"]] * 3, rtol=rtol)
        assert_allclose(figures["val_acc"], [figures["hand_val_acc"]] * 3, rtol=rtol)


@pytest.mark.parametrize(
    "case", ["adam_weighted_val", "sgd", "sgd32", "l2", "nesterov", "nesterov32"]
)
def test_one_rank_is_a_plain_fit_bit_for_bit(plain, tmp_path, case):
    # the same code path on the same machine: one rank steps as a plain fit does, SGD's
    # gradient folded into its update as there (the sharded step's SGD weights differed from
    # a plain fit's in the last bits)
    (result,) = _trained(case, tmp_path, 1)
    for key, want in plain(case).items():
        assert_array_equal(result[key], want, err_msg=key)


@pytest.mark.parametrize(("first", "rest"), [(2, 3), (3, 1)])
def test_a_checkpoint_resumed_on_other_ranks_equals_the_uninterrupted_run(
    plain, tmp_path, first, rest
):
    _trained("resume_first", tmp_path, first)
    assert (tmp_path / "checkpoint.npz").exists()  # written by rank 0 alone
    results = _trained("resume_rest", tmp_path, rest)
    expected = plain("resume_full")
    for key, want in expected.items():
        assert_allclose(results[0][key], want, rtol=1e-10, atol=1e-10, err_msg=key)


def test_unseeded_ranks_start_from_rank_0s_weights_and_split(tmp_path):
    # each rank draws its own initial weights and fit generator; rank 0's win everywhere, the
    # validation split included, so the ranks report the same validation figures
    results = _trained("unseeded", tmp_path, 2)
    for key, value in results[0].items():
        assert_array_equal(results[1][key], value, err_msg=key)
    assert results[0]["val_loss"].size > 0


def test_dropout_draws_its_own_stream_on_each_rank(tmp_path):
    # one generator builds the model (its Dropout draws from it) and drives fit, as in the CLI;
    # 3 ranks split batches of 32 as 11, 11, 10: had Dropout kept drawing from fit's generator,
    # the ranks' batch orders would drift apart after the first batch
    results = _trained("dropout", tmp_path, 3)
    for rank in (1, 2):
        assert results[rank]["generator_state"] == results[0]["generator_state"]
        for key in results[0]:
            assert_array_equal(results[rank][key], results[0][key], err_msg=f"rank {rank}: {key}")


def test_fit_given_mpi4pys_communicator_trains_on_one_thread_a_rank(tmp_path):
    # the rule softgrad train under mpiexec follows, for a script's fit(comm=MPI.COMM_WORLD):
    # 2 ranks of 2 BLAS and 2 kernel threads each on 2 cores were 35x slower an epoch
    results = _trained("threads", tmp_path, 2, threads_set=False)
    for rank, result in enumerate(results):
        assert result["threads"].tolist() == [1, 1], f"rank {rank}: BLAS, kernel threads"


def test_a_thread_count_the_user_set_holds_on_every_rank(tmp_path):
    # softgrad.set_threads(2) (softgrad train --threads 2) is the user's choice, as
    # OPENBLAS_NUM_THREADS is: the ranks' one-thread rule held the BLAS to 1 all the same
    results = _trained("threads_chosen", tmp_path, 2, threads_set=False)
    for rank, result in enumerate(results):
        assert result["threads"][0] == 2, f"rank {rank}: BLAS threads"


def _assert_bit_identical(results, expected):
    """Every rank's weights and history in ``results`` equal those in ``expected``."""
    for rank, want in enumerate(expected):
        for key, value in want.items():
            assert_array_equal(results[rank][key], value, err_msg=f"rank {rank}: {key}")


def test_two_runs_with_the_same_ranks_are_bit_identical(tmp_path):
    first = _trained("sgd", tmp_path / "first", 3)
    _assert_bit_identical(_trained("sgd", tmp_path / "second", 3), first)


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("nan", "fit: the training loss must be finite; got nan at epoch 1, batch 3"),
        (
            "raise_in_step",
            "fit: epoch 1, batch 3: rank 2 of 3 failed: RuntimeError: forward failed on purpose",
        ),
    ],
)
def test_a_failure_on_one_rank_ends_every_rank_with_the_same_error(tmp_path, case, message):
    done = _run(case, tmp_path, 3)
    assert done.returncode == 2, done.stderr
    lines = [line for line in done.stderr.splitlines() if "error:" in line]
    assert len(lines) == 1 and lines[0].startswith(f"error: {message}"), done.stderr
    # every rank ended on the same error (the failing rank's own, for a NaN weight, says that
    # it fell back to the epoch's first weights)
    errors = [(tmp_path / f"rank{r}.error").read_text() for r in range(3)]
    assert all(error.startswith(message) for error in errors), errors
    assert not list(tmp_path.glob("rank*.npz"))


def test_a_run_with_dropout_resumed_on_the_same_ranks_equals_the_uninterrupted_run(tmp_path):
    # every rank's dropout stream is in the checkpoint (gathered to rank 0) and goes back to
    # its rank: the same code path on the same machine, so bit for bit
    _trained("dropout_resume_first", tmp_path, 2)
    resumed = _trained("dropout_resume_rest", tmp_path, 2)
    _assert_bit_identical(resumed, _trained("dropout_resume_full", tmp_path / "full", 2))


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("raise_in_on_train_begin", "fit: epoch 1, batch 1: rank 1 of 2 failed: RuntimeError"),
        ("raise_in_on_epoch_begin", "fit: epoch 1, batch 1: rank 1 of 2 failed: RuntimeError"),
        ("raise_in_on_batch_end", "fit: epoch 1, batch 2: rank 1 of 2 failed: RuntimeError"),
        ("raise_in_on_epoch_end", "fit: after epoch 1: rank 1 of 2 failed: RuntimeError"),
        ("raise_in_on_train_end", "fit: at the end: rank 1 of 2 failed: RuntimeError"),
        ("raise_in_validation", "fit: validation: rank 1 of 2 failed: RuntimeError"),
        ("raise_in_checkpoint", "OSError: no space left writing checkpoint.npz (on purpose)"),
        ("raise_in_loading", "reading the training data: rank 1 of 2 failed: DataFormatError"),
        # Ctrl-C raised by a callback on every rank: agreed at the next step like an error,
        # where it was an MPI_Abort of every rank (a race with rank 0's report)
        # arguments that differ by rank: told before the first step, where the rank with
        # fewer steps an epoch left the others waiting in a collective forever
        (
            "batch_size_differs",
            "fit: batch_size must be the same on every rank; got 32 on rank 0, 31 on rank 1",
        ),
        ("epochs_differ", "fit: epochs must be the same on every rank; got 3 on rank 0, 2 on"),
        ("interrupt_everywhere", "fit: epoch 1, batch 4: rank 0 of 2 failed: KeyboardInterrupt"),
        # a check of fit's that fails on one rank alone: the others waited in their first
        # collective forever, now every rank learns it from the checks' own allgather
        (
            "nan_in_data",
            "fit: checking the arguments: rank 1 of 2 failed: ValueError: fit: X must",
        ),
        ("resume_missing", "fit: setting up the run: rank 1 of 2 failed: "),
        # an error while the ranks compare their data: it ended every rank inside the epochs'
        # fail-together; moved before them, one rank raised alone and the others waited
        (
            "checksum_fails",
            "fit: comparing the ranks' runs: rank 1 of 2 failed: MemoryError: this rank alone",
        ),
        # rank 0's optimizer state, refused by the ranks that loaded it: rank 0 waited forever;
        # now every rank checks its own with the arguments, as one process does
        (
            "nan_in_optimizer_state",
            "fit: checking the arguments: rank 0 of 2 failed: ValueError: fit: optimizer: "
            "momentum_buffer.0.b must hold no NaN",
        ),
        # data of the same shapes but other values on one rank: it trained on a mix of both
        # without a word, now the checksums compared before the first step tell
        ("data_y_differs", "fit: the checksum of y must be the same on every rank; got '"),
        ("data_X_differs", "fit: the checksum of X must be the same on every rank; got '"),
        ("data_val_differs", "fit: the checksum of y_val must be the same on every rank"),
    ],
)
def test_an_error_outside_the_step_on_one_rank_ends_every_rank_with_one_line(
    tmp_path, case, message
):
    if case == "raise_in_loading":
        rows = np.arange(20, dtype=np.uint8).reshape(10, 2)
        header = b"\x00\x00\x08\x02" + np.array(rows.shape, ">u4").tobytes()
        (tmp_path / "x-idx2-ubyte.gz").write_bytes(gzip.compress(header + rows.tobytes()[:-3]))
    # raised on one rank alone (rank 0 for the checkpoint, which only rank 0 writes), kept
    # until the next collective and raised there on every rank: no MPI_Abort, no traceback
    done = _run(case, tmp_path, 2)
    assert done.returncode == 2, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and message in lines[0], done.stderr
    assert len(list(tmp_path.glob("rank*.error"))) == 2
    assert not list(tmp_path.glob("rank*.npz")) and not list(tmp_path.glob("checkpoint*"))
