"""A large CSV file loads within the memory bound, in multiples of the file's size (tracemalloc
of the load call: what Python and NumPy allocate, not the interpreter's own code).

The design: the features are read straight into one float32 array (about 0.45x a file of
5-decimal numbers), only one block of ``BLOCK_BYTES`` of text is held at a time with its lines
and parsed float64 cells, and the split's parts are views of that array. So loading a file costs
its features plus a few blocks, whatever the file's length: at most 1.5x the size of the modest
file here, where a block is a 26th of the file (on the 85 MB file of BENCHMARKS.md it is about
0.7x; benchmarks/csv_train_memory.py measures the whole `softgrad train` process). A hostile CSV
header is in test_hostile_headers.py.
"""

import tracemalloc

import numpy as np
import pytest

from softgrad.datasets import csv as csv_reader
from softgrad.datasets import load_file
from softgrad.datasets.csv import read_csv

LOADER_BOUND = 1.5  # the loader's peak / the file's size


@pytest.fixture
def moderate_csv(tmp_path, rng):
    n_samples, n_features = 20_000, 40
    # multiples of 1/32 print exactly with 5 decimals, so the parsed values can be compared
    features = rng.integers(-(2**15), 2**15, (n_samples, n_features)) / 32
    values = np.column_stack([features, rng.integers(0, 10, n_samples)])
    path = tmp_path / "moderate.csv"
    with open(path, "w") as f:
        f.write(",".join(f"f{j}" for j in range(n_features)) + ",label\n")
        np.savetxt(f, values, fmt=",".join(["%.5f"] * n_features + ["%d"]))
    return path, values


def _peak(load):
    tracemalloc.start()
    try:
        result = load()
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_large_csv_loads_within_three_times_its_size(moderate_csv, monkeypatch):
    path, values = moderate_csv
    monkeypatch.setattr(csv_reader, "BLOCK_BYTES", 1 << 20)
    size = path.stat().st_size
    ds, peak = _peak(lambda: load_file(path))
    assert len(ds.y_train) + len(ds.y_test) == len(values)
    assert peak <= 3 * size, f"load_file peaked at {peak / size:.2f}x the file's {size} bytes"


def test_csv_table_costs_about_its_features_plus_a_block(moderate_csv, monkeypatch):
    path, values = moderate_csv
    monkeypatch.setattr(csv_reader, "BLOCK_BYTES", 1 << 20)
    table, peak = _peak(lambda: read_csv(path, "t"))
    np.testing.assert_array_equal(table.X, values[:, :-1])
    features = table.X.nbytes
    # the features, their line numbers and labels, and one block's text, lines and parsed cells
    bound = features + 2 * 8 * len(table.X) + 8 * csv_reader.BLOCK_BYTES
    assert peak <= bound, f"read_csv peaked at {peak} bytes; bound {bound}"


def test_training_rows_are_moved_in_chunks_in_their_order(tmp_path, rng, monkeypatch):
    from softgrad.datasets import features, files
    from softgrad.datasets.split import stratified_split

    monkeypatch.setattr(features, "_CHUNK_VALUES", 7)  # chunks of 2 rows of 3 values
    X = rng.integers(0, 1000, (101, 3)).astype(np.float64)
    y = rng.integers(0, 4, 101)
    np.savez(tmp_path / "d.npz", X=X, y=y)
    ds = load_file(tmp_path / "d.npz")
    train_idx, test_idx = stratified_split(y, files.TEST_FRACTION, rng=files.SPLIT_SEED)
    np.testing.assert_array_equal(ds.X_train, X[train_idx])
    np.testing.assert_array_equal(ds.X_test, X[test_idx])
    np.testing.assert_array_equal(ds.y_train, y[train_idx])


@pytest.fixture(scope="module")
def file_of_7_mb(tmp_path_factory):
    """16,000 x 50 features with 5 decimals (-2.59375) and a label in 0..9 (6.8 MB), as long
    as benchmarks/csv_load.py's random normal ones; multiples of 1/32 print and parse exactly."""
    rng = np.random.default_rng(0)
    path = tmp_path_factory.mktemp("csv") / "modest.csv"
    features = rng.integers(-128, 128, (16_000, 50)) / 32
    values = np.column_stack([features, rng.integers(0, 10, 16_000)])
    with open(path, "w") as f:
        f.write(",".join(f"f{j}" for j in range(50)) + ",label\n")
        np.savetxt(f, values, fmt=",".join(["%.5f"] * 50 + ["%d"]))
    return path, values


def test_the_loader_peaks_within_one_and_a_half_times_the_file(file_of_7_mb):
    path, values = file_of_7_mb
    size = path.stat().st_size
    assert csv_reader.BLOCK_BYTES <= size / 4  # several blocks: the bound is not one block's
    ds, peak = _peak(lambda: load_file(path))
    assert len(ds.y_train) + len(ds.y_test) == len(values)
    assert ds.X_train.dtype == np.float32
    assert peak <= LOADER_BOUND * size, (
        f"load_file peaked at {peak / size:.2f}x the file's {size} bytes; bound {LOADER_BOUND}x"
    )


def test_read_as_float32_the_table_costs_its_features_plus_a_few_blocks(file_of_7_mb):
    path, values = file_of_7_mb
    table, peak = _peak(lambda: read_csv(path, "t", dtype=np.float32))
    np.testing.assert_array_equal(table.X, values[:, :-1].astype(np.float32))
    blocks = 6 * csv_reader.BLOCK_BYTES  # the block, its text, lines, cells, NumPy's buffers
    assert peak <= table.X.nbytes + table.lines.nbytes + table.y.nbytes + blocks, peak
