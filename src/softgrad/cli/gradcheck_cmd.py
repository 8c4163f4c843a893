"""``softgrad gradcheck``: check softgrad's layers, or your own node, against finite differences.

``softgrad gradcheck`` runs :func:`softgrad.gradcheck.gradcheck` in float64 (central differences
of ``sum(g * f(x))`` for a random cotangent g) over every layer, every loss and a small network;
the softmax Jacobian is also checked against its invariants.

``softgrad gradcheck path/to/file.py:ClassName [--shape 4,10] [--args JSON] [--seed N]
[--eps E] [--atol A] [--rtol R]`` checks your own node instead: :mod:`softgrad.cli.gradcheck_user`
imports the file, builds the class from ``--args`` and chooses the test point and tolerances.

Exit status: 0 every check passed; 1 a gradient is wrong; 2 bad usage (no such file or class, a
shape or JSON that does not parse, your constructor, module or forward raising), as one line.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from typing import Any

import numpy as np

from softgrad.cli.argtypes import nonnegative_float, nonnegative_int, positive_float
from softgrad.cli.errors import EXIT_FAILED_CHECK, EXIT_OK, UsageError
from softgrad.cli.gradcheck_user import away_from_zero, run_user_node
from softgrad.cli.output import print_json, table

N, D, C = 4, 5, 3  # small shapes: every entry costs two forward passes
MAX_DIMS = 32  # NumPy's limit is 64; a node's own code may add axes
MAX_CHECKED = 10_000  # the largest --shape, in entries: 20,000 forward passes of 10,000 entries


def shape_sizes(text: str) -> tuple[int, ...]:
    """argparse type: positive sizes separated by commas, e.g. ``4,10``.

    Example
    -------
    >>> shape_sizes("4,10")
    (4, 10)
    >>> shape_sizes("4x10")
    Traceback (most recent call last):
    ...
    argparse.ArgumentTypeError: must be positive sizes separated by commas (e.g. 4,10); got '4x10'
    """
    try:
        sizes = tuple(int(part) for part in text.split(","))
    except ValueError:
        sizes = ()
    if len(sizes) > MAX_DIMS:
        raise argparse.ArgumentTypeError(
            f"must have at most {MAX_DIMS} sizes (dimensions); got {len(sizes)} in {text!r}"
        )
    if not sizes or any(size < 1 for size in sizes):
        raise argparse.ArgumentTypeError(
            f"must be positive sizes separated by commas (e.g. 4,10); got {text!r}"
        )
    if math.prod(sizes) > MAX_CHECKED:
        # central differences cost two forward passes per entry, each over all entries: 1e8
        # entries would run for days (and 99999,99999 asked for 75 GiB at once)
        raise argparse.ArgumentTypeError(
            f"must have at most {MAX_CHECKED:,} entries (each costs two forward passes); got "
            f"{text!r}, {math.prod(sizes):,} entries"
        )
    return sizes


def add_parser(commands: Any) -> argparse.ArgumentParser:
    p = commands.add_parser(
        "gradcheck",
        help="check gradients against finite differences: softgrad's layers, or your own node",
        description="Without FILE.py:CLASS, run the float64 gradient checker over every layer, "
        "every loss and a small network. With it, import your file, build CLASS(*--args) and "
        "check its forward/backward at a random x of --shape, naming the mistake when a gradient "
        "is wrong. Exit 1 if any gradient is wrong.",
    )
    p.add_argument(
        "node",
        nargs="?",
        metavar="FILE.py:CLASS",
        help="your node: a class with forward(x) and backward(grad_y), in a Python file",
    )
    p.add_argument(
        "--shape",
        type=shape_sizes,
        default=None,
        help="shape of the checked x, e.g. 4,10 (default 4,10: 4 samples, 10 classes; at most "
        f"{MAX_CHECKED:,} entries)",
    )
    p.add_argument(
        "--args",
        default=None,
        help="constructor arguments as JSON: a list (positional), an object (keywords) or one "
        "value, e.g. '[10, 3]'",
    )
    p.add_argument(
        "--targets",
        choices=("indices", "onehot"),
        default=None,
        help="what a forward(x, target) gets as target: random class indices (default; shape "
        "--shape without its last size) or their one-hot rows (the shape of x)",
    )
    p.add_argument("--seed", type=nonnegative_int, default=0, help="seed of the test points")
    precision = "default: chosen from the precision of forward's output"
    p.add_argument(
        "--eps",
        type=positive_float,
        default=None,
        help=f"finite-difference step ({precision}: 1e-6 for float64, 1e-2 for float32)",
    )
    p.add_argument(
        "--atol", type=nonnegative_float, default=None, help=f"absolute tolerance ({precision})"
    )
    p.add_argument(
        "--rtol", type=nonnegative_float, default=None, help=f"relative tolerance ({precision})"
    )
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    return p


def cases(seed: int) -> list[tuple[str, Callable[[], Any]]]:
    """``(name, thunk)`` pairs; each thunk returns a GradcheckResult."""
    from softgrad import functional as F
    from softgrad import nn
    from softgrad.gradcheck import check_softmax_jacobian, gradcheck

    rng = np.random.default_rng(seed)
    x = away_from_zero(rng, (N, D))
    logits = rng.standard_normal((N, C))
    target = rng.integers(0, C, size=N)

    def layer(name: str, f: Any, inputs: np.ndarray, **kw: Any) -> tuple[str, Callable[[], Any]]:
        return name, lambda: gradcheck(f, inputs, rng=seed, name=name, **kw)

    model = nn.build_mlp(D, [6], C, activation="tanh", rng=seed, dtype=np.float64)
    return [
        layer("Linear", nn.Linear(D, C, rng=seed, dtype=np.float64), x),
        layer("ReLU", nn.ReLU(), x),
        layer("Tanh", nn.Tanh(), x),
        layer("Sigmoid", nn.Sigmoid(), x),
        layer("Identity", nn.Identity(), x),
        layer("Softmax", nn.Softmax(), logits),
        layer("LogSoftmax", nn.LogSoftmax(), logits),
        layer("Dropout(p=0.5)", nn.Dropout(0.5, rng=seed), x),
        layer("CrossEntropyLoss", nn.CrossEntropyLoss(), logits, target=target),
        layer(
            "CrossEntropyLoss(label_smoothing=0.1)",
            nn.CrossEntropyLoss(label_smoothing=0.1),
            logits,
            target=target,
        ),
        layer("NLLLoss(log_input=True)", nn.NLLLoss(), F.log_softmax(logits), target=target),
        layer(
            "NLLLoss(log_input=False)",
            nn.NLLLoss(log_input=False),
            F.softmax(logits),
            target=target,
        ),
        layer(f"MLP {D}-6-{C} tanh", model, x),
        ("softmax_jacobian", lambda: check_softmax_jacobian(logits, rng=seed)),
    ]


def run(args: argparse.Namespace) -> int:
    if args.node is not None:
        return run_user_node(args)
    node_only = (args.shape, args.args, args.targets, args.eps, args.atol, args.rtol)
    if any(value is not None for value in node_only):
        raise UsageError(
            "gradcheck: --shape, --args, --targets, --eps, --atol and --rtol need a "
            "FILE.py:CLASS to check"
        )
    results = [(name, thunk()) for name, thunk in cases(args.seed)]
    failed = [name for name, r in results if not r.ok]
    if args.json:
        print_json(
            {"ok": not failed, "failed": failed, "results": [r.as_dict() for _, r in results]}
        )
        return EXIT_FAILED_CHECK if failed else EXIT_OK
    return _print_results(results, failed)


def _print_results(results: list[tuple[str, Any]], failed: list[str]) -> int:
    """The report table of the built-in cases, then each failure's diagnosis; the exit status."""
    rows = []
    for name, r in results:
        checked = ", ".join(c.name for c in r.checks)
        worst = r.worst
        where = "" if worst is None or worst.ok else f" (worst: {worst.name} {worst.worst_index})"
        rows.append(
            [
                name,
                checked,
                f"{r.max_abs_err:.2e}",
                f"{r.max_rel_err:.2e}",
                ("ok" if r.ok else "FAIL") + where,
            ]
        )
    print(
        table(
            ["case", "checked", "max abs err", "max rel err", "result"],
            rows,
            right=[False, False, True, True, False],
        )
    )
    print()
    if failed:
        for name, r in results:
            if r.diagnosis:
                print(f"{name}:", *("  " + line for line in r.diagnosis.splitlines()), sep="\n")
        print(f"{len(failed)} of {len(results)} cases FAILED: {', '.join(failed)}")
        return EXIT_FAILED_CHECK
    print(f"all {len(results)} cases passed (float64 central differences, eps 1e-6)")
    return EXIT_OK
