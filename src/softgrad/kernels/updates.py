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

Adam (torch's; with ``fold_bias_correction`` scikit-learn's placement of eps), on torch's
moments (``exp_avg``, ``exp_avg_sq``), the gradient scaled by each (1 - beta) as it goes in::

    m = beta1 * m + (1 - beta1) * g
    v = beta2 * v + ((1 - beta2) * g) * g
    W -= c * m / (sqrt(v) * k + eps)
    c = lr / (1 - beta1**t)
    k = 1 / sqrt(1 - beta2**t)      torch: eps on the corrected sqrt(v)
    k = 1                           scikit-learn: eps on sqrt(v), c times sqrt(1 - beta2**t)

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
            return
        if buf is None:
            raise TypeError("sgd_update: buf must be an ndarray when momentum is not 0; got None")
        if lr_in_velocity:
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
            torch's moments, ``exp_avg`` and ``exp_avg_sq`` (module docstring).
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
        # torch's moments; (1 - beta2) * g before the square, so that v overflows only where
        # torch's does (the moments kept without their (1 - beta) factors reached inf at
        # |g| = 6e17 in float32 where torch's stay finite to 1.8e19)
        np.multiply(grad, 1.0 - beta1, out=tmp)
        m *= beta1
        m += tmp
        np.multiply(grad, 1.0 - beta2, out=tmp)
        tmp *= grad
        v *= beta2
        v += tmp
        step_size, root = adam_scalars(lr, beta1, beta2, fold_bias_correction, step)
        np.sqrt(v, out=tmp)
        if root != 1.0:
            tmp *= root
        tmp += eps
        np.divide(m, tmp, out=tmp)
        _add_scaled(param, -step_size, tmp, tmp)


def adam_scalars(
    lr: float, beta1: float, beta2: float, fold_bias_correction: bool, step: int
) -> tuple[float, float]:
    """(c, k) of the update ``W -= c * m / (sqrt(v) * k + eps)`` on torch's moments::

    c = lr / (1 - beta1**t),  k = 1 / sqrt(1 - beta2**t)                     torch
    c = lr * sqrt(1 - beta2**t) / (1 - beta1**t),  k = 1     scikit-learn (fold_bias_correction)

    eps is added as given in both (torch's ``denom = sqrt(v) / sqrt(1 - beta2**t) + eps``).
    """
    root_bias2 = math.sqrt(1.0 - beta2**step)
    bias1 = 1.0 - beta1**step
    if fold_bias_correction:
        return lr * root_bias2 / bias1, 1.0
    return lr / bias1, 1.0 / root_bias2


def _add_scaled(y: np.ndarray, alpha: float, x: np.ndarray, tmp: np.ndarray) -> None:
    """``y += alpha * x`` through ``tmp`` (which may be ``x`` itself)."""
    np.multiply(x, alpha, out=tmp)
    y += tmp
