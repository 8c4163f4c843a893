"""The calls behind gradient folding, ``C = alpha A^T B + beta C`` and ``y += alpha x``, bound to
arrays once and called every step: their contract (:class:`Routines`) and its NumPy
implementation (:class:`MatmulRoutines`). NumPy's own BLAS, called directly, is the other
implementation (:mod:`softgrad.kernels.blas`, which says which one a process uses).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = ["MatmulRoutines", "Routines", "accumulate"]

_LETTER = {np.dtype(np.float32): "s", np.dtype(np.float64): "d"}


class Routines:
    """The ``bind_*`` calls' contract, shared by :class:`~softgrad.kernels.blas.NumpyBlas`
    and :class:`MatmulRoutines`: the shapes chain, and every array is C-contiguous float32 or
    float64 of one dtype."""

    description: str
    # whether the axpy may run on more than one thread (softgrad.kernels.numba_bound's split
    # Adam update is for such an axpy alone)
    threaded = True

    def threads(self) -> int | None:
        """The threads an axpy runs on now, or None where that is not known."""
        raise NotImplementedError

    def bind_gemm_tn(self, a: np.ndarray, b: np.ndarray, c: np.ndarray) -> Callable[..., None]:
        """``call(alpha, beta)``: ``c = alpha * a.T @ b + beta * c`` for ``a`` (K, M), ``b``
        (K, N), ``c`` (M, N). With ``beta`` 0, ``c``'s values are not read (a NaN there is
        overwritten, as BLAS specifies)."""
        (k, m), n = a.shape, b.shape[1]
        if b.shape[0] != k or c.shape != (m, n):
            raise ValueError(f"gemm_tn: shapes {a.shape}, {b.shape}, {c.shape} do not chain")
        return self._gemm_tn(a, b, c, self._checked(c.dtype, "gemm", a, b, c))

    def bind_gemv_t(self, a: np.ndarray, x: np.ndarray, y: np.ndarray) -> Callable[..., None]:
        """``call(alpha, beta)``: ``y = alpha * a.T @ x + beta * y`` for ``a`` (K, N), ``x``
        (K,), ``y`` (N,): the column sums of ``a`` when ``x`` is ones (a bias gradient)."""
        k, n = a.shape
        if x.shape != (k,) or y.shape != (n,):
            raise ValueError(f"gemv_t: shapes {a.shape}, {x.shape}, {y.shape} do not chain")
        return self._gemv_t(a, x, y, self._checked(y.dtype, "gemv", a, x, y))

    def bind_axpy(self, x: np.ndarray, y: np.ndarray) -> Callable[..., None]:
        """``call(alpha)``: ``y += alpha * x`` for ``x`` and ``y`` of one shape. ``x`` may be
        ``y`` itself (``y += alpha * y``, each element read before it is written; the
        load-time check tries it): a decay term exact to a rounding, where a scale by ``1 +
        alpha`` would round a small alpha against 1."""
        if x.shape != y.shape:
            raise ValueError(f"axpy: shapes {x.shape} and {y.shape} differ")
        return self._axpy(x, y, self._checked(y.dtype, "axpy", x, y))

    @staticmethod
    def _checked(dtype: np.dtype, routine: str, *arrays: np.ndarray) -> str:
        """The routine's letter ("s" or "d") for arrays of ``dtype``, all checked."""
        for array in arrays:
            if array.dtype != dtype or not array.flags.c_contiguous:
                raise ValueError(
                    f"{routine}: every array must be C-contiguous {dtype}; got "
                    f"{array.dtype} (C-contiguous: {array.flags.c_contiguous})"
                )
        if dtype not in _LETTER:
            raise ValueError(f"{routine}: float32 or float64 arrays; got {dtype}")
        return _LETTER[dtype]

    def _gemm_tn(self, a: Any, b: Any, c: Any, letter: str) -> Callable[..., None]:
        raise NotImplementedError

    def _gemv_t(self, a: Any, x: Any, y: Any, letter: str) -> Callable[..., None]:
        raise NotImplementedError

    def _axpy(self, x: Any, y: Any, letter: str) -> Callable[..., None]:
        raise NotImplementedError


class MatmulRoutines(Routines):
    """The ``bind_*`` calls in NumPy alone: ``np.matmul`` into a scratch array, then
    :func:`accumulate` (an axpy: one multiply into a scratch array and one add). Used where
    NumPy's BLAS cannot be called directly (:func:`softgrad.kernels.blas.blas_routines`).

    Parameters
    ----------
    why : str
        Why NumPy's BLAS is not used, for ``softgrad info``.
    """

    threaded = False

    def __init__(self, why: str) -> None:
        self.description = f"np.matmul and NumPy's elementwise passes ({why})"

    def threads(self) -> int:
        """1: NumPy runs the axpy's elementwise passes on the calling thread."""
        return 1

    def _gemm_tn(self, a: Any, b: Any, c: Any, letter: str) -> Callable[..., None]:
        scratch, a_t = np.empty_like(c), a.T

        def run(alpha: float, beta: float) -> None:
            np.matmul(a_t, b, out=scratch)
            accumulate(c, scratch, alpha, beta)

        return run

    def _gemv_t(self, a: Any, x: Any, y: Any, letter: str) -> Callable[..., None]:
        scratch = np.empty_like(y)

        def run(alpha: float, beta: float) -> None:
            np.matmul(x, a, out=scratch)
            accumulate(y, scratch, alpha, beta)

        return run

    def _axpy(self, x: Any, y: Any, letter: str) -> Callable[..., None]:
        scratch = np.empty_like(y)

        def run(alpha: float) -> None:
            np.multiply(x, alpha, out=scratch)
            np.add(y, scratch, out=y)

        return run


def accumulate(target: np.ndarray, scratch: np.ndarray, alpha: float, beta: float) -> None:
    """``target = alpha * scratch + beta * target`` in place, ``scratch`` overwritten (but
    with ``alpha`` 1); with ``beta`` 0 target's values are not read (GEMM's contract: a NaN
    there is overwritten)."""
    if alpha != 1.0:
        np.multiply(scratch, alpha, out=scratch)
    if beta == 0.0:
        np.copyto(target, scratch)
    else:
        np.multiply(target, beta, out=target)
        np.add(target, scratch, out=target)
