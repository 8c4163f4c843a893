"""scikit-learn's two stochastic solvers, as in-place updates of one flat parameter buffer.

The update rules are sklearn's own (``sklearn/neural_network/_stochastic_optimizers.py``), not
torch's: the SGD velocity holds the learning rate (v = momentum * v - lr * g), and Adam folds the
bias corrections into the step size (lr_t = lr * sqrt(1 - beta_2^t) / (1 - beta_1^t)), so a
softgrad estimator and a sklearn one follow the same path from the same weights.
"""

from __future__ import annotations

import math

import numpy as np


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
        self._tmp = np.empty(size, dtype=dtype)

    def step(self, params: np.ndarray, grads: np.ndarray) -> None:
        """v = momentum * v - lr * g; params += v, or += momentum * v - lr * g (Nesterov)."""
        tmp = self._tmp
        np.multiply(grads, -self.lr, out=tmp)
        self.velocity *= self.momentum
        self.velocity += tmp
        if self.nesterov:
            params += tmp
            np.multiply(self.velocity, self.momentum, out=tmp)
            params += tmp
        else:
            params += self.velocity

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


class AdamSolver:
    """Adam with sklearn's parametrisation (bias corrections folded into the step size).

    The moments are stored rescaled, m' = m / (1 - beta_1) and v' = v / (1 - beta_2), which
    turns each moving average into two in-place passes (m' = beta_1 * m' + g); the step
    lr_t * m / (sqrt(v) + eps) is the same number written with m', v' (see ``step``).
    """

    def __init__(self, size, dtype, lr, beta_1=0.9, beta_2=0.999, epsilon=1e-8):
        self.lr_init = float(lr)
        self.lr = float(lr)
        self.beta_1 = float(beta_1)
        self.beta_2 = float(beta_2)
        self.epsilon = float(epsilon)
        self.t = 0
        self.m_scaled = np.zeros(size, dtype=dtype)
        self.v_scaled = np.zeros(size, dtype=dtype)
        self._tmp = np.empty(size, dtype=dtype)

    def step(self, params: np.ndarray, grads: np.ndarray) -> None:
        """params -= lr_t * m / (sqrt(v) + eps), lr_t = lr * sqrt(1 - beta_2^t) / (1 - beta_1^t).

        With m = (1 - beta_1) m' and v = (1 - beta_2) v' this is
        params -= lr_t (1 - beta_1) / sqrt(1 - beta_2) * m' / (sqrt(v') + eps / sqrt(1 - beta_2)).
        """
        self.t += 1
        tmp = self._tmp
        self.m_scaled *= self.beta_1
        self.m_scaled += grads
        np.multiply(grads, grads, out=tmp)
        self.v_scaled *= self.beta_2
        self.v_scaled += tmp
        # python floats, not numpy float64 scalars: those would make each pass compute in float64
        root = math.sqrt(1.0 - self.beta_2)
        lr_t = self.lr * math.sqrt(1.0 - self.beta_2**self.t) / (1.0 - self.beta_1**self.t)
        np.sqrt(self.v_scaled, out=tmp)
        tmp += self.epsilon / root
        np.divide(self.m_scaled, tmp, out=tmp)
        tmp *= -lr_t * (1.0 - self.beta_1) / root
        params += tmp

    def iteration_ends(self, time_step: int) -> None:
        """Adam keeps its base learning rate across epochs (sklearn ignores learning_rate)."""

    def trigger_stopping(self) -> tuple[bool, str]:
        """At a plateau Adam stops."""
        return True, " Stopping."
