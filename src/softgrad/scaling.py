"""The arithmetic of :class:`~softgrad.preprocessing.Scaler`: ``(X - offset) * scale`` in the
dtype the stored features call for (:func:`working_dtype`), into a result of another dtype a
block of rows at a time, and the float32 parameters it is given."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

__all__ = [
    "FLOAT32",
    "FLOAT64",
    "SCALED_DTYPES",
    "as_float32",
    "scale_by_blocks",
    "scale_into",
    "scaled_dtype",
    "working_dtype",
]

FLOAT32, FLOAT64 = np.dtype(np.float32), np.dtype(np.float64)
# the dtypes a Scaler's transform and a ScaledRows produce (a float16 model's rows are scaled
# in float64, then converted)
SCALED_DTYPES = (FLOAT32, FLOAT64)

_BLOCK = 1 << 16  # values scaled at a time when the working dtype is not the result's


def working_dtype(stored: np.dtype) -> np.dtype:
    """The dtype features stored as ``stored`` are scaled in (the Notes of
    :class:`~softgrad.preprocessing.Scaler`): float64 for what float32 does not hold exactly,
    floats wider than float32 and integers of 32 bits or more, which a cast to float32 would
    round before the offset is taken off (int64 timestamps near 1.7e9 to 128 s, in a float64
    model too); float32 for the rest (integers up to 16 bits, which the batch gather kernels
    read as float32, and float32 or float16 values)."""
    if stored.kind == "f":
        return FLOAT64 if stored.itemsize > 4 else FLOAT32
    return FLOAT64 if stored.kind in "iu" and stored.itemsize >= 4 else FLOAT32


def scaled_dtype(dtype: Any, where: str) -> np.dtype:
    """``dtype`` as a NumPy dtype, one of :data:`SCALED_DTYPES`; another raises a ValueError
    naming ``where``."""
    dtype = FLOAT32 if dtype is np.float32 else np.dtype(dtype)  # the common case, quickly
    if dtype not in SCALED_DTYPES:
        raise ValueError(f"{where}: dtype must be float32 or float64; got {dtype.name!r}")
    return dtype


def scale_into(X: np.ndarray, offset: np.ndarray, scale: np.ndarray, out: np.ndarray) -> Any:
    """``out = (X - offset) * scale``, each operation rounded in out's dtype."""
    np.subtract(X, offset, out=out, dtype=out.dtype)
    return np.multiply(out, scale, out=out)


def scale_by_blocks(
    X: np.ndarray, offset: np.ndarray, scale: np.ndarray, out: np.ndarray, work: np.dtype
) -> None:
    """:func:`scale_into` in ``work``, a block of rows at a time (no whole intermediate), each
    block then cast into ``out``."""
    if X.ndim < 2:  # one row, or one value
        out[...] = scale_into(X, offset, scale, np.empty(X.shape, work))
        return
    rows = max(1, _BLOCK // max(1, math.prod(X.shape[1:])))
    for start in range(0, X.shape[0], rows):
        part = X[start : start + rows]
        out[start : start + rows] = scale_into(part, offset, scale, np.empty(part.shape, work))


def as_float32(value: Any, what: str) -> np.ndarray:
    array = np.asarray(value)
    if array.dtype.kind not in "biuf" or array.ndim > 1:
        raise ValueError(
            f"Scaler: {what} must be a number or a 1-D numeric array (D,); "
            f"got {array.dtype.name} of shape {array.shape}"
        )
    with np.errstate(over="ignore"):  # out of float32 range becomes inf, reported below
        array = array.astype(np.float32)
    if not np.all(np.isfinite(array)):
        raise ValueError(f"Scaler: {what} must be finite in float32; got {value!r}")
    return array
