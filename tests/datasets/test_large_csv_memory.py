"""A large CSV file loads within the memory bound: features once, the split, and a few blocks.

tracemalloc counts what Python and NumPy allocate (not the interpreter's own code), so these are
the bytes that loading costs. A file of ~7 MB read in 1 MiB blocks stands for the 85 MB file read
in 8 MiB blocks (BENCHMARKS.md, "CSV loading", measures that one in a subprocess).
"""

import tracemalloc

import numpy as np
import pytest

from softgrad.datasets import csv as csv_reader
from softgrad.datasets import load_file
from softgrad.datasets.csv import read_csv


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
    from softgrad.datasets import files
    from softgrad.datasets.split import stratified_split

    monkeypatch.setattr(files, "_CHUNK_VALUES", 7)  # chunks of 2 rows of 3 values
    X = rng.integers(0, 1000, (101, 3)).astype(np.float64)
    y = rng.integers(0, 4, 101)
    np.savez(tmp_path / "d.npz", X=X, y=y)
    ds = load_file(tmp_path / "d.npz")
    train_idx, test_idx = stratified_split(y, files.TEST_FRACTION, rng=files.SPLIT_SEED)
    np.testing.assert_array_equal(ds.X_train, X[train_idx])
    np.testing.assert_array_equal(ds.X_test, X[test_idx])
    np.testing.assert_array_equal(ds.y_train, y[train_idx])
