"""The one check every feature value passes before training: finite, and within float32's range.

Shared by the .npz and IDX loaders (whole arrays, in chunks: :func:`check_values`) and the CSV
reader (block by block, before its float64 cells become float32), so all name the first bad
value the same way.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from softgrad.checks import first_beyond_dtype
from softgrad.errors import DataFormatError

__all__ = ["FLOAT32_MAX", "bad_value_error", "check_values", "chunk_rows", "first_bad_value"]

FLOAT32_MAX = float(np.finfo(np.float32).max)
# values are checked (and rows moved, by the .npz split) in chunks of about this many (8 MB of
# float64), so the temporaries stay small however wide the rows are
_CHUNK_VALUES = 1 << 20


def chunk_rows(X: np.ndarray) -> int:
    """How many rows of ``X`` make one chunk of about ``_CHUNK_VALUES`` values (at least 1)."""
    return max(1, _CHUNK_VALUES // max(1, X[0].size))


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
    """The error for a feature ``value`` that :func:`first_bad_value` (or :func:`check_values`
    within float32) found, located ``at``."""
    if not np.isfinite(value):
        return DataFormatError(f"{where}: features must be finite; got {value!r} at {at}")
    return DataFormatError(
        f"{where}: features must be within float32's range (|x| <= {FLOAT32_MAX:.4g}); "
        f"got {value!r} at {at}: float32 training cannot hold it (rescale it, or train in "
        "float64)"
    )


def check_values(
    X: np.ndarray, where: str, locate: Callable[[int, int], str], within: Any = np.float32
) -> None:
    """Refuse the first value of the float array ``X`` (N, ...) that :func:`first_bad_value`
    finds, scanning its flattened rows chunk by chunk; ``locate(row, column)`` names it.
    ``within=np.float64`` refuses NaN and inf only (what a model can scale into range)."""
    if X.dtype.kind != "f" or X.size == 0:  # reshape(0, -1) is ambiguous
        return
    flat = X.reshape(len(X), -1)
    step = chunk_rows(flat)
    for start in range(0, len(flat), step):
        bad = first_beyond_dtype(flat[start : start + step], within, nonfinite=True)
        if bad is not None:
            row, col = bad[0] + start, bad[1]
            raise bad_value_error(where, flat[row, col].item(), locate(row, col))
