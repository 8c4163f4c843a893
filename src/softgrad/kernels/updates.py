"""NumPy kernels: optimizer updates, in place, on one array or a network's flat buffer.

Each update is elementwise, so the same call serves one parameter and the whole parameter
store (:mod:`softgrad.nn.store`). The formulas, once each:

SGD, torch's rule (``b`` the momentum buffer, ``g = grad + weight_decay * W``)::

    b = g  (first step)   b = momentum * b + g  (afterwards)
    W -= lr * (g + momentum * b)   nesterov
    W -= lr * b                    momentum > 0
    W -= lr * g                    momentum == 0

SGD, scikit-learn's rule (``lr_in_velocity``; ``v`` starts at zero)::

    v = momentum * v - lr * g
    W += momentum * v - lr * g     nesterov
    W += v                         otherwise

Adam (torch's; with ``fold_bias_correction`` scikit-learn's placement of eps), on the moments
kept without their (1 - beta) factors, ``m' = m / (1 - beta1)`` and ``v' = v / (1 - beta2)``::

    m' = beta1 * m' + g
    v' = beta2 * v' + g * g
    W -= c * m' / (sqrt(v') + e)
    c = lr * sqrt(1 - beta2**t) * (1 - beta1) / ((1 - beta1**t) * sqrt(1 - beta2))
    e = eps * sqrt(1 - beta2**t) / sqrt(1 - beta2)      torch: eps on the corrected sqrt(v)
    e = eps / sqrt(1 - beta2)                           scikit-learn: eps on sqrt(v)

AdamW first shrinks ``W *= 1 - lr * weight_decay`` and uses the plain gradient.

The kernels trust their inputs: every array has the parameter's shape and dtype, ``scratch``
holds parameter-sized temporaries (``sgd_update``: 1, 2 with weight decay; ``adam_update``: 1,
2 with coupled weight decay), hyperparameters are Python floats (so float32 stays float32).
"""

from __future__ import annotations

import math

import numpy as np


class UpdateKernels:
    """NumpyOps mixin: optimizer updates on parameters or flat buffers, in place."""

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
    ) -> None:
        """One SGD step on ``param`` (and the momentum buffer ``buf``), in place.

        Parameters
        ----------
        param, grad : ndarray of shape (P,) or any shape
            The parameter (updated) and its gradient (read only).
        buf : ndarray like param, or None
            The momentum buffer (torch's ``b`` or scikit-learn's ``v``); None when momentum is 0.
        scratch : list of ndarray like param
            One temporary, two with ``weight_decay``.
        first_step : bool
            Whether this is the parameter's first step (torch's ``b = g``).

        Examples
        --------
        >>> from softgrad.kernels import get_ops
        >>> w, b = np.array([1.0]), np.zeros(1)
        >>> get_ops().sgd_update(w, np.array([0.5]), b, [np.empty(1)], lr=0.1, momentum=0.9,
        ...     nesterov=False, weight_decay=0.0, lr_in_velocity=False, first_step=True)
        >>> w, b
        (array([0.95]), array([0.5]))
        """
        tmp = scratch[0]
        if weight_decay != 0.0:
            decayed = np.multiply(param, weight_decay, out=scratch[1])
            decayed += grad
            grad = decayed
        if momentum == 0.0:
            _add_scaled(param, -lr, grad, tmp)
        elif lr_in_velocity:
            buf *= momentum
            np.multiply(grad, -lr, out=tmp)  # -lr * g, also the first half of Nesterov's step
            buf += tmp
            if nesterov:
                param += tmp
                _add_scaled(param, momentum, buf, tmp)
            else:
                param += buf
        else:
            if first_step:
                np.copyto(buf, grad)
            else:
                buf *= momentum
                buf += grad
            if nesterov:
                _add_scaled(param, -lr, grad, tmp)
                _add_scaled(param, -lr * momentum, buf, tmp)
            else:
                _add_scaled(param, -lr, buf, tmp)

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
    ) -> None:
        """One Adam (``decoupled``: AdamW) step on ``param`` and its moments, in place.

        Parameters
        ----------
        param, grad : ndarray
            The parameter (updated) and its gradient (read only).
        m, v : ndarray like param
            The moments without their (1 - beta) factors (module docstring).
        scratch : list of ndarray like param
            One temporary, two with coupled (L2) weight decay.
        step : int
            The step count t, from 1.

        Examples
        --------
        >>> from softgrad.kernels import get_ops
        >>> w, m, v = np.array([1.0]), np.zeros(1), np.zeros(1)
        >>> get_ops().adam_update(w, np.array([0.5]), m, v, [np.empty(1)], lr=0.1, beta1=0.9,
        ...     beta2=0.999, eps=0.0, weight_decay=0.0, decoupled=False,
        ...     fold_bias_correction=False, step=1)
        >>> w  # the first step moves each weight by lr against the gradient's sign
        array([0.9])
        """
        tmp = scratch[0]
        if weight_decay != 0.0:
            if decoupled:
                param *= 1.0 - lr * weight_decay
            else:
                decayed = np.multiply(param, weight_decay, out=scratch[1])
                decayed += grad
                grad = decayed
        m *= beta1
        m += grad
        v *= beta2
        np.multiply(grad, grad, out=tmp)
        v += tmp
        scale, eps_hat = adam_scalars(lr, beta1, beta2, eps, fold_bias_correction, step)
        np.sqrt(v, out=tmp)
        tmp += eps_hat
        np.divide(m, tmp, out=tmp)
        _add_scaled(param, -scale, tmp, tmp)


def adam_scalars(
    lr: float, beta1: float, beta2: float, eps: float, fold_bias_correction: bool, step: int
) -> tuple[float, float]:
    """(c, e) of the update ``W -= c * m' / (sqrt(v') + e)`` on the scaled moments::

    c = lr * sqrt(1 - beta2**t) * (1 - beta1) / ((1 - beta1**t) * sqrt(1 - beta2))
    e = eps * sqrt(1 - beta2**t) / sqrt(1 - beta2)      torch
    e = eps / sqrt(1 - beta2)                           scikit-learn (fold_bias_correction)
    """
    root_bias2 = math.sqrt(1.0 - beta2**step)
    root_decay2 = math.sqrt(1.0 - beta2)
    step_size = lr * root_bias2 * (1.0 - beta1) / ((1.0 - beta1**step) * root_decay2)
    return step_size, eps * (1.0 if fold_bias_correction else root_bias2) / root_decay2


def _add_scaled(y: np.ndarray, alpha: float, x: np.ndarray, tmp: np.ndarray) -> None:
    """``y += alpha * x`` through ``tmp`` (which may be ``x`` itself)."""
    np.multiply(x, alpha, out=tmp)
    y += tmp
