"""Float rows of at most 256 distinct values kept as uint8 codes, read exactly, a batch at a time.

A scikit-learn user scales pixels before fitting (``X / 255.0``, float64): 256 distinct
values at most, yet a float32 copy of Fashion-MNIST's training set takes 188 MB, and every
batch gathers 4 bytes a value from random rows. :class:`CodedRows` keeps one byte a value, a
code into a table of the values in the dtype the network reads, so that a row reads as
``X.astype(dtype)`` at that row, bit for bit: training on the codes is training on the float
copy, with a quarter of its memory.

When the values are a grid, ``(k - offset) / divisor`` for integers k in 0..255 computed in
that dtype (``X / 255.0`` read in float32 or float64; integer levels stored as floats), the
codes are renumbered to the levels k and a batch is computed, which vectorises, rather than
looked up in the table, which does not: 128 random rows of 784 values into float32 took 20 us
against 47 us by lookup (and 45 us gathering the float32 copy). The grid is checked against
every value, so it decodes the table's very bits; anything else reads through the table.

:meth:`CodedRows.encode` codes an array in one compiled pass (the Numba lane's
``encode_rows``); the NumPy lane does not code (its ``encode_rows`` says why).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from softgrad.kernels import FUSED_DTYPES, get_ops
from softgrad.kernels.gather import MAX_CODES
from softgrad.stored_rows import StoredRows

__all__ = ["CodedRows"]


class CodedRows(StoredRows):
    """Rows of at most 256 distinct float values, stored as uint8 codes into a value table.

    Parameters
    ----------
    codes : ndarray of uint8 of shape (N, D)
        Each entry the index of its value in ``values`` (made C-contiguous: no copy when it
        is already).
    values : ndarray of shape (K,), float32 or float64, 1 <= K <= 256
        The values, finite; their dtype is the dtype the rows read in.

    Attributes
    ----------
    data : ndarray of uint8 of shape (N, D)
        The codes.
    values : ndarray of shape (K,)
        The values, as given.
    dtype : numpy.dtype
        ``values.dtype``, the dtype of the rows read.
    grid : (float, float) or None
        ``(offset, divisor)`` when ``values[k] == (k - offset) / divisor`` in :attr:`dtype`
        for every k (then batches are computed rather than looked up: module docstring).

    Example
    -------
    >>> rows = CodedRows(np.array([[0, 2], [1, 1]], dtype=np.uint8),
    ...                  np.array([0.0, 0.5, 1.0], dtype=np.float32))
    >>> rows.take(np.array([1, 0]))
    array([[0.5, 0.5],
           [0. , 1. ]], dtype=float32)
    >>> rows.grid
    (0.0, 2.0)
    """

    def __init__(self, codes: np.ndarray, values: np.ndarray):
        codes, values = np.asarray(codes), np.asarray(values)
        if codes.ndim != 2 or codes.dtype != np.uint8:
            raise ValueError(
                f"CodedRows: codes must be a 2-D uint8 array (N, D); got {codes.dtype.name} of "
                f"shape {codes.shape}"
            )
        if values.dtype not in FUSED_DTYPES or values.ndim != 1:
            raise ValueError(
                "CodedRows: values must be a 1-D float32 or float64 array; got "
                f"{values.dtype.name} of shape {values.shape}"
            )
        if not 1 <= values.size <= MAX_CODES or not np.all(np.isfinite(values)):
            raise ValueError(
                f"CodedRows: values must hold 1 to {MAX_CODES} finite numbers; got "
                f"{values.size} values{'' if np.all(np.isfinite(values)) else ', not all finite'}"
            )
        top = int(codes.max()) if codes.size else 0
        if top >= values.size:
            raise ValueError(
                f"CodedRows: codes must index values (below {values.size}); got code {top}"
            )
        found = _grid(values)
        # a grid only where code k is level k: the caller's codes are never renumbered
        in_order = found is not None and np.array_equal(found[2], np.arange(values.size))
        self._set(
            np.ascontiguousarray(codes),
            values,
            found[:2] if found is not None and in_order else None,
        )

    def _set(self, codes: np.ndarray, values: np.ndarray, grid: tuple[float, float] | None) -> None:
        """Hold ``codes`` into ``values`` read through ``grid`` (code k is level k) or None."""
        self.data, self.values, self.dtype, self.grid = codes, values, values.dtype, grid
        # the kernels' table: every code readable, those beyond the values never used
        if grid is not None:
            self.table = _levels_values(grid, MAX_CODES, self.dtype)
        else:
            self.table = np.zeros(MAX_CODES, self.dtype)
            self.table[: values.size] = values

    @classmethod
    def encode(cls, X: np.ndarray, dtype: Any = np.float32) -> CodedRows | None:
        """``X`` (float32 or float64, (N, D)) coded to read as ``X.astype(dtype)``, or None
        where it is not: no values, more than 256 distinct values, a value not finite once
        converted, X not a C-contiguous float array, or the NumPy lane (which does not code).

        The codes of a grid are renumbered to its levels (one more pass over the codes).

        Example
        -------
        >>> X = np.arange(256.0).reshape(16, 16) / 255.0
        >>> rows = CodedRows.encode(X, np.float32)  # None on the NumPy lane
        >>> rows is None or (rows.grid == (0.0, 255.0)
        ...                  and np.array_equal(np.asarray(rows), X.astype(np.float32)))
        True
        """
        ops = get_ops()
        if not isinstance(X, np.ndarray) or X.size == 0:
            return None
        coded = ops.encode_rows(X, np.dtype(dtype))
        if coded is None:
            return None
        codes, values = coded
        rows = cls.__new__(cls)
        found = _grid(values)
        if found is None:
            rows._set(codes, values, None)
            return rows
        offset, divisor, levels = found
        remap = np.zeros(MAX_CODES, np.uint8)
        remap[: values.size] = levels
        ops.recode(codes, remap)  # code k is now level k
        values = _levels_values((offset, divisor), int(levels.max()) + 1, values.dtype)
        rows._set(codes, values, (offset, divisor))
        return rows

    def astype(self, dtype: Any) -> CodedRows:
        """The same codes read in ``dtype``: the values converted (as ``astype`` converts the
        rows; no copy of the codes)."""
        dtype = np.dtype(dtype)
        if dtype == self.dtype:
            return self
        return CodedRows(self.data, self.values.astype(dtype))

    def _take_into(self, idx: np.ndarray, out: np.ndarray) -> np.ndarray:
        """The rows ``idx`` decoded into ``out`` (StoredRows.take)."""
        return get_ops().gather_rows_table(self.data, idx, self.table, out, self.grid)

    def bind_take(self, out: np.ndarray) -> Any:
        """:meth:`take` into ``out`` bound (StoredRows.bind_take): the lane's bound gather."""
        return get_ops().bind_gather_rows_table(self.data, self.table, out, self.grid)

    def over(self, data: np.ndarray) -> CodedRows:
        """Other codes (a split of ``data``) read through the same values."""
        rows = CodedRows.__new__(CodedRows)
        rows.data, rows.values, rows.dtype = np.ascontiguousarray(data), self.values, self.dtype
        rows.grid, rows.table = self.grid, self.table
        return rows

    def floats(self) -> np.ndarray:
        """Every row decoded by NumPy (``values[codes]``)."""
        return self.values[self.data]

    def __repr__(self) -> str:
        form = "a table" if self.grid is None else f"the grid (k - {self.grid[0]}) / {self.grid[1]}"
        return (
            f"CodedRows(uint8 of shape {self.shape} as {self.dtype.name}, {self.values.size} "
            f"values, read through {form})"
        )


def _levels_values(grid: tuple[float, float], count: int, dtype: np.dtype) -> np.ndarray:
    """``(k - offset) / divisor`` for k in 0..count-1, each rounded in ``dtype`` as the Numba
    lane's ``gather_rows_levels`` computes it."""
    offset, divisor = (np.asarray(v, dtype) for v in grid)
    return (np.arange(count).astype(dtype) - offset) / divisor


def _grid(values: np.ndarray) -> tuple[float, float, np.ndarray] | None:
    """``(offset, divisor, levels)`` with ``values[j] == (levels[j] - offset) / divisor`` bit
    for bit in values' dtype, levels integers in 0..255, or None.

    The divisor is guessed from the smallest gap between the values and from their range over
    255 levels, the offset puts the smallest value at level 0, and the guess is then checked
    against every value (a -0.0, which no level gives, fails it).
    """
    ordered = np.unique(values.astype(np.float64))
    low, span = ordered[0], ordered[-1] - ordered[0]
    gap = float(np.diff(ordered).min()) if ordered.size > 1 else 1.0
    guesses = {1.0}
    for step in (gap, span / (MAX_CODES - 1)):
        if step >= 1.0:
            guesses.add(1.0 / float(np.rint(step)))
        elif step > 0.0:
            guesses.add(float(np.rint(1.0 / step)))
    for divisor in sorted(guesses):
        offset = 0.0 - float(np.rint(low * divisor))  # 0.0 -: never -0.0
        with np.errstate(over="ignore", invalid="ignore"):
            levels = np.rint(values.astype(np.float64) * divisor + offset)
        if not (np.all(levels >= 0) and np.all(levels < MAX_CODES)):
            continue
        decoded = (levels.astype(values.dtype) - values.dtype.type(offset)) / values.dtype.type(
            divisor
        )
        if np.array_equal(decoded.view(_bits(values.dtype)), values.view(_bits(values.dtype))):
            return offset, divisor, levels.astype(np.uint8)
    return None


def _bits(dtype: np.dtype) -> type:
    return np.uint32 if dtype == np.float32 else np.uint64
