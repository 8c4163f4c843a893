"""``softgrad gradcheck``: check softgrad's layers, or your own node, against finite differences.

``softgrad gradcheck`` runs :func:`softgrad.gradcheck.gradcheck` in float64 (central differences
of ``sum(g * f(x))`` for a random cotangent g) over every layer, every loss and a small network;
the softmax Jacobian is also checked against its invariants.

``softgrad gradcheck path/to/file.py:ClassName [--shape 4,10] [--args JSON] [--seed N]
[--eps E] [--atol A] [--rtol R]`` imports your file (as a module: code under
``if __name__ == "__main__":`` does not run), builds ``ClassName(*args)`` and checks its
``backward`` at a random x of that shape, printing the report table and the diagnosis.
``--args`` is JSON: a list is passed as positional arguments, an object as keyword arguments,
any other value as the one argument (``--args '[64, 10]'``, ``--args '{"n_in": 64}'``,
``--args 10``); nothing in it is evaluated as code. A forward that
takes ``(x, target)`` (a loss) gets random class indices in [0, C), C the last size of --shape.
The step and tolerances are chosen from the precision of your forward's output (float64: 1e-6,
1e-5, 1e-4; float32 and float16: see :mod:`softgrad.gradcheck.precision`) unless given.

Exit status: 0 every check passed; 1 a gradient is wrong; 2 bad usage (no such file or class, a
shape or JSON that does not parse, your constructor, module or forward raising), as one line.
"""

from __future__ import annotations

import argparse
import importlib.util
import inspect
import json
import math
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from softgrad.cli.argtypes import nonnegative_float, nonnegative_int, positive_float
from softgrad.cli.errors import UsageError
from softgrad.cli.output import print_json, table
from softgrad.errors import UserCodeError

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


def _away_from_zero(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Normal draws pushed at least 0.1 from 0, so ReLU's kink is never inside a difference."""
    x = rng.standard_normal(shape)
    return np.sign(x) * (0.1 + np.abs(x))


def cases(seed: int) -> list[tuple[str, Callable[[], Any]]]:
    """``(name, thunk)`` pairs; each thunk returns a GradcheckResult."""
    from softgrad import functional as F
    from softgrad import nn
    from softgrad.gradcheck import check_softmax_jacobian, gradcheck

    rng = np.random.default_rng(seed)
    x = _away_from_zero(rng, (N, D))
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
        return _run_user_node(args)
    node_only = (args.shape, args.args, args.eps, args.atol, args.rtol)
    if any(value is not None for value in node_only):
        raise UsageError(
            "gradcheck: --shape, --args, --eps, --atol and --rtol need a FILE.py:CLASS to check"
        )
    results = [(name, thunk()) for name, thunk in cases(args.seed)]
    failed = [name for name, r in results if not r.ok]
    if args.json:
        print_json(
            {"ok": not failed, "failed": failed, "results": [r.as_dict() for _, r in results]}
        )
        return 1 if failed else 0
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
        return 1
    print(f"all {len(results)} cases passed (float64 central differences, eps 1e-6)")
    return 0


def _constructor_arguments(text: str | None) -> tuple[list[Any], dict[str, Any]]:
    """``--args`` as (positional, keyword) arguments."""
    if text is None:
        return [], {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        raise UsageError(
            "gradcheck: --args must be JSON (a list of positional arguments, an object of keyword "
            f"arguments, or one value); got {text!r}"
        ) from None
    if isinstance(value, list):
        return value, {}
    if isinstance(value, dict):
        return [], value
    return [value], {}


def _import_file(path: Path, spec_name: str) -> Any:
    """Import the user's file as a module (its folder first on sys.path while it loads)."""
    spec = importlib.util.spec_from_file_location(spec_name, path)
    if spec is None or spec.loader is None:
        raise UsageError(f"gradcheck: FILE must be a Python file; got {str(path)!r}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec_name] = module  # dataclasses and pickling look their module up here
    sys.path.insert(0, str(path.parent.resolve()))
    writes_bytecode, sys.dont_write_bytecode = sys.dont_write_bytecode, True  # no __pycache__
    try:
        spec.loader.exec_module(module)
    except (Exception, SystemExit) as exc:  # the user's module (sys.exit too): quote it
        del sys.modules[spec_name]
        raise UserCodeError(
            f"gradcheck: importing {path} raised {type(exc).__name__}: {exc}"
        ) from exc
    finally:
        sys.path.remove(str(path.parent.resolve()))
        sys.dont_write_bytecode = writes_bytecode
    return module


def _find_class(module: Any, class_name: str, file_name: str) -> Any:
    """``module.<class_name>``, or the usage error listing the classes the file defines (or
    pointing a function at the Python API)."""
    cls = getattr(module, class_name, None)
    if inspect.isroutine(cls):  # called as a constructor, it would fail for the wrong reason
        raise UsageError(
            f"gradcheck: {class_name} in {file_name} is a function, not a class with forward(x) "
            "and backward(grad_y); check a function from Python: softgrad.gradcheck(f, x, "
            "vjp=...)"
        )
    if callable(cls):
        return cls
    defined = sorted(
        name
        for name, value in vars(module).items()
        if inspect.isclass(value) and value.__module__ == module.__name__
    )
    raise UsageError(
        f"gradcheck: CLASS must be a class defined in {file_name}; got {class_name!r} "
        f"(defined there: {', '.join(defined) or 'none'})"
    )


def _build_node(target: str, arguments: str | None) -> tuple[Any, str]:
    """Import FILE.py, build CLASS(*args, **kwargs); returns the object and its label."""
    file_name, sep, class_name = target.rpartition(":")
    if not sep or not file_name or not class_name.isidentifier():
        raise UsageError(
            "gradcheck: the node must be FILE.py:CLASS (e.g. my_nodes.py:MySoftmax); "
            f"got {target!r}"
        )
    path = Path(file_name)
    if not path.is_file():
        raise UsageError(f"gradcheck: FILE must be an existing Python file; got {file_name!r}")
    positional, keywords = _constructor_arguments(arguments)
    spec_name = f"_softgrad_user_{path.stem}"
    module = _import_file(path, spec_name)
    try:
        cls = _find_class(module, class_name, file_name)
        shown = ", ".join([*map(repr, positional), *(f"{k}={v!r}" for k, v in keywords.items())])
        label = f"{class_name}({shown})"
        try:
            node = cls(*positional, **keywords)
        except (Exception, SystemExit) as exc:  # the user's constructor (sys.exit too)
            hint = " (pass constructor arguments with --args)" if isinstance(exc, TypeError) else ""
            raise UserCodeError(
                f"gradcheck: {label} raised {type(exc).__name__}: {exc}{hint}"
            ) from exc
    finally:
        sys.modules.pop(spec_name, None)
    if not (callable(getattr(node, "forward", None)) and callable(getattr(node, "backward", None))):
        raise UsageError(
            f"gradcheck: CLASS must have forward(x) and backward(grad_y) methods; got {class_name}"
        )
    return node, label


def _needs_target(node: Any) -> bool:
    """True when forward takes (x, target): two required positional parameters."""
    try:
        parameters = inspect.signature(node.forward).parameters.values()
    except (TypeError, ValueError):
        return False
    required = [
        p
        for p in parameters
        if p.default is inspect.Parameter.empty
        and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]
    return len(required) >= 2


def _run_user_node(args: argparse.Namespace) -> int:
    from softgrad.gradcheck import gradcheck

    node, label = _build_node(args.node, args.args)
    shape = args.shape or (4, 10)
    rng = np.random.default_rng(args.seed)
    x = _away_from_zero(rng, shape)
    target = rng.integers(0, shape[-1], size=shape[:-1]) if _needs_target(node) else None
    result = gradcheck(
        node,
        x,
        target=target,
        rng=args.seed,
        name=type(node).__name__,
        eps=args.eps,
        atol=args.atol,
        rtol=args.rtol,
    )
    if args.json:
        print_json({**result.as_dict(), "node": args.node, "shape": list(shape), "seed": args.seed})
        return 0 if result.ok else 1
    with_target = " and random class targets" if target is not None else ""
    print(
        f"checking {label} from {args.node.rpartition(':')[0]} at x of shape {shape}"
        f"{with_target} (seed {args.seed})"
    )
    print(result)
    return 0 if result.ok else 1
