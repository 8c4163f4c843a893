"""``softgrad train``'s data on several ranks (cli/ranks.py), over a stand-in communicator:
rank 0 alone reads the data set, and every rank maps the scaled rows rank 0 wrote."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from numpy.testing import assert_array_equal

from softgrad.cli import ranks, rows_file
from softgrad.datasets import Dataset
from softgrad.errors import DistributedError
from softgrad.preprocessing import ScaledRows, Scaler
from softgrad.training.distributed import Communicator

IN_PLACE, SUM = object(), object()


class Peers:
    """Rank ``rank`` of ``size``: ``bcast`` returns ``sent`` on ranks above 0 (what rank 0
    broadcast), ``allgather`` reports no error from the other ranks."""

    def __init__(self, rank: int, size: int, sent=None):
        self.rank, self.size, self.sent = rank, size, sent

    def Get_rank(self):
        return self.rank

    def Get_size(self):
        return self.size

    def bcast(self, obj, root):
        self.sent = obj if self.rank == 0 else self.sent
        return self.sent

    def allgather(self, obj):
        return [obj if r == self.rank else None for r in range(self.size)]


def _data() -> Dataset:
    rng = np.random.default_rng(0)
    X = rng.integers(0, 256, size=(30, 6), dtype=np.uint8)
    X_test = rng.integers(0, 256, size=(7, 6), dtype=np.uint8)
    y, y_test = np.arange(30) % 3, np.arange(7) % 3
    return Dataset(X, y, X_test, y_test, ["a", "b", "c"], image_shape=(2, 3), name="t", scale=255)


def test_only_rank_0_reads_the_data_the_others_get_its_labels_and_shapes():
    sent = Peers(0, 2)
    data = ranks.load_once(Communicator(sent, IN_PLACE, SUM), _data)
    assert data.X_train.strides == (6, 1)  # rank 0: the data set as loaded

    def refuse():
        raise AssertionError("rank 1 must not read the data set")

    other = ranks.load_once(Communicator(Peers(1, 2, sent.sent), IN_PLACE, SUM), refuse)
    assert other.X_train.shape == data.X_train.shape and other.X_test.shape == data.X_test.shape
    assert other.X_train.strides == (0, 0)  # a placeholder: no bytes behind it
    assert_array_equal(other.y_train, data.y_train)
    assert_array_equal(other.y_test, data.y_test)
    assert (other.class_names, other.image_shape, other.name) == (["a", "b", "c"], (2, 3), "t")


def test_a_failed_load_on_rank_0_fails_the_other_ranks_too():
    with pytest.raises(DistributedError, match="rank 0 could not read the data set"):
        ranks.load_once(Communicator(Peers(1, 2, None), IN_PLACE, SUM), _data)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_mapped_images_stay_as_stored_and_read_as_the_rows_fit_would_train_on(tmp_path, dtype):
    # the file holds the uint8 pixels, a quarter of float32's bytes (an eighth of float64's),
    # where it held the scaled rows in the model's dtype (188 MB for Fashion-MNIST in float32,
    # mapped by every rank); each batch is scaled as it is gathered, as in a plain run
    data = _data()
    scaler = Scaler.for_range(255)
    rows = ranks.training_rows(
        Communicator(Peers(0, 2), IN_PLACE, SUM), scaler, data.X_train, dtype, tmp_path
    )
    assert isinstance(rows, ScaledRows) and rows.data.dtype == np.uint8
    assert isinstance(rows.data.base, np.memmap)  # read from the file, not held in memory
    # the scaler's float32 output (fit casts it to the model's dtype), bit for bit
    assert_array_equal(rows.take(np.arange(30)), scaler.transform(data.X_train))
    assert not list(tmp_path.iterdir())  # unlinked once every rank mapped it


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_mapped_float_features_are_the_scaled_rows_fit_would_train_on(tmp_path, dtype):
    X = np.random.default_rng(1).normal(3.0, 2.0, size=(40, 5)).astype(np.float32)
    scaler = Scaler.fit_standard(X)
    rows = ranks.training_rows(Communicator(Peers(0, 2), IN_PLACE, SUM), scaler, X, dtype, tmp_path)
    assert isinstance(rows, np.memmap) and rows.dtype == dtype
    # the scaler's float32 output cast to the model's dtype, as fit casts it
    assert_array_equal(rows, scaler.transform(X).astype(dtype))
    assert not list(tmp_path.iterdir())


def test_a_plain_run_scales_in_memory():
    data = _data()
    rows = ranks.training_rows(None, Scaler.for_range(255), data.X_train, "float32", None)
    # Scaler.inputs: the uint8 rows themselves, scaled a batch at a time, no file
    assert rows.data is data.X_train
    assert_array_equal(np.asarray(rows), Scaler.for_range(255).transform(data.X_train))


def test_rows_rank_0_could_not_write_fail_every_rank(tmp_path):
    with pytest.raises(DistributedError, match=r"rank 0 of 2 failed.*folder must be writable") as e:
        ranks.training_rows(
            Communicator(Peers(0, 2), IN_PLACE, SUM),
            Scaler.for_range(255),
            _data().X_train,
            "float32",
            tmp_path / "missing",
        )
    assert isinstance(e.value.__cause__, OSError)  # rank 0's own words, for its report


def test_any_error_while_rank_0_writes_is_raised_on_every_rank_and_leaves_no_file(tmp_path):
    class Broken:
        def transform(self, X, dtype=np.float32):
            raise ValueError("Scaler.transform: broken on purpose")

    comm = Communicator(Peers(0, 2), IN_PLACE, SUM)
    X = _data().X_train.astype(np.float32)  # float features are scaled as rank 0 writes them
    with pytest.raises(DistributedError, match="rank 0 of 2 failed: ValueError: Scaler"):
        ranks.training_rows(comm, Broken(), X, "float32", tmp_path)
    assert not list(tmp_path.iterdir())


def test_a_plain_run_scales_float32_rows_in_place_to_the_values_of_a_copy():
    # a CSV file's features are float32: scaling them in place spares a second copy of the set
    X = np.random.default_rng(1).normal(3.0, 2.0, size=(40, 5)).astype(np.float32)
    scaler = Scaler.fit_standard(X)
    expected = scaler.transform(X)  # a new array, as before
    rows = ranks.training_rows(None, scaler, X, "float32", None)
    assert rows is X
    assert_array_equal(rows, expected)  # the same arithmetic: bit for bit


def test_rank_0_removes_the_rows_files_of_killed_runs_on_its_host_and_no_other(tmp_path, capsys):
    # a run killed between rank 0's write and the last rank's map (SIGTERM, SIGKILL: no handler
    # runs) left a hidden file as large as the training set, which no later run removed
    dead_pid = int(Path("/proc/sys/kernel/pid_max").read_text()) + 1  # no process has it
    alive = rows_file.rows_path(tmp_path)  # this process: a run still going
    dead = tmp_path / alive.name.replace(f"-{os.getpid()}-", f"-{dead_pid}-")
    elsewhere = tmp_path / f".softgrad-rows-otherhost-{dead_pid}-0123456789ab.npy"
    mine = tmp_path / "keep.npy"
    for path in (alive, dead, elsewhere, mine):
        path.write_bytes(b"rows")
    rows = ranks.training_rows(
        Communicator(Peers(0, 2), IN_PLACE, SUM),
        Scaler.for_range(255),
        _data().X_train,
        "float32",
        tmp_path,
    )
    assert rows.shape == (30, 6)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [alive.name, elsewhere.name, mine.name]
    )
    assert capsys.readouterr().err == (
        f"softgrad: note: removed {dead.name!r}, left by a killed run\n"
    )


def test_rank_0_scales_wide_rows_a_bounded_block_at_a_time(tmp_path):
    # blocks of 8,192 rows whatever their width: 300 rows of 70,000 features were scaled in
    # one 84 MB float32 copy (8,192 of them: 2.1 GiB) on top of the data set
    import tracemalloc

    X = np.random.default_rng(0).normal(size=(300, 70_000)).astype(np.float32)
    X.flags.writeable = False  # not scaled in place: as a loader's read-only rows
    scaler = Scaler.fit_standard(X)
    tracemalloc.start()
    try:
        rows = ranks.training_rows(
            Communicator(Peers(0, 2), IN_PLACE, SUM), scaler, X, "float32", tmp_path
        )
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < X.nbytes / 2, (peak, X.nbytes)
    assert_array_equal(rows[::37], scaler.transform(X[::37]))
