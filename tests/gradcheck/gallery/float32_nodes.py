"""Nodes that compute in float32, as a student writes them to train fast: right and wrong."""

import numpy as np


class Softmax32:
    dtype = np.float32

    def forward(self, x):
        x = x.astype(self.dtype)
        e = np.exp(x - x.max(axis=-1, keepdims=True))
        self.s = e / e.sum(axis=-1, keepdims=True)
        return self.s

    def backward(self, g):
        g = g.astype(np.float32)
        return self.s * (g - np.sum(g * self.s, axis=-1, keepdims=True))


class Softmax32Diagonal(Softmax32):
    def backward(self, g):
        return (g * self.s * (1 - self.s)).astype(self.dtype)  # only the diagonal of J


class Softmax16Diagonal(Softmax32Diagonal):
    dtype = np.float16  # half precision


class Softmax32WithInput(Softmax32):
    def forward(self, x):
        self.x = x.astype(np.float32)
        return super().forward(x)

    def backward(self, g):
        g = g.astype(np.float32)
        return self.x * (g - np.sum(g * self.x, axis=-1, keepdims=True))  # x where s belongs


class Softmax32SignFlipped(Softmax32):
    def backward(self, g):
        g = g.astype(np.float32)
        return self.s * (np.sum(g * self.s, axis=-1, keepdims=True) - g)


class Tanh32:
    dtype = np.float32

    def forward(self, x):
        self.out = np.tanh(x.astype(self.dtype))
        return self.out

    def backward(self, grad_y):
        return grad_y.astype(self.dtype) * (1 - self.out**2)


class Tanh16(Tanh32):
    dtype = np.float16  # half precision


class Sigmoid32:
    def forward(self, x):
        self.out = 1 / (1 + np.exp(-x.astype(np.float32)))
        return self.out

    def backward(self, grad_y):
        return grad_y.astype(np.float32) * self.out * (1 - self.out)


class Linear32:
    """y = x @ W + b in float32, gradients in dW and db."""

    def __init__(self, n_in, n_out, seed=0):
        rng = np.random.default_rng(seed)
        self.W = (rng.standard_normal((n_in, n_out)) * 0.5).astype(np.float32)
        self.b = (rng.standard_normal(n_out) * 0.1).astype(np.float32)

    def forward(self, x):
        self.x = x.astype(np.float32)
        return self.x @ self.W.astype(np.float32) + self.b.astype(np.float32)

    def backward(self, grad_y):
        grad_y = grad_y.astype(np.float32)
        self.dW = self.x.T @ grad_y
        self.db = grad_y.sum(axis=0)
        return grad_y @ self.W.astype(np.float32).T


class SoftmaxCrossEntropy32:
    """Mean cross-entropy of softmax(logits) against class indices, in float32."""

    def forward(self, logits, target):
        logits = logits.astype(np.float32)
        e = np.exp(logits - logits.max(axis=1, keepdims=True))
        self.probs = e / e.sum(axis=1, keepdims=True)
        self.target = target
        return -np.log(self.probs[np.arange(len(target)), target]).mean()  # an np.float32

    def backward(self):
        grad = self.probs.copy()
        grad[np.arange(len(self.target)), self.target] -= 1
        return grad / len(self.target)


class SoftmaxCrossEntropy32NoMean(SoftmaxCrossEntropy32):
    def backward(self):
        grad = self.probs.copy()
        grad[np.arange(len(self.target)), self.target] -= 1
        return grad  # the 1/N of the mean is missing


class SoftmaxRegression32:
    """Linear + softmax + mean cross-entropy that casts its input to float32 to train fast; its
    float32 weights, made float64 by the check, give a float64 loss all the same."""

    def __init__(self, n_in, n_classes):
        rng = np.random.default_rng(3)
        self.W = rng.standard_normal((n_in, n_classes)).astype(np.float32)
        self.b = np.zeros(n_classes, dtype=np.float32)

    def forward(self, x, target):
        self.x = x.astype(np.float32)
        z = self.x @ self.W + self.b
        e = np.exp(z - z.max(axis=1, keepdims=True))
        self.p = e / e.sum(axis=1, keepdims=True)
        self.target = target
        return -np.mean(np.log(self.p[np.arange(len(x)), target]))

    def backward(self):
        dz = self.p.copy()
        dz[np.arange(len(self.target)), self.target] -= 1
        dz = self._mean(dz)
        self.dW = self.x.T @ dz
        self.db = dz.sum(axis=0)
        return dz @ self.W.T

    def _mean(self, dz):
        return dz / len(self.target)


class SoftmaxRegression32NoMean(SoftmaxRegression32):
    def _mean(self, dz):
        return dz  # the 1/N of the mean is missing


class SoftmaxCrossEntropy32SumDividedByN(SoftmaxCrossEntropy32):
    """The loss summed over the batch, the gradient of its mean."""

    def forward(self, logits, target):
        return super().forward(logits, target) * len(target)

    def backward(self):
        return super().backward()  # divided by N: the sum has no 1/N


class Softmax32TimesN(Softmax32):
    def backward(self, g):
        return len(g) * super().backward(g)  # a batch-size factor from a loss pasted in
