"""Log-softmax nodes as a student writes them: the right one, and the others with a classic
mistake each (the log-softmax Jacobian is J = I - 1 s^T, s = exp(y): backward owes J^T g)."""

import numpy as np


class LogSoftmax:
    def forward(self, x):
        shifted = x - x.max(axis=-1, keepdims=True)
        self.y = shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
        return self.y

    def backward(self, g):
        return g - np.exp(self.y) * g.sum(axis=-1, keepdims=True)


class LogSoftmaxDiagonal(LogSoftmax):
    def backward(self, g):
        return g * (1 - np.exp(self.y))  # only the diagonal of the Jacobian


class LogSoftmaxWithSoftmaxBackward(LogSoftmax):
    def backward(self, g):
        s = np.exp(self.y)
        return s * (g - np.sum(g * s, axis=-1, keepdims=True))  # the softmax's VJP


class LogSoftmaxLogForProbabilities(LogSoftmax):
    def backward(self, g):
        return g - self.y * g.sum(axis=-1, keepdims=True)  # y = log(s) where s belongs


class LogSoftmaxUntransposed(LogSoftmax):
    def backward(self, g):
        return g - np.sum(g * np.exp(self.y), axis=-1, keepdims=True)  # J g, not J^T g


class LogSoftmaxSumOverBatch(LogSoftmax):
    def backward(self, g):
        return g - np.exp(self.y) * g.sum(axis=0, keepdims=True)  # the batch axis


class LogSoftmaxSignFlipped(LogSoftmax):
    def backward(self, g):
        return np.exp(self.y) * g.sum(axis=-1, keepdims=True) - g
