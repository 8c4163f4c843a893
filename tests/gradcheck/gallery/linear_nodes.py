"""Fully connected nodes in the three usual spellings, right and wrong."""

import numpy as np


class Linear:
    """y = x @ W + b, gradients in dW and db."""

    def __init__(self, n_in, n_out, seed=0):
        rng = np.random.default_rng(seed)
        self.W = rng.standard_normal((n_in, n_out)) * 0.5
        self.b = rng.standard_normal(n_out) * 0.1

    def forward(self, x):
        self.x = x
        return x @ self.W + self.b

    def backward(self, grad_y):
        self.dW = self.x.T @ grad_y
        self.db = grad_y.sum(axis=0)
        return grad_y @ self.W.T


class LinearGradNames(Linear):
    """The same with grad_W / grad_b, and float32 weights."""

    def __init__(self, n_in, n_out, seed=0):
        super().__init__(n_in, n_out, seed)
        self.W = self.W.astype(np.float32)
        self.b = self.b.astype(np.float32)

    def backward(self, grad_y):
        self.grad_W = self.x.T @ grad_y
        self.grad_b = grad_y.sum(axis=0)
        return grad_y @ self.W.T


class LinearParamsDict:
    """softgrad's convention: params and grads dicts; W stored (out, in) as y = x @ W.T + b."""

    def __init__(self, n_in, n_out, seed=0):
        rng = np.random.default_rng(seed)
        self.params = {"W": rng.standard_normal((n_out, n_in)), "b": np.zeros(n_out)}
        self.grads = {}

    def forward(self, x):
        self.x = x
        return x @ self.params["W"].T + self.params["b"]

    def backward(self, grad_y):
        self.grads["W"] = grad_y.T @ self.x
        self.grads["b"] = grad_y.sum(axis=0)
        return grad_y @ self.params["W"]


class LinearTransposedDW(Linear):
    def backward(self, grad_y):
        self.dW = grad_y.T @ self.x  # (out, in): W is (in, out)
        self.db = grad_y.sum(axis=0)
        return grad_y @ self.W.T


class LinearTransposedW(Linear):
    def backward(self, grad_y):
        self.dW = self.x.T @ grad_y
        self.db = grad_y.sum(axis=0)
        return grad_y @ self.W  # W where W.T belongs (runs only when W is square)


class LinearBiasNotSummed(Linear):
    def backward(self, grad_y):
        self.dW = self.x.T @ grad_y
        self.db = grad_y  # one row per sample: not summed over the batch
        return grad_y @ self.W.T


class LinearBiasWrongAxis(Linear):
    def backward(self, grad_y):
        self.dW = self.x.T @ grad_y
        self.db = grad_y.sum(axis=1)  # over the features instead of the batch
        return grad_y @ self.W.T


class LearnedOffset:
    """y = inp + x: a learned offset that happens to be called x, its gradient in dx."""

    def __init__(self, n_features):
        self.x = np.linspace(-1.0, 1.0, n_features)

    def forward(self, inp):
        return inp + self.x

    def backward(self, grad_y):
        self.dx = grad_y.sum(axis=0)
        return grad_y


class LinearReturnsDW(Linear):
    def backward(self, grad_y):
        super().backward(grad_y)
        return self.dW  # the weight's gradient, where the input's belongs


class LinearSlots:
    """y = x @ W with __slots__ (no __dict__), and a dW five times too large."""

    __slots__ = ("W", "dW", "x")

    def __init__(self, n_in, n_out):
        self.W = np.random.default_rng(5).standard_normal((n_in, n_out)).astype(np.float32)

    def forward(self, x):
        self.x = x
        return x @ self.W

    def backward(self, grad_y):
        self.dW = 5 * self.x.T @ grad_y
        return grad_y @ self.W.T
