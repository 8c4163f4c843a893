"""NumPy kernels: the batch gather, rows of the training set into a preallocated batch, the
scaled gather that reads stored (uint8) rows as scaled float rows, the gather that densifies a
CSR matrix's rows, and the coded rows' pair (float rows of at most 256 values as uint8 codes,
and their gather through the value table)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

# coded rows (``encode_rows``): one uint8 code per value, so at most this many distinct values
MAX_CODES = 256


class GatherKernels:
    """NumpyOps mixin: the batch gather and the scaled gather."""

    def gather_rows(self, x: np.ndarray, idx: np.ndarray, out: np.ndarray) -> np.ndarray:
        """``out[:] = x[idx]`` along the first axis, into ``out``; returns ``out``.

        Parameters
        ----------
        x : ndarray of shape (N, ...)
            The rows to pick from (e.g. the training inputs, N samples by D features).
        idx : ndarray of shape (B,), integer
            Row numbers, each in ``[0, N)`` (trusted: see Notes).
        out : ndarray of shape (B, ...)
            Where the batch goes, C-contiguous, ``x``'s dtype.

        Notes
        -----
        ``np.take(x, idx, axis=0, out=out, mode="clip")``: the "clip" mode skips NumPy's
        buffered, bounds-checked path (measured 2.6x faster here) and would clip an index out of
        range to the last row instead of raising, so callers pass valid indices.

        Examples
        --------
        >>> from softgrad.kernels import get_ops
        >>> x = np.arange(6.0).reshape(3, 2)
        >>> get_ops().gather_rows(x, np.array([2, 0]), np.empty((2, 2)))
        array([[4., 5.],
               [0., 1.]])
        """
        return np.take(x, idx, axis=0, out=out, mode="clip")

    def gather_rows_scaled(
        self,
        x: np.ndarray,
        idx: np.ndarray,
        offset: np.ndarray | float,
        scale: np.ndarray | float,
        out: np.ndarray,
    ) -> np.ndarray:
        """``out[i] = (x[idx[i]] - offset) * scale`` in out's dtype; returns ``out``.

        A :class:`softgrad.preprocessing.Scaler` folded into the batch gather, so a data set can
        stay in memory as stored (uint8 images: a quarter of float32's bytes) and only the batch
        is ever float.

        Parameters
        ----------
        x : ndarray of shape (N, ...)
            Stored rows of any real dtype (uint8 pixels, float features).
        idx : ndarray of shape (B,), integer
            Row numbers; out of range ones are clipped to ``[0, N - 1]`` (``np.take``'s "clip").
        offset, scale : float or ndarray of shape (D,)
            D = the features of a row (``prod(x.shape[1:])``); cast to out's dtype first.
        out : ndarray of shape (B, ...), float32 or float64
            Where the batch goes. It may overlap ``x`` (the stored rows are copied first).

        Notes
        -----
        Each value is converted to out's dtype, then ``(v - offset) * scale`` is rounded twice
        in that dtype: the very operations of ``Scaler.transform`` where the stored dtype is
        scaled in out's dtype (``softgrad.scaling.working_dtype``: integers up to 16 bits and
        float32 into float32, wider integers and float64 into float64), so the batch equals
        ``scaler.transform(x, dtype=out.dtype)[idx]`` bit for bit there. ``ScaledRows``
        gathers the other pairs into a buffer of the working dtype first. The Numba lane's kernel
        (``numba_gather.gather_rows_scaled``) computes the same two roundings.

        Examples
        --------
        >>> from softgrad.kernels import get_ops
        >>> x = np.array([[0, 51], [255, 102]], dtype=np.uint8)
        >>> get_ops().gather_rows_scaled(x, np.array([1, 0]), 0.0, 1 / 255,
        ...                              np.empty((2, 2), np.float32))
        array([[1. , 0.4],
               [0. , 0.2]], dtype=float32)
        """
        n_features = math.prod(x.shape[1:])
        rows = np.take(x.reshape(x.shape[0], n_features), idx, axis=0, mode="clip")
        flat = out.reshape(out.shape[0], n_features)
        dtype = out.dtype.type
        np.subtract(rows, np.asarray(offset, dtype=dtype), out=flat, dtype=dtype)
        np.multiply(flat, np.asarray(scale, dtype=dtype), out=flat)
        return out

    def encode_rows(self, x: np.ndarray, dtype: np.dtype) -> tuple[np.ndarray, np.ndarray] | None:
        """``(codes, values)`` with ``values[codes] == x.astype(dtype)`` bit for bit (codes
        uint8 of x's shape, values of ``dtype``, at most 256), or None where x is not coded.

        The NumPy lane never codes: without a compiled loop, finding the distinct values
        takes several passes over x (a sort, or hashing and checking by whole-array
        operations), more than the ``astype`` it would save, and this lane must not make a
        fit slower. The Numba lane's one pass (``numba_codes``) is the implementation;
        :class:`softgrad.coded_rows.CodedRows` says what the codes buy.

        Examples
        --------
        >>> from softgrad.kernels.numpy_ops import NumpyOps
        >>> NumpyOps().encode_rows(np.array([[0.0, 0.5]]), np.dtype(np.float32)) is None
        True
        """
        return None

    def gather_sparse_rows(self, x: Any, idx: np.ndarray, out: np.ndarray) -> np.ndarray:
        """``out[:] = x[idx]`` densified, x a CSR matrix (SciPy's: ``data``, ``indices``,
        ``indptr``) of out's dtype; returns ``out``.

        Parameters
        ----------
        x : scipy.sparse CSR matrix of shape (N, D)
            Its column indices checked (each in ``[0, D)``: ``check_format(full_check=True)``).
        idx : ndarray of shape (B,), integer
            Row numbers, each in ``[0, N)`` (trusted, as :meth:`gather_rows`' are).
        out : ndarray of shape (B, D)
            C-contiguous, written whole (a column stored twice in a row is summed, as SciPy's
            ``toarray`` does).

        Examples
        --------
        >>> from scipy.sparse import csr_matrix
        >>> from softgrad.kernels import get_ops
        >>> x = csr_matrix(np.array([[0.0, 1.0], [2.0, 0.0], [0.0, 3.0]]))
        >>> get_ops().gather_sparse_rows(x, np.array([2, 1]), np.empty((2, 2)))
        array([[0., 3.],
               [2., 0.]])
        """
        out.fill(0)
        x[idx].toarray(out=out)  # DOK and COO rows give back another array: out is written
        return out

    def gather_rows_table(
        self,
        codes: np.ndarray,
        idx: np.ndarray,
        table: np.ndarray,
        out: np.ndarray,
        grid: tuple[float, float] | None = None,
    ) -> np.ndarray:
        """``out[i] = table[codes[idx[i]]]``: coded rows decoded into a batch; returns ``out``.

        Parameters
        ----------
        codes : ndarray of uint8 of shape (N, D)
            Row codes, each below ``table.size``.
        idx : ndarray of shape (B,), integer
            Row numbers; out of range ones are clipped to ``[0, N - 1]``.
        table : ndarray of shape (K,)
            The values, out's dtype.
        out : ndarray of shape (B, D)
            Where the batch goes, float32 or float64, C-contiguous.
        grid : (offset, divisor) or None
            When given, ``table[k] == (k - offset) / divisor`` in out's dtype for every k
            (the caller checked it): the Numba lane then computes the values, which
            vectorises, where a lookup does not. This lane reads the table all the same.

        Examples
        --------
        >>> from softgrad.kernels.numpy_ops import NumpyOps
        >>> codes = np.array([[0, 2], [1, 1]], dtype=np.uint8)
        >>> NumpyOps().gather_rows_table(codes, np.array([1, 0]),
        ...                              np.array([0.0, 0.5, 1.0]), np.empty((2, 2)))
        array([[0.5, 0.5],
               [0. , 1. ]])
        """
        rows = np.take(codes, idx, axis=0, mode="clip")
        # a table of another dtype is cast first (K values): np.take would copy out's old
        # contents into a buffer of the table's dtype, and garbage in an np.empty out (a
        # signalling NaN's bits) raised "invalid value encountered in cast" now and then
        return np.take(table.astype(out.dtype, copy=False), rows, out=out, mode="clip")

    def recode(self, codes: np.ndarray, remap: np.ndarray) -> None:
        """``codes[...] = remap[codes]`` in place: codes renumbered (uint8 codes, ``remap``
        uint8 of 256 entries, one per code).

        Examples
        --------
        >>> from softgrad.kernels.numpy_ops import NumpyOps
        >>> codes = np.array([[0, 1, 1]], dtype=np.uint8)
        >>> NumpyOps().recode(codes, np.array([7, 3] + [0] * 254, dtype=np.uint8))
        >>> codes
        array([[7, 3, 3]], dtype=uint8)
        """
        codes[...] = np.take(remap, codes)
