"""Scaler mixin: where a Scaler's offset and scale come from, and where they go. Fitted to the
training features (:meth:`~ScalerParams.fit_standard`: each feature's mean and standard
deviation), chosen for a known range (:meth:`~ScalerParams.for_range`: images), or read from a
model file's arrays (:meth:`~ScalerParams.from_arrays`, and :meth:`~ScalerParams.to_arrays`
back).

The Scaler itself (:mod:`softgrad.preprocessing`) holds the float32 map, checks it and applies
it, whatever chose it; these are the ways of choosing it. fit_standard is the one part of the
Scaler that reads a whole data set: its statistics are accumulated in float64 over blocks of
rows (``_CHUNK_ROWS``, at most ``_CHUNK_VALUES`` values), so fitting never holds a float64 copy
of X, and each feature's spread is checked against what a float32 scale can invert.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeVar

import numpy as np

from softgrad.checks import check_number

__all__ = ["FeatureScaleError", "ScalerParams"]


class FeatureScaleError(ValueError):
    """A feature whose standard deviation a float32 scale cannot invert; ``feature`` is its
    index and ``std`` the deviation, for a caller that names the feature as its user knows it
    (a file's column: :meth:`softgrad.datasets.Dataset.fit_scaler`)."""

    def __init__(self, message: str, feature: int, std: float) -> None:
        super().__init__(message)
        self.feature, self.std = feature, std


# rows per float64 block when fitting, and at most _CHUNK_VALUES values (8 MB): bounded extra
# memory however wide the rows (4096 rows of 5,000 features were 164 MB)
_CHUNK_ROWS = 4096
_CHUNK_VALUES = 1 << 20


def _mean(X: np.ndarray, step: int) -> np.ndarray:
    """Mean of each feature of ``X``, accumulated in float64 over blocks of ``step`` rows (NaN or
    inf where ``X`` holds them: the caller says)."""
    # np.mean(X, axis=0, dtype=float64) of a wide float32 X converts all of X at once
    total = np.zeros(X.shape[1], dtype=np.float64)
    with np.errstate(over="ignore", invalid="ignore"):  # NaN/inf: reported by the caller
        for start in range(0, X.shape[0], step):
            total += X[start : start + step].sum(axis=0, dtype=np.float64)
    return total / X.shape[0]


def _std(X: np.ndarray, mean: np.ndarray, step: int) -> np.ndarray:
    """Population std of each feature of ``X`` around ``mean``, accumulated in float64 over
    blocks of ``step`` rows (inf where the squares pass float64's range: the caller says)."""
    sum_sq = np.zeros(X.shape[1], dtype=np.float64)
    with np.errstate(over="ignore"):
        for start in range(0, X.shape[0], step):
            block = X[start : start + step].astype(np.float64)
            block -= mean
            sum_sq += np.einsum("ij,ij->j", block, block)
    return np.sqrt(sum_sq / X.shape[0])


# the standard deviations whose inverse a float32 scale holds
STD_RANGE = (1 / float(np.finfo(np.float32).max), 1 / float(np.finfo(np.float32).tiny))

# the class a class method is called on (Scaler)
_S = TypeVar("_S", bound="ScalerParams")


class ScalerParams:
    """Scaler mixin: its offset and scale fitted to data, chosen for a range, or read from
    a model file's arrays (and written back)."""

    if TYPE_CHECKING:  # Scaler's, which the class methods build
        offset: np.ndarray
        scale: np.ndarray

        def __init__(
            self, offset: float | np.ndarray = 0.0, scale: float | np.ndarray = 1.0
        ) -> None: ...

    @classmethod
    def for_range(cls: type[_S], max_value: float) -> _S:
        """Scale raw values in ``[0, max_value]`` to ``[0, 1]`` (images: ``max_value=255``)."""
        max_value = check_number(max_value, "Scaler.for_range", "max_value", 0.0, low_open=True)
        return cls(0.0, 1.0 / max_value)

    @classmethod
    def fit_standard(cls: type[_S], X: np.ndarray) -> _S:
        """Standardise each feature to mean 0 and standard deviation 1 over the rows of ``X``.

        Parameters
        ----------
        X : ndarray of shape (N, D)
            Raw training features, numeric and finite.

        Returns
        -------
        Scaler
            ``offset`` the feature means, ``scale`` 1 / std (population std, ``ddof=0``);
            features whose std is 0 up to the rounding of their own sums get scale 1
            (scikit-learn's StandardScaler rule: relative to the feature's mean, so a feature
            of values near 1e-30 is scaled like any other).

        Raises
        ------
        ValueError
            X is empty, not 2-D, not numeric or not finite, or a feature's std is beyond what
            a float32 scale can invert (below 2.9e-39 or above 8.5e37).

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
        step = min(_CHUNK_ROWS, max(1, _CHUNK_VALUES // max(1, X.shape[1])))
        mean = _mean(X, step)
        if not np.all(np.isfinite(mean)):
            raise ValueError(
                "Scaler.fit_standard: X must be finite; got NaN or inf in feature "
                f"{int(np.flatnonzero(~np.isfinite(mean))[0])}"
            )
        std = _std(X, mean, step)
        # a constant feature: its variance is within the rounding of its own sums, relative
        # to the feature's magnitude (scikit-learn's StandardScaler rule, var <= n eps var +
        # (n eps mean)**2, taken in std so that it cannot overflow); relative to 1, features
        # of 1e-30 and 2e-30 were taken as constant and mapped to 0
        n_eps = X.shape[0] * float(np.finfo(np.float64).eps)
        constant = std * np.sqrt(max(0.0, 1.0 - n_eps)) <= n_eps * np.abs(mean)
        scale = np.where(constant, 1.0, 1.0 / np.where(constant, 1.0, std))
        tiny, largest = np.finfo(np.float32).tiny, np.finfo(np.float32).max
        beyond = ~constant & ~((scale >= tiny) & (scale <= largest))
        if np.any(beyond):  # the float32 scale would be 0 or inf, or lose its precision
            j = int(np.flatnonzero(beyond)[0])
            raise FeatureScaleError(
                f"Scaler.fit_standard: X's feature {j} must have a standard deviation from "
                f"{STD_RANGE[0]:.3g} to {STD_RANGE[1]:.3g}, whose inverse the float32 scale "
                f"holds; got {float(std[j])!r} (rescale the feature)",
                j,
                float(std[j]),
            )
        return cls(mean, scale)

    def to_arrays(self) -> dict[str, np.ndarray]:
        """``{"offset": ..., "scale": ...}`` float32 arrays (0-d or (D,)) for saving."""
        return {"offset": self.offset.copy(), "scale": self.scale.copy()}

    @classmethod
    def from_arrays(cls: type[_S], arrays: dict[str, np.ndarray]) -> _S:
        """Inverse of :meth:`to_arrays`."""
        missing = {"offset", "scale"} - set(arrays)
        if missing:
            raise ValueError(
                "Scaler.from_arrays: arrays must hold 'offset' and 'scale'; "
                f"missing {sorted(missing)}"
            )
        return cls(arrays["offset"], arrays["scale"])
