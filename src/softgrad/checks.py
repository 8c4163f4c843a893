"""Argument checks shared across softgrad: each rule written once, in the house template.

Every check raises ValueError or TypeError with the message
``"{where}: {what} must be {expected}; got {actual!r}"`` and returns the value in the form the
caller goes on to trust (an int, a float array ...). Public functions call these at their
boundary (the CLI, the model, fit and predict, the optimizers and schedules, the functional
API); private helpers behind them trust what they were given. Each takes the value first, then
``where`` (the caller, as the message names it) and ``what`` (the argument's name).

Also here, beside the checks, the functional API's dtype rule (:func:`as_float_array`,
:func:`result_dtypes`) and how it delivers a result in that dtype (:func:`to_output`,
:func:`to_scalar`).

This module sits on the bottom floor: it imports nothing of softgrad, so every floor can use it.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

__all__ = [
    "as_float_array",
    "check_bool",
    "check_choice",
    "check_feature_count",
    "check_finite_rows",
    "check_fits_dtype",
    "check_fits_rows",
    "check_int",
    "check_metric",
    "check_number",
    "check_out",
    "check_positive_int",
    "check_real_array",
    "check_same_shape",
    "check_where",
    "first_beyond_dtype",
    "normalize_axis",
    "result_dtypes",
    "to_output",
    "to_scalar",
]


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


def as_array(x: Any, where: str, what: str = "X") -> np.ndarray:
    """``np.asarray(x)``, with a message that names the entry where nested lists of unequal
    lengths part (NumPy's own says only "inhomogeneous shape").

    Example
    -------
    >>> as_array([[1, 2], [3]], "predict")
    Traceback (most recent call last):
    ...
    ValueError: predict: X must be a rectangular array of numbers; got nested lists of unequal \
lengths: X[1] is a list of 1 where X[0] is a list of 2
    """
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
    ValueError: predict: X must be numeric; got dtype '<U1'
    """
    array = as_array(x, where, what)
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


_REAL = (int, float, np.integer, np.floating)


def check_number(
    value: Any,
    where: str,
    what: str,
    low: float,
    high: float | None = None,
    *,
    low_open: bool = False,
    high_open: bool = False,
) -> float:
    """``float(value)`` when it is a finite real number within the bounds; else raise.

    Bounds are closed unless ``low_open`` / ``high_open``. Bools are rejected (TypeError).
    """
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, _REAL):
        raise TypeError(f"{where}: {what} must be a real number; got {value!r}")
    number = float(value)
    low_ok = number > low if low_open else number >= low
    high_ok = high is None or (number < high if high_open else number <= high)
    if not (math.isfinite(number) and low_ok and high_ok):
        left = "(" if low_open else "["
        right = ")" if high_open else "]"
        if high is None:
            span = f"{'>' if low_open else '>='} {low}"
        else:
            span = f"in {left}{low}, {high}{right}"
        raise ValueError(f"{where}: {what} must be {span}; got {value!r}")
    return number


def check_fits_dtype(value: float, dtype: Any, where: str, what: str, fix: str = "") -> None:
    """Refuse a finite number that would become +-inf when converted to ``dtype``.

    A hyperparameter such as ``lr=1e308`` is a finite Python float but overflows float32, the
    parameters' dtype; unchecked, the update would run with inf and the message would speak of
    a value nobody gave. ``fix`` says what to do besides passing a smaller value.

    Example
    -------
    >>> check_fits_dtype(1e308, np.float32, "Adam", "lr")
    Traceback (most recent call last):
    ...
    ValueError: Adam: lr=1e+308 overflows float32 (max 3.4e+38); use a value below 3.4e+38
    """
    dtype = np.dtype(dtype)
    largest = _LARGEST.get(dtype)
    if largest is None or math.isnan(value) or abs(value) <= largest:
        return
    raise ValueError(
        f"{where}: {what}={value:.6g} overflows {dtype} (max {largest:.2g}); use a value below "
        f"{largest:.2g}{fix}"
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
        bad = ~(np.abs(rows) <= largest)  # NaN fails the comparison too
        if not nonfinite:
            bad &= np.isfinite(rows)
    first = int(np.argmax(bad))  # the first True in row order (0 when there is none)
    return divmod(first, bad.shape[1]) if bad.flat[first] else None


def check_fits_rows(x: Any, dtype: Any, where: str, what: str = "X") -> None:
    """Refuse float values beyond the largest finite value of ``dtype``, naming the first row.

    1e300 in a float64 array is finite, but inf once converted to a float32 model's dtype (and
    the conversion warns). Checked before converting: one ``min`` and one ``max`` in the common
    case; NaN and inf pass here (the finiteness checks name them). Arrays whose dtype is not wider than
    ``dtype`` (and non-float arrays) are left alone.

    Example
    -------
    >>> check_fits_rows(np.array([[1.0], [1e300]]), np.float32, "fit")
    Traceback (most recent call last):
    ...
    ValueError: fit: X must fit in float32 (|x| <= 3.403e+38), the model's dtype; got 1e+300 in row 1 (rescale it, or use a float64 model)
    """  # noqa: E501
    dtype = np.dtype(dtype)
    if not isinstance(x, np.ndarray) or x.dtype.kind != "f" or dtype.kind != "f" or x.size == 0:
        return
    largest = float(np.finfo(dtype).max)
    if float(np.finfo(x.dtype).max) <= largest:
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
    raise ValueError(
        f"{where}: {what} must fit in {dtype} (|x| <= {largest:.4g}), the model's dtype; got "
        f"{value!r} in row {row} (rescale it, or use a {x.dtype} model)"
    )


def check_int(value: Any, where: str, what: str, low: int) -> int:
    """``int(value)`` when it is an integer >= low; else raise."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{where}: {what} must be an int; got {value!r}")
    if value < low:
        raise ValueError(f"{where}: {what} must be >= {low}; got {value!r}")
    return int(value)


def check_bool(value: Any, where: str, what: str) -> bool:
    """``bool(value)`` when it is a bool (NumPy's included); else TypeError."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{where}: {what} must be a bool; got {value!r}")
    return bool(value)


def check_choice(value: Any, where: str, what: str, choices: tuple[str, ...]) -> str:
    """``value`` when it is one of ``choices``; else ValueError listing them."""
    if value not in choices:
        listed = ", ".join(repr(choice) for choice in choices)
        raise ValueError(f"{where}: {what} must be one of {listed}; got {value!r}")
    return value


def check_metric(metric: Any, where: str) -> float:
    """The monitored quantity as a float (NaN allowed: it never counts as an improvement)."""
    if metric is None:
        raise ValueError(
            f"{where}: metric must be a number (the monitored loss or score); got None"
        )
    if isinstance(metric, np.ndarray) and metric.ndim == 0:
        metric = metric[()]
    if isinstance(metric, (bool, np.bool_)) or not isinstance(metric, _REAL):
        raise TypeError(f"{where}: metric must be a real number; got {metric!r}")
    return float(metric)


_FLOAT32 = np.dtype(np.float32)
_FLOAT64 = np.dtype(np.float64)


def _compute_dtype(dtype: np.dtype) -> np.dtype:
    # float16 has too little range and precision for exp/log sums: compute in float32
    return np.dtype(np.float32) if dtype == np.float16 else dtype


def as_real_float(x: Any, where: str, name: str = "x") -> np.ndarray:
    """``x`` as an ndarray of a float dtype: floats keep theirs (float16 too), integers and
    booleans become float64. A complex, string or object array is a TypeError (a cast would
    drop its imaginary part, or parse it, silently).

    Example
    -------
    >>> as_real_float(np.array([1 + 5j, 2.0]), "Softmax.forward")
    Traceback (most recent call last):
    ...
    TypeError: Softmax.forward: x must be a real array (float, int or bool dtype); got dtype 'complex128'
    """  # noqa: E501
    a = np.asarray(x)
    kind = a.dtype.kind
    if kind == "f":
        return a
    if kind not in "biu":
        raise TypeError(
            f"{where}: {name} must be a real array (float, int or bool dtype); got dtype "
            f"{str(a.dtype)!r}"
        )
    return a.astype(np.float64)


def as_float_array(x: Any, where: str, name: str = "x") -> tuple[np.ndarray, np.dtype]:
    """Return ``(array in its compute dtype, output dtype)`` following the package dtype rule.

    float16/32/64 keep their dtype on output (float16 is computed in float32); integer and bool
    input is computed and returned in float64 (:func:`as_real_float`). Anything else raises
    TypeError.
    """
    if type(x) is np.ndarray and (x.dtype is _FLOAT32 or x.dtype is _FLOAT64):
        return x, x.dtype  # the common case, without the general checks below
    a = as_real_float(x, where, name)
    out_dtype = a.dtype
    compute = _compute_dtype(out_dtype)
    if a.dtype != compute:
        a = a.astype(compute)
    return a, out_dtype


def result_dtypes(a: np.dtype, b: np.dtype) -> tuple[np.dtype, np.dtype]:
    """Common ``(compute dtype, output dtype)`` of two already-converted output dtypes."""
    out_dtype = a if a == b else np.result_type(a, b)
    return _compute_dtype(out_dtype), out_dtype


def normalize_axis(axis: Any, ndim: int, where: str) -> int:
    """Return ``axis`` as a non-negative int, checking its type and range for ``ndim``-d input."""
    if type(axis) is int and -ndim <= axis < ndim:
        return axis % ndim  # the common case first
    if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
        raise TypeError(f"{where}: axis must be an int; got {axis!r}")
    if ndim == 0:
        raise ValueError(f"{where}: x must have at least 1 dimension; got a 0-d array")
    if not -ndim <= axis < ndim:
        raise ValueError(
            f"{where}: axis must be in [{-ndim}, {ndim - 1}] for {ndim}-d input; got {int(axis)!r}"
        )
    return int(axis) % ndim


def check_where(mask: Any, shape: tuple[int, ...], where: str) -> np.ndarray:
    """Return the bool mask broadcast to ``shape`` (a read-only view, no copy)."""
    m = np.asarray(mask)
    if m.dtype != np.bool_:
        raise TypeError(f"{where}: where must be a bool array; got dtype {str(m.dtype)!r}")
    try:
        return np.broadcast_to(m, shape)
    except ValueError:
        raise ValueError(
            f"{where}: where must be broadcastable to x's shape {shape}; got shape {m.shape}"
        ) from None


def check_same_shape(a: np.ndarray, b: np.ndarray, where: str, names: tuple[str, str]) -> None:
    """Raise ValueError unless ``a`` and ``b`` have the same shape."""
    if a.shape != b.shape:
        raise ValueError(
            f"{where}: {names[1]} must have the same shape as {names[0]} {a.shape}; "
            f"got shape {b.shape}"
        )


def check_out(out: Any, shape: tuple[int, ...], dtype: np.dtype, where: str) -> np.ndarray:
    """Check a user-supplied ``out`` buffer: an ndarray of exactly ``shape`` and ``dtype``."""
    if not isinstance(out, np.ndarray):
        raise TypeError(f"{where}: out must be a numpy.ndarray or None; got {type(out).__name__!r}")
    if out.shape != shape:
        raise ValueError(f"{where}: out must have shape {shape}; got shape {out.shape}")
    if out.dtype != dtype:
        raise TypeError(f"{where}: out must have dtype {str(dtype)!r}; got {str(out.dtype)!r}")
    if not out.flags.writeable:
        raise ValueError(f"{where}: out must be writeable; got a read-only array")
    return out


def to_output(buf: np.ndarray, out_dtype: np.dtype, out: np.ndarray | None = None) -> np.ndarray:
    """Deliver a computed buffer: into ``out`` if given, else as ``out_dtype`` (no copy if equal).

    A float32 computation delivered as float16 rounds values beyond float16's range to +-inf,
    as IEEE casting does; that rounding is documented, so its overflow flag is not a warning.
    """
    if out is None and buf.dtype == out_dtype:
        return buf
    with np.errstate(over="ignore"):
        if out is not None:
            if buf is not out:
                np.copyto(out, buf, casting="same_kind")
            return out
        return buf.astype(out_dtype, copy=False)


# the largest finite value of each output dtype: a float within it converts without overflow
_LARGEST = {np.dtype(t): float(np.finfo(t).max) for t in (np.float16, np.float32, np.float64)}


def to_scalar(value: float, dtype: np.dtype) -> np.generic:
    """A Python float as a NumPy scalar of ``dtype`` (overflow rounds to inf, see to_output)."""
    largest = _LARGEST.get(dtype, 0.0)
    if -largest <= value <= largest:  # NaN fails: it goes below, and converts silently
        return dtype.type(value)
    with np.errstate(over="ignore"):
        return dtype.type(value)


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
