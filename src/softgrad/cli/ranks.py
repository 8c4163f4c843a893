"""``softgrad train`` under ``mpiexec -n N``: data-parallel, with one rank speaking for all.

The launcher is detected from the environment before mpi4py is imported
(:func:`softgrad.training.distributed.world`), so a plain run never initialises MPI. Under a
launcher each rank uses one BLAS thread and one Numba kernel thread unless the user set a
count, and:

- every rank checks the options and loads the data; an error on any rank ends every rank
  (:func:`together`) before training starts;
- every rank trains its shard of each global batch (``fit(comm=)``);
- rank 0 alone prints (the first line says "data-parallel over N MPI ranks, global batch B"),
  draws and writes files; an error is one line from rank 0 and exit status 2.

The other commands refuse to run on more than one rank (:func:`refuse_ranks`).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from softgrad.cli.errors import (
    EXIT_OK,
    EXIT_USAGE,
    EXPECTED_ERRORS,
    UsageError,
    one_line,
    report,
)
from softgrad.errors import DistributedError
from softgrad.training.distributed import (
    Communicator,
    launcher_ranks,
    one_blas_thread,
    one_kernel_thread,
    world,
)


def refuse_ranks(command: str) -> None:
    """Refuse to run ``command`` under an MPI launcher of more than one rank: only ``train``
    is data-parallel; the others would run N times over and write N times."""
    n_ranks = launcher_ranks()
    if n_ranks is not None and n_ranks > 1:
        raise UsageError(
            f"{command}: the number of MPI ranks must be 1 (only train runs data-parallel; "
            f"start {command} without mpiexec); got {n_ranks}"
        )


def start() -> Communicator | None:
    """The world communicator under an MPI launcher (one BLAS thread and one kernel thread per
    rank, unless the user chose counts), else None."""
    comm = world()
    if comm is not None:
        one_blas_thread()
        one_kernel_thread()
    return comm


def speaks(comm: Communicator | None) -> bool:
    """Whether this process prints, draws and writes files: a plain run, or rank 0."""
    return comm is None or comm.rank == 0


def announce(comm: Communicator | None, batch_size: int) -> None:
    """Rank 0's first line under a launcher."""
    if comm is not None and comm.rank == 0:
        # stdout stays pure JSON with --json, so the line goes where progress goes
        print(
            f"data-parallel over {comm.size} MPI ranks, global batch {batch_size}",
            file=sys.stderr,
            flush=True,
        )


@contextmanager
def together(comm: Communicator | None, where: str) -> Iterator[None]:
    """Run the block on every rank; if it raised on any rank, raise on every rank."""
    if comm is None:
        yield
        return
    with comm.agree(where, EXPECTED_ERRORS):
        yield


def run_ranks(comm: Communicator | None, command: Callable[[], int]) -> int:
    """Run ``command`` on this rank; an expected error (raised on every rank together) is
    reported once, by rank 0, and every rank shuts MPI down before exiting.

    Rank 0 exits with status 2 and the others with 0, so that the launcher, which ends every
    rank as soon as one exits non-zero, has already let rank 0's line out (mpiexec still
    exits 2).
    """
    if comm is None:
        return command()
    try:
        status = command()
    except EXPECTED_ERRORS as exc:
        if comm.rank == 0:
            # rank 0's own error in its own words; another rank's names that rank
            own = exc.__cause__ if isinstance(exc, DistributedError) else None
            report(one_line(own if own is not None else exc))
        comm.finish()
        return EXIT_USAGE if comm.rank == 0 else EXIT_OK
    except BaseException as exc:
        comm.abort(exc, EXIT_USAGE)  # a bug or Ctrl-C: the others may wait in a collective
        raise
    comm.finish()
    return status
