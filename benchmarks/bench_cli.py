"""What every benchmark script shares at its command line.

- :class:`Parser`: an ``argparse`` parser whose errors are one line on stderr and exit 2 (no
  usage block, no traceback), as the softgrad CLI's are.
- Argument types that refuse nonsense before any work starts (``positive_int``, ...) and
  :func:`output_file`, which checks that a file the run writes at its end can be written, so a
  ten-minute run does not die on its last line.
- :func:`missing`: which optional peers (torch, onnxruntime, mpi4py, ...) are not installed, by
  name, without importing them; :func:`fashion_root`: the Fashion-MNIST folder, or a clear stop.
- :func:`header`: one line naming the machine, NumPy's BLAS and softgrad's kernel lane with
  their versions and thread counts (issue 11), printed before any figure.
"""

from __future__ import annotations

import argparse
import importlib.util
import tempfile
from pathlib import Path

import machine
import sections


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line, ``prog: error: ...``, and exit 2."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message}\n")


def _number(kind, minimum, text: str, what: str):
    try:
        value = kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be {what}; got {text!r}") from None
    if not value >= minimum or value != value:  # NaN compares false with everything
        raise argparse.ArgumentTypeError(f"must be {what}; got {text!r}")
    return value


def positive_int(text: str) -> int:
    return _number(int, 1, text, "a positive integer")


def nonnegative_int(text: str) -> int:
    return _number(int, 0, text, "an integer >= 0")


def positive_float(text: str) -> float:
    value = _number(float, 0.0, text, "a positive finite number")
    if value == 0.0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive finite number; got {text!r}")
    return value


def output_file(text: str) -> Path:
    """A file path the run can write at its end: its folder exists and takes a new file (tried
    with a temporary file, removed at once: permission bits do not bind root, /proc refuses
    files whatever they say), and an existing file opens for appending (nothing is written)."""
    path = Path(text)
    folder = path.parent
    if path.is_dir():
        raise argparse.ArgumentTypeError(f"must be a file, not a folder; got {text!r}")
    if not folder.is_dir():
        raise argparse.ArgumentTypeError(f"folder {str(folder)!r} does not exist")
    try:
        with tempfile.TemporaryFile(dir=folder):
            pass
        if path.exists():
            with open(path, "a"):
                pass
    except OSError as error:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not writable ({error.strerror or error})"
        ) from None
    return path


def check_output(
    parser: argparse.ArgumentParser, args: argparse.Namespace, section: str | None = None
) -> None:
    """``args.output`` as a Path, checked by :func:`output_file` unless ``--no-write`` (its
    default, not run through ``type=``, is checked too); a clear stop otherwise. With
    ``section``, the file must also hold that section's markers as
    :func:`sections.write_section` needs them, found before the run, not after its minutes."""
    if args.no_write:
        args.output = Path(args.output)
        return
    try:
        args.output = output_file(str(args.output))
    except argparse.ArgumentTypeError as error:
        parser.error(f"argument --output: {error}")
    problem = None if section is None else sections.markers_problem(args.output, section)
    if problem is not None:
        parser.error(f"argument --output: {problem}")


def missing(*modules: str) -> list[str]:
    """The ones of ``modules`` that are not installed (found without importing them)."""
    absent = []
    for name in modules:
        try:
            found = importlib.util.find_spec(name) is not None
        except (ImportError, ValueError):  # a parent package absent, or a broken module
            found = False
        if not found:
            absent.append(name)
    return absent


def fashion_root(parser: argparse.ArgumentParser) -> Path:
    """The Fashion-MNIST folder ($SOFTGRAD_DATA or the Debian package's); a clear stop (exit 2)
    when its four IDX files are not there."""
    import data

    root = data.fashion_root()
    absent = data.missing_fashion_files(root)
    if absent:
        parser.error(
            f"Fashion-MNIST is not installed in {str(root)!r} (missing {', '.join(absent)}): "
            "install it with `apt-get install dataset-fashion-mnist`, or set SOFTGRAD_DATA to a "
            "folder holding the four IDX files"
        )
    return root


def check_kernels(parser: argparse.ArgumentParser) -> None:
    """A bad SOFTGRAD_KERNELS is a clear stop before any work, not a traceback mid-run."""
    try:
        from softgrad.kernels import get_ops
    except ImportError:
        return
    try:
        get_ops()
    except (ValueError, ImportError) as error:  # an unknown lane, or its package missing
        parser.error(str(error))


def header(info: dict | None = None) -> str:
    """One line: CPU and cores, Python, NumPy and its BLAS, softgrad's kernel lane, load."""
    info = machine.describe() if info is None else info
    return (
        f"machine: {info['cpu']}, {info['cores']} cores; Python {info['python']}; "
        f"NumPy {info['numpy']}, BLAS {info['blas']}; softgrad {info['softgrad']}, kernels "
        f"{info['kernels']}; BLAS and thread environment: {env_text(info['env'])}; "
        f"load average {info['load_average']}"
    )


def env_text(env: dict | str) -> str:
    """``machine.describe()``'s environment: ``"K=V, K=V"``, or ``"unset"`` as it says."""
    if isinstance(env, dict):
        return ", ".join(f"{k}={v}" for k, v in env.items())
    return env


def parse(
    parser: argparse.ArgumentParser, argv=None, *, needs=None, fashion: bool = False
) -> argparse.Namespace:
    """``parser.parse_args(argv)``, then the checks every run needs before its first step: each
    module of ``needs`` (module -> who needs it, e.g. ``{"torch": "peer pytorch"}``) is
    installed, SOFTGRAD_KERNELS names a lane that loads, and (``fashion``) Fashion-MNIST is
    there. Each failure is one line and exit 2."""
    args = parser.parse_args(argv)
    needs = needs or {}
    for module in missing(*needs):
        parser.error(f"{needs[module]} needs {module}, which is not installed")
    check_kernels(parser)
    if fashion:
        fashion_root(parser)
    return args
