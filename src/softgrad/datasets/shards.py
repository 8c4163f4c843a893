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
  this way: rank 0 writes the rows once (images as stored, each rank scaling its batches) and
  every rank maps them (cli/ranks.py).
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
comes back in native byte order. The file is located and its header checked against it in
:mod:`softgrad.datasets.shard_headers`; its rows are read here.

Measured per rank, 2 ranks on Fashion-MNIST (60000 x 784 training images; one epoch of
784-256-10; ``python benchmarks/mpi_memory.py``; 63 MB of it is Python, NumPy and softgrad):
every rank loading the whole set as float32, peak RSS 288 MB, 220 MB private; a memory map of
a float32 .npy (:func:`open_rows`), 41 MB private and 137 MB proportional (the 179 MB of file
pages are shared by both ranks; peak RSS, which counts them, 252 MB); the rank's gzip shard
alone (:func:`read_shard`), 22 MB of rows, peak RSS 109 MB.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import IO

import numpy as np

from softgrad.atomic import atomic_write
from softgrad.datasets.idx import read_into
from softgrad.datasets.shard_headers import _STREAM_ERRORS, _locate
from softgrad.errors import DataFormatError

__all__ = ["open_rows", "read_shard", "write_npy_header"]

_CHUNK = 1 << 20  # bytes inflated at a time while skipping or copying


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
    assert opener is not None  # _locate gives a memory map or a stream
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
    assert opener is not None  # _locate gives a memory map or a stream
    if not cache.is_file() or cache.stat().st_mtime < path.stat().st_mtime:
        with opener as (f, dtype, shape, where), atomic_write(cache, "open_rows") as out:
            _inflate_to_npy(f, dtype, shape, where, out)
    return np.load(cache, mmap_mode="r")


def _check_rank(rank: int, size: int) -> None:
    if not (isinstance(size, int) and size >= 1 and isinstance(rank, int) and 0 <= rank < size):
        raise ValueError(
            f"read_shard: rank must be in [0, size) and size >= 1; got rank={rank!r}, size={size!r}"
        )


def _stream_rows(
    f: IO[bytes], dtype: np.dtype, shape: tuple[int, ...], start: int, stop: int, where: str
) -> np.ndarray:
    """Rows ``[start, stop)`` from a stream at the first data byte: the rows before are
    inflated into a small scratch buffer and dropped, the stream is left after ``stop``."""
    row_bytes = math.prod(shape[1:]) * dtype.itemsize
    scratch = np.empty(min(_CHUNK, max(start * row_bytes, 1)), dtype=np.uint8).data
    try:
        to_skip = start * row_bytes
        while to_skip:
            got = read_into(f, scratch[: min(to_skip, len(scratch))])
            if not got:
                break
            to_skip -= got
        buf = np.empty((stop - start) * row_bytes, dtype=np.uint8)
        filled = 0 if to_skip else read_into(f, buf.data)  # (a memoryview of buf)
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


def write_npy_header(out: IO[bytes], dtype: np.dtype, shape: tuple[int, ...]) -> None:
    """The header of an .npy file of C-ordered ``dtype`` rows of ``shape``, which the rows'
    bytes follow (:func:`open_rows` maps such a file)."""
    header = {"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": False}
    np.lib.format.write_array_header_1_0(out, {**header, "shape": tuple(shape)})


def _inflate_to_npy(
    f: IO[bytes], dtype: np.dtype, shape: tuple[int, ...], where: str, out: IO[bytes]
) -> None:
    """Copy the stream's data after an .npy header for it, ``_CHUNK`` bytes at a time."""
    write_npy_header(out, dtype, shape)
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
