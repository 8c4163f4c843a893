"""Nodes whose backward returns the wrong kind of thing, or whose code raises."""

import numpy as np


class ReturnsNone:
    def forward(self, x):
        self.out = np.tanh(x)
        return self.out

    def backward(self, grad_y):
        self.grad_x = grad_y * (1 - self.out**2)  # forgot to return it


class ReturnsTuple:
    def __init__(self):
        self.W = np.eye(3)

    def forward(self, x):
        self.x = x
        return x @ self.W

    def backward(self, grad_y):
        return grad_y @ self.W.T, self.x.T @ grad_y


class ReturnsSummed:
    def forward(self, x):
        self.out = np.tanh(x)
        return self.out

    def backward(self, grad_y):
        return np.sum(grad_y * (1 - self.out**2), axis=0)  # the batch axis summed away


class RaisesInBackward:
    def forward(self, x):
        self.out = np.tanh(x)
        return self.out

    def backward(self, grad_y):
        raise ValueError("my backward is not written yet")


class RaisesInForward:
    def forward(self, x):
        return self.weights @ x  # no such attribute

    def backward(self, grad_y):
        return grad_y


class NeedsArguments:
    def __init__(self, n_in, n_out):
        self.W = np.zeros((n_in, n_out))

    def forward(self, x):
        return x @ self.W

    def backward(self, grad_y):
        return grad_y @ self.W.T


class NotANode:
    pass


class ForgetsReturn:
    def forward(self, x):
        self.out = np.tanh(x)  # forgot `return self.out`

    def backward(self, grad_y):
        return grad_y * (1 - self.out**2)


class ReturnsList:
    def forward(self, x):
        self.out = np.tanh(x)
        return self.out

    def backward(self, grad_y):
        return [grad_y * (1 - self.out**2), None]  # grad_x and "no parameters"


class LinearBiasGradDict:
    def __init__(self):
        self.W = np.eye(3)
        self.b = np.zeros(3)

    def forward(self, x):
        self.x = x
        return x @ self.W + self.b

    def backward(self, grad_y):
        self.dW = self.x.T @ grad_y
        self.db = {"b": grad_y.sum(axis=0)}  # a dict where the array belongs
        return grad_y @ self.W.T


def tanh_forward(x):
    """A function, not a node: checked from Python, softgrad.gradcheck(tanh_forward, x, vjp=...)."""
    return np.tanh(x)
