"""Data-parallel training over MPI: the collectives fit needs, in :class:`Communicator`.

Its parts live apart: the launcher's environment, mpi4py, the per-rank thread limits and the
shard arithmetic in :mod:`softgrad.training.mpi_rank`, the error agreement (``defer``,
``agree``, ``check_together``, ``raise_together``) in :mod:`softgrad.training.fail_together`
(the mixin :class:`~softgrad.training.fail_together.FailTogether`); every name is importable
from here.

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
shape, the training split, the validation data's checksums, the network's shapes, the epochs
done, the epochs and the checksums of X, y and sample_weight: ``together.agree_to_start``),
so ranks given different arguments fail together instead of taking different numbers of
steps, and ranks given other data of the same shapes fail instead of training on a mix of
it. fit's own argument checks, the validation split and the resume file's reading run before
that on each rank inside :meth:`Communicator.check_together`, so a check that fails on one
rank alone (a NaN in that rank's data, a resume file missing there) ends every rank too.
"""

from __future__ import annotations

import hashlib
import sys
import traceback
from collections.abc import Mapping
from typing import Any

import numpy as np

from softgrad.errors import DistributedError, MissingDependencyError
from softgrad.training.fail_together import FailTogether, _describe
from softgrad.training.mpi_rank import (
    import_mpi,
    launcher_rank,
    launcher_ranks,
    one_blas_thread,
    one_kernel_thread,
    shard_bounds,
)

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


def as_communicator(comm: Any) -> Communicator:
    """``comm`` itself if it is a Communicator, else an mpi4py communicator wrapped in one."""
    return comm if isinstance(comm, Communicator) else Communicator.from_mpi(comm)


def world(environ: Mapping[str, str] | None = None) -> Communicator | None:
    """The world communicator when an MPI launcher started this process, else None.

    Under ``mpiexec -n 1`` this is a 1-rank communicator (fit then equals a plain fit bit for
    bit), or None where mpi4py or its MPI library is missing (a lone rank is a plain run: a
    scheduler's single task announced by ``PMI_SIZE=1`` needs no MPI); a plain ``python`` run
    gets None without importing mpi4py.
    """
    ranks = launcher_ranks(environ)
    if ranks is None:
        return None
    try:
        mpi = import_mpi()
    except MissingDependencyError:
        if ranks == 1:
            return None
        raise
    return Communicator.from_mpi(mpi.COMM_WORLD)


class Communicator(FailTogether):
    """The collectives of data-parallel :func:`~softgrad.training.fit`, over one communicator.

    Its error agreement (:meth:`defer`, :meth:`agree`, :meth:`check_together`,
    :meth:`raise_together`) comes from :class:`~softgrad.training.fail_together.FailTogether`.

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
        """Wrap an mpi4py communicator (``MPI.COMM_WORLD``, or a split of it).

        A communicator of several ranks means that this process is one of several sharing the
        machine's cores: it is limited to one BLAS and one kernel thread
        (:func:`one_blas_thread`, :func:`one_kernel_thread`) unless the user chose counts, so
        ``fit(comm=MPI.COMM_WORLD)`` runs as ``softgrad train`` under mpiexec does (2 ranks of
        2 threads each on a busy 2-core machine were measured at 16 s an epoch, against 0.45 s
        with one thread each).
        """
        MPI = import_mpi()
        communicator = cls(comm, MPI.IN_PLACE, MPI.SUM)
        if communicator.size > 1:
            one_blas_thread()
            one_kernel_thread()
        return communicator

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
