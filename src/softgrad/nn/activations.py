"""Parameter-free activation layers: ReLU, Tanh, Sigmoid, Identity, Softmax, LogSoftmax.

Each forward calls its formula in the kernel seam (:mod:`softgrad.kernels.activations` and
:mod:`softgrad.kernels.softmax`, through :func:`softgrad.kernels.get_ops` at each call) and
caches its *output*, because every one of these derivatives is cheapest in terms of it::

    ReLU        y = max(x, 0)          grad_x = grad_y * (y > 0)
    Tanh        t = tanh(x)            grad_x = grad_y * (1 - t*t)
    Sigmoid     s = 1 / (1 + e^-x)     grad_x = grad_y * s * (1 - s)
    Softmax     s = softmax(x)         grad_x = s * (grad_y - sum(grad_y * s, axis))
    LogSoftmax  l = log_softmax(x)     grad_x = grad_y - exp(l) * sum(grad_y, axis)
    Identity    y = x                  grad_x = grad_y

Forward outputs are fresh arrays. The cached output is the returned array itself (no copy), so
modifying it in place before ``backward`` changes the gradient. dtypes follow
:mod:`softgrad.functional`: float16/32/64 in, same dtype out (float16 computed in float32);
int/bool in, float64 out.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from softgrad.checks import as_real_float
from softgrad.kernels import get_ops
from softgrad.nn.layer import Layer, check_input_grad


def _apply(kernel: Any, *arrays: np.ndarray, **options: Any) -> np.ndarray:
    """``kernel(*arrays)`` in the compute dtype (float16 in float32), returned in theirs."""
    if arrays[0].dtype != np.float16:
        return kernel(*arrays, **options)
    wide = [a.astype(np.float32) for a in arrays]
    return kernel(*wide, **options).astype(np.float16)


def _writable_float(x: Any) -> bool:
    return type(x) is np.ndarray and x.dtype.kind == "f" and x.flags.writeable


class _OutputCached(Layer):
    """Shared plumbing: cache the forward output ``_y``, check ``grad_y`` against it."""

    _cache_attrs = ("_y",)  # the output, for backward

    def __init__(self) -> None:
        super().__init__()
        self._y: np.ndarray | None = None

    def _checked_grad(self, grad_y: Any, input_grad: Any = True) -> tuple[np.ndarray, np.ndarray]:
        """The cached output and ``grad_y`` checked against it (cast to its dtype)."""
        if type(input_grad) is not bool:
            check_input_grad(input_grad, self)
        y = self._check_forward_done(self._y)
        grad_y = as_real_float(grad_y, f"{type(self).__name__}.backward", "grad_y")
        if grad_y.shape != y.shape:
            raise ValueError(
                f"{type(self).__name__}.backward: grad_y must have shape {y.shape}; "
                f"got shape {grad_y.shape}"
            )
        if grad_y.dtype != y.dtype:
            grad_y = grad_y.astype(y.dtype)
        return y, grad_y


class _Fusable(_OutputCached):
    """An activation a fused Sequential runs inside the Linear before it (``kernel`` names
    it to ``bias_activation``): the Linear computes the output, this layer keeps it."""

    kernel = "identity"

    def take_output(self, y: np.ndarray) -> np.ndarray:
        """Keep ``y``, this layer's output computed by the fused forward, for backward."""
        self._y = y
        return y

    def backward_in_place(self, grad_y: np.ndarray) -> np.ndarray:
        """``backward(grad_y)`` written over ``grad_y`` (a fresh float array nothing else
        reads: the input gradient of the Linear above, in a fused Sequential)."""
        return self._vjp_in_place(self._checked_grad(grad_y)[1])

    def _vjp_in_place(self, grad_y: np.ndarray) -> np.ndarray:
        """``grad_y * f'(y)`` written over ``grad_y``, trusting it (of the output's shape and
        dtype, C-contiguous; softgrad.training.step_plan calls this)."""
        if self.kernel == "identity":
            return grad_y
        return getattr(get_ops(), f"{self.kernel}_vjp")(self._y, grad_y, out=grad_y)

    def _bind_vjp_in_place(self, y: np.ndarray, grad_y: np.ndarray) -> Callable[[], Any] | None:
        """:meth:`_vjp_in_place` of ``grad_y`` after a fused forward whose output is ``y``, as
        one call bound now (softgrad.training.bound_step), or None for the identity (nothing
        to do)."""
        if self.kernel == "identity":
            return None
        return get_ops().bind_activation_vjp(self.kernel, y, grad_y)


class ReLU(_Fusable):
    """Rectified linear unit, ``y = max(x, 0)``, elementwise on any shape.

    The derivative at x = 0 is taken as 0 (as in PyTorch).

    Parameters
    ----------
    inplace : bool, default False
        Write the output over the input in ``forward`` and ``grad_x`` over ``grad_y`` in
        ``backward`` (no new array per call; torch's ``nn.ReLU(inplace=True)``). Use it where
        nothing else reads those arrays afterwards, such as right after a Linear, whose output
        and input gradient are fresh arrays: ``build_mlp`` does so. A read-only or non-float
        input still gets a new array.

    Examples
    --------
    >>> layer = ReLU()
    >>> layer.forward(np.array([-2.0, 0.0, 3.0]))
    array([0., 0., 3.])
    >>> layer.backward(np.array([1.0, 1.0, 1.0]))
    array([0., 0., 1.])
    >>> x = np.array([-1.0, 2.0])
    >>> ReLU(inplace=True).forward(x) is x, x
    (True, array([0., 2.]))
    """

    inplace = False  # ReLUs pickled before the option existed
    kernel = "relu"

    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        if not isinstance(inplace, (bool, np.bool_)):
            raise TypeError(f"ReLU: inplace must be a bool; got {inplace!r}")
        self.inplace = bool(inplace)

    def forward(self, x: np.ndarray) -> np.ndarray:
        """x : ndarray of shape (...) -> y : ndarray of shape (...) (``x`` itself if inplace)."""
        if self.inplace and _writable_float(x):
            get_ops().relu(x, out=x)
            self._y = x
        else:
            self._y = _apply(get_ops().relu, as_real_float(x, f"{type(self).__name__}.forward"))
        return self._y

    def backward(self, grad_y: np.ndarray, input_grad: bool = True) -> np.ndarray | None:
        """grad_y : ndarray of shape (...) -> grad_x = grad_y * (y > 0) (in grad_y if inplace)."""
        y, grad_y = self._checked_grad(grad_y, input_grad)
        if not input_grad:
            return None
        if self.inplace and _writable_float(grad_y):
            get_ops().relu_vjp(y, grad_y, out=grad_y)
            return grad_y
        return _apply(get_ops().relu_vjp, y, grad_y)

    def get_config(self) -> dict[str, Any]:
        """``{"inplace": True}`` when set, else ``{}`` (model files of plain ReLUs unchanged)."""
        return {"inplace": True} if self.inplace else {}


class Tanh(_Fusable):
    """Hyperbolic tangent, elementwise; backward uses ``1 - t*t`` from the cached output t.

    Examples
    --------
    >>> layer = Tanh()
    >>> layer.forward(np.array([0.0]))
    array([0.])
    >>> layer.backward(np.array([2.0]))
    array([2.])
    """

    kernel = "tanh"

    def forward(self, x: np.ndarray) -> np.ndarray:
        """x : ndarray of shape (...) -> t : ndarray of shape (...)."""
        self._y = _apply(get_ops().tanh, as_real_float(x, f"{type(self).__name__}.forward"))
        return self._y

    def backward(self, grad_y: np.ndarray, input_grad: bool = True) -> np.ndarray | None:
        """grad_y : ndarray of shape (...) -> grad_x = grad_y * (1 - t*t)."""
        y, grad_y = self._checked_grad(grad_y, input_grad)
        return _apply(get_ops().tanh_vjp, y, grad_y) if input_grad else None


class Sigmoid(_Fusable):
    """Logistic sigmoid ``s = 1 / (1 + exp(-x))``, elementwise, stable for large ``|x|``.

    Examples
    --------
    >>> layer = Sigmoid()
    >>> layer.forward(np.array([0.0]))
    array([0.5])
    >>> layer.backward(np.array([1.0]))  # 0.5 * (1 - 0.5)
    array([0.25])
    """

    kernel = "sigmoid"

    def forward(self, x: np.ndarray) -> np.ndarray:
        """x : ndarray of shape (...) -> s : ndarray of shape (...)."""
        self._y = _apply(get_ops().sigmoid, as_real_float(x, f"{type(self).__name__}.forward"))
        return self._y

    def backward(self, grad_y: np.ndarray, input_grad: bool = True) -> np.ndarray | None:
        """grad_y : ndarray of shape (...) -> grad_x = grad_y * s * (1 - s)."""
        y, grad_y = self._checked_grad(grad_y, input_grad)
        return _apply(get_ops().sigmoid_vjp, y, grad_y) if input_grad else None


class Identity(_Fusable):
    """The identity ``y = x`` (a fresh copy); backward returns a copy of ``grad_y``.

    Examples
    --------
    >>> Identity().forward(np.array([1, 2]))
    array([1., 2.])
    """

    def forward(self, x: np.ndarray) -> np.ndarray:
        """x : ndarray of shape (...) -> y : ndarray of shape (...), a copy."""
        x = as_real_float(x, f"{type(self).__name__}.forward")
        self._y = np.array(x, copy=True)
        return self._y

    def backward(self, grad_y: np.ndarray, input_grad: bool = True) -> np.ndarray | None:
        """grad_y : ndarray of shape (...) -> grad_x = grad_y (a copy)."""
        _, grad_y = self._checked_grad(grad_y, input_grad)
        return np.array(grad_y, copy=True) if input_grad else None


class _AlongAxis(_OutputCached):
    """A layer normalising along one axis; validates ``axis`` against each input."""

    def __init__(self, axis: int = -1) -> None:
        super().__init__()
        if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
            raise TypeError(f"{type(self).__name__}: axis must be an int; got {axis!r}")
        self.axis = int(axis)

    def _checked_input(self, x: Any) -> np.ndarray:
        x = as_real_float(x, f"{type(self).__name__}.forward")
        if not -x.ndim <= self.axis < x.ndim:
            raise ValueError(
                f"{type(self).__name__}.forward: axis must be in [{-x.ndim}, {x.ndim}) for an "
                f"input of shape {x.shape}; got {self.axis!r}"
            )
        return x

    def get_config(self) -> dict[str, Any]:
        """Constructor arguments: axis."""
        return {"axis": self.axis}


class Softmax(_AlongAxis):
    """Softmax along ``axis``: ``s_i = exp(x_i) / sum_j exp(x_j)``.

    Backward is the O(n) vector-Jacobian product ``s * (grad_y - sum(grad_y * s, axis))``;
    the n x n Jacobian ``J[i, j] = s_i * (delta_ij - s_j)`` is never built.

    Parameters
    ----------
    axis : int, default -1
        Axis along which the entries sum to 1.

    Examples
    --------
    >>> layer = Softmax()
    >>> layer.forward(np.array([0.0, 0.0]))
    array([0.5, 0.5])
    >>> layer.backward(np.array([1.0, 0.0]))  # 0.5 * ([1, 0] - 0.5)
    array([ 0.25, -0.25])
    """

    def forward(self, x: np.ndarray) -> np.ndarray:
        """x : ndarray of shape S -> s : ndarray of shape S, summing to 1 along ``axis``."""
        self._y = _apply(get_ops().softmax, self._checked_input(x), axis=self.axis)
        return self._y

    def backward(self, grad_y: np.ndarray, input_grad: bool = True) -> np.ndarray | None:
        """grad_y : ndarray of shape S -> grad_x = s * (grad_y - sum(grad_y * s, axis))."""
        y, grad_y = self._checked_grad(grad_y, input_grad)
        if not input_grad:
            return None
        return _apply(get_ops().softmax_vjp, y, grad_y, axis=self.axis)


class LogSoftmax(_AlongAxis):
    """Log-softmax along ``axis``: ``l_i = x_i - logsumexp(x)``.

    Backward: ``grad_x = grad_y - exp(l) * sum(grad_y, axis)``.

    Parameters
    ----------
    axis : int, default -1
        Axis along which exp(l) sums to 1.

    Examples
    --------
    >>> layer = LogSoftmax()
    >>> layer.forward(np.array([0.0, 0.0]))
    array([-0.69314718, -0.69314718])
    >>> layer.backward(np.array([1.0, 0.0]))  # [1, 0] - 0.5 * 1
    array([ 0.5, -0.5])
    """

    def forward(self, x: np.ndarray) -> np.ndarray:
        """x : ndarray of shape S -> log-probabilities of shape S."""
        self._y = _apply(get_ops().log_softmax, self._checked_input(x), axis=self.axis)
        return self._y

    def backward(self, grad_y: np.ndarray, input_grad: bool = True) -> np.ndarray | None:
        """grad_y : ndarray of shape S -> grad_x = grad_y - exp(l) * sum(grad_y, axis)."""
        y, grad_y = self._checked_grad(grad_y, input_grad)
        if not input_grad:
            return None
        return _apply(get_ops().log_softmax_vjp, y, grad_y, axis=self.axis)
