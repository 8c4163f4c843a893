"""A data file located for :mod:`softgrad.datasets.shards`: its header read and what it claims
checked against the bytes that hold it, then a read-only memory map of a file stored
uncompressed, or an opener (:class:`_Stream`) that streams a compressed one.

Nothing is mapped or allocated for a header before its claim is checked: a plain file's exact
size, a compressed one's inflation limit.
"""

from __future__ import annotations

import gzip
import math
import zipfile
import zlib
from contextlib import ExitStack
from pathlib import Path
from typing import IO

import numpy as np

from softgrad.datasets.idx import _GZIP_MAGIC, _MAX_GZIP_RATIO, _open, _read_header
from softgrad.datasets.sniff import check_array_headers, describe, npy_header, sniff
from softgrad.errors import DataFormatError

# what a damaged compressed stream raises while it is read
_STREAM_ERRORS = (gzip.BadGzipFile, EOFError, zlib.error, zipfile.BadZipFile)


class _Stream:
    """A compressed array opened for streaming: ``(f, dtype, shape, where)`` in a with block,
    ``f`` positioned at the first data byte. ``open_file(stack)`` opens it, entering into
    ``stack`` whatever must be closed after. A header claiming more than ``max_bytes`` of data
    is refused before anything is allocated for it."""

    def __init__(self, open_file, read_header, where: str, max_bytes: int | None = None):
        self.open_file, self.read_header, self.where = open_file, read_header, where
        self.max_bytes = max_bytes

    def __enter__(self):
        self.stack = ExitStack()
        try:
            f = self.open_file(self.stack)
            dtype, shape = self.read_header(f, self.where)
            claimed = math.prod(shape) * dtype.itemsize
            if self.max_bytes is not None and claimed > self.max_bytes:
                raise DataFormatError(
                    f"{self.where}: data must be {claimed} bytes for shape {shape} of "
                    f"{dtype.name}; got a file that cannot hold more than {self.max_bytes} "
                    "(truncated file or bad header)"
                )
        except _STREAM_ERRORS as exc:
            self.stack.close()
            raise DataFormatError(
                f"{self.where}: compressed stream must be intact; got {exc}"
            ) from exc
        except BaseException:
            self.stack.close()
            raise
        return f, dtype, shape, self.where

    def __exit__(self, *exc) -> None:
        self.stack.close()


def _locate(path: Path, key: str | None) -> tuple[np.ndarray | None, _Stream | None]:
    """``(memmap, None)`` for a file stored uncompressed, ``(None, stream opener)`` else."""
    where = f"read_shard: {str(path)!r}"
    if not path.is_file():
        raise FileNotFoundError(f"{where}: no such file")
    suffix = path.suffix.lower()
    if suffix != ".npz" and key is not None:
        raise ValueError(f"{where}: key must be None for a {suffix or 'IDX'} file; got {key!r}")
    if suffix in (".npy", ".npz"):
        # a header is a claim: checked against the bytes that hold it before it is mapped
        kind = "npy" if suffix == ".npy" else "zip"
        if sniff(path) != kind:
            raise DataFormatError(f"{where}: file must be a {suffix} file; got {describe(path)}")
        try:
            if suffix == ".npy":
                check_array_headers(path, kind, where, DataFormatError)
                return np.load(path, mmap_mode="r"), None
            return _locate_npz(path, key, where)
        except (ValueError, *_STREAM_ERRORS) as exc:
            if isinstance(exc, DataFormatError) or str(exc).startswith(where):
                raise
            raise DataFormatError(
                f"{where}: file must be a readable {suffix} file; got a truncated or corrupted "
                f"one ({exc})"
            ) from exc
    with open(path, "rb") as f:
        if f.read(2) == _GZIP_MAGIC:
            # deflate inflates at most ~1032x: a larger claim is a bad header, not data
            limit = _MAX_GZIP_RATIO * path.stat().st_size
            return None, _Stream(
                lambda stack: stack.enter_context(_open(path)), _read_header, where, limit
            )
        f.seek(0)
        dtype, shape = _read_header(f, where)
        offset = f.tell()
    _check_size(path.stat().st_size - offset, dtype, shape, where)
    return np.memmap(path, dtype=dtype, mode="r", offset=offset, shape=shape), None


def _locate_npz(path: Path, key: str | None, where: str):
    with zipfile.ZipFile(path) as zf:
        names = [name.removesuffix(".npy") for name in zf.namelist()]
        if key not in names:
            raise ValueError(f"{where}: key must be one of {names}; got {key!r}")
        info = zf.getinfo(f"{key}.npy")
    check_array_headers(path, "zip", where, DataFormatError, keys=(key,))
    if info.compress_type != zipfile.ZIP_STORED:

        def open_member(stack: ExitStack) -> IO[bytes]:
            return stack.enter_context(stack.enter_context(zipfile.ZipFile(path)).open(info))

        return None, _Stream(open_member, _read_npy_header, where)
    with open(path, "rb") as f:
        # the local file header: 30 bytes, then the name and an extra field of their own length
        f.seek(info.header_offset + 26)
        name_len, extra_len = np.frombuffer(f.read(4), dtype="<u2")
        f.seek(info.header_offset + 30 + int(name_len) + int(extra_len))
        dtype, shape = _read_npy_header(f, where)
        offset = f.tell()
    return np.memmap(path, dtype=dtype, mode="r", offset=offset, shape=shape), None


def _read_npy_header(f: IO[bytes], where: str) -> tuple[np.dtype, tuple[int, ...]]:
    shape, fortran, dtype = npy_header(f, where, DataFormatError, "the array")
    if fortran and len(shape) > 1:
        raise DataFormatError(f"{where}: array must be stored in C order; got Fortran order")
    if dtype.hasobject:
        raise DataFormatError(f"{where}: array must hold numbers; got dtype {dtype}")
    return dtype, shape


def _check_size(n_bytes: int, dtype: np.dtype, shape: tuple[int, ...], where: str) -> None:
    want = math.prod(shape) * dtype.itemsize
    if n_bytes < want:
        raise DataFormatError(
            f"{where}: data must be {want} bytes for shape {shape} of {dtype.name}; got "
            f"{n_bytes} bytes (truncated file)"
        )
