"""Data-parallel training over MPI: the launcher, the collectives fit needs, the shard arithmetic.

Every rank runs the same fit on the same data. Each draws the same permutation, takes a
contiguous shard of every global batch (:func:`shard_bounds`), runs forward and backward on it
with its gradient scaled by its share of the batch (n_local / n_global; with sample weights,
sum(w_local) / sum(w_global)), and one in-place Allreduce(SUM) of the gradient follows, so every
rank takes the same optimizer step as one process on the whole batch would.

mpi4py is imported only when a launcher started this process (:func:`launcher_ranks` reads
the environment alone) or when the caller hands fit a communicator, so a plain run never
initialises MPI. Install it with ``pip install 'softgrad[mpi]'`` (mpi4py and the mpich wheel).

Failures end every rank together (no rank is left waiting in a collective): each step reduces a
small float64 status (the batch's loss, weight, hits and a failure flag) before the gradient, so a
non-finite loss on any rank raises the same DivergenceError everywhere, and an exception in any
rank's forward or backward raises :class:`~softgrad.errors.DistributedError` naming that rank
and its error on every rank. An error outside the step (a callback, this rank's validation
shard, rank 0's checkpoint writing) is kept (:meth:`Communicator.defer`) until the next point
where the ranks exchange a failure flag anyway (the next step's status, the validation sums,
the end of the epoch, the end of fit), and raised there on every rank. Once an epoch,
:meth:`Communicator.agree_epoch` confirms that every rank holds the same parameters.

Before the first step the ranks agree that they run the same fit (the batch size, the data's
shape, the training split, the network's shapes, the epochs done: ``together``; the epochs:
``sharded``), so ranks given different arguments fail together instead of taking different
numbers of steps. fit's own argument checks, the validation split and the resume file's reading
run before that on each rank inside :meth:`Communicator.check_together`, so a check that fails
on one rank alone (a NaN in that rank's data, a resume file missing there) ends every rank too.
"""

from __future__ import annotations

import hashlib
import os
import sys
import traceback
from collections.abc import Mapping, MutableMapping
from contextlib import contextmanager
from typing import Any

import numpy as np

from softgrad.errors import DistributedError, MissingDependencyError

__all__ = [
    "Communicator",
    "as_communicator",
    "launcher_rank",
    "launcher_ranks",
    "one_blas_thread",
    "one_kernel_thread",
    "shard_bounds",
    "world",
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
    return MPI


def as_communicator(comm: Any) -> Communicator:
    """``comm`` itself if it is a Communicator, else an mpi4py communicator wrapped in one."""
    return comm if isinstance(comm, Communicator) else Communicator.from_mpi(comm)


def world(environ: Mapping[str, str] | None = None) -> Communicator | None:
    """The world communicator when an MPI launcher started this process, else None.

    Under ``mpiexec -n 1`` this is a 1-rank communicator (fit then equals a plain fit bit for
    bit); a plain ``python`` run gets None without importing mpi4py.
    """
    if launcher_ranks(environ) is None:
        return None
    return Communicator.from_mpi(import_mpi().COMM_WORLD)


def one_blas_thread(environ: Mapping[str, str] | None = None) -> bool:
    """Limit BLAS to one thread in this process unless the user chose a count; True if limited.

    Two ranks of two BLAS threads each on two cores were measured at 10x the step time of two
    ranks of one thread. numpy is loaded already, so the limit goes through threadpoolctl.
    """
    environ = os.environ if environ is None else environ
    if any(name in environ for name in BLAS_THREAD_VARIABLES):
        return False
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1, user_api="blas")
    return True


def one_kernel_thread(environ: MutableMapping[str, str] | None = None) -> bool:
    """Run the Numba lane's parallel kernels on one thread in this process, unless the user set
    ``NUMBA_NUM_THREADS``; True if limited.

    The rule of :func:`one_blas_thread` for the other thread pool a rank has: two ranks whose
    kernels each start two threads on two cores fight over them. Before Numba is imported the
    limit goes through ``NUMBA_NUM_THREADS`` (read once at its import); after, through
    ``numba.set_num_threads``. A plain run is never limited: only an MPI rank calls this.
    """
    environ = os.environ if environ is None else environ
    if "NUMBA_NUM_THREADS" in environ:
        return False
    numba = sys.modules.get("numba")
    if numba is None:
        environ["NUMBA_NUM_THREADS"] = "1"
    else:
        numba.set_num_threads(1)
    return True


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


class Communicator:
    """The collectives of data-parallel :func:`~softgrad.training.fit`, over one communicator.

    Parameters
    ----------
    comm : mpi4py.MPI.Comm or a stand-in with the same methods
        Uses Get_rank, Get_size, Allreduce, Bcast, bcast, allgather, gather, Abort (and Barrier in
        :meth:`finish`).
    in_place, sum_op : objects
        ``MPI.IN_PLACE`` and ``MPI.SUM`` (see :meth:`from_mpi`); a stand-in passes its own.
    """

    def __init__(self, comm: Any, in_place: Any, sum_op: Any) -> None:
        self.comm, self.in_place, self.sum_op = comm, in_place, sum_op
        self.rank = int(comm.Get_rank())
        self.size = int(comm.Get_size())
        # an error this rank met outside a collective, raised on every rank at the next one
        self.pending: BaseException | None = None

    @classmethod
    def from_mpi(cls, comm: Any) -> Communicator:
        """Wrap an mpi4py communicator (``MPI.COMM_WORLD``, or a split of it)."""
        MPI = import_mpi()
        return cls(comm, MPI.IN_PLACE, MPI.SUM)

    def __repr__(self) -> str:
        return f"Communicator(rank={self.rank}, size={self.size})"

    def sum_(self, buffer: np.ndarray) -> np.ndarray:
        """Sum ``buffer`` over the ranks, in place (one Allreduce); returns it."""
        self.comm.Allreduce(self.in_place, buffer, op=self.sum_op)
        return buffer

    def broadcast_(self, buffer: np.ndarray) -> np.ndarray:
        """Overwrite ``buffer`` with rank 0's (one Bcast); returns it."""
        self.comm.Bcast(buffer, root=0)
        return buffer

    def broadcast_object(self, obj: Any) -> Any:
        """Rank 0's ``obj`` on every rank (pickled: for small state at the start of a run)."""
        return self.comm.bcast(obj, root=0)

    def check_same(self, values: dict[str, Any], where: str) -> None:
        """Raise the same DistributedError on every rank unless every rank passed equal
        ``values`` (small, pickled: one allgather); the message names the first differing one
        and its value on each rank."""
        gathered = self.comm.allgather(values)
        for key in values:
            by_rank = [g[key] for g in gathered]
            if any(v != by_rank[0] for v in by_rank):
                got = ", ".join(f"{v!r} on rank {r}" for r, v in enumerate(by_rank))
                raise DistributedError(
                    f"{where}: {key} must be the same on every rank; got {got}. Call it with "
                    f"the same arguments and data on every rank"
                )

    def gather_object(self, obj: Any) -> list[Any] | None:
        """Every rank's ``obj`` in rank order on rank 0 (pickled: small state), None elsewhere."""
        return self.comm.gather(obj, root=0)

    def defer(self, error: BaseException) -> None:
        """Keep ``error`` (met by this rank alone, outside a collective) for the next
        :meth:`raise_together`, which raises it on every rank; the first one kept wins."""
        if self.pending is None:
            self.pending = error

    def agree(self, where: str, errors: tuple[type[BaseException], ...] = (Exception,)) -> Any:
        """Run the block on every rank; if it raised one of ``errors`` on any rank (or a
        deferred error is pending), raise the same DistributedError on every rank after it."""
        return self._together(where, errors, alike_as_is=False)

    def check_together(self, where: str) -> Any:
        """Run a block of argument checks on every rank (no collective inside it); if it raised
        an Exception on any rank, raise on every rank after it.

        Where every rank raised the same error (the same bad argument everywhere, the common
        case), each rank raises its own, type and message as in one process. Where they differ
        (a NaN in one rank's data, a file missing on one rank), it is :meth:`agree`'s
        DistributedError, naming the first failing rank and its error, on every rank.
        """
        return self._together(where, (Exception,), alike_as_is=True)

    @contextmanager
    def _together(
        self, where: str, errors: tuple[type[BaseException], ...], alike_as_is: bool
    ) -> Any:
        error = None
        try:
            yield
        except errors as exc:
            error = exc
        self._settle(error, where, alike_as_is)

    def raise_together(self, error: BaseException | None, where: str) -> None:
        """Raise the same DistributedError on every rank if any rank has an ``error`` (or a
        :meth:`defer`-red one).

        Every rank must call it at the same point; it returns when no rank has an error. The
        message names the first failing rank and its error; on that rank the DistributedError
        is chained to the original (``__cause__``), traceback included. When that error is a
        KeyboardInterrupt (Ctrl-C a callback raised: ``sharded._DeferErrors``), every rank's
        DistributedError is chained to one, so every rank knows that it was interrupted.
        """
        self._settle(error, where, alike_as_is=False)

    def _settle(self, error: BaseException | None, where: str, alike_as_is: bool) -> None:
        """One allgather of every rank's ``error`` (or deferred one), then the raise every rank
        agrees on: ``error`` itself when ``alike_as_is`` and every rank has the same one, else
        :meth:`_raise_first`'s DistributedError (nothing when no rank failed)."""
        error = self._take_error(error)
        messages = self.comm.allgather(_describe(error))
        if alike_as_is and error is not None and all(m == messages[0] for m in messages):
            raise error
        self._raise_first(error, messages, where)

    def _take_error(self, error: BaseException | None) -> BaseException | None:
        """``error``, else the deferred one (no longer pending after this)."""
        if error is None:
            error, self.pending = self.pending, None
        return error

    def _raise_first(self, error: BaseException | None, messages: list[Any], where: str) -> None:
        failed = [(r, m) for r, m in enumerate(messages) if m is not None]
        if not failed:
            return
        rank, message = failed[0]
        cause = error if rank == self.rank else None
        if cause is None and message.split(":", 1)[0] == "KeyboardInterrupt":
            cause = KeyboardInterrupt()  # Ctrl-C on one rank is Ctrl-C on every rank
        raise DistributedError(f"{where}: rank {rank} of {self.size} failed: {message}") from cause

    def agree_epoch(self, arrays: Mapping[str, np.ndarray], stop: bool, where: str) -> bool:
        """Once an epoch: check that every rank holds bit-identical ``arrays``; True if any
        rank wants to ``stop`` (one allgather of a checksum, a flag and a deferred error's
        message per rank).

        Raises DistributedError on every rank when a rank had a deferred error (as
        :meth:`raise_together`) or when the checksums differ.
        """
        digest = hashlib.blake2b(digest_size=8)
        for name, array in arrays.items():
            digest.update(name.encode())
            digest.update(np.ascontiguousarray(array).tobytes())
        error = self._take_error(None)
        gathered = self.comm.allgather((digest.hexdigest(), bool(stop), _describe(error)))
        self._raise_first(error, [m for _, _, m in gathered], where)
        digests = [d for d, _, _ in gathered]
        if len(set(digests)) > 1:
            raise DistributedError(
                f"{where}: the parameters must be identical on every rank; got checksums "
                f"{digests!r} by rank. The ranks ran different code, data or BLAS settings."
            )
        return any(s for _, s, _ in gathered)

    def finish(self) -> None:
        """Wait for every rank, then shut MPI down: before exiting with an error every rank
        raised. A launcher ends all ranks (and drops their unread output) as soon as one exits
        non-zero without having finalised MPI; after this, each rank's report gets out."""
        self.comm.Barrier()
        import_mpi().Finalize()

    def abort(self, error: BaseException, code: int = 2) -> None:
        """End every rank now (MPI_Abort), after printing ``error``'s traceback to stderr: the
        last resort when this rank cannot rejoin the others (they may wait in a collective).

        Stderr is the only place left to say why: the process is about to be killed. Ctrl-C
        (KeyboardInterrupt) reached every rank at once and needs no traceback.
        """
        if not isinstance(error, KeyboardInterrupt):
            traceback.print_exception(error)
        sys.stderr.flush()
        self.comm.Abort(code)


def _describe(error: BaseException | None) -> str | None:
    """The line another rank shows for ``error``: its type and message (if it has one)."""
    if error is None:
        return None
    message = str(error)
    return f"{type(error).__name__}: {message}" if message else type(error).__name__
