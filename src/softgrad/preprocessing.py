"""Input scaling: the one affine map ``(X - offset) * scale`` a model applies to raw features,
applied to a whole array (:meth:`Scaler.transform`) or, for data kept in its stored type, one
batch at a time as the rows are read (:class:`ScaledRows`, from :meth:`Scaler.inputs`).

Where the map's offset and scale come from (fitted to a training set, chosen for a range, read
from a model file) is the mixin :class:`~softgrad.preprocessing_params.ScalerParams`: these two
classes hold the map and apply it, whatever chose it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from softgrad.checks import first_non_number
from softgrad.kernels import get_ops
from softgrad.model_file_scaler import zero_scale
from softgrad.preprocessing_params import ScalerParams
from softgrad.scaling import (
    as_float32,
    scale_by_blocks,
    scale_into,
    scaled_dtype,
    working_dtype,
)
from softgrad.stored_rows import StoredRows

__all__ = ["ScaledRows", "Scaler", "work_dtype"]


def work_dtype(identity: bool, stored: np.dtype, result: np.dtype) -> np.dtype:
    """The dtype rows stored as ``stored`` are scaled in for a result of ``result``: the
    result's own where the scaler is the identity (``identity``: a cast, rounded once, as
    ``astype`` rounds; through float64 an int64 beyond 2**53 would be rounded twice into
    float32), else :func:`~softgrad.scaling.working_dtype` of the stored dtype."""
    return np.dtype(result) if identity else working_dtype(stored)


class Scaler(ScalerParams):
    """Maps raw features to network inputs: ``x_scaled = (x - offset) * scale``, in float32
    (or float64 for a float64 network: :meth:`transform`'s ``dtype``).

    Parameters
    ----------
    offset : float or ndarray of shape (D,)
        Subtracted first (a per-feature mean, or 0 for images).
    scale : float or ndarray of shape (D,)
        Multiplied second (1 / std, or 1 / 255 for 8-bit images).

    Notes
    -----
    ``offset`` and ``scale`` are stored as float32. Features that float32 holds exactly (any
    integers up to 16 bits, float32 values) are scaled in float32 straight into the output
    buffer, so transforming 60000 uint8 images allocates the float32 result and nothing else;
    a float64 result widens those float32 values. Wider floats (float64 features) and wider
    integers (32 and 64 bits) are scaled in float64 and rounded once into the result: cast to
    float32 first, a feature's digits below float32's resolution at its magnitude were lost
    before the offset was taken off (a timestamp near 1.7e9 rounded to 128 s, a price near 1e6
    to 1/16), in a float64 model too. Feature ``j`` with zero variance gets scale 1 from
    :meth:`fit_standard`, so it maps to 0 instead of dividing by zero.

    Examples
    --------
    >>> scaler = Scaler.for_range(255)
    >>> scaler.transform(np.array([[0, 51, 255]], dtype=np.uint8))
    array([[0. , 0.2, 1. ]], dtype=float32)
    >>> Scaler.fit_standard(np.array([[1.0, 5.0], [3.0, 5.0]])).transform([[2.0, 7.0]])
    array([[0., 2.]], dtype=float32)
    """

    def __init__(self, offset: float | np.ndarray = 0.0, scale: float | np.ndarray = 1.0):
        self.offset = as_float32(offset, "offset")
        self.scale = as_float32(scale, "scale")
        problem = zero_scale(self.scale)  # Model, save and load refuse it: refused at once
        if problem is not None:
            raise ValueError(f"Scaler: scale {problem}")
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

    def transform(
        self, X: np.ndarray, out: np.ndarray | None = None, dtype: Any = np.float32
    ) -> np.ndarray:
        """Return ``(X - offset) * scale`` as a float array (new, or ``out``).

        Parameters
        ----------
        X : ndarray of shape (..., D)
            Raw features of any numeric dtype (float64 ones are scaled in float64: Notes).
        out : ndarray of shape (..., D), optional
            Where to write the result, of ``dtype``; ``out=X`` scales a float32 ``X`` in place
            (its raw values are gone), so a data set its owner no longer needs raw is not
            copied.
        dtype : float32 or float64, default float32
            The result's dtype (a network's).

        Returns
        -------
        ndarray of shape (..., D), of ``dtype``
            ``out`` when given. The values are the same either way. A value whose scaled form
            lies beyond ``dtype`` is +-inf there, as ``astype`` makes it; NaN stays.

        Examples
        --------
        >>> X = np.array([[2.0, 4.0]], dtype=np.float32)
        >>> Scaler(1.0, 0.5).transform(X, out=X) is X, X
        (True, array([[0.5, 1.5]], dtype=float32))
        """
        given, X = X, np.asarray(X)
        if X.dtype.kind not in "biuf":
            raise ValueError(
                f"Scaler.transform: X must be numeric; got dtype {X.dtype.name!r}"
                + first_non_number(given, X)
            )
        n_features = self.n_features
        if n_features is not None and (X.ndim == 0 or X.shape[-1] != n_features):
            raise ValueError(
                f"Scaler.transform: X must have {n_features} features (last axis); "
                f"got shape {X.shape}"
            )
        dtype = scaled_dtype(dtype, "Scaler.transform")
        if out is None:
            out = np.empty(X.shape, dtype=dtype)
        elif out.dtype != dtype or out.shape != X.shape:
            raise ValueError(
                f"Scaler.transform: out must be {dtype.name} of shape {X.shape} like X; "
                f"got {out.dtype.name} of shape {out.shape}"
            )
        work = work_dtype(self.is_identity, X.dtype, dtype)
        # a value beyond the result's range becomes +-inf as a cast makes it, without NumPy's
        # warning (fit, the models and the CLI refuse such rows by name before they scale them)
        with np.errstate(over="ignore", invalid="ignore"):
            if work == dtype:  # straight into out: never promoted, no intermediate
                scale_into(X, self.offset, self.scale, out)
            else:  # in the working dtype, then rounded or widened into out
                scale_by_blocks(X, self.offset, self.scale, out, work)
        return out

    def inputs(self, X: np.ndarray, dtype: Any = np.float32) -> ScaledRows | np.ndarray:
        """The network inputs for ``X``: lazily scaled rows for integer data, else transformed.

        Parameters
        ----------
        X : ndarray of shape (N, D)
            Raw features. Integer pixels (uint8 images, the digits' 0..16) stay as they are.
        dtype : float32 or float64, default float32
            The dtype of the rows the network reads (``fit`` sets it to the model's).

        Returns
        -------
        ScaledRows or ndarray of shape (N, D)
            For an integer ``X``, a :class:`ScaledRows` over ``X`` itself (no copy when it is
            C-contiguous): no float copy of the data set is ever made, each batch is scaled as
            it is gathered. For float ``X``, ``self.transform(X, dtype=dtype)``.

        Examples
        --------
        >>> pixels = np.array([[0, 51], [255, 102]], dtype=np.uint8)
        >>> rows = Scaler.for_range(255).inputs(pixels)
        >>> rows
        ScaledRows(uint8 of shape (2, 2) as float32, Scaler(offset=0.0, scale=0.003921568859368563))
        >>> rows.take(np.array([1]))
        array([[1. , 0.4]], dtype=float32)
        """
        X = np.asarray(X)
        if X.dtype.kind in "iu":
            return ScaledRows(X, self, dtype)
        return self.transform(X, dtype=dtype)

    @property
    def is_identity(self) -> bool:
        """Whether it scales nothing (offset 0, scale 1): the rows are then only cast, once,
        into the result's dtype, as ``X.astype(dtype)`` casts them (:func:`work_dtype`).

        Examples
        --------
        >>> Scaler().is_identity, Scaler.for_range(255).is_identity
        (True, False)
        """
        return not self.offset.any() and bool((self.scale == 1).all())

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Scaler):
            return NotImplemented
        return np.array_equal(self.offset, other.offset) and np.array_equal(self.scale, other.scale)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        def show(array: np.ndarray) -> str:
            return repr(float(array)) if array.ndim == 0 else f"<{array.shape[0]} values>"

        return f"Scaler(offset={show(self.offset)}, scale={show(self.scale)})"


class ScaledRows(StoredRows):
    """Stored rows (uint8 images) read as scaled float rows, one batch at a time.

    The data set stays in memory in its stored type, a quarter of float32's bytes for uint8
    pixels; a batch is gathered and scaled in one kernel pass
    (``get_ops().gather_rows_scaled``) straight into a float buffer. ``fit``, ``evaluate`` and
    the ``predict_*`` functions of :mod:`softgrad.training` take it wherever they take an
    array of inputs, and never hold more than a batch of it as floats.

    Parameters
    ----------
    data : ndarray of shape (N, D)
        Raw stored rows, any real dtype (made C-contiguous: no copy when it is already).
    scaler : Scaler
        The fitted scaling: row ``i`` reads as ``(data[i] - offset) * scale``.
    dtype : float32 or float64, default float32
        The dtype of the rows read (the network's).

    Attributes
    ----------
    shape : tuple
        ``data.shape``: N rows of D features.
    dtype : numpy.dtype
        The dtype of the rows read (not of the stored data: see ``data.dtype``).

    Notes
    -----
    A row equals ``scaler.transform(data, dtype=dtype)`` at that row bit for bit, computed in
    the same working dtype (:func:`work_dtype`): stored values float32 holds exactly (integers
    up to 16 bits, float32) are converted to float32, the offset subtracted and the scale
    multiplied, each rounded once in float32, and in float64 these float32 rows are widened
    (exactly), as ``fit`` widens a transformed array for a float64 model; wider integers and
    floats are scaled in float64 and then rounded to ``dtype``. An identity scaler (offset 0,
    scale 1: ``fit``'s reading of integer rows a batch at a time) only casts, once, as
    ``data.astype(dtype)`` does.
    ``np.asarray(rows)`` materialises every row as floats; the training and inference loops
    never do.

    Example
    -------
    >>> rows = ScaledRows(np.array([[0, 16], [8, 4]], dtype=np.uint8), Scaler.for_range(16))
    >>> len(rows), rows.shape, rows.dtype
    (2, (2, 2), dtype('float32'))
    >>> rows.take(np.array([1, 1, 0]))
    array([[0.5 , 0.25],
           [0.5 , 0.25],
           [0.  , 1.  ]], dtype=float32)
    >>> rows[1:].rows()
    array([[0.5 , 0.25]], dtype=float32)
    """

    def __init__(self, data: np.ndarray, scaler: Scaler, dtype: Any = np.float32):
        data = np.asarray(data)
        if data.ndim != 2 or data.dtype.kind not in "biuf":
            raise ValueError(
                "ScaledRows: data must be a real numeric 2-D array (N, D); "
                f"got {data.dtype.name} of shape {data.shape}"
            )
        if not isinstance(scaler, Scaler):
            raise TypeError(f"ScaledRows: scaler must be a softgrad Scaler; got {scaler!r}")
        if scaler.n_features not in (None, data.shape[1]):
            raise ValueError(
                f"ScaledRows: data must have {scaler.n_features} features like the scaler; "
                f"got shape {data.shape}"
            )
        dtype = scaled_dtype(dtype, "ScaledRows")
        self.data = np.ascontiguousarray(data)
        self.scaler = scaler
        self.dtype = dtype

    def astype(self, dtype: Any) -> ScaledRows:
        """The same stored rows read in ``dtype`` (no copy of the data)."""
        return self if np.dtype(dtype) == self.dtype else ScaledRows(self.data, self.scaler, dtype)

    def _take_into(self, idx: np.ndarray, out: np.ndarray) -> np.ndarray:
        """The scaled rows ``idx`` written into ``out`` (StoredRows.take)."""
        gather = get_ops().gather_rows_scaled
        offset, scale = self.scaler.offset, self.scaler.scale  # float32, as transform uses
        work = work_dtype(self.scaler.is_identity, self.data.dtype, out.dtype)
        if out.dtype == work:
            return gather(self.data, idx, offset, scale, out)
        # transform's rows in their working dtype, widened or rounded into out (see Notes)
        np.copyto(out, gather(self.data, idx, offset, scale, np.empty(out.shape, work)))
        return out

    def bind_take(self, out: np.ndarray) -> Any:
        """:meth:`take` into ``out`` bound (StoredRows.bind_take): the lane's bound scaled
        gather for a float32 ``out`` of rows scaled in float32, else :meth:`take` itself."""
        work = work_dtype(self.scaler.is_identity, self.data.dtype, out.dtype)
        if out.dtype != np.float32 or work != out.dtype:
            return super().bind_take(out)
        offset, scale = self.scaler.offset, self.scaler.scale
        return get_ops().bind_gather_rows_scaled(self.data, offset, scale, out)

    def over(self, data: np.ndarray) -> ScaledRows:
        """Other stored rows (a split of ``data``) read through the same scaler and dtype."""
        return ScaledRows(data, self.scaler, self.dtype)

    def floats(self) -> np.ndarray:
        """Every row scaled by NumPy (``scaler.transform``), in :attr:`dtype`: equal to what
        :meth:`take` reads (Notes)."""
        return self.scaler.transform(self.data, dtype=self.dtype)

    def __repr__(self) -> str:
        return (
            f"ScaledRows({self.data.dtype.name} of shape {self.shape} as {self.dtype.name}, "
            f"{self.scaler!r})"
        )
