"""Composites that hold a lock (copy.deepcopy raises), as a user writes them: nodes whose
forward and backward leave caches and accumulated gradients on themselves."""

import threading

import numpy as np


class MyLinear:
    """y = x @ W + b, gradients accumulated in place in preallocated dW and db."""

    def __init__(self, n_in, n_out, seed=0):
        rng = np.random.default_rng(seed)
        self.W = rng.standard_normal((n_in, n_out)) * 0.5
        self.b = rng.standard_normal(n_out) * 0.1
        self.dW = np.zeros_like(self.W)
        self.db = np.zeros_like(self.b)

    def forward(self, x):
        self.x = x
        return x @ self.W + self.b

    def backward(self, grad_y):
        self.dW += self.x.T @ grad_y
        self.db += grad_y.sum(axis=0)
        return grad_y @ self.W.T


class MyLinearDoubledDW(MyLinear):
    def backward(self, grad_y):
        grad_x = super().backward(grad_y)
        self.dW += self.x.T @ grad_y  # twice the right gradient
        return grad_x


class MySoftmax:
    def forward(self, x):
        e = np.exp(x - x.max(axis=-1, keepdims=True))
        self.s = e / e.sum(axis=-1, keepdims=True)
        return self.s

    def backward(self, grad_y):
        return self.s * (grad_y - (grad_y * self.s).sum(axis=-1, keepdims=True))


class MySoftmaxDiagonal(MySoftmax):
    def backward(self, grad_y):
        return grad_y * self.s * (1 - self.s)  # the Jacobian's diagonal only


class HandleTanh:
    """A tanh that keeps a handle to a device, which cannot be copied in any way."""

    def __deepcopy__(self, memo):
        raise TypeError("a device handle cannot be copied")

    __copy__ = __deepcopy__

    def forward(self, x):
        self.y = np.tanh(x)
        return self.y

    def backward(self, grad_y):
        return grad_y * (1 - self.y**2)


class HandleSoftmaxDiagonal(MySoftmaxDiagonal):
    """The diagonal-only softmax, keeping a handle to a device, which cannot be copied."""

    def __deepcopy__(self, memo):
        raise TypeError("a device handle cannot be copied")

    __copy__ = __deepcopy__


class LockedStack:
    """A lock, and ``self.layers``: a Linear then a softmax; ``mistake`` picks a wrong one
    ("linear", "softmax", or "handle": a wrong softmax that cannot be copied)."""

    def __init__(self, n_in=10, n_classes=4, mistake=None):
        self.lock = threading.Lock()
        linear = MyLinearDoubledDW if mistake == "linear" else MyLinear
        softmax = {"softmax": MySoftmaxDiagonal, "handle": HandleSoftmaxDiagonal}.get(
            mistake, MySoftmax
        )
        self.layers = [linear(n_in, n_classes, seed=5), softmax()]

    def forward(self, x):
        with self.lock:
            for layer in self.layers:
                x = layer.forward(x)
            return x

    def backward(self, grad_y):
        for layer in reversed(self.layers):
            grad_y = layer.backward(grad_y)
        return grad_y


class LockedWithHandle(LockedStack):
    """A lock, and ``self.layers``: a Linear, then a tanh that cannot be copied."""

    def __init__(self, n_in=10, n_out=4):
        self.lock = threading.Lock()
        self.layers = [MyLinear(n_in, n_out, seed=6), HandleTanh()]


class LockedTied:
    """A lock, and two Linears that hold one square weight array (tied):
    y = (x @ W + b1) @ W + b2; each accumulates the gradient of its own use."""

    def __init__(self, n=10):
        self.lock = threading.Lock()
        self.first = MyLinear(n, n, seed=1)
        self.second = MyLinear(n, n, seed=2)
        self.second.W = self.first.W  # one array

    def forward(self, x):
        with self.lock:
            return self.second.forward(self.first.forward(x))

    def backward(self, grad_y):
        return self.first.backward(self.second.backward(grad_y))
