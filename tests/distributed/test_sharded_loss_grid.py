"""Data-parallel fit gives one process's weights for every cross-entropy option, including
global batches where one rank's shard, or every shard, has a zero 'mean' divisor (all its
targets ignored, all its sample weights 0, all its targets of class weight 0 under label
smoothing), and ranks given other data stop before any callback begins.

The ranks are threads of this process (:class:`ThreadRank`, a stand-in for mpi4py's
communicator) taking turns: one computes at a time, and each collective waits for every rank,
so the sharded step runs its real arithmetic (each shard's share, the summed status and
gradient) without mpiexec. test_mpi.py runs a few of these cases under a real launcher.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest
from numpy.testing import assert_array_equal

from softgrad.errors import DistributedError, DivergenceError
from softgrad.nn import CrossEntropyLoss, build_mlp
from softgrad.optim import SGD
from softgrad.training import fit
from softgrad.training.distributed import Communicator

IN_PLACE, SUM = object(), object()
N, D, C, BATCH = 24, 3, 4, 12  # two global batches
# which targets are ignored, and the ignore_index: a class, or a value outside them (-100)
IGNORE_CASES = [("none", None)] + [
    (rows, ignored) for rows in ("some", "one_shard", "every_shard") for ignored in (2, -100)
]


class ThreadRank:
    """Rank ``rank`` of ranks that are threads sharing ``world`` (:func:`run_ranks`): every
    collective is an exchange through the world's slots between two barriers; a rank computes
    only while it holds the world's turn, which it gives up while it waits."""

    def __init__(self, world, rank):
        self.world, self.rank = world, rank

    def Get_rank(self):
        return self.rank

    def Get_size(self):
        return self.world.size

    def _exchange(self, obj):
        world = self.world
        world.slots[self.rank] = obj
        world.turn.release()
        try:
            world.barrier.wait()
            gathered = list(world.slots)
            world.barrier.wait()  # nobody writes a slot before every rank has read them all
        finally:
            world.turn.acquire()
        return gathered

    def Allreduce(self, sendbuf, recvbuf, op):
        assert sendbuf is IN_PLACE and op is SUM
        parts = self._exchange(recvbuf.copy())
        total = parts[0].copy()
        for part in parts[1:]:  # in rank order: the same sum on every rank
            total += part
        recvbuf[...] = total

    def Bcast(self, buf, root):
        buf[...] = self._exchange(buf.copy())[root]

    def bcast(self, obj, root):
        return self._exchange(obj)[root]

    def allgather(self, obj):
        return self._exchange(obj)

    def gather(self, obj, root):
        gathered = self._exchange(obj)
        return gathered if self.rank == root else None

    def Abort(self, code):
        self.world.barrier.abort()
        raise SystemExit(code)


class _World:
    def __init__(self, size):
        self.size = size
        self.slots = [None] * size
        self.barrier = threading.Barrier(size, timeout=60)
        self.turn = threading.Lock()


def run_ranks(size, work):
    """``work(comm)`` on ``size`` thread ranks: each rank's result, or the exception it
    raised, in rank order. A rank failing alone (not with the errors every rank raises
    together) breaks the barrier: no rank is left waiting."""
    world = _World(size)
    results = [None] * size

    def rank_main(rank):
        world.turn.acquire()
        try:
            results[rank] = work(Communicator(ThreadRank(world, rank), IN_PLACE, SUM))
        except (DistributedError, DivergenceError) as exc:
            results[rank] = exc  # every rank raises it at the same point: none waits
        except BaseException as exc:
            results[rank] = exc
            world.barrier.abort()
        finally:
            world.turn.release()

    threads = [threading.Thread(target=rank_main, args=(r,)) for r in range(size)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def _case(size, dtype, ignore, sample_weight, class_weight, ignored=None):
    """``(X, y, w, cw, ignore_index)``; "one_shard" makes rank 0's shard of the first global
    batch (its first BATCH // size rows) a zero divisor, "every_shard" the whole batch;
    ``ignored`` is the ignore_index (a class, or a value outside them as torch's -100)."""
    rng = np.random.default_rng(1)
    X = rng.normal(size=(N, D)).astype(dtype)
    y = rng.integers(0, C, N)
    y[BATCH - 4 : BATCH] = [0, 1, 3, 1]  # the last shard of the first batch has counted targets
    shard = BATCH // size
    rows = {"one_shard": slice(0, shard), "every_shard": slice(0, BATCH), "some": [1, 7, 15]}
    if ignore != "none":
        y[rows[ignore]] = ignored
    w = None if sample_weight == "none" else rng.uniform(0.2, 2.0, N).astype(dtype)
    if sample_weight in rows:
        w[rows[sample_weight]] = 0
    cw = None if class_weight == "none" else rng.uniform(0.2, 2.0, C)
    if class_weight == "zero_class":
        # rank 0's first shard all of class 0, of weight 0: a zero divisor, and label
        # smoothing's terms still part of the batch's loss and gradient
        cw[0] = 0.0
        y[:shard] = 0 if ignore == "none" else np.where(y[:shard] == ignored, ignored, 0)
    return X, y, w, cw, None if ignore == "none" else ignored


def _train(comm, size, dtype, reduction, smoothing, ignore, ignored, sample_weight, class_weight):
    X, y, w, cw, ignore_index = _case(size, dtype, ignore, sample_weight, class_weight, ignored)
    model = build_mlp(D, [5], C, rng=0, dtype=dtype)
    loss = CrossEntropyLoss(
        reduction=reduction, weight=cw, ignore_index=ignore_index, label_smoothing=smoothing
    )
    lr = 0.5 if reduction == "mean" else 0.5 / BATCH
    history = fit(
        model, loss, SGD(lr=lr, momentum=0.0), X, y, sample_weight=w, epochs=1,
        batch_size=BATCH, shuffle=False, rng=0, comm=comm,
    )  # fmt: skip
    return model.named_params(), history.train_loss, history.train_acc


@pytest.mark.parametrize("size", [2, 3])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("smoothing", [0.0, 0.1])
@pytest.mark.parametrize(("ignore", "ignored"), IGNORE_CASES)
@pytest.mark.parametrize("sample_weight", ["none", "random", "one_shard", "every_shard"])
@pytest.mark.parametrize("class_weight", ["none", "random", "zero_class"])
def test_ranks_train_one_processs_weights_whatever_a_shards_divisor(
    size, dtype, reduction, smoothing, ignore, ignored, sample_weight, class_weight
):
    case = (size, dtype, reduction, smoothing, ignore, ignored, sample_weight, class_weight)
    params, losses, accuracy = _train(None, *case)
    ranks = run_ranks(size, lambda comm: _train(comm, *case))
    for rank, result in enumerate(ranks):
        if isinstance(result, BaseException):
            raise AssertionError(f"rank {rank} of {size} failed") from result
        for name, value in result[0].items():  # every rank holds the same weights
            assert_array_equal(value, ranks[0][0][name], err_msg=f"rank {rank}: {name}")
    # two SGD steps whose sums run in another order: a few roundings of N + C terms each
    tol = 8 * (N + C) * float(np.finfo(dtype).eps)
    sharded, sharded_losses, sharded_accuracy = ranks[0]
    for name, value in params.items():
        np.testing.assert_allclose(sharded[name], value, rtol=tol, atol=tol, err_msg=name)
    np.testing.assert_allclose(sharded_losses, losses, rtol=tol, atol=tol)
    np.testing.assert_allclose(sharded_accuracy, accuracy, rtol=tol, atol=tol)


def test_ranks_given_other_data_stop_before_any_callback_begins_on_any_rank():
    # rank 1's X differs in one value: both ranks raise the data check's error, and neither
    # rank's on_train_begin ran (a callback may write files or print)
    began = []

    class Begin:
        def __init__(self, rank):
            self.rank = rank

        def on_train_begin(self, state):
            began.append(self.rank)

    def work(comm):
        X, y, _, _, _ = _case(2, np.float64, "none", "none", "none")
        if comm.rank == 1:
            X = X.copy()
            X[5, 1] += 1.0
        model = build_mlp(D, [5], C, rng=0, dtype=np.float64)
        return fit(
            model, CrossEntropyLoss(), SGD(lr=0.1), X, y, epochs=1, batch_size=BATCH,
            comm=comm, callbacks=[Begin(comm.rank)],
        )  # fmt: skip

    results = run_ranks(2, work)
    for result in results:
        assert isinstance(result, DistributedError), result
        assert "the checksum of X must be the same on every rank" in str(result)
    assert began == []
