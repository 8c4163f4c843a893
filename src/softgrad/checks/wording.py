"""Counts and lists as an error message words them: one spelling of "1 sample" / "3 classes"
and of a long list cut to its first few, where each module had its own."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


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
