"""One MPI rank, before any collective: how many ranks its launcher started and which one it
is (read from the environment alone), mpi4py, one BLAS and one kernel thread per rank, and the
contiguous shard of a batch that a rank takes (:func:`shard_bounds`).

Everything here is importable from :mod:`softgrad.training.distributed` too.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, MutableMapping
from typing import Any

from softgrad.errors import MissingDependencyError

__all__ = [
    "import_mpi",
    "launcher_rank",
    "launcher_ranks",
    "one_blas_thread",
    "one_kernel_thread",
    "shard_bounds",
]

# variables an MPI launcher sets for each process it starts, with the number of ranks: MPICH's
# and Intel MPI's hydra (and Slurm's srun --mpi=pmi2) set PMI_SIZE, Open MPI OMPI_COMM_WORLD_SIZE;
# MPI_LOCALNRANKS (hydra, ranks on this node) is the fallback of launchers that set only it
LAUNCHER_VARIABLES = ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "MPI_LOCALNRANKS")
RANK_VARIABLES = ("PMI_RANK", "OMPI_COMM_WORLD_RANK")
INSTALL_HINT = "pip install 'softgrad[mpi]'"
# the variables through which a user sets the BLAS thread count themselves
BLAS_THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def launcher_ranks(environ: Mapping[str, str] | None = None) -> int | None:
    """The number of ranks the MPI launcher of this process announces; None for a plain run.

    Reads only environment variables (``PMI_SIZE``, ``OMPI_COMM_WORLD_SIZE``,
    ``MPI_LOCALNRANKS``), so asking never loads or initialises MPI.

    Parameters
    ----------
    environ : mapping, optional
        The environment to read (default ``os.environ``).

    Example
    -------
    >>> launcher_ranks({"PMI_RANK": "1", "PMI_SIZE": "4"}), launcher_ranks({})
    (4, None)
    """
    name, value = _first_set(LAUNCHER_VARIABLES, environ)
    if value is None:
        return None
    if not value.isdigit() or int(value) < 1:
        raise ValueError(
            f"launcher_ranks: {name} must be a positive number of ranks; got {value!r}"
        )
    return int(value)


def launcher_rank(environ: Mapping[str, str] | None = None) -> int | None:
    """This process's rank as its MPI launcher announces it (``PMI_RANK``,
    ``OMPI_COMM_WORLD_RANK``); None for a plain run. Reads only the environment.

    Example
    -------
    >>> launcher_rank({"PMI_RANK": "1", "PMI_SIZE": "4"}), launcher_rank({})
    (1, None)
    """
    _, value = _first_set(RANK_VARIABLES, environ)
    return int(value) if value is not None and value.isdigit() else None


def _first_set(names: tuple[str, ...], environ: Mapping[str, str] | None) -> tuple[str, str | None]:
    """The first of ``names`` set in ``environ`` (default os.environ) and its value."""
    environ = os.environ if environ is None else environ
    for name in names:
        if name in environ:
            return name, environ[name]
    return "", None


def import_mpi() -> Any:
    """``mpi4py.MPI``, or a MissingDependencyError that names the extra to install."""
    try:
        from mpi4py import MPI
    except ImportError as exc:
        raise MissingDependencyError(
            f"data-parallel training needs mpi4py and an MPI library: {INSTALL_HINT}"
        ) from exc
    except RuntimeError as exc:  # mpi4py without an MPI library: "cannot load MPI library"
        raise MissingDependencyError(
            f"data-parallel training needs an MPI library beside mpi4py ({exc}): {INSTALL_HINT}"
        ) from exc
    return MPI


def one_blas_thread(environ: Mapping[str, str] | None = None) -> bool:
    """Limit BLAS to one thread in this process unless the user chose a count (a variable of
    ``BLAS_THREAD_VARIABLES``, or ``softgrad.set_threads``: ``--threads``); True if limited.

    Two ranks of two BLAS threads each on two cores were measured at 10x the step time of two
    ranks of one thread. numpy is loaded already, so the limit goes through threadpoolctl.
    """
    environ = os.environ if environ is None else environ
    if any(name in environ for name in BLAS_THREAD_VARIABLES) or _threads_chosen():
        return False
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1, user_api="blas")
    return True


def one_kernel_thread(environ: MutableMapping[str, str] | None = None) -> bool:
    """Run the Numba lane's parallel kernels on one thread in this process, unless the user set
    ``NUMBA_NUM_THREADS`` or ``softgrad.set_threads`` (``--threads``); True if limited.

    The rule of :func:`one_blas_thread` for the other thread pool a rank has: two ranks whose
    kernels each start two threads on two cores fight over them. Before Numba is imported the
    limit goes through ``NUMBA_NUM_THREADS`` (read once at its import); after, through
    ``numba.set_num_threads``. A plain run is never limited: only an MPI rank calls this.
    """
    environ = os.environ if environ is None else environ
    if "NUMBA_NUM_THREADS" in environ or _threads_chosen():
        return False
    numba = sys.modules.get("numba")
    if numba is None:
        environ["NUMBA_NUM_THREADS"] = "1"
    else:
        numba.set_num_threads(1)
    return True


def _threads_chosen() -> bool:
    """Whether the user set a thread count through ``softgrad.set_threads`` (``--threads``)."""
    from softgrad.kernels.threads import wanted_threads

    return wanted_threads() is not None


def shard_bounds(n_samples: int, rank: int, size: int) -> tuple[int, int]:
    """The contiguous slice ``[start, stop)`` of an ``n_samples`` batch that ``rank`` takes.

    The first ``n_samples % size`` ranks take one sample more than the others; a batch smaller
    than ``size`` leaves the last ranks empty (they still join every collective).

    Example
    -------
    >>> [shard_bounds(10, rank, 3) for rank in range(3)]
    [(0, 4), (4, 7), (7, 10)]
    >>> [shard_bounds(1, rank, 2) for rank in range(2)]
    [(0, 1), (1, 1)]
    """
    base, extra = divmod(n_samples, size)
    start = rank * base + min(rank, extra)
    return start, start + base + (rank < extra)
