"""``softgrad jacobian``: softmax(x) (or log_softmax(x)) and its Jacobian, printed aligned."""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np

from softgrad.cli.output import matrix, print_json
from softgrad.cli.parser import nonnegative_int


def _value(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number; got {text.strip()!r}") from None
    if not np.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number; got {text.strip()!r}")
    return value


def add_parser(commands: Any) -> argparse.ArgumentParser:
    p = commands.add_parser(
        "jacobian",
        help="print softmax(x) and its Jacobian",
        description="Print s = softmax(x) and J[i, j] = d s_i / d x_j = s_i (delta_ij - s_j), or "
        "with --log log_softmax(x) and J[i, j] = delta_ij - s_j. Negative values such as -1 "
        "or -2.5e3 are values, not options.",
    )
    p.add_argument("x", nargs="+", type=_value, metavar="X", help="the scores (logits)")
    p.add_argument("--log", action="store_true", help="use log_softmax instead of softmax")
    p.add_argument(
        "--precision",
        type=nonnegative_int,
        default=4,
        help="digits after the decimal point (default 4)",
    )
    p.add_argument("--json", action="store_true", help="print the values as JSON")
    return p


def run(args: argparse.Namespace) -> int:
    from softgrad.functional import (
        log_softmax,
        log_softmax_jacobian,
        softmax,
        softmax_jacobian,
    )

    x = np.asarray(args.x, dtype=np.float64)
    if args.log:
        name, y, J = "log_softmax", log_softmax(x), log_softmax_jacobian(x)
        formula = "J[i, j] = d log_softmax_i / d x_j = delta_ij - s_j"
    else:
        name, y, J = "softmax", softmax(x), softmax_jacobian(x)
        formula = "J[i, j] = d softmax_i / d x_j = s_i (delta_ij - s_j)"
    if args.json:
        print_json({"x": x, name: y, "jacobian": J})
        return 0
    fmt = f"{{:.{args.precision}f}}"
    labels = [f"[{i}]" for i in range(len(x))]
    print(matrix(np.stack([x, y]), fmt, row_labels=["x", f"{name}(x)"], col_labels=labels))
    print()
    print(formula)
    print(matrix(J, fmt, row_labels=labels, col_labels=labels))
    return 0
