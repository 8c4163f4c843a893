"""Linear (fully connected) layer: y = x @ W + b."""

from __future__ import annotations

from typing import Any

import numpy as np

from softgrad.checks import as_real_float
from softgrad.nn.layer import Layer, Seed, as_generator, check_input_grad
from softgrad.nn.linear_init import (
    _checked,
    _checked_arrays,
    _draw_weights,
    check_params,
    linear_size,
)
from softgrad.nn.linear_rows import LinearRows
from softgrad.nn.store_buffers import allocate_flat

__all__ = ["Linear", "linear_size"]

# the activations forward_activated runs (ActivationKernels.bias_activation's names)
_ACTIVATIONS = ("identity", "relu", "tanh", "sigmoid")


class Linear(LinearRows, Layer):
    """Fully connected layer ``y = x @ W + b`` on input of shape ``(..., in_features)``.

    Parameters
    ----------
    in_features : int
        Size D of the last input axis.
    out_features : int
        Size H of the last output axis.
    bias : bool, default True
        Whether to add the bias ``b``.
    rng : numpy.random.Generator or int or None
        Source of the initial weights (None: fresh entropy).
    init : {"he", "glorot"}, default "he"
        ``"he"``: W ~ Normal(0, std = sqrt(2 / in_features)), the He/Kaiming normal scheme that
        keeps the activation variance constant through ReLU layers. ``"glorot"``:
        W ~ Uniform(-a, a) with a = sqrt(6 / (in_features + out_features)), the Glorot/Xavier
        uniform scheme for tanh, sigmoid and identity layers. The bias starts at 0.
    dtype : {float32, float64, float16}, default float32
        dtype of the parameters; inputs of another dtype are cast to it.

    Attributes
    ----------
    params : dict
        ``"W"`` : ndarray of shape (in_features, out_features); ``"b"`` : ndarray of shape
        (out_features,) (absent when ``bias=False``). These are the live weights: views of one
        buffer, the layer's own until a Sequential moves them into its parameter store.
    grads : dict
        Same keys; ``backward`` writes into these arrays, reused across steps.

    Notes
    -----
    Forward and backward, with x flattened to X of shape (M, D) (M = product of leading dims)::

        y = X @ W + b
        dL/dW = X^T @ grad_y        dL/db = ones(M) @ grad_y (the column sums)
        dL/dx = grad_y @ W^T        (skipped when backward(..., input_grad=False))

    Inputs of shape (..., D) are reshaped to (M, D) as a view (no copy when contiguous). The
    forward output is a fresh array; ``forward`` keeps a reference to the input for ``backward``,
    so modifying the input in place between forward and backward changes dL/dW.

    Examples
    --------
    >>> layer = Linear(2, 1, rng=0, dtype=np.float64)
    >>> layer.params["W"][...] = [[1.0], [2.0]]
    >>> layer.params["b"][...] = [0.5]
    >>> layer.forward(np.array([[3.0, 4.0]]))  # 3*1 + 4*2 + 0.5
    array([[11.5]])
    >>> layer.backward(np.array([[1.0]]))
    array([[1., 2.]])
    >>> layer.grads["W"].ravel(), layer.grads["b"]
    (array([3., 4.]), array([1.]))
    """

    _cache_attrs = ("_x", "_ones_buffer")  # the input rows, for backward; a ones row

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        rng: Seed = None,
        init: str = "he",
        dtype: Any = np.float32,
    ) -> None:
        super().__init__()
        in_features, out_features, bias, resolved = _checked(
            in_features, out_features, bias, init, dtype
        )
        generator = as_generator(rng, "Linear")
        what = f"Linear: in_features x out_features = {in_features} x {out_features} weights"
        memory = allocate_flat(linear_size(in_features, out_features, bias), resolved, what)
        self._set_up(in_features, out_features, init, generator, memory)

    @classmethod
    def from_arrays(cls, W: np.ndarray, b: np.ndarray | None = None, init: str = "he") -> Linear:
        """A Linear whose parameters are ``W`` and ``b`` themselves: nothing drawn or copied.

        Parameters
        ----------
        W : ndarray of shape (in_features, out_features)
            The weights, of a float dtype (float16, float32, float64), which becomes the
            layer's.
        b : ndarray of shape (out_features,) of W's dtype, or None
            The bias; None for a layer without one (``bias=False``).
        init : {"he", "glorot"}, default "he"
            The scheme ``get_config`` names (what ``from_config`` would draw with).

        Returns
        -------
        Linear
            ``params["W"] is W`` (and ``params["b"] is b``): writing into the arrays changes
            the layer. The gradient arrays are allocated by the first ``backward``.

        Raises
        ------
        TypeError
            W or b is not an ndarray.
        ValueError
            A shape, dtype or ``init`` that ``Linear(...)`` would refuse, or b that does not
            match W.

        Notes
        -----
        Built into a Sequential, the layer's arrays are copied into the parameter store and
        let go as the store's views replace them (see :mod:`softgrad.nn.store`): a network
        built from given weights this way peaks at the weights and their gradients, where
        ``Linear(...)`` draws weights to be overwritten and allocates gradients besides.

        Examples
        --------
        >>> W = np.array([[1.0], [2.0]], dtype=np.float32)
        >>> layer = Linear.from_arrays(W, np.array([0.5], dtype=np.float32))
        >>> layer.params["W"] is W, layer.get_config()["dtype"]
        (True, 'float32')
        >>> layer.forward(np.array([[3.0, 4.0]], dtype=np.float32))
        array([[11.5]], dtype=float32)
        """
        in_features, out_features = _checked_arrays(W, b, init)
        layer = cls.__new__(cls)
        Layer.__init__(layer)
        layer._set_shape(in_features, out_features, init)
        layer.params["W"] = W
        if b is not None:
            layer.params["b"] = b
        return layer

    @classmethod
    def _drawn_into(
        cls,
        memory: tuple[np.ndarray, np.ndarray],
        in_features: int,
        out_features: int,
        generator: np.random.Generator,
        init: str,
        given: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> Linear:
        """A Linear with a bias whose arrays are views of ``memory``: W drawn into the 1-d
        ``params``, b zeroed, the gradients views of the 1-d ``grads`` (zeros), each of
        ``linear_size`` scalars. What build_mlp makes in the parameter store's buffers, so
        that no copy of the weights is made. With ``given`` (W and b), those are copied in
        instead and nothing is drawn. Trusts its arguments."""
        layer = cls.__new__(cls)
        Layer.__init__(layer)
        layer._set_up(in_features, out_features, init, generator, memory, given)
        return layer

    def _set_up(
        self,
        in_features: int,
        out_features: int,
        init: str,
        generator: np.random.Generator,
        memory: tuple[np.ndarray, np.ndarray],
        given: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> None:
        """Carve W (then b, if the memory holds it) out of ``memory`` and draw W (b zero), or
        copy ``given``'s W and b in."""
        self._set_shape(in_features, out_features, init)
        self._carve(memory)
        if given is None:
            # looked up in this module, where tests replace it to check that nothing is drawn
            self.params["W"] = _draw_weights(generator, self.params["W"], init)
        else:
            self.params["W"][...] = given[0]
        if "b" in self.params:
            self.params["b"][...] = 0 if given is None else given[1]

    @classmethod
    def _over(
        cls, memory: tuple[np.ndarray, np.ndarray], in_features: int, out_features: int, init: str
    ) -> Linear:
        """A Linear whose arrays are views of ``memory`` holding what it holds (a model file's
        weights, read straight into the parameter store's buffers): nothing drawn or copied.
        Trusts its arguments, as :meth:`_drawn_into`."""
        layer = cls.__new__(cls)
        Layer.__init__(layer)
        layer._set_shape(in_features, out_features, init)
        layer._carve(memory)
        return layer

    def _carve(self, memory: tuple[np.ndarray, np.ndarray]) -> None:
        """W (then b, if the 1-d ``memory`` holds it) and their gradients as views of it."""
        n_weights = self.in_features * self.out_features
        shape = (self.in_features, self.out_features)
        params, grads = memory
        self.params["W"] = params[:n_weights].reshape(shape)
        self.grads["W"] = grads[:n_weights].reshape(shape)
        if params.size > n_weights:
            self.params["b"] = params[n_weights:]
            self.grads["b"] = grads[n_weights:]

    def _set_shape(self, in_features: int, out_features: int, init: str) -> None:
        """The sizes and init, and an empty forward cache."""
        self.in_features, self.out_features, self.init = in_features, out_features, init
        self._x: np.ndarray | None = None
        self._ones_buffer: np.ndarray | None = None
        self._x_shape: tuple[int, ...] = ()

    @property
    def bias(self) -> bool:
        """Whether the layer has a bias."""
        return "b" in self.params

    def forward(self, x: np.ndarray) -> np.ndarray:
        """Compute ``x @ W + b``.

        Parameters
        ----------
        x : ndarray of shape (..., in_features)
            Input; cast to W's dtype if it differs.

        Returns
        -------
        y : ndarray of shape (..., out_features)
            A fresh array of W's dtype.
        """
        x2, shape = self._rows(x, "forward")
        y = self._forward_rows(x2, None)
        self._x_shape = shape  # the input's leading axes, for backward
        return y.reshape(*shape[:-1], self.out_features)

    def forward_activated(self, x: np.ndarray, activation: str) -> np.ndarray:
        """``f(x @ W + b)``: the product, then the bias add and f in one kernel call
        (``get_ops().bias_activation``, one pass over the product in the Numba lane).

        What :class:`~softgrad.nn.Sequential` runs for a Linear followed by an activation layer
        (``fuse=True``); ``backward`` is unchanged, the activation layer keeping the output.

        Parameters
        ----------
        x : ndarray of shape (..., in_features)
        activation : {"identity", "relu", "tanh", "sigmoid"}
            f, as :meth:`softgrad.kernels.activations.ActivationKernels.bias_activation`
            names it. float16 weights take the NumPy lane's two passes on either lane.

        Returns
        -------
        y : ndarray of shape (..., out_features)
            A fresh array of W's dtype.
        """
        if activation not in _ACTIVATIONS:
            raise ValueError(
                "Linear.forward_activated: activation must be one of 'identity', 'relu', "
                f"'tanh', 'sigmoid'; got {activation!r}"
            )
        return self._forward_fused(x, activation, "forward_activated")

    def _forward_fused(self, x: Any, activation: str, where: str) -> np.ndarray:
        """:meth:`forward_activated` for a known ``activation``, ``x``'s errors naming
        ``Linear.<where>``: a Sequential's fused pair says ``forward``, as its unfused one."""
        x2, shape = self._rows(x, where)
        y = self._forward_activated_rows(x2, activation, None)
        self._x_shape = shape  # the input's leading axes, for backward
        return y.reshape(*shape[:-1], self.out_features)

    def _rows(self, x: Any, where: str) -> tuple[np.ndarray, tuple[int, ...]]:
        """``x`` checked, cast to W's dtype and seen as (M, in_features) rows, and its shape
        (the output's leading axes)."""
        check_params(self, f"Linear.{where}")  # as a user may have replaced them
        x = as_real_float(x, f"Linear.{where}")  # not complex (a cast drops the imaginary part)
        if x.ndim == 0 or x.shape[-1] != self.in_features:
            raise ValueError(
                f"Linear.{where}: x must have shape (..., {self.in_features}); got shape {x.shape}"
            )
        weights = self.params["W"]
        if x.dtype != weights.dtype:
            x = x.astype(weights.dtype)
        return x.reshape(-1, self.in_features), x.shape

    def backward(self, grad_y: np.ndarray, input_grad: bool = True) -> np.ndarray | None:
        """Assign ``grads["W"]``, ``grads["b"]`` and return dL/dx.

        Parameters
        ----------
        grad_y : ndarray of shape (..., out_features)
            dL/dy, same leading shape as the last forward input.
        input_grad : bool, default True
            If False, skip the dL/dx matrix product (first layer of a network) and return None.

        Returns
        -------
        grad_x : ndarray of shape (..., in_features) or None
        """
        if type(input_grad) is not bool:
            check_input_grad(input_grad, self)
        self._check_forward_done(self._x)
        check_params(self, "Linear.backward")
        weights = self.params["W"]
        grad_y = as_real_float(grad_y, "Linear.backward", "grad_y")
        expected = (*self._x_shape[:-1], self.out_features)
        if grad_y.shape != expected:
            raise ValueError(
                f"Linear.backward: grad_y must have shape {expected}; got shape {grad_y.shape}"
            )
        if grad_y.dtype != weights.dtype:
            grad_y = grad_y.astype(weights.dtype)
        grad_x = self._backward_rows(grad_y.reshape(-1, self.out_features), input_grad, None)
        return None if grad_x is None else grad_x.reshape(self._x_shape)

    def get_config(self) -> dict[str, Any]:
        """Constructor arguments: in_features, out_features, bias, init, dtype (a name)."""
        return {
            "in_features": self.in_features,
            "out_features": self.out_features,
            "bias": self.bias,
            "init": self.init,
            "dtype": self.params["W"].dtype.name,
        }
