"""Softmax nodes as a student writes them: one right, the others with a classic mistake each."""

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


class SoftmaxTimesTwo(Softmax):
    def backward(self, g):
        s = self.s
        return 2 * s * (g - np.sum(g * s, axis=-1, keepdims=True))
