"""Counts, lists and figures as a message or a report words them: one spelling of "1 sample" /
"3 classes", of a long list cut to its first few, where each module had its own, and of a
score that must not read as a bound it does not reach (:func:`fixed`)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any


def fixed(value: float, places: int = 4) -> str:
    """``value`` with ``places`` decimals, or as many more as it takes not to show 0 or 1 for a
    value that is not (an accuracy of 29,999 in 30,000 printed 1.0000, a loss of 4e-5 0.0000).

    Example
    -------
    >>> fixed(0.87654), fixed(29_999 / 30_000), fixed(1.0), fixed(4e-5), fixed(2.5)
    ('0.8765', '0.99997', '1.0000', '0.00004', '2.5000')
    >>> fixed(1e-30), fixed(0.9996, 3), fixed(1 - 2**-53)
    ('1e-30', '0.9996', '0.9999999999999999')
    """
    value = float(value)
    digits = places
    text = f"{value:.{digits}f}"
    if not math.isfinite(value):
        return text
    while float(text) in (0.0, 1.0) and float(text) != value:
        if digits >= 15:
            return repr(value)  # the shortest text that reads back as the value
        digits += 1
        text = f"{value:.{digits}f}"
    return text


def counted(n: int, noun: str) -> str:
    """``n`` and ``noun``, plural unless n is 1.

    Example
    -------
    >>> counted(1, "sample"), counted(3, "class"), counted(2040, "class")
    ('1 sample', '3 classes', '2,040 classes')
    """
    return f"{n:,} {noun}" if n == 1 else f"{n:,} {noun}{'es' if noun.endswith('s') else 's'}"


def first_few(values: Sequence[Any], shown: int = 4) -> str:
    """``values`` as a list for a message: the first ``shown``, then how many more (the
    classes of 200,000 string labels made a message of 2.4 million characters).

    Example
    -------
    >>> first_few(["a", "b"]), first_few(list(range(10)), 3)
    ("['a', 'b']", '[0, 1, 2 and 7 more]')
    """
    if len(values) <= shown:
        return repr(list(values))
    return f"{repr(list(values[:shown]))[:-1]} and {len(values) - shown:,} more]"
