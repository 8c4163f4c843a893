"""The Numba lane's bound calls (:mod:`softgrad.kernels.bound`): each checks its arrays' layout
once and binds the compiled kernel the lane's routine would call, so that a call is the kernel's
launch alone. Arrays the kernel does not take get the NumPy lane's binding, which runs the
lane's routine in full (it falls back where it must, as on any call).

Adam's update is the one bound call that also uses NumPy's BLAS
(softgrad.kernels.blas.blas_routines). The
fused kernel runs on the calling thread below Numba's ``PARALLEL_MIN``, and there its last
store, the parameters, is what costs in a training step: the forward product has just read the
weights on both BLAS threads, so each line the kernel writes must first be taken back from the
other core. On the project's 2-core machine (Zen 4) a read-modify-write pass over the
784-100-10 network's first-layer weights took 35 us after such a product against 6 us without
it, and the whole update 77 us a step inside ``fit`` against 24 us alone. So while the BLAS runs
more than one thread, the split update computes the moments and the direction
``m / (sqrt(v) * root + eps)`` into a temporary (numba_updates.adam_direction: the same
operations), and a BLAS axpy ``W += -step_size * direction``, which OpenBLAS spreads over its
threads, moves the parameters: each core takes back half of the lines. In ``fit`` (h100 b128
Adam, Fashion-MNIST, epochs interleaved in one process, both storing subnormal moments as 0) the
epoch took 0.97x the fused kernel's. The axpy may fuse the last multiply-add, so the two paths
differ by a rounding; which one runs depends on the size, the axpy's thread count at each step
(1 where NumPy's BLAS cannot be called directly, and NumPy's elementwise pass would move the
parameters on one core) and a zero step size (a BLAS axpy by 0 returns at once, where the
kernel would carry a NaN direction into the parameters), never on timing.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import numpy as np

from softgrad.kernels import numba_activations, numba_losses, numba_updates
from softgrad.kernels.blas import blas_routines
from softgrad.kernels.bound import BoundKernels
from softgrad.kernels.numba_layout import _kernel_bias, _same_flat_layout
from softgrad.kernels.numba_softmax_ops import _NO_WEIGHTS, _long_rows_apart
from softgrad.kernels.updates import UpdateKernels, adam_scalars

__all__ = ["NumbaBoundKernels"]


def flush_floor(dtype: Any, eps: float, beta2: float) -> float:
    """The magnitude below which Adam's kernel stores a moment as 0 (numba_updates.adam): the
    dtype's smallest normal number where that cannot move a step, else 0 (no flush). A flushed
    v changes a step's denominator ``sqrt(v) * root + eps`` by at most ``sqrt(tiny) * root``,
    below a rounding of eps when ``sqrt(tiny) * root <= eps * machine eps`` for the largest
    root (the first step's ``1 / sqrt(1 - beta2)``); with a smaller eps (1e-30 in float32) a
    flushed v made the step ``m / eps``, -3e8 where torch moved -3e-3.

    Examples
    --------
    >>> flush_floor(np.float32, 1e-8, 0.999) == float(np.finfo(np.float32).tiny)
    True
    >>> flush_floor(np.float32, 1e-30, 0.999), flush_floor(np.float64, 0.0, 0.999)
    (0.0, 0.0)
    """
    info = np.finfo(dtype)
    if eps <= 0 or beta2 >= 1:
        return 0.0
    largest_root = 1.0 / float(np.sqrt(1.0 - beta2))
    if float(np.sqrt(info.tiny)) * largest_root <= eps * float(info.eps):
        return float(info.tiny)
    return 0.0


class NumbaBoundKernels(UpdateKernels, BoundKernels):
    """``bind_*`` for the Numba lane: the kernels themselves, checked once.

    An UpdateKernels as well: arrays the kernels do not take are bound to the NumPy lane's
    update itself (NumbaOps's own update is this binding); the order of the bases keeps
    NumbaOps's method resolution order what NumpyOps's bases make it."""

    def bind_bias_activation(
        self, y: np.ndarray, b: np.ndarray | None, activation: str
    ) -> Callable[[], Any]:
        """The bias + activation kernel (``NumbaOps.bias_activation``) on ``y`` and ``b``."""
        if not (_same_flat_layout(y) and y.ndim == 2 and y.flags.writeable):
            return super().bind_bias_activation(y, b, activation)
        if not _kernel_bias(y, b):
            return super().bind_bias_activation(y, b, activation)
        bias = b if b is not None else y[:0, :].reshape(0)
        kind = numba_activations.ACTIVATIONS[activation]
        return functools.partial(numba_activations.bias_kernel(kind, y.dtype), y, bias, False)

    def bind_activation_vjp(
        self, activation: str, y: np.ndarray, g: np.ndarray
    ) -> Callable[[], Any]:
        """The activation's backward kernel (``NumbaOps._vjp``), in place over ``g``."""
        if not (_same_flat_layout(y, g) and g.flags.writeable) or np.may_share_memory(y, g):
            return super().bind_activation_vjp(activation, y, g)
        kind = numba_activations.ACTIVATIONS[activation]
        flat = g.reshape(-1)
        return functools.partial(
            numba_activations.ACTIVATION_BACKWARD[kind], y.reshape(-1), flat, flat
        )

    def bind_softmax_cross_entropy_mean_correct(
        self, logits: np.ndarray, target: np.ndarray, grad: np.ndarray
    ) -> Callable[[], tuple[float, float]]:
        """The fused loss kernel (``NumbaOps.softmax_cross_entropy_mean_correct`` without
        weights or an ignored target, on rows shorter than a long row)."""
        generic = super().bind_softmax_cross_entropy_mean_correct(logits, target, grad)
        if _long_rows_apart(logits, grad) or not _same_flat_layout(logits, grad):
            return generic
        if not (type(target) is np.ndarray and target.ndim == 1 and target.dtype.kind in "iu"):
            return generic
        kernel = functools.partial(
            numba_losses.softmax_cross_entropy, logits, target, _NO_WEIGHTS, 0, False, grad
        )

        def run() -> tuple[float, float]:
            loss, correct = kernel()
            if correct < 0:  # a target outside the classes: the routine says which
                return generic()
            return loss, correct

        return run

    def bind_sgd_update(
        self, param: np.ndarray, grad: np.ndarray, buf: np.ndarray | None, scratch: list, **hyper
    ) -> Callable[[float, bool], None]:
        """The SGD rule's kernel (``NumbaOps.sgd_update``), its settings cast to param's dtype
        once and the learning rate whenever it changes."""
        if not _same_flat_layout(param, grad, *(() if buf is None else (buf,))):
            # the NumPy lane's routine itself (this lane's sgd_update is this binding)
            def numpy_lane(lr: float, first_step: bool) -> None:
                UpdateKernels.sgd_update(
                    self, param, grad, buf, scratch, lr=lr, first_step=first_step, **hyper
                )

            return numpy_lane
        cast = param.dtype.type
        flat = param.reshape(-1)
        arrays = (flat, grad.reshape(-1), flat[:0] if buf is None else buf.reshape(-1))
        momentum, decay = cast(hyper["momentum"]), cast(hyper["weight_decay"])
        rule = numba_updates.sgd_rule(momentum, hyper["nesterov"], hyper["lr_in_velocity"])
        kernel = numba_updates.SGD_RULES[rule]
        last: list[Any] = [None, None]  # the learning rate last given, and its cast

        def run(lr: float, first_step: bool) -> None:
            if lr != last[0]:  # None at first
                last[0], last[1] = lr, cast(lr)
            kernel(*arrays, last[1], momentum, decay, bool(first_step))

        return run

    def bind_adam_update(
        self,
        param: np.ndarray,
        grad: np.ndarray,
        m: np.ndarray,
        v: np.ndarray,
        scratch: list,
        **hyper: Any,
    ) -> Callable[[float, int], None]:
        """The Adam kernel (``NumbaOps.adam_update``), the scalars that do not change with the
        step or the learning rate cast to param's dtype once; on a buffer of ``SPLIT_MIN`` up to
        ``PARALLEL_MIN`` elements, while NumPy's BLAS runs more than one thread, the split
        update (module docstring) through a temporary of ``scratch``."""
        if not _same_flat_layout(param, grad, m, v):
            # the NumPy lane's routine itself (this lane's adam_update is this binding)
            def numpy_lane(lr: float, step: int) -> None:
                UpdateKernels.adam_update(
                    self, param, grad, m, v, scratch, lr=lr, step=step, **hyper
                )

            return numpy_lane
        cast = param.dtype.type
        beta1, beta2, decay = hyper["beta1"], hyper["beta2"], hyper["weight_decay"]
        decoupled, fold = hyper["decoupled"], hyper["fold_bias_correction"]
        arrays = (param.reshape(-1), grad.reshape(-1), m.reshape(-1), v.reshape(-1))
        rates = (cast(beta1), cast(beta2), cast(1.0 - beta1), cast(1.0 - beta2))
        eps, l2 = cast(hyper["eps"]), cast(0.0 if decoupled else decay)
        kernel, one = numba_updates.adam, cast(1.0)
        # subnormal moments stored as 0 (numba_updates.adam: why) where that moves no step
        tiny = cast(flush_floor(param.dtype, hyper["eps"], beta2))
        split = _split_moves(arrays, scratch, decoupled and decay != 0.0)

        def run(lr: float, step: int) -> None:
            step_size, root = adam_scalars(lr, beta1, beta2, fold, step)
            if split is not None and step_size != 0 and split.blas.threads() > 1:
                numba_updates.adam_direction(
                    split.direction, *arrays, *rates, cast(root), eps, l2, tiny
                )
                if split.shrink is not None:  # AdamW: W += (-lr wd) W, then the move
                    split.shrink(-lr * decay)
                split.move(-step_size)
                return
            shrink = cast(1.0 - lr * decay) if decoupled else one
            kernel(*arrays, *rates, cast(step_size), cast(root), eps, l2, shrink, tiny)

        return run


# the flat buffers on which Adam's update moves the parameters with a BLAS axpy: from
# OpenBLAS's own threading of an axpy (it runs one of 10,000 elements or fewer on one thread)
# up to the size where the fused kernel runs on Numba's threads itself
SPLIT_MIN = 1 << 14


class _SplitMoves:
    """The BLAS calls of a split Adam update: ``move(alpha)`` is ``W += alpha * direction``,
    ``shrink(alpha)`` (AdamW's decay, or None) ``W += alpha * W``."""

    def __init__(self, blas: Any, param: np.ndarray, direction: np.ndarray, decays: bool):
        self.blas, self.direction = blas, direction
        self.move = blas.bind_axpy(direction, param)
        self.shrink = blas.bind_axpy(param, param) if decays else None


def _split_moves(arrays: tuple, scratch: list, decays: bool) -> _SplitMoves | None:
    """The split update's calls for ``arrays`` (param, grad, m, v, flat), or None where it
    does not apply: a size outside [SPLIT_MIN, PARALLEL_MIN), routines whose axpy runs on one
    thread alone or that do not report their threads, or no temporary of the parameters'
    layout apart from them."""
    param = arrays[0]
    if not SPLIT_MIN <= param.size < numba_updates.adam.parallel_min:
        return None
    blas = blas_routines()
    if not blas.threaded or blas.threads() is None:
        return None
    for temporary in scratch:
        direction = temporary.reshape(-1) if type(temporary) is np.ndarray else None
        if direction is None or not _same_flat_layout(direction, param):
            continue
        if not any(np.may_share_memory(direction, array) for array in arrays):
            return _SplitMoves(blas, param, direction, decays)
    return None
