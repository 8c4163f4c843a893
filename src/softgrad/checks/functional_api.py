"""The functional API's boundary: its dtype rule, the arguments beside x, and how a result is
delivered.

The dtype rule (:func:`as_real_float`, :func:`as_float_array`, :func:`result_dtypes`): float16,
float32 and float64 keep their dtype on output (float16 is computed in float32), integers and
booleans become float64, anything else is a TypeError. The arguments beside x: ``axis``
(:func:`normalize_axis`), a ``where`` mask (:func:`check_where`), a second array of x's shape
(:func:`check_same_shape`) and an ``out`` buffer (:func:`check_out`). A computed buffer is
delivered in the output dtype, or into ``out``, by :func:`to_output`; a Python float by
:func:`to_scalar`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

import numpy as np

from softgrad.checks.samples import as_array, plain_ndarray

_FLOAT32 = np.dtype(np.float32)
_FLOAT64 = np.dtype(np.float64)


def _compute_dtype(dtype: np.dtype) -> np.dtype:
    # float16 has too little range and precision for exp/log sums: compute in float32
    return np.dtype(np.float32) if dtype == np.float16 else dtype


def as_real_float(x: Any, where: str, name: str = "x") -> np.ndarray:
    """``x`` as an ndarray of a float dtype: float16/32/64 keep theirs (in the machine's byte
    order), integers and booleans become float64. A complex, string or object array is a
    TypeError (a cast would drop its imaginary part, or parse it, silently), and so is a
    longdouble one (float128: the kernels and model files hold float16/32/64; a cast would
    drop its extra precision silently).

    Example
    -------
    >>> as_real_float(np.array([1 + 5j, 2.0]), "Softmax.forward")
    Traceback (most recent call last):
    ...
    TypeError: Softmax.forward: x must be a real array (float16, float32, float64, int or bool dtype); got dtype 'complex128'
    """  # noqa: E501
    a = as_array(x, where, name)  # nested lists of unequal lengths: where they part
    kind = a.dtype.kind
    if kind == "f" and a.itemsize <= 8:
        # in the machine's byte order, once (as NumPy's ufuncs return it): the kernels take
        # native arrays alone, and every pass over swapped bytes cost 1.5-3x the call
        return a if a.dtype.isnative else a.astype(a.dtype.newbyteorder("="))
    if kind not in "biu":
        raise TypeError(
            f"{where}: {name} must be a real array (float16, float32, float64, int or bool "
            f"dtype); got dtype {str(a.dtype)!r}"
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


def normalize_axis(axis: Any, ndim: int, where: str, name: str = "x") -> int:
    """Return ``axis`` as a non-negative int, checking its type and range for ``ndim``-d input
    (``name``: the array's argument, which a 0-d array's refusal names)."""
    if type(axis) is int and -ndim <= axis < ndim:
        return axis % ndim  # the common case first
    if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
        raise TypeError(f"{where}: axis must be an int; got {axis!r}")
    if ndim == 0:
        raise ValueError(f"{where}: {name} must have at least 1 dimension; got a 0-d array")
    if not -ndim <= axis < ndim:
        raise ValueError(
            f"{where}: axis must be in [{-ndim}, {ndim - 1}] for {ndim}-d input; got {int(axis)!r}"
        )
    return int(axis) % ndim


def check_where(mask: Any, shape: tuple[int, ...], where: str) -> np.ndarray:
    """Return the bool mask broadcast to ``shape`` (a read-only view, no copy). A masked array
    is refused (its own mask would be ignored), and nested lists of unequal lengths are named
    (:func:`~softgrad.checks.samples.as_array`)."""
    m = as_array(mask, where, "where", fix="where.filled(False) to leave its masked entries out")
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
    """Check a user-supplied ``out`` buffer: an ndarray of exactly ``shape`` and ``dtype``, in
    either byte order (an input of the other order is computed in the machine's, and ``out``
    may be that input: the result is copied in)."""
    if not plain_ndarray(out):  # a matrix's * is a matrix product, a masked array's mask unset
        raise TypeError(f"{where}: out must be a numpy.ndarray or None; got {type(out).__name__!r}")
    if out.shape != shape:
        raise ValueError(f"{where}: out must have shape {shape}; got shape {out.shape}")
    if out.dtype != dtype and out.dtype.newbyteorder("=") != dtype:
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
    with np.errstate(over="ignore", under="ignore"):  # float16's range and its subnormals
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
    with np.errstate(over="ignore", under="ignore"):
        return dtype.type(value)


_P = ParamSpec("_P")
_R = TypeVar("_R")


def quiet_underflow(func: Callable[_P, _R]) -> Callable[_P, _R]:
    """``func`` run with NumPy's underflow flag ignored, whatever the caller set.

    An exp, a product or a cast that underflows to 0 (or a subnormal) gives the right answer
    in the softmax calculus: a probability below the smallest float. A program that had called
    ``np.seterr(all="raise")`` got FloatingPointError from ``softmax([0.0, -800.0])``, and on
    one kernel lane and not the other (compiled kernels raise no NumPy flags). Overflow and
    invalid operations keep the caller's setting: they are what it asked to hear of.
    """

    @functools.wraps(func)
    def quiet(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        with np.errstate(under="ignore"):
            return func(*args, **kwargs)

    return quiet
