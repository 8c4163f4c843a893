"""The multilayer perceptron trained by the estimator, with scikit-learn's parameter layout.

All parameters live in one flat buffer (coefficients first, then intercepts) and ``coefs`` /
``intercepts`` are views into it, so an optimizer step is a handful of vectorized passes over one
array, and the L2 penalty is one pass over the coefficient block. A training step reuses
preallocated batch buffers: a forward and a backward pass are a few BLAS calls plus in-place
elementwise work, with no allocation proportional to the batch.

Output layer: softmax over C logits for C > 2 classes; for two classes one logit z with the
logistic output p(class 1) = sigmoid(z), exactly as sklearn's MLPClassifier (so ``coefs_`` have
sklearn's shapes and conversion is exact).
"""

from __future__ import annotations

from itertools import pairwise

import numpy as np

from softgrad import functional as F
from softgrad.functional.activations import _relu_into, _relu_vjp_into


def activate(name: str, z: np.ndarray) -> None:
    """Apply the hidden activation ``name`` to ``z`` in place (formulas in softgrad.functional)."""
    if name == "relu":  # the check-free kernel: z is one of our own float buffers
        _relu_into(z, z)
    elif name == "tanh":
        F.tanh(z, out=z)
    elif name == "logistic":
        F.sigmoid(z, out=z)


def activation_vjp(name: str, a: np.ndarray, g: np.ndarray) -> None:
    """g = g * f'(z) in place, written with the activation's output a = f(z)."""
    if name == "relu":
        _relu_vjp_into(a, g, g)
    elif name == "tanh":
        F.tanh_vjp(a, g, out=g)
    elif name == "logistic":
        F.sigmoid_vjp(a, g, out=g)


def softmax_loss_delta(
    z: np.ndarray, target: np.ndarray, weight: np.ndarray | None, ones: np.ndarray | None = None
) -> float:
    """Summed (weighted) cross-entropy of logits z against dense targets; z becomes s - target.

    ``ones`` (optional) is a vector of z.shape[1] ones, to spare its allocation on every batch.

    loss_i = logsumexp(z_i) - sum_c target_ic * z_ic  (targets sum to 1 per row).
    """
    # shift by the row max so exp() cannot overflow; a max over the short rows of z is ~5x
    # slower in numpy than over the long rows of a contiguous copy of z.T
    z -= np.ascontiguousarray(z.T).max(axis=0)[:, None]
    if weight is None:
        dot = float(np.vdot(target, z))
    else:
        dot = float(weight @ np.einsum("ij,ij->i", target, z))
    np.exp(z, out=z)
    if ones is None:
        ones = np.ones(z.shape[1], z.dtype)
    total = np.dot(z, ones)  # row sums (BLAS: faster than sum(axis=1))
    z /= total[:, None]
    lse = np.log(total)
    loss = float(lse.sum() if weight is None else weight @ lse) - dot
    z -= target
    return loss


def logistic_loss_delta(z: np.ndarray, target: np.ndarray, weight: np.ndarray | None) -> float:
    """Summed (weighted) binary cross-entropy of one logit column; z becomes sigmoid(z) - target.

    loss_i = log(1 + exp(z_i)) - target_i * z_i, written with logaddexp so it never overflows.
    """
    per_sample = np.logaddexp(0, z[:, 0]) - target[:, 0] * z[:, 0]
    loss = float(per_sample.sum() if weight is None else weight @ per_sample)
    F.sigmoid(z, out=z)
    z -= target
    return loss


class Network:
    """Dense layers ``layer_units[0] -> ... -> layer_units[-1]`` with sklearn's weight layout.

    Parameters
    ----------
    layer_units : list of int
        [D, H1, ..., C_out]; C_out is 1 for a binary (logistic) output.
    activation : {"identity", "logistic", "tanh", "relu"}
    dtype : np.float32 or np.float64
    """

    def __init__(self, layer_units, activation: str, dtype) -> None:
        self.layer_units = [int(u) for u in layer_units]
        self.activation = activation
        self.dtype = np.dtype(dtype)
        shapes = list(pairwise(self.layer_units))
        self.n_coef = sum(i * o for i, o in shapes)
        size = self.n_coef + sum(o for _, o in shapes)
        self.flat = np.zeros(size, dtype=self.dtype)
        self.grad = np.zeros(size, dtype=self.dtype)
        self.coefs, self.intercepts = self._views(self.flat)
        self.coef_grads, self.intercept_grads = self._views(self.grad)
        self._buffers: dict = {}

    def _views(self, flat):
        coefs, intercepts, start = [], [], 0
        for fan_in, fan_out in pairwise(self.layer_units):
            coefs.append(flat[start : start + fan_in * fan_out].reshape(fan_in, fan_out))
            start += fan_in * fan_out
        for fan_out in self.layer_units[1:]:
            intercepts.append(flat[start : start + fan_out])
            start += fan_out
        return coefs, intercepts

    def __getstate__(self):
        # views do not survive pickling: store the flat buffer and rebuild them
        return {"layer_units": self.layer_units, "activation": self.activation, "flat": self.flat}

    def __setstate__(self, state):
        self.__init__(state["layer_units"], state["activation"], state["flat"].dtype)
        self.flat[...] = state["flat"]

    @property
    def out_activation(self) -> str:
        return "logistic" if self.layer_units[-1] == 1 else "softmax"

    def init_glorot(self, rng: np.random.Generator) -> None:
        """sklearn's init: U(+-sqrt(f / (fan_in + fan_out))), f = 2 for logistic, else 6."""
        factor = 2.0 if self.activation == "logistic" else 6.0
        for coef, intercept in zip(self.coefs, self.intercepts, strict=True):
            bound = np.sqrt(factor / (coef.shape[0] + coef.shape[1]))
            coef[...] = rng.uniform(-bound, bound, coef.shape)
            intercept[...] = rng.uniform(-bound, bound, intercept.shape)

    def set_arrays(self, coefs, intercepts) -> None:
        """Copy weight arrays (sklearn shapes) into the flat buffer."""
        for dst, src in zip(
            self.coefs + self.intercepts, list(coefs) + list(intercepts), strict=True
        ):
            dst[...] = src

    def logits(self, X: np.ndarray, batch_size: int = 4096) -> np.ndarray:
        """Output-layer pre-activations, shape (N, C_out), computed in chunks of rows."""
        out = np.empty((X.shape[0], self.layer_units[-1]), dtype=self.dtype)
        for start in range(0, X.shape[0], batch_size):
            a = X[start : start + batch_size]
            for i, (coef, intercept) in enumerate(zip(self.coefs, self.intercepts, strict=True)):
                a = np.asarray(a @ coef)  # a CSR batch times a dense matrix is dense
                a += intercept
                if i < len(self.coefs) - 1:
                    activate(self.activation, a)
            out[start : start + batch_size] = a
        return out

    def _batch_buffers(self, batch_size: int, dropout: float):
        key = (batch_size, dropout > 0)
        if key not in self._buffers:
            self._buffers.clear()
            hidden = self.layer_units[1:-1]
            self._buffers[key] = {
                "z": [np.empty((batch_size, u), self.dtype) for u in self.layer_units[1:]],
                "ones": np.ones(batch_size, self.dtype),
                "ones_out": np.ones(self.layer_units[-1], self.dtype),
                "scratch": np.empty(self.n_coef, self.dtype),
                "delta": [np.empty((batch_size, u), self.dtype) for u in hidden],
                "dropped": [np.empty((batch_size, u), self.dtype) for u in hidden]
                if dropout > 0
                else [],
                "mask": [np.empty((batch_size, u), self.dtype) for u in hidden]
                if dropout > 0
                else [],
            }
        return self._buffers[key]

    def loss_and_grad(self, x, target, weight, alpha, dropout=0.0, rng=None, capacity=None):
        """sklearn's batch objective and its gradient (written into ``self.grad``).

        loss = sum_i w_i * CE_i / sum(w) + alpha * ||W||^2 / (2 * sum(w)), w_i = 1 without
        weights; sklearn's MLP minimizes exactly this per mini-batch.

        Parameters
        ----------
        x : ndarray of shape (B, D)
        target : ndarray of shape (B, C_out)
            Dense (possibly smoothed) targets.
        weight : ndarray of shape (B,) or None
        alpha : float
        dropout : float
            Inverted-dropout rate on hidden activations (training only).
        rng : np.random.Generator
            Draws the dropout masks.
        capacity : int
            Rows of the reusable buffers (the full batch size); B <= capacity.
        """
        n = x.shape[0]
        buf = self._batch_buffers(capacity or n, dropout)
        inputs = self._forward_train(x, buf, dropout, rng)
        weight_sum = float(n if weight is None else weight.sum())
        if weight_sum <= 0:  # a batch of zero-weight samples carries no information
            self.grad[...] = 0
            return 0.0
        delta = buf["z"][-1][:n]
        if self.layer_units[-1] == 1:
            loss = logistic_loss_delta(delta, target, weight)
        else:
            loss = softmax_loss_delta(delta, target, weight, buf["ones_out"])
        if weight is None:
            delta *= 1.0 / weight_sum
        else:
            delta *= (weight / weight_sum)[:, None].astype(self.dtype, copy=False)
        self._backward(inputs, delta, buf, dropout)
        coefs = self.flat[: self.n_coef]
        if alpha > 0:
            # numpy ufuncs, not SciPy's BLAS axpy: SciPy's wheel brings a second OpenBLAS whose
            # thread pool spins against numpy's (100x slower steps with default threads)
            np.multiply(coefs, alpha / weight_sum, out=buf["scratch"])
            self.grad[: self.n_coef] += buf["scratch"]
            loss += 0.5 * alpha * float(np.dot(coefs, coefs))
        return loss / weight_sum

    def _forward_train(self, x, buf, dropout, rng) -> list[np.ndarray]:
        """Inputs of every layer (x, hidden activations after dropout, logits) in the buffers."""
        n = x.shape[0]
        n_layers = len(self.coefs)
        inputs = [x]
        for i in range(n_layers):
            z = buf["z"][i][:n]
            if i == 0 and not isinstance(x, np.ndarray):  # CSR (issparse costs ~2 us a call)
                z[...] = x @ self.coefs[0]
            else:  # np.dot: ~1.5 us less call overhead than np.matmul on the small layers
                np.dot(inputs[-1], self.coefs[i], out=z)
            z += self.intercepts[i]
            if i < n_layers - 1:
                activate(self.activation, z)
                if dropout > 0:
                    mask = buf["mask"][i][:n]
                    rng.random(out=mask, dtype=self.dtype)
                    np.greater_equal(mask, dropout, out=mask)
                    mask *= 1.0 / (1.0 - dropout)
                    z = np.multiply(z, mask, out=buf["dropped"][i][:n])
            inputs.append(z)
        return inputs

    def _backward(self, inputs, delta, buf, dropout) -> None:
        """Parameter gradients from dL/dlogits (``delta``); no gradient for the input x."""
        n = delta.shape[0]
        for i in range(len(self.coefs) - 1, -1, -1):
            if i == 0 and not isinstance(inputs[0], np.ndarray):  # CSR
                self.coef_grads[0][...] = inputs[0].T @ delta
            else:
                np.dot(inputs[i].T, delta, out=self.coef_grads[i])
            np.dot(buf["ones"][:n], delta, out=self.intercept_grads[i])  # column sums
            if i > 0:
                prev = buf["delta"][i - 1][:n]
                np.dot(delta, self.coefs[i].T, out=prev)
                if dropout > 0:
                    prev *= buf["mask"][i - 1][:n]
                activation_vjp(self.activation, buf["z"][i - 1][:n], prev)
                delta = prev
