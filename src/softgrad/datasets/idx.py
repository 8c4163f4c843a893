"""IDX files: the binary format of MNIST and Fashion-MNIST, plain or gzipped.

An IDX file is a 4-byte magic number ``00 00 TT NN`` (TT the data type, NN the number of
dimensions), NN big-endian uint32 sizes, then the data in big-endian C order. Every type of the
format is read and written:

====  ===========  =====
TT    meaning      dtype
====  ===========  =====
0x08  unsigned     uint8
0x09  signed       int8
0x0B  short        int16
0x0C  int          int32
0x0D  float        float32
0x0E  double       float64
====  ===========  =====

Arrays come back in native byte order, writable, read straight into their final buffer (no
Python loop, no second copy), so Fashion-MNIST's 47 MB of training images load in the time gzip
takes to inflate them.
"""

from __future__ import annotations

import gzip
import math
import os
import struct
import zlib
from pathlib import Path
from typing import IO, BinaryIO

import numpy as np

from softgrad.atomic import atomic_write
from softgrad.checks import check_path
from softgrad.errors import DataFormatError

__all__ = ["IDX_DTYPES", "load_idx", "save_idx"]

# IDX type code -> big-endian dtype of the data on disk
IDX_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype("u1"),
    0x09: np.dtype("i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_CODE_OF_KIND = {(dt.kind, dt.itemsize): code for code, dt in IDX_DTYPES.items()}
_GZIP_MAGIC = b"\x1f\x8b"
# deflate inflates at most ~1032x: a header claiming more data than that is corrupt or truncated
_MAX_GZIP_RATIO = 1100


def _open(path: Path) -> BinaryIO:
    """Open ``path`` for reading, inflating it on the fly when it starts with the gzip magic."""
    with open(path, "rb") as f:
        is_gzip = f.read(2) == _GZIP_MAGIC
    return gzip.open(path, "rb") if is_gzip else open(path, "rb")  # type: ignore[return-value]


_READ_CHUNK = 1 << 20  # bytes asked of a stream at a time by read_into
_WRITE_BYTES = 1 << 20  # bytes of values converted and written at a time by save_idx
_MAX_IDX_SIZE = 0xFFFFFFFF  # a header's sizes are uint32


def read_into(f: IO[bytes], view: memoryview) -> int:
    """Fill ``view`` from ``f`` until it is full or ``f`` ends; the bytes read.

    At most 1 MiB is asked for at a time: gzip's and zipfile's ``readinto`` inflate a
    request into a temporary ``bytes`` of its size and then copy it, so one request for the
    whole buffer held the data twice (a 2 GiB gzipped IDX file peaked at 4 GiB).
    """
    filled = 0
    while filled < len(view):
        got = f.readinto(view[filled : filled + _READ_CHUNK])  # type: ignore[attr-defined]
        if not got:
            break
        filled += got
    return filled


def _read_exact(f: BinaryIO, n_bytes: int) -> bytes:
    data = f.read(n_bytes)
    return data if data is not None else b""


def _read_header(f: BinaryIO, where: str) -> tuple[np.dtype, tuple[int, ...]]:
    magic = _read_exact(f, 4)
    if len(magic) < 4:
        raise DataFormatError(
            f"{where}: file must start with a 4-byte IDX magic number; got {len(magic)} bytes"
        )
    zero, code, ndim = struct.unpack(">HBB", magic)
    if zero != 0 or code not in IDX_DTYPES:
        raise DataFormatError(
            f"{where}: magic number must be 00 00 TT NN with TT one of 08 09 0B 0C 0D 0E; "
            f"got {magic.hex(' ')} (not an IDX file?)"
        )
    if ndim == 0:
        raise DataFormatError(f"{where}: number of dimensions must be at least 1; got 0")
    sizes = _read_exact(f, 4 * ndim)
    if len(sizes) < 4 * ndim:
        raise DataFormatError(
            f"{where}: header must hold {ndim} dimension sizes ({4 * ndim} bytes); "
            f"got {len(sizes)} bytes (truncated file)"
        )
    return IDX_DTYPES[code], struct.unpack(f">{ndim}I", sizes)


def _read_data(
    f: BinaryIO, dtype: np.dtype, shape: tuple[int, ...], where: str, max_bytes: int
) -> np.ndarray:
    n_bytes = math.prod(shape) * dtype.itemsize
    if n_bytes > max_bytes:
        # checked before allocating: a corrupt header must not ask for terabytes
        raise DataFormatError(
            f"{where}: data must be {n_bytes} bytes for shape {shape} of {dtype.name}; "
            f"got a file that cannot hold more than {max_bytes} (truncated file or bad header)"
        )
    buf = np.empty(n_bytes, dtype=np.uint8)
    filled = read_into(f, buf.data)  # (a memoryview of buf)
    if filled < n_bytes:
        raise DataFormatError(
            f"{where}: data must be {n_bytes} bytes for shape {shape} of {dtype.name}; "
            f"got {filled} bytes (truncated file)"
        )
    if _read_exact(f, 1):
        raise DataFormatError(
            f"{where}: file must end after {n_bytes} data bytes for shape {shape}; "
            "got trailing bytes (size mismatch between header and data)"
        )
    try:
        data = buf.view(dtype).reshape(shape)
    except ValueError as exc:  # the format allows 255 dimensions, NumPy 64 (32 before 2.0)
        raise DataFormatError(
            f"{where}: number of dimensions must be one NumPy can hold; got {len(shape)} ({exc})"
        ) from None
    if dtype.byteorder == ">" and np.little_endian:
        # swap in place, then relabel: same buffer, native byte order, no copy
        data = data.byteswap(inplace=True).view(dtype.newbyteorder("="))
    return data


def load_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file, plain or gzipped (detected from its content, not its name).

    Parameters
    ----------
    path : str or PathLike
        The file, e.g. ``train-images-idx3-ubyte.gz``.

    Returns
    -------
    ndarray of the shape in the file's header
        In native byte order and writable; dtype from the table in the module docstring.

    Raises
    ------
    FileNotFoundError
        ``path`` does not exist.
    DataFormatError
        Bad magic number, truncated header or data, trailing bytes after the data, or a corrupt
        gzip stream. The message names the file.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = pathlib.Path(folder) / "a-idx2-short.gz"
    ...     save_idx(path, np.array([[1, -2], [3, 300]], dtype=np.int16))
    ...     array = load_idx(path)
    >>> array
    array([[  1,  -2],
           [  3, 300]], dtype=int16)
    """
    path = Path(check_path(path, "load_idx"))
    where = f"load_idx: {str(path)!r}"
    if not path.is_file():
        raise FileNotFoundError(f"{where}: no such file")
    try:
        size = path.stat().st_size
        with _open(path) as f:
            dtype, shape = _read_header(f, where)
            if isinstance(f, gzip.GzipFile):
                max_bytes = _MAX_GZIP_RATIO * size
            else:
                max_bytes = size - 4 - 4 * len(shape)
            return _read_data(f, dtype, shape, where, max_bytes)
    except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
        raise DataFormatError(f"{where}: gzip stream must be intact; got {exc}") from exc


def save_idx(path: str | os.PathLike, array: np.ndarray, *, compress: bool | None = None) -> None:
    """Write ``array`` as an IDX file, atomically (temp file in the same folder, then rename).

    Parameters
    ----------
    path : str or PathLike
        Destination file.
    array : ndarray of any shape with at least one dimension
        dtype uint8, int8, int16, int32, float32 or float64 (any byte order).
    compress : bool, optional
        Gzip the file. Default: when ``path`` ends in ``.gz``.

    Raises
    ------
    ValueError
        Unsupported dtype, a 0-d array, more than 255 dimensions, or a size past 2**32 - 1.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> array = np.arange(6, dtype=np.uint8).reshape(2, 3)
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = pathlib.Path(folder) / "a-idx2-ubyte.gz"
    ...     save_idx(path, array)
    ...     head = path.read_bytes()[:2]
    ...     back = load_idx(path)
    >>> head.hex(), np.array_equal(back, array), back.dtype  # gzip's magic: ".gz" compresses
    ('1f8b', True, dtype('uint8'))
    """
    check_path(path, "save_idx")
    array = np.asarray(array)
    code = _CODE_OF_KIND.get((array.dtype.kind, array.dtype.itemsize))
    if code is None or array.dtype.kind not in "uif":
        raise ValueError(
            "save_idx: array dtype must be one of uint8, int8, int16, int32, float32, float64; "
            f"got {array.dtype.name!r}"
        )
    if not 1 <= array.ndim <= 255:
        raise ValueError(f"save_idx: array must have 1 to 255 dimensions; got {array.ndim}")
    if max(array.shape) > _MAX_IDX_SIZE:
        raise ValueError(
            f"save_idx: array sizes must each be at most {_MAX_IDX_SIZE:,} (the IDX header holds "
            f"them as uint32); got shape {array.shape}"
        )
    path = Path(path)
    if compress is None:
        compress = path.suffix == ".gz"
    header = struct.pack(f">HBB{array.ndim}I", 0, code, array.ndim, *array.shape)
    with atomic_write(path, "save_idx") as f:
        if compress:
            # mtime=0 and no file name (the temp file's): the same array gives the same bytes
            with gzip.GzipFile(filename="", mode="wb", fileobj=f, mtime=0) as packed:
                _write_data(packed, header, array, IDX_DTYPES[code])
        else:
            _write_data(f, header, array, IDX_DTYPES[code])


def _write_data(
    f: IO[bytes] | gzip.GzipFile, header: bytes, array: np.ndarray, dtype: np.dtype
) -> None:
    """The header, then ``array``'s values in ``dtype`` (big-endian) a block of about
    ``_WRITE_BYTES`` at a time. The whole payload in one ``bytes`` (header + ``tobytes()``)
    held the data twice more: a 0.6 GB array peaked 1.2 GB above it, plain or gzipped."""
    f.write(header)
    if array.size == 0:
        return
    if array.flags.c_contiguous:
        flat = array.reshape(-1)
        step = max(1, _WRITE_BYTES // array.itemsize)
        for start in range(0, flat.size, step):
            f.write(np.ascontiguousarray(flat[start : start + step], dtype=dtype).tobytes())
        return
    row_bytes = array[0].size * array.itemsize if array.ndim > 1 else array.itemsize
    rows = max(1, _WRITE_BYTES // max(row_bytes, 1))
    for start in range(0, len(array), rows):
        f.write(np.ascontiguousarray(array[start : start + rows], dtype=dtype).tobytes())
