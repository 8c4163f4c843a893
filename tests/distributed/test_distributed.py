"""softgrad.training.distributed and the sharded loop, in this process: launcher detection, the
shard arithmetic, and the communicator over stand-ins for mpi4py (no MPI needed)."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from numpy.testing import assert_array_equal

from softgrad.errors import DistributedError, MissingDependencyError
from softgrad.nn import CrossEntropyLoss, Sequential, build_mlp
from softgrad.optim import SGD, Adam
from softgrad.training import fit
from softgrad.training.distributed import (
    Communicator,
    import_mpi,
    launcher_ranks,
    one_blas_thread,
    one_kernel_thread,
    shard_bounds,
    world,
)

IN_PLACE, SUM = object(), object()
SRC = Path(__file__).resolve().parents[2] / "src"


class Ranks:
    """A stand-in for rank ``rank`` of a ``size``-rank mpi4py communicator.

    Bcast leaves the buffer as it is, and so does Allreduce, except that it adds
    ``remote_status`` to a buffer of its shape (a step's status: loss, hits, counted weight,
    failed, stop); ``allgather`` returns ``others`` with this rank's object at ``rank`` (for a
    failure report, a str or None, the others' entries that are not one count as None: those
    ranks report nothing).
    """

    def __init__(self, rank=0, size=1, others=None, remote_status=None, silent_reports=0):
        self.rank, self.size = rank, size
        # how many failure reports (allgathers of a str or None) come before the others' own:
        # 3 lets fit's three checks (its arguments, its set-up, the ranks' runs compared) pass
        # on the other ranks, which then fail in the step
        self.silent_reports = silent_reports
        self.others = others if others is not None else [None] * size
        self.remote_status = remote_status  # what the other ranks add to each step's status
        self.calls: list[str] = []
        self.sent = []

    def Get_rank(self):
        return self.rank

    def Get_size(self):
        return self.size

    def Allreduce(self, sendbuf, recvbuf, op):
        assert sendbuf is IN_PLACE and op is SUM
        self.calls.append("Allreduce")
        if self.remote_status is not None and recvbuf.shape == np.shape(self.remote_status):
            recvbuf += self.remote_status

    def Bcast(self, buf, root):
        assert root == 0
        self.calls.append("Bcast")

    def bcast(self, obj, root):
        return obj

    def allgather(self, obj):
        self.sent.append(obj)
        if isinstance(obj, dict):  # the run's sizes (Communicator.check_same): the same here
            return [obj] * self.size
        gathered = list(self.others)
        if obj is None or isinstance(obj, str):  # a failure report: others' reports, or None
            silent = self.silent_reports > 0
            self.silent_reports -= 1
            gathered = [o if isinstance(o, str) and not silent else None for o in gathered]
        gathered[self.rank] = obj
        return gathered

    def gather(self, obj, root):
        assert root == 0
        return self.allgather(obj) if self.rank == 0 else None

    def Abort(self, code):
        raise SystemExit(code)


def test_launcher_ranks_reads_the_variables_each_launcher_sets():
    assert launcher_ranks({}) is None
    assert launcher_ranks({"PMI_RANK": "0", "PMI_SIZE": "3"}) == 3  # MPICH, Intel MPI
    assert launcher_ranks({"OMPI_COMM_WORLD_SIZE": "2"}) == 2  # Open MPI
    assert launcher_ranks({"MPI_LOCALNRANKS": "4"}) == 4
    with pytest.raises(ValueError, match="PMI_SIZE must be a positive number of ranks; got '0'"):
        launcher_ranks({"PMI_SIZE": "0"})


def test_a_plain_run_never_imports_mpi():
    code = (
        "import sys; from softgrad.training.distributed import world; "
        "from softgrad.training import fit; "
        "print(world(), 'mpi4py' in sys.modules)"
    )
    env = {"PYTHONPATH": str(SRC), "PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert done.stdout.split() == ["None", "False"]


def test_one_blas_thread_unless_the_user_chose_a_count():
    from threadpoolctl import threadpool_info, threadpool_limits

    assert one_blas_thread({"OPENBLAS_NUM_THREADS": "2"}) is False
    with threadpool_limits(limits=None):  # puts this process's thread counts back on exit
        assert one_blas_thread({}) is True
        blas = [info for info in threadpool_info() if info["user_api"] == "blas"]
        assert blas and all(info["num_threads"] == 1 for info in blas)


def test_one_kernel_thread_unless_the_user_chose_a_count(monkeypatch):
    assert one_kernel_thread({"NUMBA_NUM_THREADS": "2"}) is False
    monkeypatch.delitem(sys.modules, "numba", raising=False)  # as before Numba's import
    environ = {}
    assert one_kernel_thread(environ) is True
    assert environ == {"NUMBA_NUM_THREADS": "1"}


def test_one_kernel_thread_after_numba_is_imported_limits_its_pool():
    # a fresh process: numba imported first, then the limit, then a parallel kernel runs on it
    code = (
        "import numba, numpy as np\n"
        "from softgrad.training.distributed import one_kernel_thread\n"
        "assert one_kernel_thread({}) is True\n"
        "from softgrad.kernels import set_kernels\n"
        "ops = set_kernels('numba')\n"
        "p = np.ones(100_000, np.float32); g = np.ones_like(p)\n"
        "ops.sgd_update(p, g, None, [], lr=0.1, momentum=0.0, nesterov=False,\n"
        "               weight_decay=0.0, lr_in_velocity=False, first_step=True)\n"
        "print(numba.get_num_threads())\n"
    )
    pytest.importorskip("numba")
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_NUM_THREADS"}
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["1"]


def test_world_without_mpi4py_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "mpi4py", None)  # import mpi4py now raises ImportError
    with pytest.raises(MissingDependencyError, match=r"pip install 'softgrad\[mpi\]'"):
        import_mpi()
    with pytest.raises(MissingDependencyError, match=r"pip install 'softgrad\[mpi\]'"):
        world({"PMI_SIZE": "2"})
    # a lone rank (srun --mpi=pmi2 of one task, mpiexec -n 1) is a plain run: it needed mpi4py
    assert world({"PMI_SIZE": "1"}) is None
    assert world({"OMPI_COMM_WORLD_SIZE": "1"}) is None


def test_mpi4py_without_an_mpi_library_is_one_line_naming_the_extra(tmp_path):
    # pip install mpi4py alone: importing mpi4py.MPI raises RuntimeError("cannot load MPI
    # library"), which reached the command line as a traceback, exit 1
    package = tmp_path / "fake" / "mpi4py"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "MPI.py").write_text(
        "raise RuntimeError('cannot load MPI library\\nlibmpi.so: cannot open shared object file')"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(package.parent), *sys.path])}
    env.update(PMI_SIZE="2", PMI_RANK="0")
    done = subprocess.run(
        [sys.executable, "-m", "softgrad", "train", "--epochs", "1", "--out", "m.npz"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2, done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    assert "needs an MPI library beside mpi4py (cannot load MPI library" in lines[0]
    assert lines[0].endswith("pip install 'softgrad[mpi]'"), lines[0]
    assert not (tmp_path / "m.npz").exists()


@given(n_samples=st.integers(0, 300), size=st.integers(1, 9))
def test_shards_tile_the_batch_in_order_and_differ_by_at_most_one(n_samples, size):
    bounds = [shard_bounds(n_samples, rank, size) for rank in range(size)]
    assert bounds[0][0] == 0 and bounds[-1][1] == n_samples
    for (_, stop), (start, _) in itertools.pairwise(bounds):
        assert stop == start  # contiguous, in rank order
    sizes = [stop - start for start, stop in bounds]
    assert max(sizes) - min(sizes) <= 1 and sizes == sorted(sizes, reverse=True)


def test_shard_sizes_by_hand():
    # 11 samples over 3 ranks: 11 = 3 * 3 + 2, so ranks 0 and 1 take 4, rank 2 takes 3
    assert [shard_bounds(11, r, 3) for r in range(3)] == [(0, 4), (4, 8), (8, 11)]


def _problem(dtype=np.float64, n_samples=100):
    rng = np.random.default_rng(3)
    X = rng.normal(size=(n_samples, 5)).astype(dtype)
    y = rng.integers(0, 3, size=n_samples)
    return X, y, rng.uniform(0.0, 2.0, size=n_samples)


def _fit(optimizer, dtype=np.float64, **kwargs):
    X, y, _ = _problem(dtype)
    model = build_mlp(5, [8], 3, rng=0, dtype=dtype)
    history = fit(model, CrossEntropyLoss(), optimizer, X, y, rng=1, batch_size=16, **kwargs)
    return model, history


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    ("make_optimizer", "extra", "n_train"),
    [
        (lambda: SGD(lr=0.1), {}, 100),
        (lambda: SGD(lr=0.1, momentum=0.9), {}, 100),
        (lambda: SGD(lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01), {}, 100),
        (lambda: SGD(lr=0.1, momentum=0.9), {"l2_penalty": 0.01}, 100),
        (lambda: SGD(lr=0.1, momentum=0.9), {"sample_weight": _problem()[2]}, 100),
        (lambda: Adam(lr=0.01), {}, 100),
        (lambda: Adam(lr=0.01), {"sample_weight": _problem()[2]}, 100),
        (lambda: Adam(lr=0.01), {"validation_fraction": 0.2, "early_stopping": True}, 80),
    ],
)
def test_a_one_rank_communicator_is_a_plain_fit_bit_for_bit(make_optimizer, extra, n_train, dtype):
    # the same code path on the same machine: one rank runs the plain loop's own step, SGD's
    # gradient folded into its update (softgrad.training.folded_step) as in a plain fit; the
    # sharded step never folds, and its SGD weights differed in the last bits (1.2e-6 in
    # float32 after 2 epochs)
    plain_model, plain_history = _fit(make_optimizer(), dtype, epochs=4, **extra)
    ranks = Ranks()
    model, history = _fit(
        make_optimizer(), dtype, epochs=4, comm=Communicator(ranks, IN_PLACE, SUM), **extra
    )
    for key, value in plain_model.named_params().items():
        assert model.named_params()[key].dtype == value.dtype
        assert_array_equal(model.named_params()[key], value, err_msg=key)
    assert history.train_loss == plain_history.train_loss
    assert history.train_acc == plain_history.train_acc
    assert history.val_loss == plain_history.val_loss
    assert history.epochs == plain_history.epochs
    # one rank sums nothing in its steps (a plain fit's); the parameters are broadcast once,
    # then checked once an epoch and once at the end, after the two reports of fit's checks
    # (its arguments, then the run's setup) before any of it
    assert ranks.calls.count("Allreduce") == 0
    assert ranks.calls.count("Bcast") == len(model.named_params())
    assert ranks.sent[:2] == [None, None]
    assert len(ranks.sent) == 2 + history.epochs + 1


def test_a_callback_stop_on_one_rank_ends_the_epoch_after_its_batch_as_in_a_plain_fit():
    # one rank steps as a plain fit does, so a callback's stop ends the epoch at once
    from softgrad.training import Callback

    class StopAtBatch3(Callback):
        def on_batch_end(self, state):
            return state.epoch == 2 and state.batch == 3

    plain_model, plain_history = _fit(
        SGD(lr=0.1, momentum=0.9), epochs=4, callbacks=[StopAtBatch3()]
    )
    model, history = _fit(
        SGD(lr=0.1, momentum=0.9),
        epochs=4,
        callbacks=[StopAtBatch3()],
        comm=Communicator(Ranks(), IN_PLACE, SUM),
    )
    assert (history.epochs, history.stop_reason) == (
        plain_history.epochs,
        plain_history.stop_reason,
    )
    assert history.train_loss == plain_history.train_loss
    for key, value in plain_model.named_params().items():
        assert_array_equal(model.named_params()[key], value, err_msg=key)


def test_a_failure_on_another_rank_raises_here_before_any_step():
    # rank 1 of 2 failed in its forward pass of the first batch
    failed = [0.0, 0.0, 0.0, 1.0, 0.0]  # the status: loss, hits, counted, failed, stop
    ranks = Ranks(0, 2, [None, "RuntimeError: boom"], remote_status=failed, silent_reports=3)
    model = build_mlp(5, [8], 3, rng=0, dtype=np.float64)
    before = {key: value.copy() for key, value in model.named_params().items()}
    X, y, _ = _problem()
    with pytest.raises(DistributedError) as err:
        fit(model, CrossEntropyLoss(), SGD(lr=0.1), X, y, comm=Communicator(ranks, IN_PLACE, SUM))
    assert str(err.value) == "fit: epoch 1, batch 1: rank 1 of 2 failed: RuntimeError: boom"
    for key, value in before.items():
        assert_array_equal(model.named_params()[key], value)


def test_a_nan_loss_on_another_rank_diverges_here_too():
    ranks = Ranks(0, 2, remote_status=[np.nan, 0.0, 0.0, 0.0, 0.0])
    X, y, _ = _problem()
    model = build_mlp(5, [8], 3, rng=0, dtype=np.float64)
    with pytest.raises(FloatingPointError, match="got nan at epoch 1, batch 1"):
        fit(model, CrossEntropyLoss(), SGD(lr=0.1), X, y, comm=Communicator(ranks, IN_PLACE, SUM))


def test_raise_together_gives_every_rank_the_first_failure():
    where = "fit: epoch 2, batch 5"
    Communicator(Ranks(0, 3), IN_PLACE, SUM).raise_together(None, where)  # nobody failed
    waiting = Communicator(Ranks(0, 3, [None, None, "ValueError: bad"]), IN_PLACE, SUM)
    with pytest.raises(DistributedError, match=r"^fit: epoch 2, batch 5: rank 2 of 3 failed: Va"):
        waiting.raise_together(None, where)
    own = ValueError("bad")
    failing = Communicator(Ranks(2, 3), IN_PLACE, SUM)
    with pytest.raises(DistributedError, match="rank 2 of 3 failed: ValueError: bad") as err:
        failing.raise_together(own, where)
    assert err.value.__cause__ is own


def test_check_together_raises_the_same_bad_argument_as_it_is_and_a_lone_one_on_every_rank():
    where = "fit: checking the arguments"
    own = ValueError("fit: epochs must be an int >= 1; got 0")
    # every rank raised it (the same arguments everywhere): each raises its own, as one process
    everywhere = Communicator(Ranks(0, 2, [None, f"ValueError: {own}"]), IN_PLACE, SUM)
    with pytest.raises(ValueError) as err:
        with everywhere.check_together(where):
            raise own
    assert err.value is own
    # one rank alone raised (its own data): the others learn it from the allgather
    waiting = Communicator(Ranks(0, 2, [None, "ValueError: fit: X has NaN"]), IN_PLACE, SUM)
    with pytest.raises(DistributedError, match=r"^fit: checking the arguments: rank 1 of 2 fail"):
        with waiting.check_together(where):
            pass
    failing = Communicator(Ranks(1, 2, [None, None]), IN_PLACE, SUM)
    with pytest.raises(DistributedError, match="rank 1 of 2 failed: ValueError: fit: epochs") as e:
        with failing.check_together(where):
            raise own
    assert e.value.__cause__ is own
    with Communicator(Ranks(0, 3), IN_PLACE, SUM).check_together(where):  # nobody failed
        pass


def test_fit_under_a_communicator_checks_its_arguments_on_every_rank_together():
    X, y, _ = _problem()
    model = build_mlp(5, [8], 3, rng=0, dtype=np.float64)
    ranks = Ranks(0, 2)
    X[3, 1] = np.nan  # this rank's data only: the other rank waits in the check's allgather
    with pytest.raises(DistributedError, match="fit: checking the arguments: rank 0 of 2 failed"):
        fit(model, CrossEntropyLoss(), SGD(lr=0.1), X, y, comm=Communicator(ranks, IN_PLACE, SUM))
    # the one collective before it failed carried this rank's error to the other
    assert len(ranks.sent) == 1 and ranks.sent[0].startswith("ValueError: fit: X ")


def test_agree_epoch_fails_loudly_when_the_ranks_hold_different_weights():
    arrays = {"0.W": np.arange(6.0).reshape(2, 3)}
    alone = Ranks(0, 1)
    Communicator(alone, IN_PLACE, SUM).agree_epoch(arrays, False, "fit: after epoch 1")
    mine = alone.sent[0]
    # the other rank asks to stop: every rank stops
    same = Communicator(Ranks(0, 2, [None, (mine[0], True, None)]), IN_PLACE, SUM)
    assert same.agree_epoch(arrays, False, "fit: after epoch 1") is True
    other = Communicator(Ranks(0, 2, [None, ("0" * 16, False, None)]), IN_PLACE, SUM)
    with pytest.raises(DistributedError, match="identical on every rank; got checksums"):
        other.agree_epoch(arrays, False, "fit: after epoch 1")


def test_fit_refuses_a_batch_smaller_than_the_ranks():
    X, y, _ = _problem()
    model = build_mlp(5, [8], 3, rng=0, dtype=np.float64)
    comm = Communicator(Ranks(0, 4), IN_PLACE, SUM)
    with pytest.raises(ValueError, match="at least the number of ranks \\(4\\); got batch_size=2"):
        fit(model, CrossEntropyLoss(), SGD(lr=0.1), X, y, batch_size=2, comm=comm)


def test_a_callback_error_on_one_rank_is_raised_on_every_rank_at_the_next_collective():
    # the other rank's epoch-end check learns of it from this rank's message in the allgather
    class Boom:
        def on_epoch_end(self, state):
            raise KeyError("only here")

    X, y, _ = _problem()
    model = build_mlp(5, [8], 3, rng=0, dtype=np.float64)
    ranks = Ranks(0, 2, [None, ("0" * 16, False, None)])
    comm = Communicator(ranks, IN_PLACE, SUM)
    with pytest.raises(DistributedError, match=r"^fit: after epoch 1: rank 0 of 2 failed: KeyErr"):
        fit(model, CrossEntropyLoss(), SGD(lr=0.1), X, y, comm=comm, callbacks=[Boom()])
    assert ranks.sent[-1][2] == "KeyError: 'only here'"
    waiting = Communicator(
        Ranks(0, 2, [None, ("0" * 16, False, "KeyError: 'there'")]), IN_PLACE, SUM
    )
    with pytest.raises(DistributedError, match="rank 1 of 2 failed: KeyError: 'there'"):
        waiting.agree_epoch({}, False, "fit: after epoch 1")


def test_ctrl_c_in_the_step_on_one_rank_aborts_every_rank():
    # what is not deferred (a BaseException outside the callbacks, a bug outside the known
    # places) ends every rank
    X, y, _ = _problem()
    model = build_mlp(5, [8], 3, rng=0, dtype=np.float64)
    model = Sequential(*model.layers, fuse=False)  # trains through the forward broken here

    def interrupted(x):
        raise KeyboardInterrupt

    model.forward = interrupted
    comm = Communicator(Ranks(0, 2), IN_PLACE, SUM)
    with pytest.raises(SystemExit) as exit_:  # the stand-in's Abort
        fit(model, CrossEntropyLoss(), SGD(lr=0.1), X, y, comm=comm)
    assert exit_.value.code == 2


def test_ctrl_c_raised_by_a_callback_on_one_rank_stops_every_rank_at_the_next_step():
    # softgrad train stops at a batch end on Ctrl-C by raising it from a callback: it is kept
    # and raised on every rank at the next step, chained to a KeyboardInterrupt
    class Interrupt:
        def on_batch_end(self, state):
            if state.batch == 2:
                raise KeyboardInterrupt

    X, y, _ = _problem()
    model = build_mlp(5, [8], 3, rng=0, dtype=np.float64)
    comm = Communicator(Ranks(0, 2), IN_PLACE, SUM)
    with pytest.raises(DistributedError) as raised:
        fit(
            model,
            CrossEntropyLoss(),
            SGD(lr=0.1),
            X,
            y,
            batch_size=10,
            comm=comm,
            callbacks=[Interrupt()],
        )
    assert str(raised.value) == "fit: epoch 1, batch 3: rank 0 of 2 failed: KeyboardInterrupt"
    assert isinstance(raised.value.__cause__, KeyboardInterrupt)
    # the other rank learns of it only from rank 0's message: its error is chained to Ctrl-C
    other = Communicator(Ranks(1, 2, others=["KeyboardInterrupt", None]), IN_PLACE, SUM)
    with pytest.raises(DistributedError) as raised:
        other.raise_together(None, "fit: epoch 1, batch 3")
    assert str(raised.value) == "fit: epoch 1, batch 3: rank 0 of 2 failed: KeyboardInterrupt"
    assert isinstance(raised.value.__cause__, KeyboardInterrupt)


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize(("rank", "size"), [(0, 1), (0, 2), (1, 2)])
def test_the_sharded_step_runs_the_step_plan_as_the_public_methods(
    rank, size, weighted, monkeypatch
):
    # the stand-in's Allreduce adds nothing to the gradient: each runner steps on this rank's
    # shard of every batch (its gradient scaled by the shard's share), planned or not
    from softgrad.training.sharded import ShardedRunner
    from softgrad.training.step_plan import StepPlan

    planned_rows = []
    forward_loss = StepPlan.forward_loss

    def counted(plan, x, *args):
        planned_rows.append(len(x))
        return forward_loss(plan, x, *args)

    monkeypatch.setattr(StepPlan, "forward_loss", counted)

    X, y, weight = _problem()
    order = np.random.default_rng(4).permutation(len(X))
    batches = [order[start : start + 16] for start in range(0, len(X), 16)]

    def steps(planned):
        model = build_mlp(5, [8], 3, rng=0, dtype=np.float64)
        w = weight if weighted else None
        comm = Communicator(Ranks(rank, size), IN_PLACE, SUM)
        runner = ShardedRunner(comm, model, CrossEntropyLoss(), Adam(lr=0.01), X, y, w, 16, 0.01)
        assert runner.plan is not None
        if not planned:  # the public forward and backward, as before the plan
            runner.plan = None
            runner._new_plan = lambda: None
        figures = [runner._sharded_step(idx, 1, batch) for batch, idx in enumerate(batches, 1)]
        return model, figures

    planned, planned_figures = steps(planned=True)
    # every batch went through the plan, on this rank's shard of it
    shards = [shard_bounds(len(idx), rank, size) for idx in batches]
    assert planned_rows == [stop - start for start, stop in shards]
    public, public_figures = steps(planned=False)
    assert len(planned_rows) == len(batches)  # and the public run none
    # the same products and kernel calls in the same order: a few float64 roundings at most
    tolerance = 50 * np.finfo(np.float64).eps
    np.testing.assert_allclose(planned_figures, public_figures, rtol=tolerance)
    for key, value in public.named_params().items():
        np.testing.assert_allclose(
            planned.named_params()[key], value, rtol=tolerance, atol=tolerance, err_msg=key
        )


def test_an_epoch_a_callback_cut_short_is_not_checkpointed_with_a_communicator(tmp_path):
    # as in one process (tests/training/test_checkpoint.py): the file keeps the last whole
    # epoch, where end_epoch_together saved the cut one as done
    from softgrad.training.checkpoint import load_checkpoint

    class StopAtBatch:
        def on_batch_end(self, state):
            return state.epoch == 2 and state.batch == 3

    path = tmp_path / "run.ckpt.npz"
    _, history = _fit(
        SGD(lr=0.1),
        epochs=4,
        comm=Communicator(Ranks(), IN_PLACE, SUM),
        checkpoint=path,
        callbacks=[StopAtBatch()],
    )
    assert history.epochs == 2 and history.stop_reason == "callback"
    assert load_checkpoint(path).epoch == 1


class OtherData(Ranks):
    """Ranks whose rank 1 answers the data check with another checksum of X."""

    def allgather(self, obj):
        gathered = super().allgather(obj)
        if isinstance(obj, dict) and "the checksum of X" in obj:
            gathered = [obj, {**obj, "the checksum of X": "crc32:0 of another X"}]
        return gathered


def test_ranks_with_other_data_stop_before_any_callback_begins():
    began = []

    class Begin:
        def on_train_begin(self, state):
            began.append(state.epochs)  # a callback may write a file here

    X, y, _ = _problem()
    model = build_mlp(5, [8], 3, rng=0, dtype=np.float64)
    comm = Communicator(OtherData(0, 2), IN_PLACE, SUM)
    with pytest.raises(DistributedError, match="the checksum of X must be the same"):
        fit(model, CrossEntropyLoss(), SGD(lr=0.1), X, y, epochs=2, comm=comm, callbacks=[Begin()])
    assert began == []
