"""Checks of single values: counts, numbers in a range, flags, choices, a monitored metric, and
a hyperparameter that must fit the parameters' dtype (or stay above 0 there).

Each returns the value in the form its caller trusts (``int``, ``float``, ``bool``) or raises
in the house template (see :mod:`softgrad.checks`).
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from typing import Any

import numpy as np

from softgrad.checks.functional_api import _LARGEST


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
            if not math.isfinite(number):  # "lr must be >= 0.0; got inf" read as too small
                span = f"a finite number {span}"
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


def check_stays_positive(
    value: float, dtype: Any, where: str, what: str, harm: str, fix: str = ""
) -> None:
    """Refuse a positive number that rounds to 0 in ``dtype`` (Adam's ``eps=1e-8`` in float16);
    ``harm`` says what the 0 would do, ``fix`` what to do besides passing a larger value.

    Example
    -------
    >>> check_stays_positive(1e-50, np.float32, "Adam", "eps", "0 / 0 is NaN")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: Adam: eps must be at least 1.4e-45 in float32, its smallest positive value ...
    """
    dtype = np.dtype(dtype)
    if value > 0 and dtype.kind == "f" and dtype.type(value) == 0:
        smallest = float(np.finfo(dtype).smallest_subnormal)
        raise ValueError(
            f"{where}: {what} must be at least {smallest:.2g} in {dtype}, its smallest positive "
            f"value (rounded to 0, {harm}); got {value:.6g} (use a larger {what}{fix})"
        )


def check_int(value: Any, where: str, what: str, low: int) -> int:
    """``int(value)`` when it is an integer >= low; else raise."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{where}: {what} must be an int; got {value!r}")
    if value < low:
        raise ValueError(f"{where}: {what} must be >= {low}; got {value!r}")
    return int(value)


def check_saved_state(
    state: Any, where: str, names: tuple[str, ...], optional: Any = (), kind: str | None = None
) -> None:
    """Refuse a saved state (a ``load_state_dict`` argument) that is no dict, whose ``"type"``
    is not ``kind`` (where given: the class that saved it), or that lacks one of ``names`` (but
    those in ``optional``, which take a default), naming them all."""
    if not isinstance(state, Mapping):
        raise TypeError(f"{where}: state must be a dict from state_dict(); got {state!r}")
    if kind is not None and state.get("type") != kind:
        raise ValueError(f"{where}: state['type'] must be {kind!r}; got {state.get('type')!r}")
    missing = [name for name in names if name not in state and name not in optional]
    if missing:
        raise ValueError(f"{where}: state must hold {list(names)!r}; missing {missing!r}")


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


def check_path(value: Any, where: str, what: str = "path") -> str | os.PathLike:
    """A file or folder name as given: a str or an os.PathLike (a number or None reached the
    operating system's raw ``expected str, bytes or os.PathLike object``, and bytes are no
    name softgrad writes into its messages)."""
    if not isinstance(value, (str, os.PathLike)):
        raise TypeError(
            f"{where}: {what} must be a str or pathlib.Path; got {type(value).__name__}"
        )
    return value
