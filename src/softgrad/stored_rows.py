"""Rows kept in memory in a compact stored form and read as float rows one batch at a time.

Two forms exist: :class:`~softgrad.preprocessing.ScaledRows` (stored integers, uint8 images,
read through a Scaler's affine map) and :class:`~softgrad.coded_rows.CodedRows` (float rows of
at most 256 distinct values, kept as uint8 codes into a table of them). ``fit``, ``evaluate``
and the ``predict_*`` functions take either wherever they take an array of inputs, through this
base's interface alone: a batch is gathered into a float buffer by :meth:`StoredRows.take`, and
the whole set never becomes floats.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = ["StoredRows"]


class StoredRows:
    """The interface of stored rows read as floats: what training and inference rely on.

    A subclass sets ``data`` (the stored (N, D) array, C-contiguous) and ``dtype`` (the float
    dtype the rows read in), and implements ``_take_into`` (a batch of rows, in one kernel
    pass), :meth:`astype`, :meth:`over` and :meth:`floats`.
    """

    data: np.ndarray
    dtype: np.dtype

    @property
    def shape(self) -> tuple[int, ...]:
        return self.data.shape

    @property
    def ndim(self) -> int:
        return self.data.ndim

    def __len__(self) -> int:
        return self.data.shape[0]

    def take(self, idx: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """The rows ``idx`` (ndarray of int of shape (B,)) as floats, written into ``out``
        (shape (B, D) of :attr:`dtype`, C-contiguous; allocated if None) and returned.
        Indices must be in ``[0, N)``: the kernels clip any other to the nearest row."""
        idx = np.asarray(idx, dtype=np.intp)
        if out is None:
            out = np.empty((idx.shape[0], *self.data.shape[1:]), dtype=self.dtype)
        return self._take_into(idx, out)

    def _take_into(self, idx: np.ndarray, out: np.ndarray) -> np.ndarray:
        """:meth:`take` of intp ``idx`` into an allocated ``out``: the subclass's kernel call."""
        raise NotImplementedError

    def bind_take(self, out: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
        """:meth:`take` into ``out`` bound to everything but the rows: ``call(idx)``, for a
        loop that gathers batches into one buffer (a training epoch). A subclass binds its
        kernel (the lane's ``bind_gather_*``: its checks made once)."""
        return functools.partial(self.take, out=out)

    def astype(self, dtype: Any) -> StoredRows:
        """The same stored rows read in ``dtype`` (no copy of the data)."""
        raise NotImplementedError

    def over(self, data: np.ndarray) -> StoredRows:
        """Other stored rows (a split of ``data``) read the way these are."""
        raise NotImplementedError

    def floats(self) -> np.ndarray:
        """Every row as floats, computed by NumPy (no compiled kernel): what a batch reads."""
        raise NotImplementedError

    def rows(self, rows: slice = slice(None)) -> np.ndarray:
        """The rows ``data[rows]`` as a new float array (an inference batch)."""
        start, stop, step = rows.indices(len(self))
        return self.take(np.arange(start, stop, step, dtype=np.intp))

    def __getitem__(self, rows: Any) -> StoredRows:
        """The rows ``data[rows]`` (a slice: a view; indices or a mask: a copy of the stored
        rows), still read lazily (a validation split, a rank's shard)."""
        if isinstance(rows, (int, np.integer)) or (isinstance(rows, tuple)):
            raise TypeError(
                f"{type(self).__name__}: index must be a slice, an array of row indices or a "
                f"boolean mask; got {rows!r} (use .take([i]) for one row)"
            )
        return self.over(self.data[rows])

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        if copy is False:  # NumPy's protocol: refuse what cannot be done without a copy
            raise ValueError(
                f"{type(self).__name__}: copy=False is impossible; its float rows are always a "
                "new array"
            )
        rows = self.rows()
        return rows if dtype is None else rows.astype(dtype, copy=False)
