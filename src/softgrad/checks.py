"""Argument checks shared across softgrad: each rule written once, in the house template.

Every check raises ValueError or TypeError with the message
``"{where}: {what} must be {expected}; got {actual!r}"`` and returns the value in the form the
caller goes on to trust (an int, a float array ...). Public functions call these at their
boundary; private helpers behind them trust what they were given.

This module sits on the bottom floor: it imports nothing of softgrad, so every floor can use it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["check_feature_count", "check_finite_rows", "check_positive_int", "check_real_array"]


def check_positive_int(value: Any, where: str, what: str) -> int:
    """``value`` as an int when it is an integer >= 1.

    Raises
    ------
    TypeError
        ``value`` is not an int (bools and floats such as 2.0 are refused too).
    ValueError
        ``value`` < 1.

    Example
    -------
    >>> check_positive_int(3, "predict", "batch_size")
    3
    >>> check_positive_int(0, "predict", "batch_size")
    Traceback (most recent call last):
    ...
    ValueError: predict: batch_size must be a positive int; got 0
    """
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{where}: {what} must be a positive int; got {value!r}")
    if value < 1:
        raise ValueError(f"{where}: {what} must be a positive int; got {value!r}")
    return int(value)


def check_real_array(x: Any, where: str, what: str = "X") -> np.ndarray:
    """``x`` as an ndarray of real numbers (bool, int, unsigned or float dtype); else ValueError.

    Example
    -------
    >>> check_real_array([[1, 2]], "predict").dtype.kind
    'i'
    >>> check_real_array([["a"]], "predict")
    Traceback (most recent call last):
    ...
    ValueError: predict: X must be numeric; got dtype '<U1'
    """
    array = np.asarray(x)
    if array.dtype.kind not in "biuf":
        raise ValueError(f"{where}: {what} must be numeric; got dtype {array.dtype.str!r}")
    return array


def check_finite_rows(x: np.ndarray, where: str, what: str = "X") -> None:
    """Refuse NaN or infinite entries, naming the first row that holds one.

    Integer arrays are always finite. The common case costs one ``min`` and one ``max`` (they
    propagate NaN and expose +-inf) and no temporary the size of ``x``; the row is searched for
    only when something is wrong.

    Example
    -------
    >>> check_finite_rows(np.array([[0.0, 1.0], [2.0, np.nan]]), "predict")
    Traceback (most recent call last):
    ...
    ValueError: predict: X must be finite; got NaN or inf in row 1
    """
    if x.dtype.kind != "f" or x.size == 0:
        return
    if np.isfinite(x.min()) and np.isfinite(x.max()):
        return
    bad = ~np.isfinite(x.reshape(len(x), -1)).all(axis=1) if x.ndim > 1 else ~np.isfinite(x)
    row = int(np.flatnonzero(bad)[0])
    raise ValueError(f"{where}: {what} must be finite; got NaN or inf in row {row}")


def check_feature_count(x: np.ndarray, n_features: int, where: str, what: str = "X") -> None:
    """Refuse anything but a 2-D array of ``n_features`` columns (the model's input size).

    Example
    -------
    >>> check_feature_count(np.zeros((4, 3)), 2, "predict")
    Traceback (most recent call last):
    ...
    ValueError: predict: X must have 2 features (the model's input size); got 3
    """
    if x.ndim != 2:
        raise ValueError(f"{where}: {what} must have shape (N, {n_features}); got shape {x.shape}")
    if x.shape[1] != n_features:
        raise ValueError(
            f"{where}: {what} must have {n_features} features (the model's input size); "
            f"got {x.shape[1]}"
        )
