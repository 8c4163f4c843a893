"""Layers with forward/backward: the building blocks of softgrad networks.

Every layer follows the contract of :class:`~softgrad.nn.layer.Layer`: ``forward(x)`` caches what
``backward`` needs, ``backward(grad_y, input_grad=True)`` assigns ``grads`` (same keys as the live
``params``) and returns dL/dx. The formulas themselves live in :mod:`softgrad.functional`.

Shape legend: N samples, D input features, H hidden units, C classes, ``...`` leading dims.
"""

from softgrad.nn.activations import Identity, LogSoftmax, ReLU, Sigmoid, Softmax, Tanh
from softgrad.nn.cross_entropy_loss import CrossEntropyLoss
from softgrad.nn.dropout import Dropout
from softgrad.nn.layer import Layer
from softgrad.nn.linear import Linear
from softgrad.nn.logistic_loss import LogisticLoss
from softgrad.nn.loss import Loss
from softgrad.nn.mlp import ACTIVATIONS, build_mlp
from softgrad.nn.nll_loss import NLLLoss
from softgrad.nn.sequential import LAYERS, Sequential

__all__ = [
    "ACTIVATIONS",
    "LAYERS",
    "CrossEntropyLoss",
    "Dropout",
    "Identity",
    "Layer",
    "Linear",
    "LogSoftmax",
    "LogisticLoss",
    "Loss",
    "NLLLoss",
    "ReLU",
    "Sequential",
    "Sigmoid",
    "Softmax",
    "Tanh",
    "build_mlp",
]
