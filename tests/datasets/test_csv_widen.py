"""read_csv(widen=True) and load_file: a CSV is read as float32 (what training reads, half the
memory) unless float32 would round some feature column by more than 2**-16 of its range; such a
file is read again as float64, so that the column's variation survives (a timestamp within a
day, a reading of 1e4 +- 2e-4). Read as float32 alone, two classes told apart by 2e-4 on a mean
of 1e4 were left 3 distinct values of a feature, and training scored a coin's accuracy."""

from __future__ import annotations

import numpy as np
import pytest

from softgrad.datasets import csv as csv_reader
from softgrad.datasets import load_data, load_file
from softgrad.datasets.csv import WIDEN_ABOVE, read_csv
from softgrad.errors import DataFormatError


def _write(path, columns, labels=None):
    """A CSV of the float64 ``columns`` (each written with all 17 digits), labels last."""
    names = [f"f{j}" for j in range(len(columns))] + ([] if labels is None else ["label"])
    rows = zip(*columns, *([] if labels is None else [labels]), strict=True)
    text = "\n".join(
        ",".join(f"{float(v)!r}" if j < len(columns) else str(v) for j, v in enumerate(row))
        for row in rows
    )
    path.write_text(",".join(names) + "\n" + text + "\n")
    return path


def _read(path, engine="numpy"):
    return read_csv(path, "t", engine=engine, dtype=np.float32, widen=True)


@pytest.mark.parametrize("engine", ["numpy", "python"])
def test_a_column_whose_variation_float32_loses_is_read_as_float64(tmp_path, rng, engine):
    fine = 1e4 + rng.normal(scale=2e-4, size=300)  # float32's step at 1e4: 9.8e-4
    plain = rng.normal(size=300)
    path = _write(tmp_path / "fine.csv", [plain, fine], rng.integers(0, 2, 300))
    table = _read(path, engine)
    assert table.X.dtype == np.float64
    np.testing.assert_array_equal(table.X, np.stack([plain, fine], axis=1))
    assert len(np.unique(table.X[:, 1])) == 300  # float32 left a handful of values
    assert len(np.unique(fine.astype(np.float32))) < 10


@pytest.mark.parametrize("engine", ["numpy", "python"])
def test_ordinary_columns_stay_float32(tmp_path, rng, engine):
    columns = [
        rng.normal(size=200),  # 17 digits each: rounded, by far less than their spread
        rng.uniform(1.7e9, 1.7e9 + 3.2e7, size=200),  # a year of timestamps, 128 s steps
        np.full(200, 0.1),  # one value float32 cannot hold: no variation to lose
        rng.integers(0, 2**24, size=200).astype(np.float64),  # integers float32 holds
    ]
    table = _read(_write(tmp_path / "plain.csv", columns, ["x", "y"] * 100), engine)
    assert table.X.dtype == np.float32
    np.testing.assert_array_equal(table.X, np.stack(columns, axis=1).astype(np.float32))


def test_a_day_of_timestamps_is_read_as_float64(tmp_path, rng):
    # float32's 128 s steps near 1.7e9 are 7e-4 of a day: the docstring's example
    day = rng.uniform(1.7e9, 1.7e9 + 86400, size=200)
    assert _read(_write(tmp_path / "day.csv", [day], ["x", "y"] * 100)).X.dtype == np.float64


def test_the_threshold_is_a_share_of_the_range(tmp_path):
    # values 0 .. spread plus one float32 rounds by 2**-25 (half its step near 1): read again
    # exactly when that rounding passes WIDEN_ABOVE of the range
    odd = 1.0 + 2.0**-25
    error = abs(float(np.float32(odd)) - odd)
    for spread, wide in [(error / WIDEN_ABOVE * 0.99, True), (error / WIDEN_ABOVE * 1.01, False)]:
        column = [0.0, spread, odd] if spread > odd else [odd - spread, odd, odd]
        table = _read(_write(tmp_path / "t.csv", [np.array(column)], ["x", "y", "x"]))
        assert (table.X.dtype == np.float64) == wide, spread


def test_the_range_is_the_whole_files_not_a_blocks(tmp_path, monkeypatch, rng):
    # a block of values close together, which float32 rounds by more than 2**-16 of their
    # own range, in a file whose column spans 1e4: read as float32
    monkeypatch.setattr(csv_reader, "BLOCK_BYTES", 256)
    column = np.concatenate([1e4 + rng.normal(scale=2e-4, size=50), rng.uniform(0, 1e4, 50)])
    table = _read(_write(tmp_path / "blocks.csv", [column], rng.integers(0, 2, 100)))
    assert table.X.dtype == np.float32
    # and a column that needs float64 only across blocks is found across them
    column = 1e4 + rng.normal(scale=2e-4, size=100)
    column[:50] = 1e4 + 1e-4  # the first blocks hold one value: no range of their own
    table = _read(_write(tmp_path / "late.csv", [column], rng.integers(0, 2, 100)))
    assert table.X.dtype == np.float64


def test_the_label_column_is_not_a_feature(tmp_path, rng):
    # numeric labels close together on a large value are labels, not a column to keep
    labels = (1e4 + np.arange(2) * 1e-4).repeat(50)
    table = _read(_write(tmp_path / "l.csv", [rng.normal(size=100)], [repr(v) for v in labels]))
    assert table.X.dtype == np.float32


def test_load_file_keeps_the_variation_and_its_checks(tmp_path, rng):
    fine = 1e4 + rng.normal(scale=2e-4, size=100)
    path = _write(tmp_path / "fine.csv", [fine], rng.integers(0, 2, 100))
    data = load_file(path, hold_out=False)
    assert data.X_train.dtype == np.float64
    np.testing.assert_array_equal(data.X_train[:, 0], fine)
    # a value float32 cannot hold is refused, by line and column, however the file is read
    lines = path.read_text().splitlines()
    lines[5] = "1e39," + lines[5].split(",")[1]
    path.write_text("\n".join(lines) + "\n")
    for dtype in (None, np.float32, np.float64):
        with pytest.raises(DataFormatError, match=r"float32's range.*line 6, column 1 \('f0'\)"):
            load_file(path, csv_dtype=dtype)


def test_csv_dtype_reads_any_csv_in_that_dtype(tmp_path, rng):
    column = rng.normal(size=40)
    path = _write(tmp_path / "plain.csv", [column], ["x", "y"] * 20)
    assert load_data(str(path)).X_train.dtype == np.float32
    data = load_data(str(path), csv_dtype="float64", hold_out=False)
    assert data.X_train.dtype == np.float64
    np.testing.assert_array_equal(data.X_train[:, 0], column)
    lines = path.read_text().splitlines()
    lines[3] = "nan,x"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataFormatError, match=r"line 4, column 1 \('f0'\)"):
        load_file(path, csv_dtype=np.float64)


def test_csv_dtype_float32_never_widens(tmp_path, rng):
    # what a model trained on float32 features reads: the file's own rows do not decide
    fine = 1e4 + rng.normal(scale=2e-4, size=100)
    path = _write(tmp_path / "fine.csv", [fine], rng.integers(0, 2, 100))
    data = load_file(path, csv_dtype=np.float32, hold_out=False)
    np.testing.assert_array_equal(data.X_train[:, 0], fine.astype(np.float32))


@pytest.mark.parametrize("dtype", ["float16", "int64", "complex64", "banana", object])
def test_csv_dtype_is_none_float32_or_float64(tmp_path, dtype):
    path = _write(tmp_path / "t.csv", [np.arange(4.0)], ["x", "y"] * 2)
    with pytest.raises(ValueError, match="load_file: csv_dtype must be None, float32 or float64"):
        load_file(path, csv_dtype=dtype)


def test_a_second_reading_goes_on_from_the_first_in_the_progress(tmp_path, monkeypatch, rng):
    # it went back to 0: the CLI's bar fell from full to empty and filled again
    monkeypatch.setattr(csv_reader, "BLOCK_BYTES", 512)
    fine = 1e4 + rng.normal(scale=2e-4, size=200)
    path = _write(tmp_path / "fine.csv", [fine], rng.integers(0, 2, 200))
    calls = []
    table = read_csv(path, "t", dtype=np.float32, widen=True, progress=lambda *c: calls.append(c))
    assert table.X.dtype == np.float64
    size = path.stat().st_size
    done = [c[0] for c in calls]
    assert done == sorted(done) and calls[-1] == (2 * size, 2 * size)
    assert (size, size) in calls  # the first reading's end, then the second's blocks
