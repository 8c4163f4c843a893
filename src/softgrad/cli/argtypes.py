"""argparse value types of the ``softgrad`` command line: ``--epochs 0`` or ``--lr -1`` become
one-line errors (``argument --epochs: must be a positive integer; got '0'``).

A leaf module: the subcommands import their types from here, and it imports nothing of
softgrad, so the parser (which imports the subcommands) and the subcommands never form a cycle.
"""

from __future__ import annotations

import argparse
import math


def _number(text: str, kind: type) -> float | int:
    try:
        value = kind(text)
    except ValueError:
        # '1.5' or '1e3' for a count is a number, just not a whole one: say which is wanted
        wanted = "an integer" if kind is int else "a number"
        raise argparse.ArgumentTypeError(f"must be {wanted}; got {text!r}") from None
    if kind is float and not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number; got {text!r}")
    return value


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1.

    Example
    -------
    >>> positive_int("3")
    3
    >>> positive_int("0")
    Traceback (most recent call last):
    ...
    argparse.ArgumentTypeError: must be a positive integer; got '0'
    """
    value = int(_number(text, int))  # (an int already: the int's own)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer; got {text!r}")
    return value


def nonnegative_int(text: str) -> int:
    """argparse type: an integer >= 0."""
    value = int(_number(text, int))  # (an int already: the int's own)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be an integer >= 0; got {text!r}")
    return value


def positive_float(text: str) -> float:
    """argparse type: a finite float > 0."""
    value = _number(text, float)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a number > 0; got {text!r}")
    return value


def nonnegative_float(text: str) -> float:
    """argparse type: a finite float >= 0."""
    value = _number(text, float)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be a number >= 0; got {text!r}")
    return value


def fraction(text: str) -> float:
    """argparse type: a float in [0, 1)."""
    value = _number(text, float)
    if not 0.0 <= value < 1.0:
        raise argparse.ArgumentTypeError(f"must be in [0, 1); got {text!r}")
    return value


def hidden_sizes(text: str) -> list[int]:
    """argparse type: comma-separated positive layer widths, e.g. ``256`` or ``256,128``."""
    parts = [p.strip() for p in text.split(",")]
    try:
        sizes = [int(p) for p in parts]
    except ValueError:
        sizes = []
    if not sizes or any(s < 1 for s in sizes):
        raise argparse.ArgumentTypeError(
            f"must be positive layer widths separated by commas (e.g. 256 or 256,128); got {text!r}"
        )
    return sizes


def data_spec(text: str) -> str:
    """argparse type: a data set name or path; an empty one is refused (as a path it is the
    current folder, which would be trained on, or let ``evaluate`` fall back to the model's).
    """
    if not text.strip():
        raise argparse.ArgumentTypeError(f"must name a data set or a file; got {text!r}")
    return text
