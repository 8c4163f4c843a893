"""NumbaOps mixin: softmax, log_softmax, the softmax VJP and softmax-cross-entropy through the
row kernels (:mod:`softgrad.kernels.numba_softmax`, :mod:`softgrad.kernels.numba_losses`,
:mod:`softgrad.kernels.numba_loss_rows`).

These methods take (M, C) rows and choose among the row kernels: by blocks of rows, or long
rows (``numba_exp_rows.LONG_ROW``) one at a time into another array, and how many shares the
threads split the blocks in. That choice is the seam with :mod:`softgrad.kernels.numba_ops`,
whose methods each call one elementwise kernel over a flat buffer (updates, activations, the
scaled gather). Arrays the kernels do not take go to the NumPy lane's methods, which this
mixin extends.
"""

from __future__ import annotations

import numpy as np

from softgrad.kernels import numba_loss_rows, numba_losses, numba_softmax, numba_threads
from softgrad.kernels.activations import ActivationKernels
from softgrad.kernels.losses import LossKernels, SoftmaxCE
from softgrad.kernels.numba_exp_rows import LONG_ROW
from softgrad.kernels.numba_layout import _same_flat_layout, _same_or_apart, _writes_into
from softgrad.kernels.numba_threads import PARALLEL_MIN
from softgrad.kernels.rows import row_view
from softgrad.kernels.softmax import SoftmaxKernels

__all__ = ["NumbaSoftmaxKernels"]

# the log_softmax VJP and JVP kernels take rows of at least this many classes: a row at a time,
# their per-row cost (a call for the sum, two short loops) lost to the NumPy lane's whole-array
# passes on narrow rows (4096 x 10: 233 against 101 us float32, 153 against 98 float64) and
# broke even about here (32: 214 against 201, 231 against 240). Narrow float64 rows keep
# NumPy's slow exp of a subnormal probability.
PRODUCT_MIN_CLASSES = 32


class NumbaSoftmaxKernels(SoftmaxKernels, LossKernels, ActivationKernels):
    """NumbaOps mixin: the softmax family and softmax-cross-entropy in one kernel call each."""

    def softmax_rows(self, x: np.ndarray, e: np.ndarray, scale: float = 1.0) -> None:
        """The NumPy lane's ``e = scale * softmax(x)`` on (M, C) rows in one kernel call
        (numba_softmax.softmax_rows: flat passes over blocks of rows; rows of ``LONG_ROW`` or
        more into another array one at a time, numba_softmax.softmax_long_rows), for every
        softmax of this lane (any axis, masks: NumpyOps.softmax brings them to rows first)."""
        if not _writes_into(x, e):
            return super().softmax_rows(x, e, scale)
        if _long_rows_apart(x, e):
            numba_softmax.softmax_long_rows(x, e, float(scale))
            return None
        numba_softmax.softmax_rows(x, e, float(scale), _shares(x))
        return None

    def masked_rows(
        self, x: np.ndarray, axis: int, where: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """The NumPy lane's :meth:`masked_rows` in one kernel pass (numba_softmax.select_rows:
        the selection and each row's count of kept entries) for x whose rows lie along its last
        axis, C-contiguous native float32/64: ``np.where`` branched on every entry, a random
        half of a 4096 x 100 mask taking 1.5 ms where an all-True one took 0.23."""
        if (
            where is None
            or x.size == 0  # (an empty array has no rows view)
            or x.ndim == 0
            or axis % x.ndim != x.ndim - 1
            or not _same_flat_layout(x)
        ):
            return super().masked_rows(x, axis, where)
        rows = x.reshape(-1, x.shape[-1])
        keep = where.reshape(rows.shape)  # a broadcast mask stays a view where it can
        out = np.empty_like(rows)
        empty = np.empty(rows.shape[0], dtype=np.bool_)
        numba_softmax.select_rows(rows, keep, out, empty)
        return out, (empty if empty.any() else None)

    def logsumexp_rows(self, x: np.ndarray, e: np.ndarray) -> np.ndarray:
        """The NumPy lane's ``logsumexp_rows`` (shape (M, 1), x's dtype) in one kernel call
        (numba_softmax.logsumexp_rows) for C-contiguous native float32/64 rows; ``e`` unused."""
        if not _same_flat_layout(x):
            return super().logsumexp_rows(x, e)
        out = np.empty((x.shape[0], 1), dtype=x.dtype)
        numba_softmax.logsumexp_rows(x, out.reshape(-1), _shares(x))
        return out

    def _log_softmax_product(self, logp, a, axis, out, jvp: bool) -> np.ndarray:
        """The log_softmax VJP and JVP in one kernel call each (numba_softmax.
        log_softmax_vjp_rows, log_softmax_jvp_rows) where logp, the cotangent or tangent ``a``
        and out lie in rows along ``axis`` (C-contiguous, one native float32/64 dtype, out
        writeable, a and out the same array or apart, out not logp) of at least
        ``PRODUCT_MIN_CLASSES`` classes; anything else takes the NumPy lane's passes."""
        if logp.size == 0 or logp.shape[axis] < PRODUCT_MIN_CLASSES:  # (empty: no rows view)
            return super()._log_softmax_product(logp, a, axis, out, jvp)
        out = np.empty_like(logp) if out is None else out
        rows = [row_view(array, axis) for array in (logp, a, out)]
        if (
            not _same_flat_layout(*rows)  # refuses None, another dtype or layout
            or not (out.flags.writeable and _same_or_apart(a, out))
            or np.may_share_memory(out, logp)
        ):
            return super()._log_softmax_product(logp, a, axis, out, jvp)
        if jvp:
            numba_softmax.log_softmax_jvp_rows(*rows, _shares(logp))
        else:
            numba_softmax.log_softmax_vjp_rows(*rows)
        return out

    def softmax_rows_finite(self, x: np.ndarray, e: np.ndarray) -> bool:
        """The NumPy lane's :meth:`softmax_rows_finite` in one kernel call: the logits' test
        read block by block in the softmax's pass (numba_softmax.softmax_rows with ``check``);
        a pass of its own plus the softmax took 210 against 131 us on inference's (1024, 10)
        logits just written by the BLAS (2-core Zen 1). Long rows and other layouts: the NumPy
        lane's two passes."""
        if not _writes_into(x, e) or _long_rows_apart(x, e):
            return super().softmax_rows_finite(x, e)
        return numba_softmax.softmax_rows(x, e, 1.0, _shares(x), True) == 0

    def log_softmax_rows(self, x: np.ndarray, out: np.ndarray) -> None:
        """The NumPy lane's ``out = log_softmax(x)`` on (M, C) rows in one kernel call
        (numba_softmax.log_softmax_rows, or log_softmax_long_rows as for softmax_rows), for every
        log_softmax of this lane."""
        if not _writes_into(x, out):
            return super().log_softmax_rows(x, out)
        if _long_rows_apart(x, out):
            numba_softmax.log_softmax_long_rows(x, out)
            return None
        numba_softmax.log_softmax_rows(x, out, _shares(x))
        return None

    def softmax_vjp_rows(self, s: np.ndarray, g: np.ndarray, out: np.ndarray) -> None:
        """The NumPy lane's softmax VJP on (M, C) rows in one kernel call
        (numba_softmax.softmax_vjp_rows), for every softmax VJP and JVP of this lane."""
        if not (
            _same_flat_layout(s, g, out)
            and out.flags.writeable  # g may be read-only (a memmap): the kernel only reads it
            and not np.may_share_memory(s, out)
            and _same_or_apart(g, out)
        ):
            return super().softmax_vjp_rows(s, g, out)
        numba_softmax.softmax_vjp_rows(s, g, out)
        return None

    def softmax_cross_entropy(
        self, logits: np.ndarray, target: np.ndarray, e: np.ndarray
    ) -> tuple[np.ndarray, SoftmaxCE]:
        """Per-row losses and the cache for :meth:`softmax_cross_entropy_grad`, one pass
        (numba_loss_rows.softmax_cross_entropy_rows) for class-index targets and C-contiguous
        native float rows; anything else (distribution targets) goes to the NumPy lane."""
        if target.ndim != 1 or not _same_flat_layout(logits, e):
            return super().softmax_cross_entropy(logits, target, e)
        target = _native(target)
        n_rows = logits.shape[0]
        total = np.empty((n_rows, 1), dtype=logits.dtype)
        loss = np.empty(n_rows)
        offsets = np.empty(n_rows, dtype=np.intp)
        if not numba_loss_rows.softmax_cross_entropy_rows(
            logits, target, e, total.reshape(-1), loss, offsets
        ):
            return super().softmax_cross_entropy(logits, target, e)  # it reports the target
        return loss, SoftmaxCE(e, total, offsets)

    def softmax_cross_entropy_grad(
        self, cache: SoftmaxCE, scale: float | np.ndarray, out: np.ndarray | None = None
    ) -> np.ndarray:
        """dL/dlogits = r * (e / S - onehot(y)) into ``out`` (may be ``e``), one pass, for
        class-index caches; distribution targets go to the NumPy lane."""
        e, total, target = cache
        if out is None:
            out = np.empty_like(e)
        if target.ndim != 1 or not (_same_flat_layout(e, out) and out.flags.writeable):
            return super().softmax_cross_entropy_grad(cache, scale, out=out)
        r = np.asarray(scale, dtype=e.dtype).reshape(-1)  # a float or (N, 1) per-row scales
        numba_loss_rows.softmax_cross_entropy_rows_grad(e, total.reshape(-1), target, r, out)
        return out

    def softmax_cross_entropy_mean(
        self,
        logits: np.ndarray,
        target: np.ndarray,
        grad: np.ndarray,
        sample_weight: np.ndarray | None = None,
    ) -> float:
        """The (weighted) mean loss, sum_n w_n loss_n / sum_n w_n; fills ``grad`` with
        dL/dlogits (may be ``logits``). One pass over the logits (numba_losses)."""
        return self.softmax_cross_entropy_mean_correct(logits, target, grad, sample_weight)[0]

    def softmax_cross_entropy_mean_correct(
        self,
        logits: np.ndarray,
        target: np.ndarray,
        grad: np.ndarray,
        sample_weight: np.ndarray | None = None,
        ignore_index: int | None = None,
    ) -> tuple[float, float]:
        """The NumPy lane's ``softmax_cross_entropy_mean_correct`` (kernels/losses.py: the
        loss, the gradient into ``grad``, the weighted count of correct argmax predictions;
        ignored rows count in none of them) in one pass over the logits
        (:func:`softgrad.kernels.numba_losses.softmax_cross_entropy`).

        Raises
        ------
        IndexError
            A target outside [0, C) (the kernel checks them before anything is written).
        """
        weights = _NO_WEIGHTS if sample_weight is None else np.asarray(sample_weight, np.float64)
        target = _native(target)
        use_ignore = ignore_index is not None
        # long rows into another array one at a time (numba_exp_rows.LONG_ROW), else by blocks
        ignore = int(ignore_index) if ignore_index is not None else 0
        if _long_rows_apart(logits, grad):
            # NumPy's vectorised argmax gives the kernel each row's maximum (the kernel's own
            # scalar loop was most of its time at 1,000 classes)
            top = np.argmax(logits, axis=1)
            loss, correct = numba_losses.softmax_cross_entropy_long_rows(
                logits, target, weights, ignore, use_ignore, grad, top
            )
        else:
            loss, correct = numba_losses.softmax_cross_entropy(
                logits, target, weights, ignore, use_ignore, grad
            )
        if correct < 0:
            raise IndexError(
                f"softmax_cross_entropy_mean: target must hold class indices in "
                f"[0, {logits.shape[1]}); got values from {target.min()} to {target.max()}"
            )
        return loss, correct


def _native(target: np.ndarray) -> np.ndarray:
    """Class indices in the machine's byte order: the kernels are compiled for no other (a
    '>i8' array read from a file stopped them with a typing error)."""
    return target if target.dtype.isnative else target.astype(target.dtype.newbyteorder("="))


# an empty weight array: every sample weighs 1 (one compiled signature for both cases)
_NO_WEIGHTS = np.empty(0)


def _shares(x: np.ndarray) -> int:
    """How many shares a row kernel splits its blocks in: one per Numba thread from
    ``PARALLEL_MIN`` elements (where it runs on the threads), else 1."""
    return numba_threads.thread_count() if x.size >= PARALLEL_MIN else 1


def _long_rows_apart(x: np.ndarray, out: np.ndarray) -> bool:
    """Whether a softmax, log_softmax or fused cross-entropy of (M, C) rows goes to its
    row-at-a-time kernel: rows of at least ``numba_exp_rows.LONG_ROW`` entries into an array
    that does not overlap ``x`` (an in-place call keeps the blocks, which read a block of x
    before writing it; the row kernels write a row's exps first)."""
    return x.shape[-1] >= LONG_ROW and not np.may_share_memory(x, out)
