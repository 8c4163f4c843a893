"""An .npz member is read only as NumPy writes it: stored or deflated, not encrypted, checked
as an array whatever its name, and with at least one byte an element. Each forged file below
is refused by name before a byte of its claim is inflated or reserved."""

from __future__ import annotations

import io
import struct
import tracemalloc
import zipfile

import numpy as np
import pytest

from softgrad.datasets import load_file
from softgrad.datasets.sniff import read_arrays
from softgrad.errors import DataFormatError


def _npy(array=None, *, shape=None, descr="<f4"):
    buf = io.BytesIO()
    if array is not None:
        np.save(buf, array)
    else:
        header = {"descr": descr, "fortran_order": False, "shape": shape}
        np.lib.format.write_array_header_1_0(buf, header)
        buf.write(bytes(64))
    return buf.getvalue()


def _archive(path, members, compression=zipfile.ZIP_STORED):
    with zipfile.ZipFile(path, "w", compression=compression) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def _patched(path, member_index, local_offset, central_offset, fmt, value):
    """Set a field of the ``member_index``-th member's local and central headers."""
    raw = bytearray(path.read_bytes())
    for signature, offset in ((b"PK\x03\x04", local_offset), (b"PK\x01\x02", central_offset)):
        at = -1
        for _ in range(member_index + 1):
            at = raw.index(signature, at + 1)
        raw[at + offset : at + offset + struct.calcsize(fmt)] = struct.pack(fmt, value)
    path.write_bytes(bytes(raw))
    return path


def _refused(path, message):
    tracemalloc.start()
    try:
        with pytest.raises(DataFormatError, match=message) as info:
            read_arrays(path, f"read {path.name!r}", DataFormatError, "an archive of arrays")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 5_000_000, peak
    text = str(info.value)
    assert text.startswith(f"read {path.name!r}: ") and "\n" not in text
    return text


DATA = {"X.npy": _npy(np.zeros((6, 2), np.float32)), "y.npy": _npy(np.arange(6) % 2)}


@pytest.mark.parametrize(
    ("method", "name"), [(zipfile.ZIP_BZIP2, "bzip2"), (zipfile.ZIP_LZMA, "LZMA")]
)
def test_small_honest_bzip2_or_lzma_member_is_refused_too(tmp_path, method, name):
    path = _archive(tmp_path / "packed.npz", DATA, compression=method)
    text = _refused(path, "array 'X' must be stored or deflated")
    assert f"got compression method {method} ({name}): save the arrays again with NumPy" in text


def test_unknown_compression_method_is_refused(tmp_path):
    path = _patched(_archive(tmp_path / "odd.npz", DATA), 1, 8, 10, "<H", 99)
    _refused(path, r"array 'y' must be stored or deflated.* method 99 \(unknown\)")


def test_encrypted_member_is_refused(tmp_path):
    path = _patched(_archive(tmp_path / "locked.npz", DATA), 0, 6, 8, "<H", 1)
    _refused(path, "array 'X' must not be encrypted; got a password-protected member")


def test_member_without_npy_suffix_is_checked_as_an_array(tmp_path):
    # np.load reads a member named X as it reads X.npy, so its claim is checked the same
    members = {"X": _npy(shape=(10**6, 10**6), descr="<f8"), "y.npy": DATA["y.npy"]}
    path = _archive(tmp_path / "bare.npz", members)
    _refused(path, r"array 'X' must hold the 8000000000000 bytes its header declares")


def test_member_without_npy_suffix_holding_an_array_still_loads(tmp_path):
    path = _archive(tmp_path / "bare.npz", {"X": DATA["X.npy"], "y": DATA["y.npy"]})
    arrays = read_arrays(path, "read", DataFormatError, "an archive")
    np.testing.assert_array_equal(arrays["X"], np.zeros((6, 2), np.float32))


def test_member_without_npy_suffix_that_is_not_an_array_is_named(tmp_path):
    path = _archive(tmp_path / "notes.npz", {**DATA, "notes": b"hello"})
    _refused(path, "got a member 'notes' that is not an array")


@pytest.mark.parametrize("descr", ["|S0", "|V0", "<U0"])
def test_zero_byte_elements_cannot_claim_a_shape(tmp_path, descr):
    # no byte of data to hold the claim to: NumPy reads |S0 as |S1, so 10**12 empty strings
    # from a 2 KB file asked for 931 GiB
    members = {"X.npy": _npy(shape=(10**12,), descr=descr), "y.npy": DATA["y.npy"]}
    text = _refused(
        _archive(tmp_path / "empty.npz", members),
        "array 'X' must have a dtype of at least one byte per element",
    )
    assert "of shape (1000000000000,) (a forged file)" in text


def test_no_element_of_zero_bytes_is_fine(tmp_path):
    members = {**DATA, "names.npy": _npy(np.zeros((0,), "S0"))}
    arrays = read_arrays(_archive(tmp_path / "ok.npz", members), "read", DataFormatError, "x")
    assert arrays["names"].shape == (0,)


def test_data_file_refusal_names_the_file(tmp_path):
    path = _archive(tmp_path / "data.npz", DATA, compression=zipfile.ZIP_BZIP2)
    with pytest.raises(DataFormatError, match=r"load_file: '.*data.npz': array 'X' must be"):
        load_file(path)
