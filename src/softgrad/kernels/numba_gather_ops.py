"""The Numba lane's gathers and coded rows, a mixin of NumbaOps: the scaled gather (stored uint8
rows read through a Scaler), the coded rows' coder, renumbering and gather, and their bound
calls.

Each method checks its arrays as the rest of the lane does (C-contiguous, native byte order,
an output apart from its inputs) and hands anything else to the NumPy lane's method, which
:class:`~softgrad.kernels.numpy_ops.NumpyOps` provides through ``super()``. A bound gather
(``bind_gather_rows_scaled``, ``bind_gather_rows_table``) checks the arrays once and the index
array at each call, where a call of the method checks everything: the training loop gathers
into the same buffer from the same rows at every step, and the checks, the array views and the
lane's lookup took 3.5 us a call of the 15.4 us a 128-row uint8 batch takes from cache
(module :mod:`softgrad.training.trusted_step` measures it in the epoch).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import Any

import numpy as np

from softgrad.kernels import FUSED_DTYPES, numba_codes, numba_gather, numba_threads
from softgrad.kernels.gather import GatherKernels
from softgrad.kernels.numba_layout import _native_rows

__all__ = ["NumbaGatherKernels"]


class NumbaGatherKernels(GatherKernels):
    """The scaled gather, the coded rows' kernels and their bound calls, for NumbaOps."""

    def gather_rows_scaled(
        self,
        x: np.ndarray,
        idx: np.ndarray,
        offset: np.ndarray | float,
        scale: np.ndarray | float,
        out: np.ndarray,
    ) -> np.ndarray:
        """``out[i] = (x[idx[i]] - offset) * scale`` in out's dtype: a Scaler folded into the
        gather, so stored uint8 rows are scaled on the fly. Anything but C-contiguous native
        arrays, or an ``out`` that may overlap ``x`` or ``idx``, goes to the NumPy lane."""
        if _ran(_scaled_call(x, offset, scale, out), idx, out):
            return out
        return super().gather_rows_scaled(x, idx, offset, scale, out)

    def bind_gather_rows_scaled(
        self, x: np.ndarray, offset: np.ndarray | float, scale: np.ndarray | float, out: np.ndarray
    ) -> Callable[[np.ndarray], np.ndarray]:
        """:meth:`gather_rows_scaled` bound to everything but the rows: ``call(idx)``."""
        # the NumPy lane's method itself (its bind would call this lane's method back)
        numpy_lane = super().gather_rows_scaled
        generic = functools.partial(numpy_lane, x, offset=offset, scale=scale, out=out)
        return _bound(_scaled_call(x, offset, scale, out), out, generic)

    def gather_rows_table(
        self,
        codes: np.ndarray,
        idx: np.ndarray,
        table: np.ndarray,
        out: np.ndarray,
        grid: tuple[float, float] | None = None,
    ) -> np.ndarray:
        """``out[i] = table[codes[idx[i]]]``, one pass; with ``grid`` (offset, divisor) the
        values are computed, ``(code - offset) / divisor`` (``gather_rows_levels``: 20 us for
        128 random rows of 784 codes into float32, against 47 us by table lookup). Anything
        but C-contiguous native (N, D) arrays of one float dtype, or an ``out`` that may
        overlap the others, goes to the NumPy lane."""
        if _ran(_table_call(codes, table, out, grid), idx, out):
            return out
        return super().gather_rows_table(codes, idx, table, out, grid)

    def gather_sparse_rows(self, x: Any, idx: np.ndarray, out: np.ndarray) -> np.ndarray:
        """The NumPy lane's :meth:`gather_sparse_rows` in one compiled pass
        (``numba_gather.gather_csr_rows``) for a CSR matrix of out's dtype (native, float32 or
        float64) and a C-contiguous ``out``; anything else goes to the NumPy lane."""
        if getattr(x, "format", None) != "csr":  # LIL, DOK ...: no indptr to read
            return super().gather_sparse_rows(x, idx, out)
        data, indices, indptr = x.data, x.indices, x.indptr
        if (
            _native_rows(data, indices, indptr, idx, out)
            and out.ndim == 2
            and out.dtype in FUSED_DTYPES
            and data.dtype == out.dtype
            and indices.dtype.kind in "iu"
            and indptr.dtype.kind in "iu"
            and idx.dtype.kind in "iu"
            and out.flags.writeable
        ):
            numba_gather.gather_csr_rows(data, indices, indptr, idx, out)
            return out
        return super().gather_sparse_rows(x, idx, out)

    def bind_gather_rows_table(
        self,
        codes: np.ndarray,
        table: np.ndarray,
        out: np.ndarray,
        grid: tuple[float, float] | None = None,
    ) -> Callable[[np.ndarray], np.ndarray]:
        """:meth:`gather_rows_table` bound to everything but the rows: ``call(idx)``."""
        numpy_lane = super().gather_rows_table  # as in bind_gather_rows_scaled
        generic = functools.partial(numpy_lane, codes, table=table, out=out, grid=grid)
        return _bound(_table_call(codes, table, out, grid), out, generic)

    def encode_rows(self, x: np.ndarray, dtype: np.dtype) -> tuple[np.ndarray, np.ndarray] | None:
        """``(codes, values)`` with ``values[codes] == x.astype(dtype)`` bit for bit, codes in
        order of first appearance (:mod:`~softgrad.kernels.numba_codes`: chunks of rows on the
        threads, merged), or None: for x not a C-contiguous native float32/float64 (N, D)
        array, for ``dtype`` not one of them, and where a value is not finite once converted
        or x holds more than 256 distinct values."""
        dtype = np.dtype(dtype)
        floats = FUSED_DTYPES
        if not (_native_rows(x) and x.ndim == 2 and x.dtype in floats and dtype in floats):
            return None
        # below the threads' size the kernel runs its chunks one after the other: one chunk
        bounds = _chunks(x.shape[0], serial=x.size < numba_threads.PARALLEL_MIN)
        codes = np.empty(x.shape, np.uint8)
        tables = np.zeros((bounds.size - 1, numba_codes.MAX_CODES), dtype)
        used = np.zeros(bounds.size - 1, np.intp)
        encode = numba_codes.encode_chunks32 if dtype == np.float32 else numba_codes.encode_chunks64
        encode(x, bounds, codes, tables, used)
        merged = _merged(tables, used)
        if merged is None:
            return None
        values, remaps = merged
        if remaps is not None:  # a later chunk met values in another order than the first
            numba_codes.recode_chunks(codes, bounds * x.shape[1], remaps)
        return codes, values

    def recode(self, codes: np.ndarray, remap: np.ndarray) -> None:
        """``codes[...] = remap[codes]`` in place, one pass on the threads (the NumPy lane:
        ``np.take`` into a temporary of codes' size); ``remap`` uint8 of 256 entries."""
        remap = np.asarray(remap)
        if not (_native_rows(codes) and codes.dtype == np.uint8 and codes.flags.writeable):
            return super().recode(codes, remap)
        if remap.shape != (numba_codes.MAX_CODES,):  # the kernel would read past it
            return super().recode(codes, remap)
        bounds = _chunks(codes.size)
        remaps = np.tile(remap.astype(np.uint8, copy=False), (bounds.size - 1, 1))
        numba_codes.recode_chunks(codes, bounds, remaps)


def _chunks(n: int, serial: bool = False) -> np.ndarray:
    """Bounds of about equal chunks of ``range(n)``, one per thread a parallel kernel runs on
    (at least one chunk; the coded rows' results do not depend on how many), or one chunk
    where the kernel will run on the calling thread (``serial``): there more chunks would
    only be merged again (256 rows of 784 float64 pixels: 0.53 ms coded in two chunks, one
    after the other, 0.27 ms in one)."""
    chunks = 1 if serial else max(1, min(numba_threads.thread_count(), n))
    return np.linspace(0, n, chunks + 1).astype(np.intp)


def _merged(tables: np.ndarray, used: np.ndarray) -> tuple[np.ndarray, np.ndarray | None] | None:
    """The chunks' tables (``tables[c, :used[c]]``, each in order of first appearance in its
    chunk) as one: ``(values, remaps)``, the values in order of first appearance over the
    chunks in order, and ``remaps[c, k]`` the merged code of chunk c's code k (None where
    every chunk's codes are the merged ones already); None where a chunk failed (-1) or the
    chunks hold more than 256 values together. Vectorised over the at most 256 entries a
    chunk: ``np.unique`` on the values' bits finds each one's first place in chunk order
    (two chunks of pixels: 0.22 ms, where a dict over the entries took 0.41)."""
    if (used < 0).any():
        return None
    if used.size == 1:  # one chunk: its codes are the merged ones
        return tables[0, : used[0]].copy(), None
    chunk_of = np.repeat(np.arange(used.size), used)  # each entry's chunk, in chunk order
    code_of = np.arange(chunk_of.size) - np.repeat(np.cumsum(used) - used, used)
    keys = tables.view(np.uint32 if tables.dtype == np.float32 else np.uint64)
    _, first, inverse = np.unique(keys[chunk_of, code_of], return_index=True, return_inverse=True)
    if first.size > numba_codes.MAX_CODES:
        return None
    by_appearance = np.argsort(first)  # the distinct values in order of first appearance
    merged_code = np.empty(first.size, np.intp)
    merged_code[by_appearance] = np.arange(first.size)
    to = merged_code[inverse]  # each entry's merged code
    remaps = np.zeros(tables.shape, np.uint8)
    remaps[chunk_of, code_of] = to
    seen = first[by_appearance]  # where each merged value was first met
    values = tables[chunk_of[seen], code_of[seen]]
    return values, (remaps if (to != code_of).any() else None)


def _ran(call: Callable[[np.ndarray], object] | None, idx: np.ndarray, out: np.ndarray) -> bool:
    """``call(idx)`` and True where the arrays passed their checks (``call`` not None) and
    ``idx`` is a C-contiguous native array apart from ``out``; False, nothing done, else."""
    if call is None or not _native_rows(idx) or np.may_share_memory(out, idx):
        return False
    call(idx)
    return True


def _bound(
    call: Callable[[np.ndarray], object] | None,
    out: np.ndarray,
    generic: Callable[[np.ndarray], np.ndarray],
) -> Callable[[np.ndarray], np.ndarray]:
    """``call(idx)`` where the arrays passed the checks (``call`` not None) and the index array
    does at that call, else ``generic(idx)`` (the NumPy lane's bound method); returns ``out``."""
    if call is None:
        return generic

    def run(idx: np.ndarray) -> np.ndarray:
        return out if _ran(call, idx, out) else generic(idx)

    return run


def _scaled_call(
    x: np.ndarray, offset: np.ndarray | float, scale: np.ndarray | float, out: np.ndarray
) -> Callable[[np.ndarray], object] | None:
    """The scaled gather kernel with everything but the rows fixed, or None where the arrays
    go to the NumPy lane (not C-contiguous native, or ``out`` overlapping ``x``)."""
    if not _native_rows(x, out) or np.may_share_memory(out, x):
        return None
    x2, out2 = _as_rows(x, out) if x.ndim != 2 else (x, out)
    offset, scale = _feature_vector(offset, out), _feature_vector(scale, out)
    if offset.size != 1 or scale.size != 1:  # per-feature: both (D,)
        n_features = x2.shape[1]
        offset, scale = (
            v if v.size == n_features else np.ascontiguousarray(np.broadcast_to(v, n_features))
            for v in (offset, scale)
        )
    kernel = numba_gather.gather_rows_scaled
    return lambda idx: kernel(x2, idx, offset, scale, out2)


def _table_call(
    codes: np.ndarray, table: np.ndarray, out: np.ndarray, grid: tuple[float, float] | None
) -> Callable[[np.ndarray], object] | None:
    """The coded rows' gather kernel (by the grid where one is given, else by lookup) with
    everything but the rows fixed, or None where the arrays go to the NumPy lane."""
    if (
        not _native_rows(codes, table, out)
        or codes.ndim != 2
        or codes.dtype != np.uint8
        or out.dtype not in FUSED_DTYPES
        or table.dtype != out.dtype
        or np.may_share_memory(out, codes)
        or np.may_share_memory(out, table)
    ):
        return None
    if grid is None:
        lookup = numba_gather.gather_rows_table
        return lambda idx: lookup(codes, idx, table, out)
    cast = out.dtype.type
    offset, divisor = cast(grid[0]), cast(grid[1])
    return lambda idx: numba_gather.gather_rows_levels(codes, idx, offset, divisor, out)


def _feature_vector(value: np.ndarray | float, out: np.ndarray) -> np.ndarray:
    """``value`` as a C-contiguous 1-d array of out's dtype: the caller's own array when it is
    one already (a Scaler's offset and scale; nothing is copied per batch)."""
    if type(value) is np.ndarray and value.dtype == out.dtype and value.ndim == 1:
        if value.flags.c_contiguous:
            return value
    return np.ascontiguousarray(value, dtype=out.dtype).reshape(-1)


def _as_rows(x: np.ndarray, out: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(N, D) and (B, D) views of samples of any shape (N, ...) and their batch (B, ...)."""
    n_features = math.prod(x.shape[1:])
    return x.reshape(x.shape[0], n_features), out.reshape(out.shape[0], n_features)
