"""Nodes that fill preallocated buffers in place, or rebind their weights in forward, as users
write them (cs231n's layers with a cache, code ported from C that allocates once)."""

import numpy as np


class AffineBuffered:
    """cs231n's affine layer with its input cache preallocated and filled in place; backward
    stores dx beside dW and db, as the assignment's layers do."""

    def __init__(self, n_in, n_out, batch=4, seed=0):
        rng = np.random.default_rng(seed)
        self.W = rng.standard_normal((n_in, n_out)) * 0.5
        self.b = rng.standard_normal(n_out) * 0.1
        self.x = np.zeros((batch, n_in))

    def forward(self, x):
        self.x[...] = x
        return x @ self.W + self.b

    def backward(self, dout):
        self.dW = self.x.T @ dout
        self.db = dout.sum(axis=0)
        self.dx = dout @ self.W.T
        return self.dx


class SoftmaxCacheInPlace:
    """A softmax whose output cache is allocated once and overwritten with cache[:] = ..."""

    def __init__(self, batch=4, n_classes=10):
        self.cache = np.empty((batch, n_classes))

    def forward(self, x):
        e = np.exp(x - x.max(axis=1, keepdims=True))
        self.cache[:] = e / e.sum(axis=1, keepdims=True)
        return self.cache.copy()

    def backward(self, dout):
        s = self.cache
        return s * (dout - (dout * s).sum(axis=1, keepdims=True))


class LinearCastsWeights:
    """Casts its weights to the input's dtype in forward (self.W = self.W.astype(x.dtype)): the
    attribute is a new array each time, holding the same weights."""

    def __init__(self, n_in, n_out, seed=0):
        rng = np.random.default_rng(seed)
        self.W = rng.standard_normal((n_in, n_out)) * 0.5
        self.b = rng.standard_normal(n_out) * 0.1

    def forward(self, x):
        self.W = self.W.astype(x.dtype)
        self.b = self.b.astype(x.dtype)
        self.cache = (x, self.W)  # cs231n keeps its cache as a tuple
        return x @ self.W + self.b

    def backward(self, grad_y):
        x, W = self.cache
        self.dW, self.db = x.T @ grad_y, grad_y.sum(axis=0)
        return grad_y @ W.T


class LinearCastsWeightsWrong(LinearCastsWeights):
    def backward(self, grad_y):
        x, W = self.cache
        self.dW, self.db = 2 * x.T @ grad_y, grad_y.sum(axis=0)  # twice the gradient
        return grad_y @ W.T


class LinearWeightsCopied:
    """Keeps a contiguous float32 copy of its weights, rebound in every forward."""

    def __init__(self, n_in, n_out, seed=0):
        rng = np.random.default_rng(seed)
        self.W = (rng.standard_normal((n_in, n_out)) * 0.5).astype(np.float32)

    def forward(self, x):
        self.W = np.ascontiguousarray(self.W, dtype=np.float32)
        self.x = x.astype(np.float32)
        return self.x @ self.W

    def backward(self, grad_y):
        self.dW = self.x.T @ grad_y.astype(np.float32)
        return grad_y.astype(np.float32) @ self.W.T
