"""NumPy kernels: activation forward and backward, each derivative from the forward *output*.

::

    relu     y = max(x, 0)                 grad_x = g * (y > 0)
    sigmoid  s = 1 / (1 + exp(-x))         grad_x = g * s * (1 - s)
    tanh     t = tanh(x)                   grad_x = g * (1 - t * t)
    softmax  s = softmax(x)                grad_x = s * (g - sum(g * s))       (VJP = JVP)
    log_softmax  l = log_softmax(x)        VJP: g - exp(l) * sum(g);  JVP: v - sum(exp(l) * v)

The softmax and log-softmax products run on (M, C) rows with the softmax axis last (a view
when it already is); they are O(C) per row and never build a Jacobian.

Buffers: every ``out`` may be the cotangent ``g`` (the in-place backward of a training step);
the elementwise forwards may also write over ``x``.
"""

from __future__ import annotations

import numpy as np

from softgrad.checks.samples import all_finite
from softgrad.kernels.rows import as_rows, put_rows, row_dots, row_sums, row_view


def _own(out: np.ndarray | None, like: np.ndarray, *inputs: np.ndarray) -> np.ndarray:
    # a buffer for an intermediate: ``out`` itself unless it is missing or holds an input that
    # is still to be read
    if out is None or any(np.may_share_memory(out, a) for a in inputs):
        return np.empty_like(like)
    return out


class ActivationKernels:
    """NumpyOps mixin: activation forward and backward."""

    def bias_activation(self, y: np.ndarray, b: np.ndarray | None, activation: str) -> np.ndarray:
        """``y = f(y + b)`` in place on the (N, H) product of a Linear layer; returns ``y``.

        Parameters
        ----------
        y : ndarray of shape (N, H), C-contiguous float32/64, written over
        b : ndarray of shape (H,) of y's dtype, or None (no bias)
        activation : {"identity", "relu", "tanh", "sigmoid"}
            f, the forward of the activation layer of that name ("logistic" is "sigmoid").

        Notes
        -----
        Here the bias add and f are two passes over y (the layers' own formulas, so a fused
        Sequential gives the unfused one's numbers bit for bit); the Numba lane makes them one.
        """
        if b is not None:
            np.add(y, b, out=y)
        if activation in ("sigmoid", "logistic"):
            return self.sigmoid(y, out=y)
        if activation != "identity":
            getattr(self, activation)(y, out=y)
        return y

    def bias_activation_finite(self, y: np.ndarray, b: np.ndarray | None, activation: str) -> bool:
        """:meth:`bias_activation`, and whether every entry of y was finite before it (no NaN,
        no infinity): inference's check of a first product, which an activation could hide
        (ReLU makes -inf a 0). Here one more pass over y, first (:func:`all_finite`); the
        Numba lane reads it in the bias + activation pass itself."""
        finite = all_finite(y)
        self.bias_activation(y, b, activation)
        return finite

    def relu(self, x: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """y = max(x, 0) into ``out`` (fresh if None; may be ``x``). NaN stays NaN."""
        return np.maximum(x, 0.0, out=out)

    def relu_vjp(self, y: np.ndarray, g: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """grad_x = g * (y > 0) into ``out`` (may be ``g``); the subgradient at 0 is 0."""
        # greater + multiply beat copyto(where=) 85 us -> 11 us at (128, 100) on these machines
        return np.multiply(g, np.greater(y, 0.0), out=out)

    def sigmoid(self, x: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """s = 1 / (1 + exp(-x)) into ``out`` (may be ``x``), without overflow for any x.

        With e = exp(-|x|) <= 1: s = 1 / (1 + e) for x >= 0 and e / (1 + e) for x < 0, so
        large negative x keep their tiny values (sigmoid(-100) = 3.7e-44, not 0).
        """
        nonneg = x >= 0
        buf = np.abs(x, out=out)
        np.negative(buf, out=buf)
        with np.errstate(under="ignore"):  # exp(-|x|) of a large |x| is 0 (or subnormal)
            np.exp(buf, out=buf)
        np.divide(buf, buf + 1.0, out=buf)
        # for x >= 0, 1 - e / (1 + e) = 1 / (1 + e). Of both signs, |nonneg - s| is 1 - s there
        # and s elsewhere, exactly: a subtraction under where=nonneg branched on every entry,
        # a random sign pattern taking 5-6x an all-positive one's time (2.5 against 0.4 ms at
        # 4096 x 100 float32; now 0.45)
        if nonneg.all():
            np.subtract(1.0, buf, out=buf)
        elif nonneg.any():
            np.subtract(nonneg, buf, out=buf)
            np.abs(buf, out=buf)
        return buf

    def sigmoid_vjp(self, s: np.ndarray, g: np.ndarray, out: np.ndarray | None = None):
        """grad_x = g * s * (1 - s) into ``out`` (may be ``g``)."""
        factor = np.subtract(1.0, s, out=_own(out, s, s, g))
        factor *= s
        return np.multiply(g, factor, out=out)

    def tanh(self, x: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """t = tanh(x) into ``out`` (may be ``x``)."""
        return np.tanh(x, out=out)

    def tanh_vjp(self, t: np.ndarray, g: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """grad_x = g * (1 - t * t) into ``out`` (may be ``g``)."""
        factor = np.multiply(t, t, out=_own(out, t, t, g))
        np.subtract(1.0, factor, out=factor)
        return np.multiply(g, factor, out=out)

    def softmax_vjp(
        self, s: np.ndarray, g: np.ndarray, axis: int = -1, out: np.ndarray | None = None
    ) -> np.ndarray:
        """s * (g - sum(g * s, axis)) into ``out`` (fresh if None; may be ``g``, not ``s``).

        Entries with s = 0 (masked) get exactly 0. The JVP is the same formula (J symmetric).
        """
        out = np.empty_like(s) if out is None else out
        if s.size == 0:
            return out
        s2, g2, out2 = as_rows(s, axis), as_rows(g, axis), _out_rows(out, axis)
        self.softmax_vjp_rows(s2, g2, out2)
        return _back(out2, out, axis)

    def softmax_vjp_rows(self, s: np.ndarray, g: np.ndarray, out: np.ndarray) -> None:
        """``out = s * (g - sum(g * s, axis=1))`` on (M, C) rows of one dtype; ``out`` may be
        ``g``, not ``s`` (the one routine a lane replaces)."""
        # an inf or NaN cotangent gives NaN or inf as the compiled lane does: without a warning
        with np.errstate(invalid="ignore", over="ignore"):
            dot = row_dots(g, s)[:, None]
            np.subtract(g, dot, out=out)
            out *= s

    def log_softmax_vjp(
        self, logp: np.ndarray, g: np.ndarray, axis: int = -1, out: np.ndarray | None = None
    ) -> np.ndarray:
        """g - exp(logp) * sum(g, axis) into ``out`` (may be ``g``, not ``logp``).

        An entry with logp = -inf (masked) is locally constant: gradient exactly 0, and its g
        is left out of the sum.
        """
        return self._log_softmax_product(logp, g, axis, out, jvp=False)

    def log_softmax_jvp(
        self, logp: np.ndarray, v: np.ndarray, axis: int = -1, out: np.ndarray | None = None
    ) -> np.ndarray:
        """v - sum(exp(logp) * v, axis) into ``out`` (may be ``v``); 0 where logp = -inf."""
        return self._log_softmax_product(logp, v, axis, out, jvp=True)

    def _log_softmax_product(self, logp, a, axis, out, jvp: bool) -> np.ndarray:
        out = np.empty_like(logp) if out is None else out
        if logp.size == 0:
            return out
        l2, a2, out2 = as_rows(logp, axis), as_rows(a, axis), _out_rows(out, axis)
        # -inf entries (masked, or a -inf input) take no part: their cotangent leaves the sum
        neg = None if l2.min() > -np.inf else np.isneginf(l2)  # NaN also checks
        if neg is not None and neg.any():
            a2 = np.where(neg, 0.0, a2).astype(a2.dtype, copy=False)
        else:
            neg = None
        with np.errstate(under="ignore"):  # a probability below the smallest float is 0
            s2 = np.exp(l2, out=_own(out2, l2, a2))
        if jvp:
            np.subtract(a2, row_dots(s2, a2)[:, None], out=out2)
        else:
            s2 *= row_sums(a2)[:, None]
            np.subtract(a2, s2, out=out2)
        if neg is not None:
            out2[neg] = 0.0
        return _back(out2, out, axis)


def _out_rows(out: np.ndarray, axis: int) -> np.ndarray:
    # out as rows to write: a view when its layout allows, else a buffer _back copies back
    view = row_view(out, axis)
    if view is not None:
        return view
    n = out.shape[axis % out.ndim]
    return np.empty((out.size // n, n), out.dtype)


def _back(out2: np.ndarray, out: np.ndarray, axis: int) -> np.ndarray:
    return out if np.may_share_memory(out2, out) else put_rows(out2, out, axis)
