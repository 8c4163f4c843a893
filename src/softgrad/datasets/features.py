"""The one check every feature value passes before training: finite, and within float32's range.

Shared by the .npz loader (whole arrays, in chunks) and the CSV reader (block by block, before
its float64 cells become float32), so both name the first bad value the same way.
"""

from __future__ import annotations

import numpy as np

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
    # the bound in X's own dtype: float16 cannot hold float32's maximum (comparing would turn
    # it into float16 inf with a RuntimeWarning), and every finite float16 fits float32
    limit = (
        X.dtype.type(min(FLOAT32_MAX, float(np.finfo(X.dtype).max)))
        if X.dtype.kind == "f"
        else FLOAT32_MAX
    )
    # NaN fails the comparison too: one pass finds NaN, inf and values float32 cannot hold
    with np.errstate(invalid="ignore"):
        bad = np.argwhere(~(np.abs(X) <= limit))
    return (int(bad[0, 0]), int(bad[0, 1])) if bad.size else None


def bad_value_error(where: str, value: float, at: str) -> DataFormatError:
    """The error for a feature ``value`` that :func:`first_bad_value` found, located ``at``."""
    if not np.isfinite(value):
        return DataFormatError(f"{where}: features must be finite; got {value!r} at {at}")
    return DataFormatError(
        f"{where}: features must be within float32's range (|x| <= {FLOAT32_MAX:.4g}); "
        f"got {value!r} at {at}: softgrad trains in float32, rescale it"
    )
