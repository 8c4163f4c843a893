"""softgrad.datasets.shards: one rank's rows of an IDX, .npy or .npz file, and memory maps."""

from __future__ import annotations

import gzip
import tracemalloc

import numpy as np
import pytest
from numpy.testing import assert_array_equal

from softgrad.datasets import load_idx, save_idx
from softgrad.datasets.shards import open_rows, read_shard
from softgrad.errors import DataFormatError

ROWS = np.arange(7 * 6, dtype=np.uint8).reshape(7, 2, 3)  # 7 rows: uneven over 2, 3 and 5


def _write(folder, fmt, array=ROWS):
    """``array`` in format ``fmt``: (path, key, stored uncompressed?)."""
    if fmt == "npy":
        np.save(folder / "x.npy", array)
        return folder / "x.npy", None, True
    if fmt in ("npz", "npz_compressed"):
        save = np.savez if fmt == "npz" else np.savez_compressed
        save(folder / "x.npz", y=np.zeros(3), X_train=array)
        return folder / "x.npz", "X_train", fmt == "npz"
    path = folder / ("x-idx3-ubyte.gz" if fmt == "idx_gz" else "x-idx3-ubyte")
    save_idx(path, array, compress=fmt == "idx_gz")
    return path, None, fmt == "idx"


FORMATS = ["npy", "npz", "npz_compressed", "idx", "idx_gz"]


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("size", [1, 2, 3, 5])
def test_the_shards_tile_the_array_in_order_in_its_stored_dtype(tmp_path, fmt, size):
    path, key, mapped = _write(tmp_path, fmt)
    shards = [read_shard(path, rank, size, key=key) for rank in range(size)]
    assert_array_equal(np.concatenate(shards), ROWS)
    assert [len(s) for s in shards] == [len(r) for r in np.array_split(ROWS, size)]
    assert all(s.dtype == np.uint8 for s in shards)
    # uncompressed files are mapped, not read: the shard is a view of a memory map
    assert all(isinstance(s, np.memmap) for s in shards) == mapped


@pytest.mark.parametrize("fmt", ["idx", "idx_gz", "npz_compressed"])
def test_multi_byte_types_come_back_with_their_values(tmp_path, fmt):
    array = np.arange(-12.0, 12.0).reshape(6, 4).astype(np.float32)
    path, key, _ = _write(tmp_path, fmt, array)
    assert_array_equal(np.concatenate([read_shard(path, r, 4, key=key) for r in range(4)]), array)


def test_a_gzipped_shard_never_holds_the_whole_set(tmp_path):
    # 20000 x 784 uint8 (15.7 MB inflated): the last of 4 ranks skips 3 shards through a 1 MB
    # scratch buffer and keeps its own 3.9 MB; the traced peak stays well under the whole set
    images = np.random.default_rng(0).integers(0, 256, size=(20000, 784), dtype=np.uint8)
    path = tmp_path / "train-images-idx3-ubyte.gz"
    save_idx(path, images, compress=True)
    tracemalloc.start()
    try:
        shard = read_shard(path, 3, 4)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert_array_equal(shard, images[15000:])
    assert peak < 0.6 * images.nbytes, (peak, images.nbytes)


def test_a_truncated_gzip_fails_only_on_the_ranks_whose_rows_are_missing(tmp_path):
    path = tmp_path / "x-idx3-ubyte.gz"
    path.write_bytes(gzip.compress(_idx_bytes(ROWS)[:-10]))  # rows 5 and 6 cut short
    assert_array_equal(read_shard(path, 0, 2), ROWS[:4])
    with pytest.raises(
        DataFormatError,
        match=r"rows 4\.\.6 of shape \(7, 2, 3\) must be in the file.*\(truncated file\)",
    ):
        read_shard(path, 1, 2)


def _idx_bytes(array):
    header = b"\x00\x00\x08" + bytes([array.ndim]) + np.array(array.shape, ">u4").tobytes()
    return header + array.tobytes()


@pytest.mark.parametrize("fmt", ["npy", "npz", "idx"])
def test_open_rows_maps_an_uncompressed_file(tmp_path, fmt):
    path, key, _ = _write(tmp_path, fmt)
    rows = open_rows(path, key=key)
    assert isinstance(rows, np.memmap) and not rows.flags.writeable
    assert_array_equal(rows[[6, 0, 3]], ROWS[[6, 0, 3]])


@pytest.mark.parametrize("fmt", ["idx_gz", "npz_compressed"])
def test_open_rows_inflates_a_compressed_file_once_into_its_cache(tmp_path, fmt):
    path, key, _ = _write(tmp_path, fmt)
    with pytest.raises(ValueError, match=r"must be stored uncompressed .* Pass cache="):
        open_rows(path, key=key)
    cache = tmp_path / "cache.npy"
    rows = open_rows(path, key=key, cache=cache)
    assert isinstance(rows, np.memmap) and rows.dtype == np.uint8
    assert_array_equal(rows, ROWS)
    written = cache.stat().st_mtime_ns
    assert_array_equal(open_rows(path, key=key, cache=cache), ROWS)
    assert cache.stat().st_mtime_ns == written  # reused, not inflated again


def test_a_streamed_idx_equals_load_idx(tmp_path):
    path, _, _ = _write(tmp_path, "idx_gz")
    assert_array_equal(read_shard(path, 0, 1), load_idx(path))


def test_bad_arguments_are_named(tmp_path):
    path, key, _ = _write(tmp_path, "npz")
    with pytest.raises(FileNotFoundError, match="no such file"):
        read_shard(tmp_path / "missing.npy", 0, 1)
    with pytest.raises(ValueError, match=r"key must be one of \['y', 'X_train'\]; got 'X'"):
        read_shard(path, 0, 1, key="X")
    with pytest.raises(ValueError, match="rank must be in"):
        read_shard(path, 2, 2, key=key)
    npy, _, _ = _write(tmp_path, "npy")
    with pytest.raises(ValueError, match=r"key must be None for a \.npy file"):
        read_shard(npy, 0, 1, key="X_train")


@pytest.mark.parametrize("how", ["load_idx", "read_shard idx_gz", "read_shard npz_compressed"])
def test_a_compressed_file_is_inflated_into_its_array_without_a_second_copy(tmp_path, how):
    # gzip's and zipfile's readinto inflate one request into a temporary bytes of its size:
    # asked for the whole array at once, they held it twice (a 2 GiB IDX file peaked at 4 GiB)
    images = np.zeros((96, 1024, 512), dtype=np.uint8)  # 48 MiB, quick to compress
    images[:, 0, :7] = np.arange(96, dtype=np.uint8)[:, None]
    fmt = how.split()[-1] if " " in how else "idx_gz"
    path, key, _ = _write(tmp_path, fmt, images)
    tracemalloc.start()
    try:
        got = load_idx(path) if how == "load_idx" else read_shard(path, 0, 1, key=key)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert_array_equal(got, images)
    assert peak < images.nbytes + 8 * 2**20, (peak, images.nbytes)  # requests of 1 MiB
