"""``softgrad jacobian``: softmax(x) (or log_softmax(x)) and its Jacobian, printed aligned."""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np

from softgrad.cli.argtypes import nonnegative_int
from softgrad.cli.errors import UsageError
from softgrad.cli.output import matrix, print_json

# J has C x C entries, each printed as text: 2000 values took 600 MB (850 MB with --json) and
# printed 48 MB, and 10,000 would pass 15 GB; 1000 values print about 12 MB
MAX_VALUES = 1000


def _value(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number; got {text.strip()!r}") from None
    if not np.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number; got {text.strip()!r}")
    return value


def _no_negative_zero(values: np.ndarray) -> np.ndarray:
    """``values`` with -0.0 made 0.0 (a saturated softmax gives -s_i s_j == -0.0)."""
    return values + 0.0


def add_parser(commands: Any) -> argparse.ArgumentParser:
    p = commands.add_parser(
        "jacobian",
        help="print softmax(x) and its Jacobian",
        description="Print s = softmax(x) and J[i, j] = d s_i / d x_j = s_i (delta_ij - s_j), or "
        "with --log log_softmax(x) and J[i, j] = delta_ij - s_j. Negative values such as -1 "
        f"or -2.5e3 are values, not options; at most {MAX_VALUES} values.",
    )
    p.add_argument("x", nargs="+", type=_value, metavar="X", help="the scores (logits)")
    p.add_argument("--log", action="store_true", help="use log_softmax instead of softmax")
    p.add_argument(
        "--precision",
        type=_digits,
        default=None,
        help="significant digits of each value in the table, 0 to 17 (default 4; 3e38 prints "
        "as 3e+38, 1e-30 as 1e-30); not with --json, which prints every digit",
    )
    p.add_argument(
        "--json",
        action="store_true",
        help="print the values as JSON (an infinite value, such as log_softmax of a score "
        "far below the others, prints as null)",
    )
    return p


def _digits(text: str) -> int:
    """argparse type: significant digits, 0 to 17 (float64 holds 17; Python's format refused
    99999999999 with "precision too big").

    Example
    -------
    >>> _digits("18")
    Traceback (most recent call last):
    ...
    argparse.ArgumentTypeError: must be an integer from 0 to 17 (float64 holds 17 significant digits); got '18'
    """  # noqa: E501
    value = nonnegative_int(text)
    if value > 17:
        raise argparse.ArgumentTypeError(
            f"must be an integer from 0 to 17 (float64 holds 17 significant digits); got {text!r}"
        )
    return value


def run(args: argparse.Namespace) -> int:
    from softgrad.functional import (
        log_softmax,
        log_softmax_jacobian,
        softmax,
        softmax_jacobian,
    )

    if len(args.x) > MAX_VALUES:
        raise UsageError(
            f"jacobian: X must be at most {MAX_VALUES} values (J has C x C entries, each "
            f"printed); got {len(args.x)} (for gradients, softgrad.functional.softmax_vjp "
            "builds no Jacobian)"
        )
    if args.json and args.precision is not None:  # it printed every digit without a word
        raise UsageError(
            "jacobian: --precision sets the table's digits; --json prints every digit of each "
            "value (leave out one of the two)"
        )
    x = np.asarray(args.x, dtype=np.float64)
    if args.log:
        name, y, J = "log_softmax", log_softmax(x), log_softmax_jacobian(x)
        formula = "J[i, j] = d log_softmax_i / d x_j = delta_ij - s_j"
    else:
        name, y, J = "softmax", softmax(x), softmax_jacobian(x)
        formula = "J[i, j] = d softmax_i / d x_j = s_i (delta_ij - s_j)"
    if args.json:
        print_json({"x": x, name: _no_negative_zero(y), "jacobian": _no_negative_zero(J)})
        return 0
    # general format: a fixed number of decimals printed 3e38 as 39 digits and 1e-30 as 0.0000
    precision = 4 if args.precision is None else args.precision
    fmt = f"{{:.{max(precision, 1)}g}}"
    labels = [f"[{i}]" for i in range(len(x))]
    top = _no_negative_zero(np.stack([x, y]))
    print(matrix(top, fmt, row_labels=["x", f"{name}(x)"], col_labels=labels))
    print()
    print(formula)
    print(matrix(_no_negative_zero(J), fmt, row_labels=labels, col_labels=labels))
    return 0
