"""Calls bound once: a lane's routine with its arrays fixed, for a caller that runs the same call
on the same arrays at every step (softgrad.training.bound_step: a training step of fixed-size
buffers).

Each ``bind_*`` method returns a callable of no arguments that does what the routine it names
does with the arguments given now, on every call. On the NumPy lane it is that routine with its
arguments fixed (``functools.partial``); the Numba lane (``numba_bound``) checks the arrays'
layout once, here, and binds the compiled kernel itself, so that a call skips the checks,
reshapes and lookups the routine makes each time (about 2-5 us a call on a Zen 1 core, a tenth
of a small batch's step). The arrays must keep their layout and stay alive while the callable is
used; their contents may change. The result is the routine's, bit for bit on the same lane.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

__all__ = ["BoundKernels"]


class BoundKernels:
    """The NumPy lane's ``bind_*`` methods: the lane's own routines, arguments fixed."""

    if TYPE_CHECKING:  # the routines it binds, from the other mixins of NumpyOps
        # (mypy reports any of these that no longer matches the routine it declares)

        def bias_activation(
            self, y: np.ndarray, b: np.ndarray | None, activation: str
        ) -> np.ndarray: ...

        def softmax_cross_entropy_mean_correct(
            self,
            logits: np.ndarray,
            target: np.ndarray,
            grad: np.ndarray,
            sample_weight: np.ndarray | None = None,
            ignore_index: int | None = None,
        ) -> tuple[float, float]: ...

        def gather_rows(self, x: np.ndarray, idx: np.ndarray, out: np.ndarray) -> np.ndarray: ...

        def gather_rows_scaled(
            self,
            x: np.ndarray,
            idx: np.ndarray,
            offset: np.ndarray | float,
            scale: np.ndarray | float,
            out: np.ndarray,
        ) -> np.ndarray: ...

        def gather_rows_table(
            self,
            codes: np.ndarray,
            idx: np.ndarray,
            table: np.ndarray,
            out: np.ndarray,
            grid: tuple[float, float] | None = None,
        ) -> np.ndarray: ...

        def sgd_update(
            self,
            param: np.ndarray,
            grad: np.ndarray,
            buf: np.ndarray | None,
            scratch: list[np.ndarray],
            *,
            lr: float,
            momentum: float,
            nesterov: bool,
            weight_decay: float,
            lr_in_velocity: bool,
            first_step: bool,
        ) -> None: ...

        def adam_update(
            self,
            param: np.ndarray,
            grad: np.ndarray,
            m: np.ndarray,
            v: np.ndarray,
            scratch: list[np.ndarray],
            *,
            lr: float,
            beta1: float,
            beta2: float,
            eps: float,
            weight_decay: float,
            decoupled: bool,
            fold_bias_correction: bool,
            step: int,
        ) -> None: ...

    def bind_bias_activation(
        self, y: np.ndarray, b: np.ndarray | None, activation: str
    ) -> Callable[[], Any]:
        """``bias_activation(y, b, activation)`` bound: ``y = f(y + b)`` in place."""
        return functools.partial(self.bias_activation, y, b, activation)

    def bind_activation_vjp(
        self, activation: str, y: np.ndarray, g: np.ndarray
    ) -> Callable[[], Any]:
        """``<activation>_vjp(y, g, out=g)`` bound: ``g = g * f'(y)`` in place, ``y`` the
        activation's output (``activation``: "relu", "tanh" or "sigmoid")."""
        return functools.partial(getattr(self, f"{activation}_vjp"), y, g, out=g)

    def bind_softmax_cross_entropy_mean_correct(
        self, logits: np.ndarray, target: np.ndarray, grad: np.ndarray
    ) -> Callable[[], tuple[float, float]]:
        """``softmax_cross_entropy_mean_correct(logits, target, grad)`` bound (no sample
        weights, no ignored target): returns (mean loss, correct count), or raises its
        IndexError for a target outside the classes."""
        return functools.partial(self.softmax_cross_entropy_mean_correct, logits, target, grad)

    def bind_gather_rows(self, x: np.ndarray, out: np.ndarray) -> Callable[[np.ndarray], Any]:
        """``gather_rows(x, idx, out)`` bound to everything but the rows: ``call(idx)``."""
        return functools.partial(self.gather_rows, x, out=out)

    def bind_gather_rows_scaled(
        self, x: np.ndarray, offset: Any, scale: Any, out: np.ndarray
    ) -> Callable[[np.ndarray], Any]:
        """``gather_rows_scaled(x, idx, offset, scale, out)`` bound likewise: ``call(idx)``."""
        return functools.partial(self.gather_rows_scaled, x, offset=offset, scale=scale, out=out)

    def bind_gather_rows_table(
        self, codes: np.ndarray, table: np.ndarray, out: np.ndarray, grid: Any = None
    ) -> Callable[[np.ndarray], Any]:
        """``gather_rows_table(codes, idx, table, out, grid)`` bound likewise: ``call(idx)``."""
        return functools.partial(self.gather_rows_table, codes, table=table, out=out, grid=grid)

    def bind_sgd_update(
        self, param: np.ndarray, grad: np.ndarray, buf: np.ndarray | None, scratch: list, **hyper
    ) -> Callable[[float, bool], None]:
        """``sgd_update(param, grad, buf, scratch, **hyper)`` bound, all but the learning rate
        and the first-step flag: ``call(lr, first_step)``. ``hyper``: momentum, nesterov,
        weight_decay, lr_in_velocity."""

        def run(lr: float, first_step: bool) -> None:
            self.sgd_update(param, grad, buf, scratch, lr=lr, first_step=first_step, **hyper)

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
        """``adam_update(param, grad, m, v, scratch, **hyper)`` bound, all but the learning
        rate and the step count: ``call(lr, step)``. ``hyper``: beta1, beta2, eps,
        weight_decay, decoupled, fold_bias_correction."""

        def run(lr: float, step: int) -> None:
            self.adam_update(param, grad, m, v, scratch, lr=lr, step=step, **hyper)

        return run
