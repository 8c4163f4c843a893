"""``softgrad gradcheck FILE.py:CLASS``: check your own node against finite differences.

``softgrad gradcheck path/to/file.py:ClassName [--shape 4,10] [--args JSON] [--seed N]
[--eps E] [--atol A] [--rtol R]`` imports your file (as a module: code under
``if __name__ == "__main__":`` does not run), builds ``ClassName(*args)`` and checks its
``backward`` at a random x of that shape, printing the report table and the diagnosis.
``--args`` is JSON: a list is passed as positional arguments, an object as keyword arguments,
any other value as the one argument (``--args '[64, 10]'``, ``--args '{"n_in": 64}'``,
``--args 10``); nothing in it is evaluated as code. A forward that
takes ``(x, target)`` (a loss) gets random class indices in [0, C), C the last size of --shape,
or with ``--targets onehot`` their one-hot rows; where such a forward raises (or its backward
raises a shape or index error), or its check fails with no mistake named, on class indices, the
message says so and names ``--targets onehot``.
The step and tolerances are chosen from the precision of your forward's output (float64: 1e-6,
1e-5, 1e-4; float32 and float16: see :mod:`softgrad.gradcheck.precision`) unless given.
Exit status and usage errors: see :mod:`softgrad.cli.gradcheck_cmd`.
"""

from __future__ import annotations

import argparse
import importlib.util
import inspect
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

from softgrad.cli.errors import EXIT_FAILED_CHECK, EXIT_OK, UsageError
from softgrad.cli.names import as_text
from softgrad.cli.output import print_json
from softgrad.errors import UserCodeError


def away_from_zero(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Normal draws pushed at least 0.1 from 0, so ReLU's kink is never inside a difference."""
    x = rng.standard_normal(shape)
    return np.sign(x) * (0.1 + np.abs(x))


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
    class_name = as_text(class_name)  # a Python name is text (Échelle under LC_ALL=C too)
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
            missing = isinstance(exc, TypeError) and arguments is None
            hint = " (pass constructor arguments with --args)" if missing else ""
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


def _may_concern_targets(exc: UserCodeError, name: str) -> bool:
    """True when the user's exception may come of the targets' encoding: forward, which reads
    them first, raised; or backward raised a shape or index error (one-hot arithmetic on class
    indices), not any error (a backward that gradcheck cannot call is said apart)."""
    from_forward = str(exc).startswith(f"gradcheck: {name}.forward raised ")
    return from_forward or isinstance(exc.__cause__, (ValueError, IndexError))


def run_user_node(args: argparse.Namespace) -> int:
    """Check the node ``FILE.py:CLASS`` that ``args.node`` names; the exit status (0 or 1)."""
    from softgrad.gradcheck import gradcheck

    node, label = _build_node(args.node, args.args)
    shape = args.shape or (4, 10)
    rng = np.random.default_rng(args.seed)
    x = away_from_zero(rng, shape)
    target: np.ndarray | None = None
    if _needs_target(node):
        target = rng.integers(0, shape[-1], size=shape[:-1])
        if args.targets == "onehot":
            target = np.eye(shape[-1])[target]
    elif args.targets is not None:
        raise UsageError(
            f"gradcheck: --targets is for a forward(x, target); {type(node).__name__}.forward "
            "takes x alone"
        )
    indices = target is not None and args.targets != "onehot"
    try:
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
    except UserCodeError as exc:
        if not indices or target is None or not _may_concern_targets(exc, type(node).__name__):
            raise
        raise UserCodeError(f"{exc} ({_INDEX_TARGETS.format(shape=target.shape)})") from exc
    if args.json:
        extra = {"targets": "indices" if indices else "onehot"} if target is not None else {}
        print_json(
            {
                **result.as_dict(),
                "node": args.node,
                "shape": list(shape),
                "seed": args.seed,
                **extra,
            }
        )
        return EXIT_OK if result.ok else EXIT_FAILED_CHECK
    with_target = ""
    if target is not None:
        with_target = " and random class targets" + ("" if indices else " (one-hot)")
    print(
        f"checking {label} from {args.node.rpartition(':')[0]} at x of shape {shape}"
        f"{with_target} (seed {args.seed})"
    )
    print(result)
    if indices and target is not None and not result.ok and not result.mistakes:
        # no mistake named: a node of one-hot targets reads indices wrongly (at N == C they
        # broadcast without an error); a named mistake says the targets were understood
        print(f"note: {_INDEX_TARGETS.format(shape=target.shape)}")
    return EXIT_OK if result.ok else EXIT_FAILED_CHECK


# said where a forward(x, target) given class indices raised or failed its check
_INDEX_TARGETS = (
    "the target was class indices of shape {shape}; for a forward that takes one-hot targets, "
    "run with --targets onehot"
)
