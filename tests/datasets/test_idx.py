"""load_idx / save_idx: every IDX dtype, plain and gzipped, and every way a file can be broken."""

import gzip
import struct

import numpy as np
import pytest

from softgrad.datasets import load_idx, save_idx
from softgrad.errors import DataFormatError

# IDX type code and the big-endian on-disk dtype, written by hand (not taken from the module)
IDX_TYPES = [
    (0x08, ">u1", np.uint8),
    (0x09, ">i1", np.int8),
    (0x0B, ">i2", np.int16),
    (0x0C, ">i4", np.int32),
    (0x0D, ">f4", np.float32),
    (0x0E, ">f8", np.float64),
]


def _sample(dtype, shape, rng):
    info = np.iinfo(dtype) if np.dtype(dtype).kind in "iu" else None
    if info is not None:
        values = rng.integers(info.min, info.max, size=shape, endpoint=True)
        flat = values.reshape(-1)
        flat[:2] = [info.min, info.max]  # the extremes catch sign and byte-order mistakes
        return values.astype(dtype)
    return (rng.standard_normal(shape) * 1e3).astype(dtype)


def _idx_bytes(code, ondisk, array):
    header = struct.pack(f">BBBB{array.ndim}I", 0, 0, code, array.ndim, *array.shape)
    return header + array.astype(ondisk).tobytes()


@pytest.mark.parametrize("compressed", [False, True], ids=["plain", "gz"])
@pytest.mark.parametrize("shape", [(7,), (5, 4, 3), (2, 1, 3, 2)])
@pytest.mark.parametrize(("code", "ondisk", "dtype"), IDX_TYPES)
def test_load_idx_reads_hand_built_file(tmp_path, rng, code, ondisk, dtype, shape, compressed):
    array = _sample(dtype, shape, rng)
    raw = _idx_bytes(code, ondisk, array)
    path = tmp_path / ("a.idx.gz" if compressed else "a.idx")
    path.write_bytes(gzip.compress(raw) if compressed else raw)

    loaded = load_idx(path)

    assert loaded.dtype == np.dtype(dtype)  # native byte order
    assert loaded.dtype.isnative
    assert loaded.shape == shape
    np.testing.assert_array_equal(loaded, array)
    assert loaded.flags.writeable


@pytest.mark.parametrize(("code", "ondisk", "dtype"), IDX_TYPES)
def test_save_idx_writes_big_endian_bytes(tmp_path, rng, code, ondisk, dtype):
    array = _sample(dtype, (3, 5), rng)
    save_idx(tmp_path / "b.idx", array)
    assert (tmp_path / "b.idx").read_bytes() == _idx_bytes(code, ondisk, array)


@pytest.mark.parametrize(("code", "ondisk", "dtype"), IDX_TYPES)
def test_save_then_load_round_trip_gz(tmp_path, rng, code, ondisk, dtype):
    array = _sample(dtype, (4, 6), rng)
    path = tmp_path / "c-idx2.gz"
    save_idx(path, array)
    assert path.read_bytes()[:2] == b"\x1f\x8b"
    np.testing.assert_array_equal(load_idx(path), array)


def test_gzip_is_detected_from_content_not_name(tmp_path):
    array = np.arange(12, dtype=np.uint8).reshape(3, 4)
    save_idx(tmp_path / "zipped-without-suffix", array, compress=True)
    save_idx(tmp_path / "plain-with-suffix.gz", array, compress=False)
    np.testing.assert_array_equal(load_idx(tmp_path / "zipped-without-suffix"), array)
    np.testing.assert_array_equal(load_idx(tmp_path / "plain-with-suffix.gz"), array)


def test_save_idx_gz_is_deterministic(tmp_path):
    array = np.arange(100, dtype=np.int16)
    save_idx(tmp_path / "one.gz", array)
    save_idx(tmp_path / "two.gz", array)
    assert (tmp_path / "one.gz").read_bytes() == (tmp_path / "two.gz").read_bytes()


def test_save_idx_accepts_non_native_and_noncontiguous_input(tmp_path):
    array = np.arange(20, dtype=">i4").reshape(4, 5)[:, ::2]
    save_idx(tmp_path / "d.idx", array)
    np.testing.assert_array_equal(load_idx(tmp_path / "d.idx"), array)


@pytest.mark.parametrize("dtype", [np.int64, np.uint16, np.bool_, np.complex64, np.float16])
def test_save_idx_rejects_dtypes_idx_cannot_hold(tmp_path, dtype):
    with pytest.raises(ValueError, match="save_idx: array dtype must be one of"):
        save_idx(tmp_path / "x.idx", np.zeros(3, dtype=dtype))
    assert not (tmp_path / "x.idx").exists()


def test_save_idx_rejects_0d(tmp_path):
    with pytest.raises(ValueError, match="1 to 255 dimensions; got 0"):
        save_idx(tmp_path / "x.idx", np.array(3, dtype=np.uint8))


def _good_bytes():
    return _idx_bytes(0x08, ">u1", np.arange(24, dtype=np.uint8).reshape(2, 3, 4))


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"", "4-byte IDX magic number; got 0 bytes"),
        (b"\x00\x00\x08", "4-byte IDX magic number; got 3 bytes"),
        (b"\x00\x00\x07\x01" + b"\x00" * 8, "magic number must be 00 00 TT NN"),
        (b"\x01\x00\x08\x01" + b"\x00" * 8, "magic number must be 00 00 TT NN"),
        (b"PK\x03\x04" + b"\x00" * 8, "not an IDX file"),
        (b"\x00\x00\x08\x00", "number of dimensions must be at least 1; got 0"),
        (b"\x00\x00\x08\x03\x00\x00\x00\x02\x00\x00", "truncated file"),
        (_good_bytes()[:-1], "data must be 24 bytes for shape (2, 3, 4) of uint8; got "),
        (_good_bytes()[:16], "data must be 24 bytes"),
        (_good_bytes() + b"\x00", "trailing bytes"),
    ],
    ids=[
        "empty",
        "short-magic",
        "unknown-type",
        "nonzero-lead",
        "zip-file",
        "zero-dims",
        "short-dims",
        "one-byte-short",
        "no-data",
        "trailing",
    ],
)
@pytest.mark.parametrize("compressed", [False, True], ids=["plain", "gz"])
def test_broken_files_raise_data_format_error_naming_the_file(tmp_path, raw, message, compressed):
    path = tmp_path / "broken-idx3-ubyte"
    path.write_bytes(gzip.compress(raw) if compressed else raw)
    with pytest.raises(DataFormatError, match="broken-idx3-ubyte") as info:
        load_idx(path)
    assert message in str(info.value)


def test_multibyte_size_mismatch_counts_bytes(tmp_path):
    raw = _idx_bytes(0x0E, ">f8", np.ones((3, 2)))
    (tmp_path / "f").write_bytes(raw[:-8])
    with pytest.raises(DataFormatError, match=r"48 bytes for shape \(3, 2\) of float64; got .* 40"):
        load_idx(tmp_path / "f")
    (tmp_path / "f.gz").write_bytes(gzip.compress(raw[:-8]))
    with pytest.raises(DataFormatError, match=r"48 bytes .*; got 40 bytes \(truncated file\)"):
        load_idx(tmp_path / "f.gz")


@pytest.mark.parametrize("compressed", [False, True], ids=["plain", "gz"])
def test_header_claiming_huge_data_fails_before_allocating(tmp_path, compressed):
    # 4 dims of 2**32 - 1: far more bytes than any machine holds
    raw = struct.pack(">BBBB4I", 0, 0, 0x0E, 4, *[2**32 - 1] * 4) + b"\x00" * 64
    (tmp_path / "huge").write_bytes(gzip.compress(raw) if compressed else raw)
    with pytest.raises(DataFormatError, match=r"cannot hold more than .* bad header"):
        load_idx(tmp_path / "huge")


@pytest.mark.parametrize("cut", [5, 30, -3], ids=["in-header", "in-stream", "in-trailer"])
def test_truncated_gzip_stream_is_a_data_format_error(tmp_path, cut):
    data = gzip.compress(_idx_bytes(0x0C, ">i4", np.arange(1000, dtype=np.int32)))
    (tmp_path / "t.gz").write_bytes(data[:cut])
    with pytest.raises(DataFormatError, match=r"t\.gz"):
        load_idx(tmp_path / "t.gz")


def test_corrupted_gzip_stream_is_a_data_format_error(tmp_path):
    data = bytearray(gzip.compress(_idx_bytes(0x0C, ">i4", np.arange(1000, dtype=np.int32))))
    data[len(data) // 2 : len(data) // 2 + 16] = b"\xff" * 16
    (tmp_path / "c.gz").write_bytes(bytes(data))
    with pytest.raises(DataFormatError, match=r"c\.gz"):
        load_idx(tmp_path / "c.gz")


def test_data_format_error_is_a_value_error(tmp_path):
    (tmp_path / "x").write_bytes(b"nonsense")
    with pytest.raises(ValueError):
        load_idx(tmp_path / "x")


def test_missing_file_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope-idx1-ubyte"):
        load_idx(tmp_path / "nope-idx1-ubyte")
