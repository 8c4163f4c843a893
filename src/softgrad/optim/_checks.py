"""Argument checks shared by the optimizers and schedules (private: callers trust them)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

_REAL = (int, float, np.integer, np.floating)


def check_number(
    where: str,
    what: str,
    value: Any,
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


def check_int(where: str, what: str, value: Any, low: int) -> int:
    """``int(value)`` when it is an integer >= low; else raise."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{where}: {what} must be an int; got {value!r}")
    if value < low:
        raise ValueError(f"{where}: {what} must be >= {low}; got {value!r}")
    return int(value)


def check_bool(where: str, what: str, value: Any) -> bool:
    """``bool(value)`` when it is a bool (NumPy's included); else TypeError."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{where}: {what} must be a bool; got {value!r}")
    return bool(value)


def check_choice(where: str, what: str, value: Any, choices: tuple[str, ...]) -> str:
    """``value`` when it is one of ``choices``; else ValueError listing them."""
    if value not in choices:
        listed = ", ".join(repr(choice) for choice in choices)
        raise ValueError(f"{where}: {what} must be one of {listed}; got {value!r}")
    return value


def check_metric(where: str, metric: Any) -> float:
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
