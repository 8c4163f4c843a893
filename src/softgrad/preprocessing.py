"""Input scaling: the one affine map ``(X - offset) * scale`` a model applies to raw features."""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["Scaler"]

_CHUNK_ROWS = 4096  # rows per float64 block when fitting: bounded extra memory


def _as_float32(value: Any, what: str) -> np.ndarray:
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


class Scaler:
    """Maps raw features to float32 network inputs: ``x_scaled = (x - offset) * scale``.

    Parameters
    ----------
    offset : float or ndarray of shape (D,)
        Subtracted first (a per-feature mean, or 0 for images).
    scale : float or ndarray of shape (D,)
        Multiplied second (1 / std, or 1 / 255 for 8-bit images).

    Notes
    -----
    ``offset`` and ``scale`` are stored as float32 and the arithmetic runs in float32 straight
    into the output buffer, so transforming 60000 uint8 images allocates the float32 result and
    nothing else (no float64 intermediate). Feature ``j`` with zero variance gets scale 1 from
    :meth:`fit_standard`, so it maps to 0 instead of dividing by zero.

    Example
    -------
    >>> scaler = Scaler.for_range(255)
    >>> scaler.transform(np.array([[0, 51, 255]], dtype=np.uint8))
    array([[0. , 0.2, 1. ]], dtype=float32)
    >>> Scaler.fit_standard(np.array([[1.0, 5.0], [3.0, 5.0]])).transform([[2.0, 7.0]])
    array([[0., 2.]], dtype=float32)
    """

    def __init__(self, offset: float | np.ndarray = 0.0, scale: float | np.ndarray = 1.0):
        self.offset = _as_float32(offset, "offset")
        self.scale = _as_float32(scale, "scale")
        if self.offset.ndim == 1 and self.scale.ndim == 1 and self.offset.shape != self.scale.shape:
            raise ValueError(
                f"Scaler: offset and scale must have the same length; "
                f"got {self.offset.shape[0]} and {self.scale.shape[0]}"
            )

    @property
    def n_features(self) -> int | None:
        """D when offset or scale is per-feature, None when both are scalars (any D)."""
        for array in (self.offset, self.scale):
            if array.ndim == 1:
                return int(array.shape[0])
        return None

    @classmethod
    def for_range(cls, max_value: float) -> Scaler:
        """Scale raw values in ``[0, max_value]`` to ``[0, 1]`` (images: ``max_value=255``)."""
        if not (np.isfinite(max_value) and max_value > 0):
            raise ValueError(f"Scaler.for_range: max_value must be positive; got {max_value!r}")
        return cls(0.0, 1.0 / float(max_value))

    @classmethod
    def fit_standard(cls, X: np.ndarray) -> Scaler:
        """Standardise each feature to mean 0 and standard deviation 1 over the rows of ``X``.

        Parameters
        ----------
        X : ndarray of shape (N, D)
            Raw training features, numeric and finite.

        Returns
        -------
        Scaler
            ``offset`` the feature means, ``scale`` 1 / std (population std, ``ddof=0``);
            features whose std is 0 (up to rounding) get scale 1.

        Notes
        -----
        Statistics are accumulated in float64 over blocks of rows, so fitting never holds a
        float64 copy of ``X``.
        """
        X = np.asarray(X)
        if X.ndim != 2 or X.shape[0] == 0 or X.dtype.kind not in "biuf":
            raise ValueError(
                "Scaler.fit_standard: X must be a non-empty numeric 2-D array (N, D); "
                f"got {X.dtype.name} of shape {X.shape}"
            )
        with np.errstate(over="ignore", invalid="ignore"):  # NaN/inf are reported below
            mean = np.mean(X, axis=0, dtype=np.float64)
        if not np.all(np.isfinite(mean)):
            raise ValueError(
                "Scaler.fit_standard: X must be finite; got NaN or inf in feature "
                f"{int(np.flatnonzero(~np.isfinite(mean))[0])}"
            )
        sum_sq = np.zeros(X.shape[1], dtype=np.float64)
        for start in range(0, X.shape[0], _CHUNK_ROWS):
            block = X[start : start + _CHUNK_ROWS].astype(np.float64)
            block -= mean
            sum_sq += np.einsum("ij,ij->j", block, block)
        std = np.sqrt(sum_sq / X.shape[0])
        # a constant feature: std is 0 or rounding noise relative to its magnitude
        constant = std <= 10 * np.finfo(np.float64).eps * np.maximum(1.0, np.abs(mean))
        scale = np.where(constant, 1.0, 1.0 / np.where(constant, 1.0, std))
        return cls(mean, scale)

    def transform(self, X: np.ndarray) -> np.ndarray:
        """Return ``(X - offset) * scale`` as a new float32 array.

        Parameters
        ----------
        X : ndarray of shape (..., D)
            Raw features of any numeric dtype.

        Returns
        -------
        ndarray of shape (..., D), float32
        """
        X = np.asarray(X)
        if X.dtype.kind not in "biuf":
            raise ValueError(f"Scaler.transform: X must be numeric; got dtype {X.dtype.name!r}")
        n_features = self.n_features
        if n_features is not None and (X.ndim == 0 or X.shape[-1] != n_features):
            raise ValueError(
                f"Scaler.transform: X must have {n_features} features (last axis); "
                f"got shape {X.shape}"
            )
        out = np.empty(X.shape, dtype=np.float32)
        # dtype=float32: the subtraction itself runs in float32, never promoted to float64
        np.subtract(X, self.offset, out=out, dtype=np.float32)
        np.multiply(out, self.scale, out=out)
        return out

    def to_arrays(self) -> dict[str, np.ndarray]:
        """``{"offset": ..., "scale": ...}`` float32 arrays (0-d or (D,)) for saving."""
        return {"offset": self.offset.copy(), "scale": self.scale.copy()}

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> Scaler:
        """Inverse of :meth:`to_arrays`."""
        missing = {"offset", "scale"} - set(arrays)
        if missing:
            raise ValueError(
                "Scaler.from_arrays: arrays must hold 'offset' and 'scale'; "
                f"missing {sorted(missing)}"
            )
        return cls(arrays["offset"], arrays["scale"])

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Scaler):
            return NotImplemented
        return np.array_equal(self.offset, other.offset) and np.array_equal(self.scale, other.scale)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        def show(array: np.ndarray) -> str:
            return repr(float(array)) if array.ndim == 0 else f"<{array.shape[0]} values>"

        return f"Scaler(offset={show(self.offset)}, scale={show(self.scale)})"
