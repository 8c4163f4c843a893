"""The ``softgrad`` command line: train, evaluate, predict, gradcheck, jacobian, export.

``main(argv)`` is the console script (``softgrad = softgrad.cli:main``) and ``python -m softgrad``.
This package is the only part of softgrad that prints: the workflows it drives (training, data
sets, model files, metrics) report through return values and callbacks.

Exit status: 0 success; 1 a check failed (``gradcheck``); 2 any bad input, reported as one line
``softgrad: error: ...`` on stderr with nothing written; 130 interrupted by Ctrl-C, SIGTERM or
SIGHUP.

This module imports nothing at its top but ``sys``: the console script imports it before
``main`` runs, and a Ctrl-C during an import there (NumPy's takes a few tenths of a second)
printed a traceback. ``main`` imports the rest under its own guard.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``softgrad`` command line and return its exit status.

    Parameters
    ----------
    argv : sequence of str, optional
        The arguments without the program name; ``sys.argv[1:]`` when None.

    Returns
    -------
    int
        0 on success, 1 when ``gradcheck`` finds a wrong gradient, 2 on any bad input, 130 when
        interrupted.
    """
    try:
        from softgrad.cli import errors  # light: what the early signals need

        with errors.standard_streams(), errors.sigterm_as_ctrl_c():
            if _several_ranks():  # before the heavy imports: MPI's start is seconds away
                errors.EarlyCtrlC.keep()
            return _main(argv)
    except KeyboardInterrupt:  # before run_guarded can report it: its one line, by hand
        try:
            sys.stderr.write("softgrad: error: interrupted\n")
        except (AttributeError, OSError, ValueError):
            pass  # stderr closed, or its reader gone
        return 130


# the variables an MPI launcher sets with the number of ranks (LAUNCHER_VARIABLES of
# softgrad.training.mpi_rank, read here without importing it: a test keeps the two the same)
_LAUNCHER_VARIABLES = ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "MPI_LOCALNRANKS")


def _several_ranks() -> bool:
    """Whether an MPI launcher started this process as one of several ranks."""
    import os

    for name in _LAUNCHER_VARIABLES:
        value = os.environ.get(name)
        if value is not None:
            return value.isdigit() and int(value) > 1
    return False


def _main(argv: Sequence[str] | None) -> int:
    """:func:`main` once its signals are set."""
    from softgrad.cli.errors import flush_stdout, run_guarded
    from softgrad.cli.output import escaped_stdout
    from softgrad.cli.parser import parse_args
    from softgrad.cli.threads import command_threads

    arguments = list(sys.argv[1:] if argv is None else argv)

    def command() -> int:
        try:
            args = parse_args(arguments)
        except SystemExit:  # --help, --version: their text is flushed here too
            flush_stdout()
            raise
        if args.command != "train":
            from softgrad.cli.ranks import refuse_ranks

            refuse_ranks(args.command)  # only train runs data-parallel under mpiexec
        with command_threads(args):  # --threads, before any work and for it alone
            code = args.run(args)
            flush_stdout()
        return code

    # an ASCII stdout prints café as caf\xe9, never half a table (a scheduler's SIGTERM stops
    # the run as Ctrl-C does, from main: nothing half-written, how to resume)
    with escaped_stdout():
        return run_guarded(command)
