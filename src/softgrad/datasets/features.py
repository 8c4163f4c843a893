"""The one check every feature value passes before training: finite, and within float32's range.

Shared by the .npz loader (whole arrays, in chunks) and the CSV reader (block by block, before
its float64 cells become float32), so both name the first bad value the same way.
"""

from __future__ import annotations

import numpy as np

from softgrad.checks import first_beyond_dtype
from softgrad.errors import DataFormatError

__all__ = ["FLOAT32_MAX", "bad_value_error", "first_bad_value"]

FLOAT32_MAX = float(np.finfo(np.float32).max)


def first_bad_value(X: np.ndarray) -> tuple[int, int] | None:
    """``(row, column)`` of the first value of the 2-D ``X``, in row order, that is NaN, inf or
    beyond float32's range (``|x| > FLOAT32_MAX``); None when there is none.

    Example
    -------
    >>> first_bad_value(np.array([[1.0, 2.0], [1e39, np.nan]]))
    (1, 0)
    >>> first_bad_value(np.ones((2, 2))) is None
    True
    """
    return first_beyond_dtype(X, np.float32, nonfinite=True)


def bad_value_error(where: str, value: float, at: str) -> DataFormatError:
    """The error for a feature ``value`` that :func:`first_bad_value` found, located ``at``."""
    if not np.isfinite(value):
        return DataFormatError(f"{where}: features must be finite; got {value!r} at {at}")
    return DataFormatError(
        f"{where}: features must be within float32's range (|x| <= {FLOAT32_MAX:.4g}); "
        f"got {value!r} at {at}: softgrad trains in float32, rescale it"
    )
