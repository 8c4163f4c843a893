"""Nodes that keep state between forward and backward, or cannot be deep-copied."""

import threading

import numpy as np


class StackedTanh:
    """Pushes each forward's output and pops it in backward, and counts its calls."""

    def __init__(self):
        self.saved = []
        self.calls = 0

    def forward(self, x):
        self.calls += 1
        self.saved.append(np.tanh(x))
        return self.saved[-1]

    def backward(self, grad_y):
        out = self.saved.pop()
        return grad_y * (1 - out**2)


class NoisyScale:
    """Multiplies by a random mask drawn in forward from the node's own generator."""

    def __init__(self, seed=0):
        self.rng = np.random.default_rng(seed)

    def forward(self, x):
        self.mask = self.rng.uniform(0.5, 1.5, size=x.shape)
        return x * self.mask

    def backward(self, grad_y):
        return grad_y * self.mask


class LockedLinear:
    """Holds a lock, which copy.deepcopy cannot copy; accumulates its gradients in place."""

    def __init__(self, n_in, n_out):
        rng = np.random.default_rng(1)
        self.lock = threading.Lock()
        self.W = rng.standard_normal((n_in, n_out))
        self.dW = np.zeros((n_in, n_out))

    def forward(self, x):
        with self.lock:
            self.x = x
            return x @ self.W

    def backward(self, grad_y):
        self.dW += self.x.T @ grad_y
        return grad_y @ self.W.T


class LockedLinearWrong(LockedLinear):
    def backward(self, grad_y):
        self.dW += 2 * self.x.T @ grad_y
        return grad_y @ self.W.T


class SoftmaxPreallocated:
    """Allocates its caches in __init__, as C or Java code does, and replaces them in forward."""

    def __init__(self, n_classes=10):
        self.x = np.zeros((1, n_classes))
        self.out = np.zeros((1, n_classes))
        self.dx = None

    def forward(self, x):
        self.x = x
        e = np.exp(x - x.max(axis=1, keepdims=True))
        self.out = e / e.sum(axis=1, keepdims=True)
        return self.out

    def backward(self, dout):
        s = self.out
        self.dx = s * (dout - (dout * s).sum(axis=1, keepdims=True))
        return self.dx


class ClassCacheLinear:
    """Keeps its forward cache in a class attribute, which every copy of the node shares."""

    saved = []  # noqa: RUF012 - shared on purpose: that is what this node tests

    def __init__(self, n_in, n_out):
        self.W = np.random.default_rng(2).standard_normal((n_in, n_out))

    def forward(self, x):
        self.saved[:] = [x]
        return x @ self.W

    def backward(self, grad_y):
        x = self.saved[0]
        self.dW = x.T @ grad_y
        return grad_y @ self.W.T
