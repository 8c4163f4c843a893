"""``softgrad train`` under ``mpiexec -n N``: data-parallel, with one rank speaking for all.

The launcher is detected from the environment before mpi4py is imported
(:func:`softgrad.training.distributed.world`), so a plain run never initialises MPI. Under a
launcher of several ranks each uses one BLAS thread and one Numba kernel thread unless the user
set a count (:func:`start`), and:

- every rank checks the options, which must be rank 0's (:func:`check_same_options`); an
  error on any rank ends every rank (:func:`together`)
  before training starts;
- rank 0 alone reads the data set (:func:`load_once`) and writes its training rows (images as
  stored, other features scaled) to one file that every rank memory-maps (:func:`training_rows`);
- every rank trains its shard of each global batch (``fit(comm=)``);
- rank 0 alone prints (the first line says "data-parallel over N MPI ranks, global batch B"),
  draws and writes files; an error is one line from rank 0 and exit status 2.

The other commands refuse to run on more than one rank (:func:`refuse_ranks`).

Why a memory map of the whole training set and not a shard per rank: every rank draws the same
permutation and takes its slice of every global batch, so over an epoch a rank reads rows from
all over the set (this is what makes the run equal one process's to float64 rounding). A rank
holding a fixed 1/N of the rows could only train on per-rank permutations, a different run. So
the rows a rank touches are read from the page cache on demand: a rank's private memory is its
batch buffers and the validation rows, the file's pages are held once per machine for all its
ranks and can be dropped under pressure, and only rank 0 ever holds the data set as loaded.
The file sits beside ``--out`` (a folder every rank must see: on several machines, a shared
one) and is unlinked as soon as every rank has mapped it; one that a run killed before that
left is removed by the next run's rank 0 on that host (:mod:`softgrad.cli.rows_file`).
"""

from __future__ import annotations

import functools
import math
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from softgrad.cli.errors import (
    EXIT_OK,
    EXIT_USAGE,
    EXPECTED_ERRORS,
    EarlyCtrlC,
    UsageError,
    handlers_again,
    interrupted,
    one_line,
    report,
)
from softgrad.cli.rows_file import remove_dead_rows, rows_path
from softgrad.errors import DistributedError
from softgrad.training.distributed import (
    Communicator,
    launcher_ranks,
    world,
)

# what a rank reports as one line (a bad command line too: UsageError is not an
# EXPECTED_ERROR, run_guarded reports it apart); anything else is a bug, which aborts every rank
RANK_ERRORS = (*EXPECTED_ERRORS, UsageError)


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
    """The world communicator under an MPI launcher, else None.

    Each of several ranks is limited to one BLAS and one kernel thread unless the user chose
    counts (:meth:`Communicator.from_mpi`). One rank keeps a plain run's threads: it has the
    cores to itself, and trains bit for bit as a plain run (OpenBLAS's GEMM on 2 threads rounds
    otherwise than on 1).
    """
    comm = world()
    if comm is not None:
        handlers_again()  # MPI's start took SIGHUP from Python's handler
    return comm


def speaks(comm: Communicator | None) -> bool:
    """Whether this process prints, draws and writes files: a plain run, or rank 0."""
    return comm is None or comm.rank == 0


def announce(comm: Communicator | None, batch_size: int) -> None:
    """Rank 0's first line under a launcher."""
    if comm is not None and comm.rank == 0:
        # stdout stays pure JSON with --json, so the line goes where progress goes
        print(
            f"data-parallel over {comm.size} MPI rank{'s' if comm.size != 1 else ''}, global "
            f"batch {batch_size}",
            file=sys.stderr,
            flush=True,
        )


@contextmanager
def together(comm: Communicator | None, where: str) -> Iterator[None]:
    """Run the block on every rank; if it raised on any rank, raise on every rank."""
    if comm is None:
        yield
        return
    with comm.agree(where, RANK_ERRORS):
        yield


def check_same_options(comm: Communicator | None, options: dict[str, Any]) -> None:
    """ValueError on a rank whose command line differs from rank 0's (a launch that gives the
    ranks different commands: ``mpiexec -n 1 softgrad train : -n 1 softgrad train --data
    other.npz``): only rank 0 reads the data and writes the files, so rank 1's --data and
    --out were ignored without a word, and another --lr was found only after training, as
    weights that differ. Call it on every rank at the same point, in :func:`together`."""
    if comm is None or comm.size == 1:
        return
    mine = {key: repr(value) for key, value in options.items() if not callable(value)}
    first = comm.broadcast_object(mine)
    differ = [key for key in sorted(set(mine) | set(first)) if mine.get(key) != first.get(key)]
    if differ:
        key = differ[0]
        raise ValueError(
            f"train: every rank must be given the same options; rank {comm.rank} has "
            f"--{key.replace('_', '-')} {mine.get(key, 'unset')} where rank 0 has "
            f"{first.get(key, 'unset')}"
        )


def run_ranks(comm: Communicator | None, command: Callable[[], int]) -> int:
    """Run ``command`` on this rank; an expected error (raised on every rank together) is
    reported once, by rank 0, and every rank shuts MPI down before exiting.

    Rank 0 exits with status 2 and the others with 0, so that the launcher, which ends every
    rank as soon as one exits non-zero, has already let rank 0's line out (mpiexec still
    exits 2). Ctrl-C that the ranks stopped at together (train raises it from a callback at a
    batch end, and fit agrees on it like an error, or on one after the last batch at its
    end; before training, :func:`_agreed_ctrl_c`
    keeps it for the next :func:`together`) is re-raised on rank 0 alone once MPI is shut
    down, so it is reported as in a plain run (status 130); a second Ctrl-C, or one raised on
    one rank alone anywhere else, ends every rank through MPI_Abort.
    """
    if comm is None:
        return command()
    # through MPI's shutdown too: Ctrl-C in the final Barrier ended a complete run with 130
    with _agreed_ctrl_c(comm):
        return _run_rank(comm, command)


def _run_rank(comm: Communicator, command: Callable[[], int]) -> int:
    """:func:`run_ranks` on several ranks, inside :func:`_agreed_ctrl_c`."""
    try:
        status = command()
    except RANK_ERRORS as exc:
        if interrupted(exc):  # Ctrl-C every rank raised together: "interrupted", status 130
            comm.finish()
            if comm.rank == 0:
                raise
            return EXIT_OK
        if comm.rank == 0:
            # rank 0's own error in its own words; another rank's names that rank
            own = exc.__cause__ if isinstance(exc, DistributedError) else None
            report(one_line(own if own is not None else exc))
        comm.finish()
        return EXIT_USAGE if comm.rank == 0 else EXIT_OK
    except KeyboardInterrupt as exc:
        # train raises its own KeyboardInterrupt while handling the DistributedError that every
        # rank raised at the same step (chained to Ctrl-C): its __context__
        if not isinstance(exc.__context__, DistributedError):
            comm.abort(exc, EXIT_USAGE)  # the others may wait in a collective
            raise
        # Ctrl-C every rank stopped at together: rank 0 reports it (exit status 130)
        comm.finish()
        if comm.rank == 0:
            raise
        return EXIT_OK
    except BaseException as exc:
        comm.abort(exc, EXIT_USAGE)  # a bug: the others may wait in a collective
        raise
    comm.finish()
    return status


@contextmanager
def _agreed_ctrl_c(comm: Communicator) -> Iterator[None]:
    """On several ranks, keep Ctrl-C as this rank's deferred error (:meth:`Communicator.defer`)
    for the next point where the ranks agree (:func:`together`, :func:`training_rows`), where
    every rank raises it; a second Ctrl-C interrupts at once.

    mpiexec passes Ctrl-C to every rank, and each meets it at another line: raised at once, a
    rank leaving the others waiting in a collective had to call MPI_Abort (status 2, one
    "Abort" line per rank instead of a plain run's "interrupted"). During training train's own
    handler (defer to the batch end) takes over; outside the main thread no handler can be set.
    After training no point of agreement is left: a Ctrl-C during rank 0's report (the model,
    the pictures) is kept and dropped, so the run ends complete, as it would a moment later.
    """
    if comm.size == 1 or threading.current_thread() is not threading.main_thread():
        yield
        return

    def keep(signum: int, frame: Any) -> None:
        if isinstance(comm.pending, KeyboardInterrupt):
            raise KeyboardInterrupt
        comm.defer(KeyboardInterrupt())

    previous = signal.signal(signal.SIGINT, keep)
    if EarlyCtrlC.take():  # one that came while the ranks started: kept for their agreement
        comm.defer(KeyboardInterrupt())
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


# values scaled and written at a time by rank 0 (8,192 rows of 784 pixels): a count of rows
# alone made a chunk of 8,192 rows of 70,000 features a 2 GiB float32 copy
_ROWS_CHUNK_VALUES = 8192 * 784


def load_once(comm: Communicator | None, load: Callable[[], Any]) -> Any:
    """``load()``'s Dataset, read by rank 0 alone when there are several ranks.

    The other ranks get the labels, class names and shapes (one broadcast) and, for features,
    zero-byte placeholders of the right shape: their rows come from :func:`training_rows`.
    Their Dataset's ``scale`` is 1, so its ``fit_scaler`` costs nothing; only rank 0's scaler
    is ever used (:func:`training_rows` hands it to every rank). Every rank must call this at
    the same point (outside any block that may raise on one rank alone before it); an error in
    ``load`` on rank 0 is raised on every rank by the enclosing :func:`together`, in rank 0's
    words.
    """
    if comm is None or comm.size == 1:
        return load()
    from softgrad.datasets import Dataset

    data = None
    try:
        if comm.rank == 0:
            data = load()
    finally:  # rank 0 broadcasts None when its load raised, and re-raises
        layout = comm.broadcast_object(None if data is None else _layout(data))
    if comm.rank == 0:
        return data
    if layout is None:
        raise DistributedError("train: rank 0 could not read the data set")
    dtype, shapes = layout.pop("dtype"), layout.pop("shapes")
    rows = {split: np.broadcast_to(np.zeros((), dtype), shape) for split, shape in shapes.items()}
    return Dataset(rows["train"], X_test=rows["test"], scale=1.0, **layout)


def _layout(data: Any) -> dict[str, Any]:
    """What the other ranks need of rank 0's Dataset: everything but the feature values."""
    return {
        "shapes": {"train": data.X_train.shape, "test": data.X_test.shape},
        "dtype": data.X_train.dtype,
        "y_train": data.y_train,
        "y_test": data.y_test,
        "class_names": data.class_names,
        "image_shape": data.image_shape,
        "name": data.name,
    }


def training_rows(
    comm: Communicator | None, scaler: Any, X: np.ndarray, dtype: str, folder: Path
) -> Any:
    """The scaled training rows fit trains on: ``scaler.inputs(X)`` for a plain run (or one
    rank: uint8 images stay uint8, scaled per batch); on several ranks the same, over a
    read-only memory map of the file rank 0 writes into ``folder``, chunk by chunk (never a
    second whole copy of the set): integer images as stored, a quarter of float32's bytes,
    which every rank scales a batch at a time with rank 0's scaler; float features scaled, in
    the model's ``dtype``. Rank 0 first removes the files there that killed runs on this host
    left (:mod:`softgrad.cli.rows_file`).

    The values are those fit would train on in one process: the scaler's output in ``dtype``
    (``transform(..., dtype=dtype)``; float32 rows cast to it, as fit casts them;
    :class:`~softgrad.preprocessing.ScaledRows` reads a row as ``transform`` does, bit for
    bit). The file is unlinked as soon as every rank has mapped it.

    ``X`` is the command's own ``data.X_train``, not read raw again: in a plain run a float32
    ``X`` (a CSV file's features) is scaled in place (``scaler.transform(X, out=X)``, the same
    values as a copy) instead of into a second float32 copy of the set.
    """
    if comm is None or comm.size == 1:
        if X.dtype == np.float32 and X.flags.writeable:
            return scaler.transform(X, out=X)
        return scaler.inputs(X, dtype)
    # the other ranks' X is a placeholder of rank 0's shape and dtype (load_once)
    stored = X.dtype.kind in "iu"
    path, error = rows_path(folder), None
    if comm.rank == 0:
        scale = None if stored else functools.partial(scaler.transform, dtype=dtype)
        error = _write_rows(path, scale, X, X.dtype if stored else np.dtype(dtype))
    comm.raise_together(error, "train: sharing the training rows")
    # the other ranks' scaler is their placeholder's: rank 0's scales the batches
    path, scaler = comm.broadcast_object((str(path), scaler))
    rows = _map_rows(comm, Path(path))
    return scaler.inputs(rows) if stored else rows


def _write_rows(
    path: Path, scale: Callable[[np.ndarray], np.ndarray] | None, X: np.ndarray, dtype: np.dtype
) -> Exception | None:
    """Rank 0 writes the rows every rank maps, through ``scale`` (None: as stored), in
    ``dtype``; the error, if any, for every rank to raise."""
    from softgrad.datasets.shards import write_npy_header

    try:
        for name in remove_dead_rows(path.parent):
            print(f"softgrad: note: removed {name!r}, left by a killed run", file=sys.stderr)
        # written, not mapped: a full disk under a map written through (a sparse file) is a
        # SIGBUS that ended rank 0 with no message and left the file, where a write is an
        # OSError (ENOSPC) that removes it and is told on every rank
        try:
            with open(path, "wb") as file:
                write_npy_header(file, dtype, X.shape)
                step = max(1, _ROWS_CHUNK_VALUES // max(1, math.prod(X.shape[1:])))
                for start in range(0, X.shape[0], step):
                    chunk = X[start : start + step]
                    file.write(
                        np.ascontiguousarray(chunk if scale is None else scale(chunk), dtype).data
                    )  # each block freed before the next is scaled
        except BaseException:
            path.unlink(missing_ok=True)
            raise
    except OSError as exc:
        return OSError(
            exc.errno,
            f"train: could not write the training rows every rank maps to "
            f"{str(path)!r} ({exc.strerror or exc}); --out's folder must be writable",
        )
    except Exception as exc:  # raised on every rank, not on rank 0 alone
        return exc
    return None


def _map_rows(comm: Communicator, path: Path) -> np.ndarray:
    """Every rank maps the rows rank 0 wrote to ``path``; rank 0 then unlinks the name."""
    from softgrad.datasets.shards import open_rows

    rows = None
    error: Exception | None = None
    try:
        rows = open_rows(path)
    except FileNotFoundError:
        error = FileNotFoundError(
            f"train: the training rows written by rank 0 to {str(path)!r} must be visible "
            f"to every rank; got no such file (put --out in a folder all machines share)"
        )
    except Exception as exc:  # raised on every rank below, not on this one alone
        error = exc
    try:
        comm.raise_together(error, "train: sharing the training rows")
    finally:  # every rank has mapped it (or failed): the name is no longer needed
        if comm.rank == 0:
            path.unlink(missing_ok=True)
    assert rows is not None  # else raise_together raised the error that kept it
    return rows
