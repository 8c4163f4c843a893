"""Loss nodes: forward(x, target) -> a number, backward() -> dL/dx."""

import numpy as np


class SoftmaxCrossEntropy:
    """Mean cross-entropy of softmax(logits) against class indices."""

    def forward(self, logits, target):
        e = np.exp(logits - logits.max(axis=1, keepdims=True))
        self.probs = e / e.sum(axis=1, keepdims=True)
        self.target = target
        n = len(target)
        return -np.log(self.probs[np.arange(n), target]).mean()

    def backward(self):
        n = len(self.target)
        grad = self.probs.copy()
        grad[np.arange(n), self.target] -= 1
        return grad / n


class OneHotCrossEntropy:
    """Mean cross-entropy of softmax(logits) against one-hot rows, as courses write it."""

    def forward(self, logits, y_onehot):
        e = np.exp(logits - logits.max(axis=1, keepdims=True))
        self.probs = e / e.sum(axis=1, keepdims=True)
        self.y = y_onehot
        return -np.sum(y_onehot * np.log(self.probs)) / logits.shape[0]

    def backward(self):
        return (self.probs - self.y) / self.probs.shape[0]


class SoftmaxCrossEntropyNoMean(SoftmaxCrossEntropy):
    def backward(self):
        grad = self.probs.copy()
        grad[np.arange(len(self.target)), self.target] -= 1
        return grad  # the 1/N of the mean is missing


class SoftmaxCrossEntropyMeanTwice(SoftmaxCrossEntropy):
    def backward(self, grad_y=1.0):
        n = len(self.target)
        return grad_y * super().backward() / n  # already divided by n once


class HalfSquaredError:
    """0.5 * sum((x - target)**2) / N, the mean over samples."""

    def forward(self, x, target):
        self.diff = x - target
        return 0.5 * np.sum(self.diff**2) / len(x)

    def backward(self, grad_y):
        return grad_y * self.diff  # the / N is missing


def softmax(x):
    x = x - np.max(x, axis=-1, keepdims=True)
    return np.exp(x) / np.sum(np.exp(x), axis=-1, keepdims=True)


def cross_entropy_error(y, t):
    batch_size = y.shape[0]
    return -np.sum(np.log(y[np.arange(batch_size), t] + 1e-7)) / batch_size  # 1e-7: no log(0)


class SoftmaxWithLoss:
    """The textbook layer (Saitoh, Deep Learning from Scratch): the loss takes log(y + 1e-7)."""

    def forward(self, x, t):
        self.t = t
        self.y = softmax(x)
        return cross_entropy_error(self.y, t)

    def backward(self, dout=1):
        batch_size = self.t.shape[0]
        dx = self.y.copy()
        dx[np.arange(batch_size), self.t] -= 1
        return dx / batch_size


class SoftmaxWithLossNoMean(SoftmaxWithLoss):
    def backward(self, dout=1):
        dx = self.y.copy()
        dx[np.arange(self.t.shape[0]), self.t] -= 1
        return dx  # forgot / batch_size


class CrossEntropyOfLogits:
    """Forgot the softmax: takes the log of the raw logits."""

    def forward(self, logits, labels):
        self.logits, self.labels = logits, labels
        n = logits.shape[0]
        return -np.mean(np.log(logits[np.arange(n), labels]))

    def backward(self, dout=1.0):
        n = self.logits.shape[0]
        d = np.zeros_like(self.logits)
        d[np.arange(n), self.labels] = -1.0 / self.logits[np.arange(n), self.labels]
        return dout * d / n


class SoftmaxCrossEntropyByCounts(SoftmaxCrossEntropy):
    def backward(self):
        onehot = np.eye(self.probs.shape[1])[self.target]
        return (self.probs - onehot) / onehot.sum(axis=0)  # meant N: a class never seen is 0


class SoftmaxCrossEntropyByProbs(SoftmaxCrossEntropy):
    def backward(self):
        n = len(self.target)
        onehot = np.eye(self.probs.shape[1])[self.target]
        return -onehot / (n * self.probs)  # d loss / d probs, where d loss / d logits belongs


class SoftmaxCrossEntropyColumns(SoftmaxCrossEntropy):
    def backward(self):
        grad = self.probs.copy()
        grad[:, self.target] -= 1  # column target of every row, not one entry per row
        return grad / len(self.target)


class SoftmaxCrossEntropyIndicesAsOneHot(SoftmaxCrossEntropy):
    def backward(self):
        n = len(self.target)
        return (self.probs - self.target[:, None]) / n  # the indices, not their one-hot rows


class MeanSquaredError:
    """np.mean((x - target)**2): the mean over every entry, N * C of them."""

    def forward(self, x, target):
        self.diff = x - target
        return np.mean(self.diff**2)

    def backward(self, grad_y=1.0):
        return grad_y * 2 * self.diff  # the 1/(N * C) of the mean is missing


class SequenceCrossEntropy:
    """Mean cross-entropy over every position of a (batch, time, classes) sequence of logits."""

    def forward(self, logits, target):
        e = np.exp(logits - logits.max(axis=-1, keepdims=True))
        self.probs = e / e.sum(axis=-1, keepdims=True)
        self.target = target
        picked = np.take_along_axis(self.probs, target[..., None], axis=-1)
        return -np.log(picked).mean()

    def backward(self, grad_y=1.0):
        grad = self.probs.copy()
        rows = np.take_along_axis(grad, self.target[..., None], axis=-1)
        np.put_along_axis(grad, self.target[..., None], rows - 1, axis=-1)
        return grad_y * grad / self.target.size


class SequenceCrossEntropyOverBatch(SequenceCrossEntropy):
    def backward(self, grad_y=1.0):
        # divided by the batch only, where forward's mean is over every position: B * T
        return super().backward(grad_y) * self.target.size / len(self.target)


class NnfsSoftmaxCrossEntropy:
    """nnfs.io's fused softmax + categorical cross-entropy: its backward takes the softmax
    output and the targets, backward(dvalues, y_true), which gradcheck cannot call, and keeps
    its result in self.dinputs, returning nothing, as the book's does."""

    def forward(self, inputs, y_true):
        exp_values = np.exp(inputs - np.max(inputs, axis=1, keepdims=True))
        self.output = exp_values / np.sum(exp_values, axis=1, keepdims=True)
        n = len(self.output)
        return np.mean(-np.log(np.clip(self.output[range(n), y_true], 1e-7, 1 - 1e-7)))

    def backward(self, dvalues, y_true):
        samples = len(dvalues)
        if len(y_true.shape) == 2:
            y_true = np.argmax(y_true, axis=1)
        self.dinputs = dvalues.copy()
        self.dinputs[range(samples), y_true] -= 1
        self.dinputs = self.dinputs / samples


class CheckedNnfsSoftmaxCrossEntropy(NnfsSoftmaxCrossEntropy):
    """The subclass docs/check-your-backward.md shows: forward keeps the target, backward()
    calls nnfs's backward(dvalues, y_true) with the softmax output and it, and returns what
    nnfs's keeps in self.dinputs."""

    def forward(self, inputs, y_true):
        self.y_true = y_true
        return super().forward(inputs, y_true)

    def backward(self):
        super().backward(self.output, self.y_true)
        return self.dinputs


class TypeErrorInBackward(SoftmaxCrossEntropy):
    def backward(self):
        return len(self)  # the user's own TypeError, nothing to do with the targets
