"""What the ranks of a data-parallel :func:`~softgrad.training.fit` do together around the
batches: share fit's generator, agree that they got the same run and data, start from rank 0's
state with a dropout stream each, end every epoch (checksums, the checkpoint) and fail together.

The batch step itself is :class:`~softgrad.training.sharded.ShardedRunner`'s.
"""

from __future__ import annotations

import hashlib
import math
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from softgrad.errors import DistributedError, DivergenceError
from softgrad.stored_rows import StoredRows
from softgrad.training.checkpoint import save_checkpoint
from softgrad.training.data import dense_rows
from softgrad.training.distributed import Communicator
from softgrad.training.run_checkpoint import generator_owner, layer_generators, snapshot


def shared_generator(comm: Communicator, generator: np.random.Generator) -> np.random.Generator:
    """fit's ``generator``, in rank 0's state on every rank. Rank 0 keeps its own untouched."""
    state = comm.broadcast_object(generator.bit_generator.state)
    if comm.rank != 0:
        generator.bit_generator.state = state
    return generator


def agree_to_start(
    comm: Communicator, run: Any, batch_size: int, epochs: int, X: Any, target: Any, weight: Any
) -> None:
    """Raise the same error on every rank unless every rank got the same run
    (:func:`_run_values`), enough samples for every rank, and the same ``epochs`` and
    training data (:func:`data_values`). All of it before :func:`start_together` changes
    anything, and before any callback's ``on_train_begin`` (which may write files) runs for
    a training that does not happen; what the set-up before it changed is fit's to put back
    (:class:`~softgrad.training.kept_state.KeptState`).

    Each rank first works out what it compares (checksums of its arrays), failing together
    (:meth:`Communicator.check_together`); anything else raised on one rank alone (Ctrl-C)
    ends every rank (MPI_Abort), as in the epochs: the others would wait for ever.
    """
    if comm.size == 1:
        return
    try:
        with comm.check_together("fit: comparing the ranks' runs"):
            run_values = _run_values(run, batch_size)
            data = data_values(epochs, X, target, weight)
        comm.check_same(run_values, "fit")
        n_train = len(run.train_idx)
        if min(batch_size, n_train) < comm.size:
            # a rank without a sample in the first batch would have no gradient to sum (the
            # ranks agreed on both: raised alike on every rank)
            raise ValueError(
                f"fit: batch_size and the training samples must each be at least the number "
                f"of ranks ({comm.size}); got batch_size={batch_size} and {n_train} samples"
            )
        comm.check_same(data, "fit")
    except (DistributedError, ValueError):  # raised on every rank alike
        raise
    except BaseException as exc:
        comm.abort(exc, 2)
        raise


def start_together(comm: Communicator, run: Any) -> None:
    """Give every rank rank 0's parameters and optimizer state, and each rank its own dropout
    streams (see :func:`_rank_streams`), once the ranks agreed (:func:`agree_to_start`).

    A run resumed from a checkpoint of the same number of ranks takes each rank's streams back
    from it (``run.rank_streams``), so it continues as the uninterrupted run would. With a
    different number of ranks, each rank starts a new stream as a fresh run does, from the
    restored one (rank 0's): the masks then differ from any uninterrupted run, which could
    not match anyway since the shards differ. A 1-rank run keeps every object untouched (it
    is a plain run).
    """
    for value in run.model.named_params().values():
        comm.broadcast_(value)
    # no copy: the state is pickled to the other ranks, and rank 0 reads none of it back
    optimizer_state = comm.broadcast_object(run.optimizer.state_dict(copy=False))
    # (fit's argument checks refused, on every rank, a state that load_state_dict refuses)
    if comm.rank != 0:
        run.optimizer.load_state_dict(optimizer_state)
    if comm.size == 1:
        return
    if run.rank_streams is not None and len(run.rank_streams) == comm.size:
        _restore_streams(run.model, run.rank_streams[comm.rank])
    else:
        _rank_streams(comm, run.model)


def _run_values(run: Any, batch_size: int) -> dict[str, Any]:
    """What every rank's run must have alike (:func:`agree_to_start` compares them): the
    sizes that fix how many steps each epoch takes and what each collective carries (the
    number of epochs, which the run does not hold, goes with the data: :func:`data_values`).

    Ranks given different arguments (another batch_size, another data set, a resume on one
    rank alone) would take different numbers of steps, and the first rank to finish would
    leave the others waiting in a collective forever. One allgather of a few numbers per rank
    (the training split as a checksum of its indices) tells first.
    """
    digest = hashlib.blake2b(np.ascontiguousarray(run.train_idx).tobytes(), digest_size=8)
    validation = None if run.validation is None else len(run.validation[1])
    # validation_data given as such: its values too (a split of X is X's rows, checked apart)
    given = run.validation if run.data_info["validation"] == "data" else (None, None, None)
    params = run.model.named_params()
    return {
        "batch_size": batch_size,
        "the data set's shape": (run.data_info["n_samples"], run.data_info["n_features"]),
        "the training split": (len(run.train_idx), digest.hexdigest()),
        "the validation samples": validation,
        **_checksums(zip(("X_val", "y_val", "sample_weight_val"), given, strict=True)),
        "the parameter shapes": [(k, v.shape, v.dtype.str) for k, v in params.items()],
        "the epochs done (resume)": run.history.epochs,
    }


def data_values(epochs: int, X: Any, target: Any, weight: Any) -> dict[str, Any]:
    """What every rank's training data must have alike (:func:`agree_to_start` compares
    them, in one allgather): ``epochs`` and a checksum of X, y and sample_weight each
    (:func:`values_checksum`).

    fit's docstring asks for the same data on every rank, and the shapes and the training
    split are compared too (:func:`_run_values`); ranks given arrays of the same shape but
    other values (another file, another shuffle, other preprocessing) would otherwise train
    on a mix of them without a word. ``X``, ``target`` and ``weight`` are the training
    arrays as fit converted them.
    """
    data = (("X", X), ("y", target), ("sample_weight", weight))
    return {"epochs": epochs, **_checksums(data)}


def _checksums(arrays: Any) -> dict[str, str | None]:
    """``{"the checksum of <name>": values_checksum(array)}`` for each ``(name, array)``."""
    return {f"the checksum of {name}": values_checksum(array) for name, array in arrays}


# the bytes of the values that values_checksum reads: all of them up to this, else rows at an
# even stride adding up to about this. On Fashion-MNIST's training set (60,000 x 784, float32
# or a uint8 ScaledRows) comparing them took 0.7-0.9 ms a rank under mpiexec -n 2, its
# allgather included, against 0.14 s an epoch; all of float32 X took 25 ms (crc32, 7 GB/s
# here; blake2b 124 ms), uint8's 6 ms, and 4 MiB of rows 2.5 ms (a fresh 4 MiB to fault in)
CHECKSUM_BYTES = 1 << 20


def values_checksum(values: Any) -> str | None:
    """A checksum (crc32, as 8 hex digits) of an array's values as fit reads them; None for
    None.

    ``values`` : ndarray of shape (N, ...), a CSR matrix or stored rows of shape (N, D).
    The checksum covers its dtype, its shape and its values: all of them while they take at
    most ``CHECKSUM_BYTES`` (1 MiB: y up to 131,072 samples, X up to 334 rows of 784
    float32), else the rows ``0, k, 2k, ...`` that take about that much. So a
    value that differs in a large X is seen only when its row is one of those: the check is
    for whole arrays that differ (another file, order or preprocessing), at the cost of a
    millisecond. A CSR matrix's rows are read densified and stored rows decoded, so the same
    values held in another form have the same checksum.
    """
    if values is None:
        return None
    n_rows = values.shape[0]
    row_bytes = values.dtype.itemsize * math.prod(values.shape[1:])
    step = max(1, -(-n_rows * row_bytes // CHECKSUM_BYTES))
    rows = dense_rows(values, slice(None, None, step))
    if isinstance(rows, StoredRows):
        # its rows as they read, through NumPy: the compiled gather of a copied array is
        # another specialisation than that of the CLI's read-only map, which took 0.17-0.34 s
        # to load
        rows = rows.floats()
    rows = np.ascontiguousarray(rows)
    crc = zlib.crc32(f"{rows.dtype.str} {values.shape}".encode())
    return f"{zlib.crc32(rows.data, crc):08x}"  # (the bytes of the contiguous rows)


def _rank_streams(comm: Communicator, model: Any) -> None:
    """Give each layer's generator (Dropout's) its own stream on each rank.

    The same masks on every shard would correlate them, and a layer sharing fit's generator
    (build_mlp and the CLI pass one generator to both) would draw from it as many times as its
    shard has rows, so uneven shards would leave the ranks with different batch orders. Each
    layer gets a new generator: its current stream jumped rank + 1 times (2**127 draws each).
    """
    for key in layer_generators(model):
        layer, attr = generator_owner(model, key)
        jumped = getattr(layer, attr).bit_generator.jumped(comm.rank + 1)
        setattr(layer, attr, np.random.Generator(jumped))


def _restore_streams(model: Any, states: dict[str, Any]) -> None:
    """Give each layer generator a new Generator in the saved ``states`` (a new object: the
    layer may share its generator with fit's, whose stream stays as it is)."""
    for key, state in states.items():
        layer, attr = generator_owner(model, key)
        generator = np.random.Generator(type(getattr(layer, attr).bit_generator)())
        generator.bit_generator.state = state
        setattr(layer, attr, generator)


# where end_epoch_together's error names when rank 0 could not write the checkpoint: the
# DistributedError every rank raises starts with it (on rank 0 chained to the OSError)
CHECKPOINT_WRITE = "fit: writing the checkpoint after epoch"


def end_epoch_together(
    comm: Communicator, run: Any, finished: bool, epoch: int, checkpoint: Any = None
) -> bool:
    """The end of an epoch on every rank; True if any rank stops training.

    Checks that the ranks still hold the same weights (and raises every rank's deferred error,
    an on_epoch_end callback's, together) and, with ``checkpoint``, gathers every rank's layer
    generator states (Dropout's) to rank 0, which writes the checkpoint; an error writing it
    is raised on every rank, as a DistributedError whose message starts with
    :data:`CHECKPOINT_WRITE` (on rank 0 chained to the error). Early stopping decides on the
    same figures everywhere; a callback may stop one rank alone, and then every rank stops
    (recorded as a callback's stop).
    """
    stop = comm.agree_epoch(run.model.named_params(), finished, f"fit: after epoch {epoch}")
    if stop and not finished:
        run.history.stopped_early, run.history.stop_reason = True, "callback"
    if checkpoint is not None:
        states = {k: g.bit_generator.state for k, g in layer_generators(run.model).items()}
        streams = comm.gather_object(states)
        with comm.agree(f"{CHECKPOINT_WRITE} {epoch}"):
            if comm.rank == 0:
                run.rank_streams = streams
                save_checkpoint(checkpoint, snapshot(run, epoch))
    return stop


@contextmanager
def fail_together(comm: Communicator | None) -> Iterator[None]:
    """Let the errors every rank raises together pass; end every rank on any other.

    DivergenceError and DistributedError are raised by every rank at the same point, and so
    is an error deferred to the end of fit (an on_train_end callback's). Errors outside the
    step (callbacks, validation, checkpoint writing) are deferred to a collective
    (:meth:`Communicator.defer`); anything still raised on one rank alone (a bug, Ctrl-C)
    would leave the other ranks waiting in their next collective, so the rank prints its
    traceback to stderr and calls MPI_Abort, which ends every rank with exit status 2.
    """
    if comm is None or comm.size == 1:
        yield
        return
    try:
        yield
    except (DivergenceError, DistributedError):
        raise
    except BaseException as exc:
        comm.abort(exc, 2)
        raise
    comm.raise_together(None, "fit: at the end")
