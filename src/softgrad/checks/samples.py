"""Checks of arrays of samples (the rows of X, their sample weights): a rectangular array of
real numbers, finite, of the model's width, and within the range of the model's dtype.

Each names the first offending row or entry, in the house template (see :mod:`softgrad.checks`).
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np


def plain_ndarray(x: Any) -> bool:
    """Whether ``x`` is an ndarray whose elementwise arithmetic and conversion are NumPy's own:
    not an ``np.matrix`` (its ``*`` is a matrix product) or a masked array (``np.asarray``
    drops its mask). A memmap is one.

    Example
    -------
    >>> plain_ndarray(np.zeros(2)), plain_ndarray(np.ma.masked_array([1.0]))
    (True, False)
    """
    return isinstance(x, np.ndarray) and not isinstance(x, (np.matrix, np.ma.MaskedArray))


def as_array(x: Any, where: str, what: str = "X", fix: str | None = None) -> np.ndarray:
    """``np.asarray(x)``, with a message that names the entry where nested lists of unequal
    lengths part (NumPy's own says only "inhomogeneous shape"), and a masked array refused
    (``np.asarray`` drops its mask and reads what it hid). ``fix``: what the refusal of a
    masked array tells the user to pass instead (by default ``X.filled(value)``, or ``X.data``
    with ``where=~X.mask``).

    Example
    -------
    >>> as_array([[1, 2], [3]], "predict")
    Traceback (most recent call last):
    ...
    ValueError: predict: X must be a rectangular array of numbers; got nested lists of unequal \
lengths: X[1] is a list of 1 where X[0] is a list of 2
    """
    if isinstance(x, np.ma.MaskedArray):  # np.asarray drops the mask and reads what it hid
        if fix is None:
            fix = (
                f"{what}.filled(value), or {what}.data with where=~{what}.mask to the functions "
                "that take where="
            )
        raise TypeError(
            f"{where}: {what} must not be a masked array (its mask would be ignored); pass {fix}"
        )
    try:
        return np.asarray(x)
    except ValueError as exc:
        parted = _where_lengths_part(x, what)
        if parted is not None:
            raise ValueError(
                f"{where}: {what} must be a rectangular array of numbers; got nested lists of "
                f"unequal lengths: {parted}"
            ) from None
        raise ValueError(
            f"{where}: {what} must be an array of numbers; NumPy could not convert it ({exc})"
        ) from None


def _where_lengths_part(x: Any, what: str) -> str | None:
    """The first entry of nested sequences ``x`` whose length (or whether it is a sequence
    at all) differs from its level's first entry, walking the nesting one level at a time."""

    def kind(value: Any) -> str:
        if isinstance(value, (list, tuple)) or getattr(value, "ndim", 0) > 0:
            return f"a list of {len(value)}"
        return "a number"

    level = [(what, x)]
    while level:
        first, first_kind = level[0][0], kind(level[0][1])
        for name, value in level:
            if kind(value) != first_kind:
                return f"{name} is {kind(value)} where {first} is {first_kind}"
        if first_kind == "a number":
            return None
        level = [(f"{n}[{i}]", item) for n, v in level for i, item in enumerate(v)]
    return None


def whole_numbers(y: np.ndarray) -> np.ndarray:
    """Mask of the entries of a float array that are exact integers: finite, whole, and below
    2**53 in size (beyond it a float no longer holds every integer). Class labels and class
    indices follow this one rule.

    Example
    -------
    >>> whole_numbers(np.array([2.0, 2.5, np.inf, 1e20]))
    array([ True, False, False, False])
    """
    y = y.astype(np.float64, copy=False)  # float16's cast of 2**53 overflowed, with a warning
    with np.errstate(invalid="ignore"):  # NaN and inf compare and round quietly
        return np.isfinite(y) & (y == np.round(y)) & (np.abs(y) < 2.0**53)


def check_real_array(x: Any, where: str, what: str = "X") -> np.ndarray:
    """``x`` as an ndarray of real numbers (bool, int, unsigned or float dtype); else ValueError
    (nested lists of unequal lengths: see :func:`as_array`).

    Example
    -------
    >>> check_real_array([[1, 2]], "predict").dtype.kind
    'i'
    >>> check_real_array([["a"]], "predict")
    Traceback (most recent call last):
    ...
    ValueError: predict: X must be numeric; got dtype '<U1': X[0, 0] is 'a'
    """
    array = as_array(x, where, what)
    if array.dtype.kind not in "biuf":
        raise ValueError(
            f"{where}: {what} must be numeric; got dtype {array.dtype.str!r}"
            + first_non_number(x, array, what)
        )
    return array


def _is_real_number(value: Any) -> bool:
    return isinstance(value, (bool, int, float, np.bool_, np.integer, np.floating))


def _shown(value: Any) -> str:
    """``repr(value)``, NumPy's scalars as their Python values (``'x'``, not ``np.str_('x')``)."""
    return repr(value.item() if isinstance(value, np.generic) else value)


def first_non_number(x: Any, array: np.ndarray, what: str = "X") -> str:
    """Where the first entry that is not a real number sits in ``x`` (``array`` is
    ``np.asarray(x)``), for a message that refuses its dtype: ``": column 'color' holds 'red'
    (row 0)"`` for a pandas DataFrame, ``": X[1, 3] is 'x'"`` for an array of objects or
    text, ``""`` where no single entry is to blame (complex numbers, an object array of
    numbers) or the first 100,000 entries hold none.

    Example
    -------
    >>> first_non_number(None, np.array([[1, 2], [3, "x"]], dtype=object))
    ": X[1, 1] is 'x'"
    """
    columns, dtypes = getattr(x, "columns", None), getattr(x, "dtypes", None)
    if columns is not None and dtypes is not None and not isinstance(x, np.ndarray):
        for column, (name, dtype) in enumerate(zip(columns, dtypes, strict=True)):
            if getattr(dtype, "kind", "O") in "biuf":
                continue
            for row, value in enumerate(array[:100_000, column]):
                if not _is_real_number(value):
                    return f": column {name!r} holds {_shown(value)} (row {row})"
        return ""
    if array.dtype.kind not in "OUS":
        return ""
    for index, value in zip(np.ndindex(array.shape), array.flat[:100_000], strict=False):
        if not _is_real_number(value):
            return f": {what}[{', '.join(map(str, index))}] is {_shown(value)}"
    return ""


# the dtypes whose dot product runs in the BLAS (float16's runs in a slow NumPy loop)
_BLAS_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def check_finite_rows(x: np.ndarray, where: str, what: str = "X", first_row: int = 0) -> None:
    """Refuse NaN or infinite entries, naming the first row that holds one (counted from
    ``first_row``: ``x`` may be a batch of a larger array).

    Integer arrays are always finite. The common case costs one pass and no temporary the size
    of ``x``: for a C-contiguous float32 or float64 array the BLAS's sum of squares (NaN and
    +-inf make it NaN or inf; so does a finite overflow, |x| above about 1e19 in float32, which
    then takes the next test), else one ``min`` and one ``max`` (they propagate NaN and expose
    +-inf). The dot product reads a cached (1024, 784) float32 batch in 25 us against 52 for
    ``min`` and ``max``. The row is searched for only when something is wrong.

    Example
    -------
    >>> check_finite_rows(np.array([[0.0, 1.0], [2.0, np.nan]]), "predict")
    Traceback (most recent call last):
    ...
    ValueError: predict: X must be finite; got NaN or inf in row 1
    """
    if all_finite(x):
        return
    bad = ~np.isfinite(x.reshape(len(x), -1)).all(axis=1) if x.ndim > 1 else ~np.isfinite(x)
    row = first_row + int(np.flatnonzero(bad)[0])
    raise ValueError(f"{where}: {what} must be finite; got NaN or inf in row {row}")


def all_finite(x: np.ndarray) -> bool:
    """Whether every entry of the array ``x`` is finite (integer arrays always are): the one
    pass behind :func:`check_finite_rows`, which names the row when it is not.

    For a C-contiguous float32 or float64 array, the BLAS's sum of squares (NaN or inf exactly
    when an entry is, or when the squares overflow, which then takes the next test); else one
    ``min`` and one ``max`` (they propagate NaN and expose +-inf).

    Example
    -------
    >>> all_finite(np.array([[0.0, 1e30], [2.0, 3.0]], dtype=np.float32)), all_finite(np.array([np.inf]))
    (True, False)
    """  # noqa: E501
    if x.dtype.kind != "f" or x.size == 0:
        return True
    if x.flags.c_contiguous and x.dtype in _BLAS_DTYPES:
        flat = x.reshape(-1)
        with np.errstate(over="ignore", under="ignore"):  # not the caller's to hear of
            total = np.dot(flat, flat)
        if np.isfinite(total):
            return True
    return bool(np.isfinite(x.min()) and np.isfinite(x.max()))


class _Shaped(Protocol):
    """What check_feature_count reads: an ndarray's, or stored rows' (softgrad.stored_rows)."""

    @property
    def ndim(self) -> int: ...
    @property
    def shape(self) -> tuple[int, ...]: ...


def check_feature_count(x: _Shaped, n_features: int, where: str, what: str = "X") -> None:
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


def first_beyond_dtype(rows: np.ndarray, dtype: Any, nonfinite: bool) -> tuple[int, int] | None:
    """``(row, column)`` of the first value of the 2-D ``rows``, in row order, beyond the
    largest finite value of ``dtype`` (``|x| > max``), or None: the scan behind
    :func:`check_fits_rows` and the data files' check (softgrad.datasets.features).

    ``nonfinite``: whether NaN and inf count as beyond (a data file refuses them here too) or
    are passed over (left to the finiteness checks, which name them).

    Example
    -------
    >>> rows = np.array([[1.0, np.nan], [1e39, 2.0]])
    >>> first_beyond_dtype(rows, np.float32, True), first_beyond_dtype(rows, np.float32, False)
    ((0, 1), (1, 0))
    """
    largest = float(np.finfo(dtype).max)
    # the bound in the rows' own dtype: float16 cannot hold float32's maximum (comparing would
    # turn it into float16 inf with a RuntimeWarning), and every finite float16 fits float32
    if rows.dtype.kind == "f":
        largest = rows.dtype.type(min(largest, float(np.finfo(rows.dtype).max)))
    if rows.size == 0:
        return None
    with np.errstate(invalid="ignore"):
        if rows.dtype.kind in "iu":  # two comparisons: abs(-2**63) is -2**63 in int64
            bad = (rows < -largest) | (rows > largest)
        else:
            bad = ~(np.abs(rows) <= largest)  # NaN fails the comparison too
            if not nonfinite:
                bad &= np.isfinite(rows)
    first = int(np.argmax(bad))  # the first True in row order (0 when there is none)
    return divmod(first, bad.shape[1]) if bad.flat[first] else None


def check_fits_rows(
    x: Any, dtype: Any, where: str, what: str = "X", first_row: int = 0, of: str = "model"
) -> None:
    """Refuse float values beyond the largest finite value of ``dtype``, naming the first row
    (counted from ``first_row``: ``x`` may be a batch of a larger array). ``of``: whose dtype
    it is, "model" or "logits" (the functional API's targets and weights).

    1e300 in a float64 array is finite, but inf once converted to a float32 model's dtype (and
    the conversion warns). Checked before converting: one ``min`` and one ``max`` in the common
    case; NaN and inf pass here (the finiteness checks name them). Arrays whose dtype is not
    wider than ``dtype`` are left alone, and so are integer arrays but for a float16 ``dtype``
    (70,000 is inf there), and arrays of anything else.

    Example
    -------
    >>> check_fits_rows(np.array([[1.0], [1e300]]), np.float32, "fit")
    Traceback (most recent call last):
    ...
    ValueError: fit: X must fit in float32 (|x| <= 3.403e+38), the model's dtype; got 1e+300 in row 1 (rescale it, or use a float64 model)
    """  # noqa: E501
    dtype = np.dtype(dtype)
    if not isinstance(x, np.ndarray) or x.dtype.kind not in "iuf" or dtype.kind != "f":
        return
    largest = float(np.finfo(dtype).max)
    # integers: only float16 holds less than their range (70,000 became inf, refused as "X
    # must be finite; got inf", which X did not hold)
    info = np.finfo(x.dtype) if x.dtype.kind == "f" else np.iinfo(x.dtype)
    if x.size == 0 or (float(info.max) <= largest and float(info.min) >= -largest):
        return
    with np.errstate(invalid="ignore"):
        low, high = x.min(), x.max()
        if not (low < -largest or high > largest):  # NaN compares False: left to the NaN check
            return
    rows = x.reshape(len(x), -1) if x.ndim > 1 else x.reshape(-1, 1)
    bad = first_beyond_dtype(rows, dtype, nonfinite=False)  # inf: left to the finite checks
    if bad is None:
        return
    row, column = bad
    value = rows[row, column].item()
    # float64, not >f8, for big-endian rows; integers: float32 holds every one
    wide = x.dtype.newbyteorder("=").name if x.dtype.kind == "f" else "float32"
    owner, wider = ("the model's", f"a {wide} model")
    if of != "model":
        owner, wider = f"the {of}'", f"{wide} {of}"
    raise ValueError(
        f"{where}: {what} must fit in {dtype} (|x| <= {largest:.4g}), {owner} dtype; got "
        f"{value!r} in row {first_row + row} (rescale it, or use {wider})"
    )


def check_sample_weight(
    sample_weight: Any,
    shape: tuple[int, ...] | None,
    where: str,
    what: str = "sample_weight",
    *,
    dtype: Any = None,
    may_all_be_zero: bool = True,
) -> np.ndarray:
    """``sample_weight`` as an array of finite weights >= 0, one per sample.

    Parameters
    ----------
    shape : tuple of int or None
        The samples' shape, ``(N,)`` or the logits' shape without the class axis; None skips
        the shape check.
    dtype : dtype, optional
        The weights come back in it, after a check that they fit it (:func:`check_fits_rows`);
        without it float weights keep their dtype and integers and booleans become float64.
    may_all_be_zero : bool, default True
        False refuses weights that sum to 0: a fit or an evaluation divides by their sum (one
        batch may weigh 0, and is then skipped).

    Example
    -------
    >>> check_sample_weight([1.0, -2.0], (2,), "evaluate")
    Traceback (most recent call last):
    ...
    ValueError: evaluate: sample_weight must be finite and >= 0; got values from -2.0 to 1.0
    """
    w = np.asarray(sample_weight)
    if w.dtype.kind not in "biuf":  # strings of digits would be read as numbers
        raise TypeError(f"{where}: {what} must hold real numbers; got dtype {w.dtype}")
    if shape is not None and w.shape != tuple(shape):
        raise ValueError(
            f"{where}: {what} must have shape {tuple(shape)}, one weight per sample; got shape "
            f"{w.shape}"
        )
    if dtype is not None:
        check_fits_rows(w, dtype, where, what)
        w = w.astype(dtype)
    elif w.dtype.kind != "f":
        w = w.astype(np.float64)
    valid = w.size == 0 or bool(np.isfinite(w).all() and w.min() >= 0)
    # summed in float64: float32 weights near its maximum overflow their own sum
    if valid and (may_all_be_zero or w.sum(dtype=np.float64) > 0):
        return w
    rule = "finite and >= 0" if may_all_be_zero else "finite, >= 0 and not all 0"
    got = f"values from {w.min().item()!r} to {w.max().item()!r}" if w.size else "no weights"
    raise ValueError(f"{where}: {what} must be {rule}; got {got}")
