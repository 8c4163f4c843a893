"""save_idx writes its header and then the values a block at a time: the whole payload in one
``bytes`` (header + ``tobytes()``) held the data twice more, so a 0.6 GB array peaked 1.2 GB
above itself, plain or gzipped; and a size the header's uint32 cannot hold is refused by name
(it was struct's bare error)."""

from __future__ import annotations

import gzip
import struct
import tracemalloc

import numpy as np
import pytest

from softgrad.datasets import idx, load_idx, save_idx


def _expected_bytes(array, ondisk):
    header = struct.pack(f">BBBB{array.ndim}I", 0, 0, 0x0B, array.ndim, *array.shape)
    return header + np.ascontiguousarray(array, dtype=ondisk).tobytes()


@pytest.mark.parametrize("compressed", [False, True], ids=["plain", "gz"])
@pytest.mark.parametrize(
    "layout",
    ["C order", "rows of a slice", "Fortran order", "a column", "no rows"],
)
def test_blocks_of_a_few_bytes_write_the_same_file(tmp_path, monkeypatch, rng, compressed, layout):
    monkeypatch.setattr(idx, "_WRITE_BYTES", 7)  # blocks that cut values and rows apart
    base = rng.integers(-(2**15), 2**15, size=(9, 6, 5)).astype("<i2")
    array = {
        "C order": base,
        "rows of a slice": base[::2, 1:, ::-1],
        "Fortran order": np.asfortranarray(base),
        "a column": base[:, 0, 0],
        "no rows": base[:0],
    }[layout]
    path = tmp_path / ("a.idx.gz" if compressed else "a.idx")
    save_idx(path, array)
    raw = path.read_bytes()
    assert (gzip.decompress(raw) if compressed else raw) == _expected_bytes(array, ">i2")
    np.testing.assert_array_equal(load_idx(path), array)


@pytest.mark.parametrize("compressed", [False, True], ids=["plain", "gz"])
def test_the_payload_is_never_held_whole(tmp_path, compressed):
    array = np.arange(32 << 20, dtype=np.uint8).reshape(-1, 1024)  # 32 MiB
    tracemalloc.start()
    try:
        save_idx(tmp_path / ("a.idx.gz" if compressed else "a.idx"), array)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    # a block of 1 MiB and its bytes (and gzip's buffers), not two more copies of the 32 MiB
    assert peak < array.nbytes // 4


def test_a_size_past_the_headers_uint32_is_refused(tmp_path):
    array = np.broadcast_to(np.uint8(0), (2**32,))  # no memory behind it
    with pytest.raises(
        ValueError, match=r"save_idx: array sizes must each be at most 4,294,967,295"
    ):
        save_idx(tmp_path / "a.idx", array)
    assert not (tmp_path / "a.idx").exists()
