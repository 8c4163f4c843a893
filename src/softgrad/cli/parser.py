"""The argument parser: argparse, but every mistake is one line and exit status 2.

argparse's own ``error()`` prints the usage block and then the message (several lines). Here
``error()`` raises :class:`~softgrad.cli.errors.UsageError` instead, which ``main`` reports as the
single line ``softgrad: error: <command>: <message>``. ``--help`` keeps working (it exits 0).
The value checkers (``positive_int`` ..., in :mod:`softgrad.cli.argtypes`) turn bad values such
as ``--epochs 0`` or ``--lr -1`` into the same kind of one-line error.

This module imports the subcommand modules to build the parser; they never import it (their
argument types live in the leaf module :mod:`softgrad.cli.argtypes`), so there is no cycle.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from collections.abc import Sequence

from softgrad import __version__
from softgrad.cli.errors import UsageError

COMMANDS = ("train", "evaluate", "predict", "gradcheck", "jacobian", "export", "info")


class Parser(argparse.ArgumentParser):
    """ArgumentParser whose errors raise UsageError instead of printing usage and exiting."""

    def error(self, message: str):
        command = self.prog.removeprefix("softgrad").strip()
        raise UsageError(f"{command}: {message}" if command else message)

    def _print_message(self, message: str, file=None) -> None:
        """argparse's, without its ``except OSError: pass``: the text of ``--help`` and
        ``--version`` that could not be written (``> /dev/full``, a closed pipe) now fails as
        any command's output does. With an unbuffered stdout (``PYTHONUNBUFFERED=1``, as many
        container images set) the failed write was swallowed and the command exited 0."""
        if message:
            (file or sys.stderr).write(message)


def build_parser() -> Parser:
    """The ``softgrad`` parser with one subparser per command."""
    from softgrad.cli import evaluate, export, gradcheck_cmd, info, jacobian, predict, train

    parser = Parser(
        prog="softgrad",
        description="Train, evaluate and inspect softmax neural networks written in NumPy.",
        epilog="Run 'softgrad COMMAND --help' for the options of a command.",
    )
    parser.add_argument("--version", action="version", version=f"softgrad {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    for module in (train, evaluate, predict, gradcheck_cmd, jacobian, export, info):
        sub = module.add_parser(commands)
        sub.set_defaults(run=module.run)
    return parser


def _protect_negative_numbers(argv: list[str]) -> list[str]:
    """Make ``softgrad jacobian -1 --log -2.5e3`` read the numbers as values, not as options.

    argparse takes any token starting with ``-`` for an option unless it looks like a plain
    negative number (and it does not accept exponents such as ``-1e3``); it also stops reading
    the values at the first option. So for ``jacobian`` every number gets a leading space (a
    positional argument for argparse; ``float()`` ignores the space) and the options are moved
    in front of the values.
    """
    if not argv or argv[0] != "jacobian":
        return argv
    options: list[str] = []
    values: list[str] = []
    dangling: list[str] = []  # a valued option with nothing after it stays last
    tokens = iter(argv[1:])
    for token in tokens:
        if _takes_a_value(token):
            value = next(tokens, None)
            # moved before the values it would take the first of them ("jacobian 1 2 3
            # --precision" read precision 1): last, argparse says it expects a value
            if value is None:
                dangling.append(token)
            else:
                options += [token, value]
        elif _is_number(token):
            values.append(" " + token if token.startswith("-") else token)
        elif token.startswith("-"):
            options.append(token)
        else:
            values.append(token)  # not a number: argparse reports it as a bad value
    return [argv[0], *options, *values, *dangling]


_JACOBIAN_VALUED_OPTIONS = ("--precision",)


def _takes_a_value(token: str) -> bool:
    """Whether ``token`` is a valued option of ``jacobian``, or an abbreviation argparse reads as
    one: ``1 --prec 3 2`` was read as precision 1 and the values 3, 2 (the 3 moved behind)."""
    return len(token) > 2 and any(option.startswith(token) for option in _JACOBIAN_VALUED_OPTIONS)


def _is_number(token: str) -> bool:
    try:
        float(token)
    except ValueError:
        return False
    return True


def _refuse_options_before_the_command(argv: list[str]) -> None:
    """``softgrad --threads 1 info``: the command's options come after it (argparse said
    "invalid choice: '1'", taking the option's value for the command)."""
    at = next((k for k, a in enumerate(argv) if a in COMMANDS), None)
    if not at or argv[0] in ("-h", "--help", "--version") or not argv[0].startswith("-"):
        return
    reordered = shlex.join([argv[at], *argv[:at], *argv[at + 1 :]])
    raise UsageError(
        f"{argv[0]} must come after the command: softgrad {reordered} (got it before {argv[at]!r})"
    )


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    """Parse ``argv`` (without the program name); raises UsageError on any mistake."""
    parser = build_parser()
    argv = list(argv)
    _refuse_options_before_the_command(argv)
    try:
        args = parser.parse_args(_protect_negative_numbers(argv))
    except UsageError as exc:
        # the top-level parser reports leftovers ("unrecognized arguments"): name the command
        command = argv[0] if argv and argv[0] in COMMANDS else None
        if command and not str(exc).startswith(f"{command}:"):
            raise UsageError(f"{command}: {exc}") from None
        raise
    if args.command is None:
        raise UsageError(
            f"a command is required: one of {', '.join(COMMANDS)} (see softgrad --help)"
        )
    return args
