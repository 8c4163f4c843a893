"""Rows of a data file without loading the whole set: one rank's shard, or a memory map.

Data-parallel training (:mod:`softgrad.training.distributed`) has two ways to spread a data set
that one process should not hold:

- **Global permutation, rows read lazily (fit's way).** Every rank draws the same permutation
  and gathers its slice of every global batch from :func:`open_rows`, a read-only memory map
  of the whole file. A rank's private memory is its batch buffers; the file's pages live in
  the operating system's page cache, shared by every rank on a machine and dropped under
  pressure. The weights equal one process's to float64 rounding (the 1e-10 tests hold).
  It needs random access, so a compressed file is inflated once into an uncompressed .npy
  (``cache=``), chunk by chunk, never whole in memory. ``softgrad train`` under mpiexec reads
  this way: rank 0 writes the scaled rows once and every rank maps them (cli/ranks.py).
- **Each rank owns a fixed 1/N of the samples (:func:`read_shard`).** A rank reads only the
  contiguous rows :func:`~softgrad.training.distributed.shard_bounds` gives it, and a gzipped
  file is inflated as a stream that keeps only those rows (the rows before are skipped, the
  stream is left unread after them). Nothing of the other shards is ever held. But a global
  batch must then be built from per-rank local permutations: the run equals one process only
  in distribution, not to 1e-10. Use it for data that exists only compressed and does not fit
  a machine, and for sharded scoring (validation, evaluate), where the order does not matter.

Formats: ``.npy``; ``.npz`` members (``key=``), memory-mapped by offset when stored
uncompressed (``np.savez``), streamed when deflated (``np.savez_compressed``); IDX files,
memory-mapped when plain, streamed when gzipped. The stored dtype is kept (uint8 pixels stay
uint8). A plain IDX file of a multi-byte type maps with its big-endian dtype; a streamed one
comes back in native byte order.

Measured per rank, 2 ranks on Fashion-MNIST (60000 x 784 training images; one epoch of
784-256-10; ``python benchmarks/mpi_memory.py``; 63 MB of it is Python, NumPy and softgrad):
every rank loading the whole set as float32, peak RSS 288 MB, 220 MB private; a memory map of
a float32 .npy (:func:`open_rows`), 41 MB private and 137 MB proportional (the 179 MB of file
pages are shared by both ranks; peak RSS, which counts them, 252 MB); the rank's gzip shard
alone (:func:`read_shard`), 22 MB of rows, peak RSS 109 MB.
"""

from __future__ import annotations

import gzip
import math
import os
import zipfile
import zlib
from contextlib import ExitStack
from pathlib import Path
from typing import BinaryIO

import numpy as np

from softgrad.atomic import atomic_write
from softgrad.datasets.idx import _GZIP_MAGIC, _MAX_GZIP_RATIO, _open, _read_header
from softgrad.datasets.sniff import check_array_headers, describe, sniff
from softgrad.errors import DataFormatError

__all__ = ["open_rows", "read_shard"]

_CHUNK = 1 << 20  # bytes inflated at a time while skipping or copying
# what a damaged compressed stream raises while it is read
_STREAM_ERRORS = (gzip.BadGzipFile, EOFError, zlib.error, zipfile.BadZipFile)
_NPY_HEADERS = {
    (1, 0): np.lib.format.read_array_header_1_0,
    (2, 0): np.lib.format.read_array_header_2_0,
}


def read_shard(
    path: str | os.PathLike, rank: int, size: int, *, key: str | None = None
) -> np.ndarray:
    """Rows ``[start, stop)`` of the array in ``path`` that ``rank`` of ``size`` owns.

    The shard is ``shard_bounds(n_rows, rank, size)``: contiguous, the first ``n_rows % size``
    ranks one row longer.

    Parameters
    ----------
    path : str or PathLike
        An .npy, .npz (give ``key``) or IDX file, plain or gzipped.
    rank, size : int
        This rank and the number of ranks.
    key : str, optional
        The member of an .npz file (``"X_train"``).

    Returns
    -------
    ndarray of shape (stop - start, ...)
        In the stored dtype: a read-only memory-mapped view for .npy, stored .npz members and
        plain IDX files; for a compressed file a new array holding only these rows.

    Raises
    ------
    FileNotFoundError, DataFormatError
        No file; a malformed or truncated one (a truncated gzip fails only on the ranks whose
        rows are missing); a header claiming more data than the file can hold (checked
        before anything is mapped or allocated: a plain file's exact size, a compressed
        one's 1100x inflation limit).

    Example
    -------
    >>> import tempfile, pathlib
    >>> from softgrad.datasets import save_idx
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "x-idx2-ubyte.gz"
    >>> save_idx(path, np.arange(10, dtype=np.uint8).reshape(5, 2))
    >>> read_shard(path, 1, 2)  # 5 rows over 2 ranks: rows 0-2 and 3-4
    array([[6, 7],
           [8, 9]], dtype=uint8)
    """
    _check_rank(rank, size)
    from softgrad.training.distributed import shard_bounds

    mapped, opener = _locate(Path(path), key)
    if mapped is not None:
        start, stop = shard_bounds(mapped.shape[0], rank, size)
        return mapped[start:stop]
    with opener as (f, dtype, shape, where):
        start, stop = shard_bounds(shape[0] if shape else 0, rank, size)
        return _stream_rows(f, dtype, shape, start, stop, where)


def open_rows(
    path: str | os.PathLike, *, key: str | None = None, cache: str | os.PathLike | None = None
) -> np.ndarray:
    """The whole array in ``path`` as a read-only memory map: rows are read when touched.

    Parameters
    ----------
    path : str or PathLike
        An .npy, .npz (give ``key``) or IDX file.
    key : str, optional
        The member of an .npz file.
    cache : str or PathLike, optional
        Where to inflate a compressed file (gzipped IDX, deflated .npz member) as an .npy, once
        (written atomically, chunk by chunk; reused when it exists and is newer than ``path``).
        Without it a compressed file is refused.

    Returns
    -------
    numpy.memmap of the stored shape and dtype

    Example
    -------
    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> np.save(folder / "x.npy", np.arange(6.0).reshape(3, 2))
    >>> rows = open_rows(folder / "x.npy")
    >>> type(rows).__name__, rows[[2, 0]].tolist()
    ('memmap', [[4.0, 5.0], [0.0, 1.0]])
    """
    path = Path(path)
    mapped, opener = _locate(path, key)
    if mapped is not None:
        return mapped
    if cache is None:
        raise ValueError(
            f"open_rows: path must be stored uncompressed to be memory-mapped; got the "
            f"compressed {str(path)!r}. Pass cache= (an .npy path to inflate it into once), or "
            f"read one shard with read_shard"
        )
    cache = Path(cache)
    if not cache.is_file() or cache.stat().st_mtime < path.stat().st_mtime:
        with opener as (f, dtype, shape, where), atomic_write(cache) as out:
            _inflate_to_npy(f, dtype, shape, where, out)
    return np.load(cache, mmap_mode="r")


def _check_rank(rank: int, size: int) -> None:
    if not (isinstance(size, int) and size >= 1 and isinstance(rank, int) and 0 <= rank < size):
        raise ValueError(
            f"read_shard: rank must be in [0, size) and size >= 1; got rank={rank!r}, size={size!r}"
        )


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
    where = f"read_shard: '{path}'"
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

        def open_member(stack: ExitStack) -> BinaryIO:
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


def _read_npy_header(f: BinaryIO, where: str) -> tuple[np.dtype, tuple[int, ...]]:
    version = np.lib.format.read_magic(f)
    if version not in _NPY_HEADERS:
        raise DataFormatError(f"{where}: .npy format must be 1.0 or 2.0; got {version}")
    shape, fortran, dtype = _NPY_HEADERS[version](f)
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


def _read_into(f: BinaryIO, view: memoryview) -> int:
    filled = 0
    while filled < len(view):
        got = f.readinto(view[filled:])  # type: ignore[attr-defined]
        if not got:
            break
        filled += got
    return filled


def _stream_rows(
    f: BinaryIO, dtype: np.dtype, shape: tuple[int, ...], start: int, stop: int, where: str
) -> np.ndarray:
    """Rows ``[start, stop)`` from a stream at the first data byte: the rows before are
    inflated into a small scratch buffer and dropped, the stream is left after ``stop``."""
    row_bytes = math.prod(shape[1:]) * dtype.itemsize
    scratch = memoryview(np.empty(min(_CHUNK, max(start * row_bytes, 1)), dtype=np.uint8))
    try:
        to_skip = start * row_bytes
        while to_skip:
            got = _read_into(f, scratch[: min(to_skip, len(scratch))])
            if not got:
                break
            to_skip -= got
        buf = np.empty((stop - start) * row_bytes, dtype=np.uint8)
        filled = 0 if to_skip else _read_into(f, memoryview(buf))
    except _STREAM_ERRORS as exc:
        raise DataFormatError(f"{where}: compressed stream must be intact; got {exc}") from exc
    if to_skip or filled < len(buf):
        raise DataFormatError(
            f"{where}: rows {start}..{stop - 1} of shape {shape} must be in the file; got a "
            f"file that ends before them (truncated file)"
        )
    rows = buf.view(dtype).reshape((stop - start, *shape[1:]))
    if dtype.byteorder == ">" and np.little_endian:
        rows = rows.byteswap(inplace=True).view(dtype.newbyteorder("="))
    return rows


def _inflate_to_npy(
    f: BinaryIO, dtype: np.dtype, shape: tuple[int, ...], where: str, out: BinaryIO
) -> None:
    """Copy the stream's data after an .npy header for it, ``_CHUNK`` bytes at a time."""
    header = {"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": False}
    np.lib.format.write_array_header_1_0(out, {**header, "shape": tuple(shape)})
    want = math.prod(shape) * dtype.itemsize
    try:
        copied = 0
        while copied < want:
            chunk = f.read(min(_CHUNK, want - copied))
            if not chunk:
                break
            out.write(chunk)
            copied += len(chunk)
    except _STREAM_ERRORS as exc:
        raise DataFormatError(f"{where}: compressed stream must be intact; got {exc}") from exc
    if copied < want:
        raise DataFormatError(
            f"{where}: data must be {want} bytes for shape {shape} of {dtype.name}; got "
            f"{copied} bytes (truncated file)"
        )
