"""Hostile headers: a file whose header claims more than the file holds is refused before any
memory is reserved for the claim (.npy, .npz members, IDX plain and gzipped, CSV)."""

from __future__ import annotations

import gzip
import io
import struct
import tracemalloc
import zipfile

import numpy as np
import pytest

from softgrad.datasets import load_file, load_idx
from softgrad.datasets.sniff import MAX_INFLATE_RATIO, read_arrays
from softgrad.errors import DataFormatError

# a claim of several GB; every hostile file below is a few hundred bytes
HUGE = (50_000, 50_000)


def _npy_header(shape, descr="<f4", version=1):
    buf = io.BytesIO()
    write = np.lib.format.write_array_header_1_0
    if version == 2:
        write = np.lib.format.write_array_header_2_0
    write(buf, {"descr": descr, "fortran_order": False, "shape": shape})
    return buf.getvalue()  # magic string included


def _refused_cheaply(call, message):
    """``call()`` raises DataFormatError matching ``message`` with under 5 MB allocated."""
    tracemalloc.start()
    try:
        with pytest.raises(DataFormatError, match=message) as info:
            call()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 5_000_000, peak
    assert "\n" not in str(info.value)
    return str(info.value)


@pytest.mark.parametrize("version", [1, 2])
@pytest.mark.parametrize(
    ("shape", "descr"), [(HUGE, "<f4"), ((10**6, 10**6), "<f8"), ((7,), "<f8"), ((3, 0), "<i4")]
)
def test_npy_header_must_match_the_bytes_that_follow(tmp_path, version, shape, descr):
    path = tmp_path / "x.npy"
    path.write_bytes(_npy_header(shape, descr, version) + b"\x00" * 64)
    text = _refused_cheaply(
        lambda: read_arrays(path, f"read '{path}'", DataFormatError, "an array", npy=True),
        r"its array must hold the \d+ bytes its header declares",
    )
    assert f"{shape}" in text and "got 64 bytes" in text and "x.npy" in text


def test_npz_member_claiming_more_than_it_stores(tmp_path):
    path = tmp_path / "lie.npz"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("X.npy", _npy_header(HUGE) + b"\x00" * 400)
        archive.writestr("y.npy", _npy_header((2,), "<i8") + b"\x00" * 16)
    _refused_cheaply(lambda: load_file(path), r"array 'X' must hold the 10000000000 bytes")


@pytest.mark.parametrize("method", [zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA], ids=["bz2", "lzma"])
def test_npz_member_in_bzip2_or_lzma_is_refused_before_it_inflates(tmp_path, method):
    # a consistent header and data, but 20 MB from a few KB: deflate (np.savez_compressed)
    # cannot go past ~1030x, bzip2 and lzma members can, and zipfile inflates a whole
    # compressed chunk of them at once whatever sizes the archive states
    path = tmp_path / "bomb.npz"
    shape = (2_500_000,)
    with zipfile.ZipFile(path, "w", compression=method) as archive:
        with archive.open("X.npy", "w", force_zip64=True) as member:
            member.write(_npy_header(shape, "<f8"))
            member.write(bytes(8 * shape[0]))
    assert path.stat().st_size * MAX_INFLATE_RATIO < 20_000_000
    _refused_cheaply(
        lambda: read_arrays(path, "read", DataFormatError, "an archive"),
        r"array 'X' must be stored or deflated, as np.savez and np.savez_compressed write it",
    )


def test_deflated_member_claiming_beyond_deflates_ratio_is_a_bomb(tmp_path):
    # the central directory says 3 GB inflate from the member's few hundred bytes
    path = tmp_path / "bomb.npz"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("X.npy", _npy_header((4,), "<f8") + bytes(32))
    raw = bytearray(path.read_bytes())
    central = raw.index(b"PK\x01\x02")
    raw[central + 24 : central + 28] = struct.pack("<I", 3_000_000_000)
    path.write_bytes(bytes(raw))
    _refused_cheaply(lambda: read_arrays(path, "read", DataFormatError, "an archive"), "zip bomb")


def test_a_legitimate_compressed_npz_still_loads(tmp_path, rng):
    # np.savez_compressed of zeros is close to deflate's limit and must pass
    X = np.zeros((2000, 64), np.float32)
    X[::7] = rng.normal(size=(len(X[::7]), 64))
    np.savez_compressed(tmp_path / "ok.npz", X=X, y=np.arange(2000) % 3)
    data = load_file(tmp_path / "ok.npz")
    assert data.X_train.shape[1] == 64


@pytest.mark.parametrize("compressed", [False, True], ids=["plain", "gz"])
@pytest.mark.parametrize("shape", [(60000, 28, 28), (2**31, 2), (10,)])
def test_idx_header_claiming_more_than_the_file_holds(tmp_path, compressed, shape):
    raw = struct.pack(f">BBBB{len(shape)}I", 0, 0, 0x08, len(shape), *shape) + b"\x07" * 9
    path = tmp_path / "images-idx3-ubyte"
    path.write_bytes(gzip.compress(raw) if compressed else raw)
    _refused_cheaply(lambda: load_idx(path), r"data must be \d+ bytes for shape")


@pytest.mark.parametrize("label", ["label", "c1"], ids=["named-label", "last-column-label"])
def test_csv_header_claiming_many_columns_over_blank_lines(tmp_path, label):
    # 5,000 columns x 200,000 lines would be 4 GB of float32; a row of 5,000 columns takes
    # at least 5,000 bytes, so the file's 0.23 MB hold at most 46 of them
    path = tmp_path / "wide.csv"
    header = ",".join(["c0", label] + [f"x{j}" for j in range(4_998)])
    path.write_text(header + "\n" * 200_000 + "\n1,2\n")
    text = _refused_cheaply(
        lambda: load_file(path),
        "every row must have 5000 columns like the header; got 2 on line 200002",
    )
    assert "wide.csv" in text
