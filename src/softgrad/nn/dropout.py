"""Inverted dropout."""

from __future__ import annotations

from typing import Any

import numpy as np

from softgrad.checks import as_real_float
from softgrad.kernels import get_ops
from softgrad.nn.layer import Layer, Seed, as_generator, check_input_grad


class Dropout(Layer):
    """Inverted dropout: zero each entry with probability ``p``, scale the rest by 1 / (1 - p).

    In training mode ``y = x * m`` with ``m_i = 1 / (1 - p)`` with probability 1 - p and
    ``m_i = 0`` otherwise, so E[y] = x and evaluation needs no rescaling; ``backward`` returns
    ``grad_y * m`` with the same mask. In evaluation mode (``eval()``), or when ``p == 0``, the
    layer is the identity (it returns copies).

    Parameters
    ----------
    p : float, default 0.5
        Drop probability, in [0, 1]; ``p == 1`` drops everything (output all zeros).
    rng : numpy.random.Generator or int or None
        Source of the masks. A Generator is used as is (shared stream); an int seeds a new one;
        None draws fresh entropy.

    Notes
    -----
    The mask is drawn as uniform numbers u in [0, 1) of the input's dtype (float32 stays
    float32; float16 draws in float32) and kept where ``u >= p``.

    Examples
    --------
    >>> layer = Dropout(0.5, rng=0)
    >>> y = layer.forward(np.ones(6))
    >>> sorted(set(y.tolist()))  # dropped entries are 0, kept ones are scaled by 2
    [0.0, 2.0]
    >>> np.array_equal(layer.backward(np.ones(6)), y)
    True
    >>> layer.eval().forward(np.ones(3))
    array([1., 1., 1.])
    """

    _cache_attrs = ("_mask", "_identity")  # the last forward's mask, for backward

    def __init__(self, p: float = 0.5, rng: Seed = None) -> None:
        super().__init__()
        if isinstance(p, bool) or not isinstance(p, (int, float, np.floating, np.integer)):
            raise TypeError(f"Dropout: p must be a float in [0, 1]; got {p!r}")
        if not 0.0 <= float(p) <= 1.0:
            raise ValueError(f"Dropout: p must be a float in [0, 1]; got {p!r}")
        self.p = float(p)
        self.rng = as_generator(rng, "Dropout")
        self._mask: np.ndarray | None = None
        self._identity: bool | None = None
        self._shape: tuple[int, ...] = ()

    def forward(self, x: np.ndarray) -> np.ndarray:
        """x : ndarray of shape (...) -> y : ndarray of shape (...), a fresh array."""
        x = as_real_float(x, "Dropout.forward")
        self._shape = x.shape
        if not self.training or self.p == 0.0:
            self._identity, self._mask = True, None
            return np.array(x, copy=True)
        draw_dtype = x.dtype if x.dtype in (np.float32, np.float64) else np.float32
        uniform = self.rng.random(x.shape, dtype=draw_dtype)
        mask = get_ops().dropout_mask(uniform, self.p, x.dtype)
        self._identity, self._mask = False, mask
        return np.multiply(x, mask)

    def backward(self, grad_y: np.ndarray, input_grad: bool = True) -> np.ndarray | None:
        """grad_y : ndarray of shape (...) -> grad_x = grad_y * mask (a copy in eval mode)."""
        if type(input_grad) is not bool:
            check_input_grad(input_grad, self)
        if self._identity is None:
            self._check_forward_done(None)
        grad_y = as_real_float(grad_y, "Dropout.backward", "grad_y")
        if grad_y.shape != self._shape:
            raise ValueError(
                f"Dropout.backward: grad_y must have shape {self._shape}; got shape {grad_y.shape}"
            )
        if not input_grad:
            return None
        if self._identity:
            return np.array(grad_y, copy=True)
        assert self._mask is not None  # forward in training mode keeps it (_identity False)
        return np.multiply(grad_y, self._mask, dtype=self._mask.dtype)

    def get_config(self) -> dict[str, Any]:
        """Constructor arguments: p (the rng is not part of the config)."""
        return {"p": self.p}
