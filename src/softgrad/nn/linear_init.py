"""Linear's arguments and initial weights: how many scalars a Linear holds, its constructor
arguments (and ``from_arrays``'s) checked, and W drawn block by block (:class:`softgrad.nn.Linear`
uses these)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from softgrad.checks import plain_ndarray
from softgrad.nn.layer import as_float_dtype

_INITS = ("he", "glorot")

# scalars of W drawn at a time: one float64 block (2 MB), not a float64 copy of all of W
_DRAW_BLOCK = 1 << 18


def linear_size(in_features: int, out_features: int, bias: bool = True) -> int:
    """How many scalars a Linear holds: W, then b."""
    return in_features * out_features + (out_features if bias else 0)


def _draw_weights(generator: np.random.Generator, weights: np.ndarray, init: str) -> np.ndarray:
    """Fill ``weights`` (in_features, out_features) as ``init`` says, drawn in float64 block by
    block: the same numbers, and the same generator state after, as one draw of the whole
    shape cast to W's dtype, without a float64 copy of W (a float32 Linear(40_000, 40_000)
    needed 19 GB at its peak, not 6.4)."""
    in_features, out_features = weights.shape
    rows = max(1, _DRAW_BLOCK // out_features)
    scale = math.sqrt(2.0 / in_features)
    limit = math.sqrt(6.0 / (in_features + out_features))
    # float64, reused by every block (uniform has no out=: its block is let go before the next)
    draws = np.empty(min(rows, in_features) * out_features) if init == "he" else None
    for start in range(0, in_features, rows):
        block = (min(rows, in_features - start), out_features)
        if init == "he":
            assert draws is not None  # made above for "he"
            draw = generator.standard_normal(out=draws[: block[0] * out_features].reshape(block))
            weights[start : start + rows] = np.multiply(draw, scale, out=draw)
        else:
            weights[start : start + rows] = generator.uniform(-limit, limit, size=block)
    return weights


def _checked(
    in_features: Any, out_features: Any, bias: Any, init: Any, dtype: Any
) -> tuple[int, int, bool, np.dtype]:
    """Linear's constructor arguments checked: in_features, out_features, bias and the dtype."""
    for what, value in (("in_features", in_features), ("out_features", out_features)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"Linear: {what} must be a positive int; got {value!r}")
    if not isinstance(bias, (bool, np.bool_)):
        raise TypeError(f"Linear: bias must be a bool; got {bias!r}")
    if init not in _INITS:
        raise ValueError(f"Linear: init must be one of 'he', 'glorot'; got {init!r}")
    return int(in_features), int(out_features), bool(bias), as_float_dtype(dtype, "Linear")


def _checked_arrays(W: Any, b: Any, init: Any) -> tuple[int, int]:
    """``Linear.from_arrays``'s arguments checked as the constructor checks its own: in_features
    and out_features."""
    where = "Linear.from_arrays"
    for what, array in (("W", W), ("b", b)):
        if array is not None and not isinstance(array, np.ndarray):
            raise TypeError(f"{where}: {what} must be an ndarray; got {type(array).__name__}")
    if W.ndim != 2:
        raise ValueError(
            f"{where}: W must have shape (in_features, out_features); got shape {W.shape}"
        )
    in_features, out_features, _, dtype = _checked(
        W.shape[0], W.shape[1], b is not None, init, W.dtype
    )
    if W.dtype != dtype:  # another byte order (as_float_dtype refused the rest)
        raise ValueError(
            f"{where}: W must be of a native float dtype, {dtype}; got {W.dtype.str!r}"
        )
    if b is not None and (b.shape != (out_features,) or b.dtype != dtype):
        raise ValueError(
            f"{where}: b must have shape ({out_features},) and W's dtype {dtype}; got "
            f"shape {b.shape}, {b.dtype}"
        )
    return in_features, out_features


def check_params(layer: Any, where: str) -> None:
    """``layer.params`` as a forward or backward reads them: W a float ndarray (float16/32/64,
    native byte order) of the layer's (in_features, out_features), b (if the layer has one) of
    W's dtype and shape (out_features,). A user may replace them after the layer was built; an
    integer W truncated x to integers, a square np.matrix multiplied where it should scale, a
    byte-swapped bias crashed the Numba lane, each without naming the array. Subclasses other
    than np.matrix and masked arrays (a memmap of saved weights) are taken."""
    W, b = layer.params.get("W"), layer.params.get("b")
    shape = (layer.in_features, layer.out_features)
    if (
        type(W) is np.ndarray
        and W.shape == shape
        and W.dtype in _FLOATS
        and (b is None or (type(b) is np.ndarray and b.dtype == W.dtype and b.shape == shape[1:]))
    ):
        return  # the common case, a few attribute reads
    _check_param(where, "W", W, _FLOATS, shape, "a native float dtype (float16, float32, float64)")
    if b is not None:
        _check_param(where, "b", b, (W.dtype,), shape[1:], f"W's dtype {W.dtype.name}")


def _check_param(
    where: str, name: str, array: Any, dtypes: tuple, shape: tuple[int, ...], dtype_text: str
) -> None:
    """Refuse ``params[name]`` unless it is an ndarray (not a matrix or masked array) of one of
    ``dtypes`` and ``shape``: a TypeError, or a ValueError for the right array of another shape."""
    error: type[Exception] = TypeError
    if plain_ndarray(array):
        if array.dtype in dtypes:
            if array.shape == shape:
                return
            error = ValueError
    got = type(array).__name__
    if isinstance(array, np.ndarray):
        got += f" of dtype {array.dtype.str!r} and shape {array.shape}"
    raise error(
        f"{where}: params[{name!r}] must be an ndarray of {dtype_text} and shape {shape}; got "
        f"{got} (assign into it, params[{name!r}][...] = ..., or build the layer again with "
        "Linear.from_arrays)"
    )


_FLOATS = tuple(np.dtype(t) for t in (np.float16, np.float32, np.float64))
