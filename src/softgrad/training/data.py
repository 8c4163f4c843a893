"""Validation of the arrays handed to :func:`fit`, done once so the batch loop can trust them."""

from __future__ import annotations

from typing import Any

import numpy as np


def check_features(X: Any, dtype: np.dtype, what: str = "X") -> np.ndarray:
    """``X`` as a C-contiguous (N, D) array of ``dtype``: copied only if it is not one already."""
    X = np.asarray(X)
    if X.ndim != 2:
        raise ValueError(f"fit: {what} must have shape (N, D); got shape {X.shape}")
    if len(X) == 0:
        raise ValueError(f"fit: {what} must have at least one sample; got shape {X.shape}")
    if not (np.issubdtype(X.dtype, np.number) and not np.issubdtype(X.dtype, np.complexfloating)):
        raise TypeError(f"fit: {what} must be a real numeric array; got dtype {X.dtype}")
    X = np.ascontiguousarray(X, dtype=dtype)
    # min and max propagate NaN and expose +-inf without a temporary the size of X
    low, high = X.min(), X.max()
    if not (np.isfinite(low) and np.isfinite(high)):
        raise ValueError(f"fit: {what} must be finite; got values in [{low!r}, {high!r}]")
    return X


def check_target(y: Any, n_samples: int, n_classes: int | None, what: str = "y") -> np.ndarray:
    """``y`` as an (N,) intp array of class indices in 0..C-1."""
    y = np.asarray(y)
    if y.shape != (n_samples,):
        raise ValueError(f"fit: {what} must have shape ({n_samples},); got shape {y.shape}")
    if np.issubdtype(y.dtype, np.floating) and np.all(np.mod(y, 1) == 0):
        y = y.astype(np.intp)
    if not np.issubdtype(y.dtype, np.integer) or np.issubdtype(y.dtype, np.bool_):
        raise TypeError(f"fit: {what} must hold integer class indices; got dtype {y.dtype}")
    low, high = int(y.min()), int(y.max())
    if low < 0 or (n_classes is not None and high >= n_classes):
        expected = "0..C-1" if n_classes is None else f"0..{n_classes - 1} (the model's outputs)"
        raise ValueError(f"fit: {what} must hold class indices in {expected}; got [{low}, {high}]")
    return y.astype(np.intp, copy=False)


def check_weight(sample_weight: Any, n_samples: int, dtype: np.dtype) -> np.ndarray | None:
    """``sample_weight`` as an (N,) array of finite weights >= 0 with a positive sum, or None."""
    if sample_weight is None:
        return None
    w = np.asarray(sample_weight)
    if w.shape != (n_samples,):
        raise ValueError(f"fit: sample_weight must have shape ({n_samples},); got shape {w.shape}")
    w = w.astype(dtype)
    if not np.all(np.isfinite(w)) or np.any(w < 0) or not w.sum() > 0:
        raise ValueError(
            "fit: sample_weight must be finite, >= 0 and not all 0; got "
            f"min {w.min()!r}, max {w.max()!r}, sum {w.sum()!r}"
        )
    return w


def check_positive_int(value: Any, what: str) -> int:
    """``value`` as a positive int, else ValueError."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"fit: {what} must be a positive int; got {value!r}")
    return int(value)


def output_width(model: Any) -> int | None:
    """Number of outputs of the model's last Linear-like layer (None if it cannot tell)."""
    for layer in reversed(list(getattr(model, "layers", ()))):
        width = getattr(layer, "out_features", None)
        if isinstance(width, (int, np.integer)):
            return int(width)
    return None
