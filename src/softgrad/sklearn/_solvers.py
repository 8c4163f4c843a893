"""scikit-learn's two stochastic solvers, as in-place updates of one flat parameter buffer.

The update rules are sklearn's own (``sklearn/neural_network/_stochastic_optimizers.py``), not
torch's: the SGD velocity holds the learning rate (v = momentum * v - lr * g), and Adam folds the
bias corrections into the step size (lr_t = lr * sqrt(1 - beta_2^t) / (1 - beta_1^t)), so a
softgrad estimator and a sklearn one follow the same path from the same weights.

Every update is a few BLAS axpy/scal calls (y += a * x in one pass) and ufuncs written into
preallocated buffers: numpy has no fused multiply-add, and each pass over the ~80k parameters of
a Fashion-MNIST network costs 5-8 us, about as much as the arithmetic it carries.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.linalg import blas

# a moment's decaying scale s is folded back into its buffer once it drops below this, so
# 1 / s (the axpy coefficient) stays far from float32 overflow whatever beta is
_RESCALE_BELOW = 2.0**-20


# y += a * x and x *= a in place, for contiguous arrays of the dtype (all buffers here are);
# looked up per call: scipy's BLAS wrappers do not pickle, and fitted estimators must
_AXPY = {np.dtype(np.float32): blas.saxpy, np.dtype(np.float64): blas.daxpy}
_SCAL = {np.dtype(np.float32): blas.sscal, np.dtype(np.float64): blas.dscal}


class SGDSolver:
    """SGD with (Nesterov) momentum and sklearn's learning-rate options."""

    def __init__(
        self, size, dtype, lr, schedule="constant", momentum=0.9, nesterov=True, power_t=0.5
    ):
        self.lr_init = float(lr)
        self.lr = float(lr)
        self.schedule = schedule
        self.momentum = float(momentum)
        self.nesterov = bool(nesterov)
        self.power_t = float(power_t)
        self.velocity = np.zeros(size, dtype=dtype)

    def step(self, params: np.ndarray, grads: np.ndarray) -> None:
        """v = momentum * v - lr * g; params += v, or += momentum * v - lr * g (Nesterov)."""
        axpy = _AXPY[params.dtype]
        _SCAL[params.dtype](self.momentum, self.velocity)
        axpy(grads, self.velocity, a=-self.lr)
        if self.nesterov:
            axpy(grads, params, a=-self.lr)
            axpy(self.velocity, params, a=self.momentum)
        else:
            axpy(self.velocity, params, a=1.0)

    def iteration_ends(self, time_step: int) -> None:
        """invscaling: lr = lr_init / (t + 1) ** power_t, t = samples seen so far."""
        if self.schedule == "invscaling":
            self.lr = self.lr_init / (time_step + 1) ** self.power_t

    def trigger_stopping(self) -> tuple[bool, str]:
        """At a plateau: stop, or (adaptive) divide the learning rate by 5 and go on."""
        if self.schedule != "adaptive":
            return True, " Stopping."
        if self.lr <= 1e-6:
            return True, " Learning rate too small. Stopping."
        self.lr /= 5.0
        return False, f" Setting learning rate to {self.lr:f}"


class _Moment:
    """A moving sum m' = beta * m' + x held as m' = scale * buf, so one step is one axpy.

    m'_t = beta * scale_{t-1} * buf + x = scale_t * (buf + x / scale_t) with
    scale_t = beta * scale_{t-1}: the buffer only accumulates x / scale_t.
    """

    def __init__(self, size, dtype, beta):
        self.beta = float(beta)
        self.buf = np.zeros(size, dtype=dtype)
        self.scale = 1.0

    def update(self, x: np.ndarray) -> None:
        """m' = beta * m' + x (one axpy; one scal more when the scale is folded back)."""
        scale = self.beta * self.scale
        if scale < _RESCALE_BELOW:  # includes beta = 0: buf becomes beta * m', scale 1
            _SCAL[self.buf.dtype](scale, self.buf)
            scale = 1.0
        self.scale = scale
        _AXPY[self.buf.dtype](x, self.buf, a=1.0 / scale)


class AdamSolver:
    """Adam with sklearn's parametrisation (bias corrections folded into the step size).

    The moments are stored rescaled, m' = m / (1 - beta_1) and v' = v / (1 - beta_2), and each as
    a decaying scale times a buffer (:class:`_Moment`), so a moving average is one axpy pass; the
    step lr_t * m / (sqrt(v) + eps) is the same number written with those (see ``step``).
    """

    def __init__(self, size, dtype, lr, beta_1=0.9, beta_2=0.999, epsilon=1e-8):
        self.lr_init = float(lr)
        self.lr = float(lr)
        self.beta_1 = float(beta_1)
        self.beta_2 = float(beta_2)
        self.epsilon = float(epsilon)
        self.t = 0
        self.m = _Moment(size, dtype, beta_1)
        self.v = _Moment(size, dtype, beta_2)
        self._tmp = np.empty(size, dtype=dtype)

    def step(self, params: np.ndarray, grads: np.ndarray) -> None:
        """params -= lr_t * m / (sqrt(v) + eps), lr_t = lr * sqrt(1 - beta_2^t) / (1 - beta_1^t).

        With m = (1 - beta_1) s_m m~ and v = (1 - beta_2) s_v v~ (m~, v~ the moment buffers,
        s_m, s_v their scales) and r = sqrt((1 - beta_2) s_v) this is
        params -= lr_t (1 - beta_1) s_m / r * m~ / (sqrt(v~) + eps / r).
        """
        self.t += 1
        tmp = self._tmp
        self.m.update(grads)
        np.multiply(grads, grads, out=tmp)
        self.v.update(tmp)
        # python floats, not numpy float64 scalars: those would make each pass compute in float64
        root = math.sqrt((1.0 - self.beta_2) * self.v.scale)
        lr_t = self.lr * math.sqrt(1.0 - self.beta_2**self.t) / (1.0 - self.beta_1**self.t)
        np.sqrt(self.v.buf, out=tmp)
        tmp += self.epsilon / root
        np.divide(self.m.buf, tmp, out=tmp)
        _AXPY[params.dtype](tmp, params, a=-lr_t * (1.0 - self.beta_1) * self.m.scale / root)

    def iteration_ends(self, time_step: int) -> None:
        """Adam keeps its base learning rate across epochs (sklearn ignores learning_rate)."""

    def trigger_stopping(self) -> tuple[bool, str]:
        """At a plateau Adam stops."""
        return True, " Stopping."
