"""softgrad.functional: the math floor's public face. Pure functions on ndarrays that validate
their arguments and call the kernel seam (:mod:`softgrad.kernels`, through ``get_ops()``), where
each formula is written once; it imports nothing else of softgrad.

Softmax, log-softmax and logsumexp; the softmax and log-softmax Jacobians, VJPs and JVPs;
cross-entropy (torch semantics) and negative log-likelihood with their gradients; ReLU, sigmoid
and tanh with output-based VJPs.

Shape legend: N samples, D input features, H hidden units, C classes, ``...`` any leading
dimensions. dtype rule everywhere: float16/32/64 in, same dtype out (float16 computed in
float32); int and bool in, float64 out.
"""

from .activations import relu, relu_vjp, sigmoid, sigmoid_vjp, tanh, tanh_vjp
from .cross_entropy_loss import cross_entropy, cross_entropy_grad
from .jacobians import log_softmax_jacobian, softmax_jacobian
from .nll import nll_loss, nll_loss_grad
from .softmax_forward import log_softmax, logsumexp, softmax
from .softmax_grad import log_softmax_jvp, log_softmax_vjp, softmax_jvp, softmax_vjp

__all__ = [
    "cross_entropy",
    "cross_entropy_grad",
    "log_softmax",
    "log_softmax_jacobian",
    "log_softmax_jvp",
    "log_softmax_vjp",
    "logsumexp",
    "nll_loss",
    "nll_loss_grad",
    "relu",
    "relu_vjp",
    "sigmoid",
    "sigmoid_vjp",
    "softmax",
    "softmax_jacobian",
    "softmax_jvp",
    "softmax_vjp",
    "tanh",
    "tanh_vjp",
]
