"""Softmax nodes as a student writes them: right ones (NumPy, or pure Python lists), and the others
with a classic mistake each."""

import math

import numpy as np


class Softmax:
    def forward(self, x):
        e = np.exp(x - x.max(axis=-1, keepdims=True))
        self.s = e / e.sum(axis=-1, keepdims=True)
        return self.s

    def backward(self, g):
        s = self.s
        return s * (g - np.sum(g * s, axis=-1, keepdims=True))


class SoftmaxDiagonal(Softmax):
    def backward(self, g):
        return g * self.s * (1 - self.s)  # only the diagonal of the Jacobian


class SoftmaxWithInput(Softmax):
    def forward(self, x):
        self.x = x
        return super().forward(x)

    def backward(self, g):
        x = self.x  # the input where the output belongs
        return x * (g - np.sum(g * x, axis=-1, keepdims=True))


class SoftmaxSignFlipped(Softmax):
    def backward(self, g):
        s = self.s
        return s * (np.sum(g * s, axis=-1, keepdims=True) - g)


class SoftmaxSumOverBatch(Softmax):
    def backward(self, g):
        s = self.s
        return s * (g - np.sum(g * s, axis=0, keepdims=True))  # axis 0 is the batch


class SoftmaxSummedOverAnotherAxis:
    """A softmax over ``axis`` (classes along axis 0, one sample a column; or (batch, classes,
    positions)), with a backward that sums over ``summed``, as if the classes lay there."""

    def __init__(self, axis, summed):
        self.axis, self.summed = axis, summed

    def forward(self, x):
        e = np.exp(x - x.max(axis=self.axis, keepdims=True))
        self.s = e / e.sum(axis=self.axis, keepdims=True)
        return self.s

    def backward(self, g):
        s = self.s
        return s * (g - np.sum(g * s, axis=self.summed, keepdims=True))


class SoftmaxTimesTwo(Softmax):
    def backward(self, g):
        s = self.s
        return 2 * s * (g - np.sum(g * s, axis=-1, keepdims=True))


class SoftmaxNoShift(Softmax):
    def forward(self, x):
        e = np.exp(x)  # no max subtracted: overflows for a large x
        self.s = e / e.sum(axis=-1, keepdims=True)
        return self.s


class SoftmaxPurePython:
    """One vector, lists in and out, no NumPy."""

    def forward(self, x):
        m = max(x)
        e = [math.exp(v - m) for v in x]
        total = sum(e)
        self.s = [v / total for v in e]
        return self.s

    def backward(self, g):
        dot = sum(gi * si for gi, si in zip(g, self.s, strict=True))
        return [si * (gi - dot) for gi, si in zip(g, self.s, strict=True)]


class SoftmaxNoUpstream(Softmax):
    def backward(self, g):
        return self.s * (1 - self.s)  # the local derivative alone: g is never used


class SoftmaxAliased(Softmax):
    def backward(self, g):
        dx = self.s  # an alias, not a copy
        dx *= g  # overwrites self.s as well: s * g is used where s belongs below
        dx -= self.s * dx.sum(axis=-1, keepdims=True)
        return dx


class SoftmaxReturnsJacobian(Softmax):
    def backward(self, g):
        s = self.s  # J = diag(s) - s s^T for every sample, where J^T g belongs
        return s[:, :, None] * np.eye(s.shape[1]) - s[:, :, None] * s[:, None, :]


class SoftmaxInPlace(Softmax):
    def backward(self, g):
        g -= np.sum(g * self.s, axis=-1, keepdims=True)  # the caller's array, changed
        g *= self.s
        return g  # the right numbers


class SoftmaxOverwritesOutput(Softmax):
    def backward(self, g):
        dot = np.sum(g * self.s, axis=-1, keepdims=True)
        self.s *= g - dot  # the array forward returned, the caller's probabilities, changed
        return self.s  # the right numbers


class SoftmaxInputForUpstream(SoftmaxWithInput):
    def backward(self, g):
        x = self.x  # the cached input where grad_y belongs
        return self.s * (x - np.sum(x * self.s, axis=-1, keepdims=True))


class SoftmaxDiagonalInPlace(Softmax):
    def backward(self, g):
        g *= self.s * (1 - self.s)  # the caller's array, changed, and only the diagonal
        return g


class SoftmaxZeroesItsInput(Softmax):
    def forward(self, x):
        self.x = x  # the caller's array, kept
        return super().forward(x)

    def backward(self, g):
        self.x *= 0  # "frees" the cache: the caller's x (the layer below's output) is zeroed
        return super().backward(g)  # the right numbers


class SoftmaxShiftsInPlace(Softmax):
    def forward(self, x):
        x -= x.max(axis=-1, keepdims=True)  # the caller's array, changed
        e = np.exp(x)
        self.s = e / e.sum(axis=-1, keepdims=True)
        return self.s
