"""The ``softgrad`` command line: train, evaluate, predict, gradcheck, jacobian, export.

``main(argv)`` is the console script (``softgrad = softgrad.cli:main``) and ``python -m softgrad``.
This package is the only part of softgrad that prints: the workflows it drives (training, data
sets, model files, metrics) report through return values and callbacks.

Exit status: 0 success; 1 a check failed (``gradcheck``); 2 any bad input, reported as one line
``softgrad: error: ...`` on stderr with nothing written; 130 interrupted by Ctrl-C or SIGTERM.

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
        from softgrad.cli.errors import flush_stdout, run_guarded, sigterm_as_ctrl_c
        from softgrad.cli.output import escaped_stdout
        from softgrad.cli.parser import parse_args
        from softgrad.cli.threads import apply_threads
    except KeyboardInterrupt:  # before run_guarded can report it: its one line, by hand
        sys.stderr.write("softgrad: error: interrupted\n")
        return 130

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
        apply_threads(args)  # --threads, before any work
        code = args.run(args)
        flush_stdout()
        return code

    # an ASCII stdout prints café as caf\xe9, never half a table; a scheduler's SIGTERM
    # stops the run as Ctrl-C does (nothing half-written, how to resume)
    with sigterm_as_ctrl_c(), escaped_stdout():
        return run_guarded(command)
