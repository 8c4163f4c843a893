"""The formulas of :class:`~softgrad.nn.linear.Linear` on (M, D) rows, trusting their inputs.

``Linear.forward``, ``forward_activated`` and ``backward`` check their arguments, see the input
as rows and call these; :mod:`softgrad.training.step_plan` calls them with its own
preallocated ``out`` arrays, and binds them once for the same buffers at every step
(``_bind_forward_rows``, ``_bind_backward_rows``). A mixin of Linear's, apart so that the
layer's file holds its construction and its public checks, and this one the arithmetic.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from softgrad.kernels import get_ops
from softgrad.kernels.routines import accumulate
from softgrad.kernels.rows import COLUMN_BLOCK, column_sums
from softgrad.kernels.sgd_fold import FoldTarget

__all__ = ["Inspect", "LinearRows"]

# what the row forwards call when a layer's product x @ W held a NaN or an infinity, once its
# bias and activation are applied (inference's deferred finite check of the input:
# softgrad.training.predict.BatchForward); it may raise
Inspect = Callable[[], object]


class LinearRows:
    """``y = x @ W + b`` and its gradients on (M, D) rows, for a layer with ``params["W"]``
    (and ``"b"``), the gradient buffers of ``Layer._grad_buffer`` and the forward cache
    ``_x`` / ``_x_shape`` / ``_ones_buffer`` (:class:`~softgrad.nn.linear.Linear`)."""

    params: dict
    _x: np.ndarray | None
    _x_shape: tuple[int, ...]
    _ones_buffer: np.ndarray | None

    if TYPE_CHECKING:  # Layer's, which Linear mixes in beside this

        def _grad_buffer(self, name: str) -> np.ndarray: ...

    def _forward_rows(
        self, x2: np.ndarray, out: np.ndarray | None, inspect: Inspect | None = None
    ) -> np.ndarray:
        """``x2 @ W + b`` into ``out`` (a fresh array if None); keeps x2 for backward.
        ``inspect``, if given, is called when the product ``x2 @ W`` held a NaN or an
        infinity (:data:`Inspect`)."""
        y = self._product_rows(x2, out)
        bias = self.params.get("b")
        if bias is None and inspect is None:
            return y
        # the bias + identity kernel: np.add's roundings, in the Numba lane twice as fast
        # (1,024 x 10 float32: 2.0 against 4.4 us, a head's logits at inference)
        return self._bias_activation(y, bias, "identity", inspect)

    def _forward_activated_rows(
        self,
        x2: np.ndarray,
        activation: str,
        out: np.ndarray | None,
        inspect: Inspect | None = None,
    ) -> np.ndarray:
        """``f(x2 @ W + b)`` into ``out`` (a fresh array if None); keeps x2 for backward.
        ``inspect``, if given, is called when the product ``x2 @ W`` held a NaN or an
        infinity (:data:`Inspect`)."""
        y = self._product_rows(x2, out)
        return self._bias_activation(y, self.params.get("b"), activation, inspect)

    def _bias_activation(
        self, y: np.ndarray, b: np.ndarray | None, activation: str, inspect: Inspect | None
    ) -> np.ndarray:
        """``y = f(y + b)`` in place; with ``inspect``, the product's finite check read in the
        same pass (``bias_activation_finite``: a second pass over a product both BLAS threads
        just wrote cost more than the bias and activation themselves)."""
        ops = get_ops()  # float16 too: the seam runs its NumPy passes on either lane
        if inspect is None:
            ops.bias_activation(y, b, activation)
        elif not ops.bias_activation_finite(y, b, activation):
            inspect()
        return y

    def _product_rows(self, x2: np.ndarray, out: np.ndarray | None) -> np.ndarray:
        self._x, self._x_shape = x2, x2.shape
        return np.matmul(x2, self.params["W"], out=out)

    def _backward_rows(
        self, g2: np.ndarray, input_grad: bool, out: np.ndarray | None
    ) -> np.ndarray | None:
        """Assign ``grads["W"] = x^T g2`` and ``grads["b"] = sum(g2, axis=0)`` from (M, H)
        rows of dL/dy; return dL/dx = ``g2 @ W^T`` into ``out`` (fresh if None), or None
        without ``input_grad``."""
        assert self._x is not None  # Linear.backward checked that forward ran
        np.matmul(self._x.T, g2, out=self._grad_buffer("W"))
        if "b" in self.params:
            # ones @ grad_y (a BLAS GEMV) measured 2-4x faster than grad_y.sum(axis=0) here
            column_sums(g2, self._ones(g2.shape[0], g2.dtype), self._grad_buffer("b"))
        if not input_grad:
            return None
        return np.matmul(g2, self.params["W"].T, out=out)

    def _bind_forward_rows(
        self, x2: np.ndarray, activation: str | None, out: np.ndarray
    ) -> Callable[[], np.ndarray]:
        """:meth:`_forward_activated_rows` (``activation`` given) or :meth:`_forward_rows`
        of ``x2`` into ``out``, as one call bound now for these arrays and this layer's
        parameter arrays (softgrad.training.bound_step: the same buffers at every step). It
        keeps x2 for backward as they do; the arrays' contents may change between calls."""
        weights, bias = self.params["W"], self.params.get("b")
        ops = get_ops()
        if activation is not None:
            finish = ops.bind_bias_activation(out, bias, activation)
        elif bias is not None:
            finish = ops.bind_bias_activation(out, bias, "identity")
        else:
            finish = None
        shape, matmul = x2.shape, np.matmul

        def run() -> np.ndarray:
            self._x, self._x_shape = x2, shape
            matmul(x2, weights, out=out)
            if finish is not None:
                finish()
            return out

        return run

    def _bind_backward_rows(
        self, x2: np.ndarray, g2: np.ndarray, out: np.ndarray | None
    ) -> Callable[[], None]:
        """:meth:`_backward_rows` of ``g2`` after a forward of ``x2``, as one call bound now
        (:meth:`_bind_forward_rows`): ``grads["W"]``, ``grads["b"]`` and, into ``out`` unless it
        is None, dL/dx."""
        grad_w, x2_t = self._grad_buffer("W"), x2.T
        grad_b = self._grad_buffer("b") if "b" in self.params else None
        ones = self._ones(g2.shape[0], g2.dtype)
        weights_t, matmul = self.params["W"].T, np.matmul
        bias_sum = None  # kernels.rows.column_sums, its one GEMV bound here for a short batch
        if grad_b is not None and g2.shape[0] <= COLUMN_BLOCK:
            bias_sum = functools.partial(matmul, ones, g2, out=grad_b)
        elif grad_b is not None:
            bias_sum = functools.partial(column_sums, g2, ones, grad_b)

        def run() -> None:
            matmul(x2_t, g2, out=grad_w)
            if bias_sum is not None:
                bias_sum()
            if out is not None:
                matmul(g2, weights_t, out=out)

        return run

    def _bind_folded_backward_rows(
        self, x2: np.ndarray, g2: np.ndarray, out: np.ndarray | None, fold: FoldTarget
    ) -> Callable[[], None]:
        """:meth:`_bind_backward_rows` with the parameter gradients folded into ``fold``'s
        arrays instead of written to ``grads`` (softgrad.kernels.sgd_fold): each call sets
        ``fold.weights = alpha * x2^T g2 + beta * fold.weights`` and ``fold.bias = alpha *
        ones^T g2 + beta * fold.bias`` in one BLAS product each, ``(alpha, beta) =
        fold.coefficients`` read at the call, between ``fold.before`` and ``fold.after``. dL/dx
        (into ``out`` unless None) comes first, from the weights as they were: a fold may
        target the weights themselves, and ``before`` may move them."""
        blas, (target_w, target_b) = fold.blas, fold.arrays
        gemm = blas.bind_gemm_tn(x2, g2, target_w)
        gemv = None
        if target_b is not None and g2.shape[0] <= COLUMN_BLOCK:
            gemv = blas.bind_gemv_t(g2, self._ones(g2.shape[0], g2.dtype), target_b)
        elif target_b is not None:  # a taller batch: its sum a block at a time, then the fold
            gemv = _folded_column_sums(g2, self._ones(g2.shape[0], g2.dtype), target_b)
        weights_t, matmul, coefficients = self.params["W"].T, np.matmul, fold.coefficients
        before, after = fold.before, fold.after

        def run() -> None:
            if out is not None:
                matmul(g2, weights_t, out=out)
            if before is not None:
                before()
            alpha, beta = coefficients
            gemm(alpha, beta)
            if gemv is not None:
                gemv(alpha, beta)
            if after is not None:
                after()

        return run

    def _ones(self, n_rows: int, dtype: np.dtype) -> np.ndarray:
        """A cached vector of ones of length ``n_rows`` (for the bias gradient)."""
        ones = self._ones_buffer
        if ones is None or ones.shape[0] != n_rows or ones.dtype != dtype:
            ones = self._ones_buffer = np.ones(n_rows, dtype=dtype)
        return ones


def _folded_column_sums(
    g2: np.ndarray, ones: np.ndarray, target: np.ndarray
) -> Callable[[float, float], None]:
    """``target = alpha * sum(g2, axis=0) + beta * target`` (GEMV's contract: beta 0 ignores
    what target held) with the sum taken by :func:`~softgrad.kernels.rows.column_sums`."""
    scratch = np.empty_like(target)

    def run(alpha: float, beta: float) -> None:
        column_sums(g2, ones, scratch)
        accumulate(target, scratch, alpha, beta)

    return run
