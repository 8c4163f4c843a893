"""read_shard and open_rows on damaged or forged files: one DataFormatError naming the file,
raised before anything the header claims is allocated or mapped."""

from __future__ import annotations

import gzip
import io
import struct
import zipfile

import numpy as np
import pytest

from softgrad.datasets import save_idx
from softgrad.datasets.shards import open_rows, read_shard
from softgrad.errors import DataFormatError


def _npy_bytes(header_shape, data: bytes, descr="<f8") -> bytes:
    buf = io.BytesIO()
    header = {"descr": descr, "fortran_order": False, "shape": header_shape}
    np.lib.format.write_array_header_1_0(buf, header)
    return buf.getvalue() + data


def _zip(path, member: bytes, compression=zipfile.ZIP_STORED):
    with zipfile.ZipFile(path, "w", compression=compression) as archive:
        archive.writestr("X.npy", member)
    return path


def test_a_gzip_idx_claiming_exabytes_is_refused_before_allocating(tmp_path):
    # 2**31 x 2**31 bytes claimed by a 100-byte stream: np.empty raised MemoryError (or, for
    # a claim the machine could reserve, reserved it)
    path = tmp_path / "bomb-idx3-ubyte.gz"
    path.write_bytes(gzip.compress(struct.pack(">HBB3I", 0, 8, 3, 2**31, 2**31, 1) + bytes(100)))
    for read in (lambda: read_shard(path, 0, 2), lambda: open_rows(path, cache=tmp_path / "c")):
        with pytest.raises(
            DataFormatError,
            match=r"data must be 4611686018427387904 bytes.*"
            r"cannot hold more than \d+ \(truncated file or bad header\)",
        ):
            read()
    assert not (tmp_path / "c").exists()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"\x1f\x8b", "compressed stream must be intact"),  # gzip magic, then nothing
        (b"garbage", "magic number must be 00 00 TT NN"),
    ],
)
def test_a_damaged_idx_header_is_a_data_format_error(tmp_path, content, message):
    path = tmp_path / "x-idx1-ubyte.gz"
    path.write_bytes(content)
    with pytest.raises(DataFormatError, match=f"read_shard: '{path}': {message}"):
        read_shard(path, 0, 1)


def test_a_gzip_corrupt_inside_its_header_is_a_data_format_error(tmp_path):
    path = tmp_path / "x-idx1-ubyte.gz"
    save_idx(path, np.arange(4, dtype=np.uint8))
    damaged = bytearray(path.read_bytes())
    damaged[12] ^= 0xFF  # the whole array inflates with its header: the damage shows there
    path.write_bytes(bytes(damaged))
    with pytest.raises(DataFormatError, match="compressed stream must be intact"):
        read_shard(path, 0, 1)


def test_a_truncated_npy_is_named_not_an_mmap_error(tmp_path):
    path = tmp_path / "x.npy"
    np.save(path, np.arange(100.0).reshape(10, 10))
    path.write_bytes(path.read_bytes()[:-8])
    for read in (lambda: read_shard(path, 0, 2), lambda: open_rows(path)):
        with pytest.raises(
            DataFormatError,
            match=r"must hold the 800 bytes its header "
            r"declares .*got 792 bytes",
        ):
            read()


@pytest.mark.parametrize(("name", "content"), [("x.npy", b"hello"), ("x.npz", b"not a zip")])
def test_a_text_file_is_named_as_what_it_is(tmp_path, name, content):
    # the .npy was reported as "pickled (object) data", the .npz as zipfile's BadZipFile
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(DataFormatError, match=r"file must be a \.np[yz] file; got a text file"):
        read_shard(path, 0, 1, key="X" if name.endswith(".npz") else None)


@pytest.mark.parametrize("compression", [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED])
def test_a_forged_npz_member_is_refused_before_mapping_or_allocating(tmp_path, compression):
    # the stored one failed in mmap ("mmap length is greater than file size"), the deflated
    # one asked np.empty for 7.3 TiB
    path = _zip(tmp_path / "x.npz", _npy_bytes((10**9, 1000), bytes(80)), compression)
    with pytest.raises(DataFormatError, match=r"array 'X' must hold the 8000000000000 bytes"):
        read_shard(path, 0, 1, key="X")


def test_an_unknown_key_stays_a_value_error_naming_the_keys(tmp_path):
    np.savez(tmp_path / "x.npz", X=np.zeros((2, 2)))
    with pytest.raises(ValueError, match=r"key must be one of \['X'\]; got 'Y'") as info:
        read_shard(tmp_path / "x.npz", 0, 1, key="Y")
    assert not isinstance(info.value, DataFormatError)
