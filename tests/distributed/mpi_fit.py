"""One fit, run by tests/distributed/test_mpi.py under ``mpiexec -n N`` or as a plain process.

``python mpi_fit.py CASE OUT`` trains case CASE (see CASES) with ``comm=world()``: data-parallel
under a launcher, one process otherwise, from the same seed and global batch. Every rank writes
its weights and history to ``OUT/rank<r>.npz``. A softgrad error (which every rank raises) ends
the run with one line ``error: <message>`` on stderr from rank 0 and exit status 2; every rank
writes its message to ``OUT/rank<r>.error``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from softgrad.datasets.shards import read_shard
from softgrad.errors import SoftgradError
from softgrad.kernels import set_threads
from softgrad.nn import CrossEntropyLoss, Sequential, build_mlp
from softgrad.optim import SGD, Adam
from softgrad.training import fit
from softgrad.training.distributed import import_mpi, world

N_SAMPLES, N_FEATURES, N_CLASSES = 203, 7, 3  # 203 = 6 batches of 32 and a short one of 11
BATCH = 32


def _data(dtype):
    rng = np.random.default_rng(0)
    y = rng.integers(0, N_CLASSES, size=N_SAMPLES)
    centers = rng.normal(scale=1.5, size=(N_CLASSES, N_FEATURES))
    X = (centers[y] + rng.normal(size=(N_SAMPLES, N_FEATURES))).astype(dtype)
    weight = rng.uniform(0.0, 2.0, size=N_SAMPLES)
    return X, y, weight


class _FailOn:
    """Breaks one rank at epoch 1, batch 3: a NaN weight, or an exception in forward."""

    def __init__(self, model, how):
        self.model, self.how, self.calls = model, how, 0
        self.forward = model.forward

    def __call__(self, x):
        self.calls += 1
        if self.calls == 3 and self.how == "raise_in_step":
            raise RuntimeError("forward failed on purpose")
        if self.calls == 3 and self.how == "nan":
            self.model.layers[0].params["W"][0, 0] = np.nan
        return self.forward(x)


class _RaiseInCallback:
    """Raises in one hook: on_train_begin, on_epoch_begin, on_batch_end, on_epoch_end or
    on_train_end."""

    def __init__(self, hook):
        setattr(self, hook, self._raise)

    def _raise(self, state):
        raise RuntimeError(f"callback failed on purpose at epoch {state.epoch}")


class _InterruptAtBatch3:
    """Ctrl-C at the end of batch 3 of epoch 1, as softgrad train raises it there (its SIGINT
    handler waits for the batch to end)."""

    def on_batch_end(self, state):
        if state.epoch == 1 and state.batch == 3:
            raise KeyboardInterrupt


class _RaiseInValidation:
    """Breaks one rank's validation shard: forward raises in evaluation mode."""

    def __init__(self, model):
        self.model, self.forward = model, model.forward

    def __call__(self, x):
        if not self.model.layers[0].training:
            raise RuntimeError("validation failed on purpose")
        return self.forward(x)


class _CountThreads:
    """Notes the BLAS and Numba kernel threads this rank trains with."""

    def on_train_begin(self, state):
        import numba
        from threadpoolctl import threadpool_info

        blas = [pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"]
        self.threads = np.array([max(blas), numba.get_num_threads()])


def _unreadable(values):
    raise MemoryError("this rank alone could not read its rows")


def _failing_checkpoint(path, ckpt):
    raise OSError(f"no space left writing {path.name} (on purpose)")


def _accuracy(model, X, y, weight=None):
    """The hits over the weight of the targets class 2 (ignored) leaves, by hand."""
    weight = np.ones(len(y)) if weight is None else weight
    counted = y != 2
    hits = (np.argmax(model.forward(X), axis=1) == y) & counted
    return np.sum(weight * hits) / np.sum(weight * counted)


def run(case: str, comm, out: Path):
    if case == "raise_in_loading":
        # each rank reads its shard of a gzipped IDX file cut short: only the last rank fails
        with comm.agree("reading the training data"):
            read_shard(out / "x-idx2-ubyte.gz", comm.rank, comm.size)
    float32 = case in ("sgd32", "nesterov32") or case.startswith("data_")
    dtype = np.float32 if float32 else np.float64
    X, y, weight = _data(dtype)
    # "unseeded": fresh entropy on each rank, for the weights and for fit's generator
    seeded = case != "unseeded"
    model = build_mlp(N_FEATURES, [16], N_CLASSES, rng=1 if seeded else None, dtype=dtype)
    kwargs = {"epochs": 3, "batch_size": BATCH, "rng": 2 if seeded else None}
    if case.startswith("dropout"):  # as the CLI does: one generator builds the model and fit
        generator = np.random.default_rng(3)
        model = build_mlp(N_FEATURES, [16], N_CLASSES, dropout=0.3, rng=generator, dtype=dtype)
        kwargs["rng"] = generator
    loss = CrossEntropyLoss()
    if case.startswith("class_weight"):
        # the mean divides by the batch's sum of target class weights; class 2 is ignored
        loss = CrossEntropyLoss(weight=[1.0, 3.0, 0.5], ignore_index=2)
    # with sample weights the divisor is the batch's sum of w * (target class weight), summed
    # over the ranks' shards; unit weights ("_unit") train and score as none ("class_weight_val")
    unit = case in ("class_weight_unit", "sum_unit")
    if case in ("class_weight_unit", "class_weight_weighted", "sum_unit", "sum_weighted"):
        weight = np.ones(N_SAMPLES) if unit else weight
        kwargs["sample_weight"] = weight
    if case.startswith("sum"):
        # reduction "sum": each shard's (weighted) sum is its part of the batch's, unscaled
        loss = CrossEntropyLoss(reduction="sum", weight=[1.0, 3.0, 0.5], ignore_index=2)
    if case == "ignored_batch":
        # the first global batch holds only ignored targets: its loss and gradient are 0 in one
        # process (the optimizer still steps), so every shard's share of it is 0, not 0 / 0
        y = y.copy()
        y[:BATCH] = 2
        loss = CrossEntropyLoss(ignore_index=2)
        kwargs["shuffle"] = False
    if case == "smooth_zero_class":
        # label smoothing with a class of weight 0: a sample of that class adds its smoothing
        # term to the batch's loss but nothing to its divisor, so the first batch's shard of
        # rank 0, all of that class, has a divisor of 0 and still a part of the gradient
        y = y.copy()
        y[:16], y[16:32] = 0, 1
        loss = CrossEntropyLoss(weight=[0.0, 1.0, 2.0], label_smoothing=0.2)
        kwargs["shuffle"] = False
    if case.startswith("ignored_acc"):
        # accuracy counts the targets the loss does not ignore: hits and counted weight summed
        # over the ranks' shards. lr 0 keeps the initial weights, so every epoch's train_acc
        # and val_acc is their accuracy, computed here by hand (saved as hand_*)
        loss = CrossEntropyLoss(ignore_index=2)
        if case.endswith("_weighted"):
            kwargs["sample_weight"] = weight
    if case.startswith("l2"):
        # the penalty is added once, after the gradients are summed, divided by the global
        # batch's weight (its sample weights' sum in "l2_weighted")
        kwargs["l2_penalty"] = 0.05
        if case == "l2_weighted":
            kwargs["sample_weight"] = weight
    if case in (
        "sgd",
        "sgd32",
        "sgd_val",
        "class_weight",
        "class_weight_val",
        "class_weight_unit",
        "class_weight_weighted",
        "ignored_batch",
        "smooth_zero_class",
        "ignored_acc",
        "ignored_acc_weighted",
        "l2",
        "l2_weighted",
    ) or case.startswith(("nan", "raise")):
        optimizer = SGD(lr=0.1, momentum=0.9)
    elif case.startswith("nesterov"):
        optimizer = SGD(lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01)
    elif case.startswith("sum"):
        optimizer = SGD(lr=0.1 / BATCH, momentum=0.9)  # a sum's gradient is BATCH times larger
    else:
        optimizer = Adam(lr=0.01)
    if "resume_" in case:
        # "first" trains 2 epochs and checkpoints; "rest" resumes it to 4; "full" runs all 4
        kwargs.update(epochs=2 if case.endswith("_first") else 4, sample_weight=weight)
        if case.endswith("_first"):
            kwargs["checkpoint"] = out / "checkpoint.npz"
        if case.endswith("_rest"):
            kwargs["resume"] = out / "checkpoint.npz"
    # an unweighted validation set of 37 (class_weight_val: its loss divides by the targets'
    # class weights, ignored ones 0, summed over the ranks' shards before dividing)
    if case in ("sgd_val", "raise_in_validation") or case.startswith(
        ("class_weight_", "ignored_acc", "data_")
    ):
        rng = np.random.default_rng(5)
        X_val = X[:37] + rng.normal(scale=0.5, size=(37, N_FEATURES)).astype(dtype)
        kwargs["validation_data"] = (X_val, y[:37])
        if case in ("ignored_acc_weighted", "class_weight_unit", "class_weight_weighted"):
            kwargs["validation_data"] = (X_val, y[:37], weight[:37])
    if case in ("adam_weighted_val", "unseeded"):
        kwargs.update(
            sample_weight=weight,
            validation_fraction=0.2,
            early_stopping=True,
            patience=2,
            min_delta=0.01,
            epochs=40,  # early stopping ends it after epoch 13
        )
    broken = comm is not None and comm.rank == comm.size - 1
    if case == "batch_size_differs" and broken:  # would take 7 steps an epoch, not 6
        kwargs["batch_size"] = BATCH - 1
    if case == "epochs_differ" and broken:  # would stop after 2 epochs, the others after 3
        kwargs["epochs"] = 2
    if case in ("nan", "raise_in_step"):
        # the step plan calls the layers' row-level methods, never model.forward: unfused, the
        # network trains through the public forward that _FailOn breaks (training.step_plan)
        model = Sequential(*model.layers, fuse=False)
        if broken:
            model.forward = _FailOn(model, case)
    if case.startswith("raise_in_on_") and broken:
        kwargs["callbacks"] = [_RaiseInCallback(case.removeprefix("raise_in_"))]
    if case == "interrupt_everywhere":  # mpiexec passes Ctrl-C to every rank
        kwargs["callbacks"] = [_InterruptAtBatch3()]
    if case == "nan_in_data" and broken:  # this rank's copy of the data alone: fit's check
        X = X.copy()
        X[5, 2] = np.nan
    if case.startswith("data_") and broken:
        # this rank's data alone: the same shapes, other values
        X, y = X.copy(), y.copy()
        if case == "data_y_differs":  # one label
            y[100] = (y[100] + 1) % N_CLASSES
        if case == "data_X_differs":  # one value
            X[150, 3] += 1.0
        if case == "data_val_differs":  # one validation label
            X_val, y_val = kwargs["validation_data"]
            kwargs["validation_data"] = (X_val, (y_val + 1) % N_CLASSES)
        if case == "data_agrees":  # the same values in other forms: fit converts them alike
            X, y = np.asfortranarray(X.astype(np.float64)), y.astype(np.int32).tolist()
    if case == "checksum_fails" and broken:  # its data cannot be read while the ranks compare
        import softgrad.training.together

        softgrad.training.together.values_checksum = _unreadable
    if case == "resume_missing" and broken:  # a resume file this rank cannot see
        kwargs["resume"] = out / "not-on-this-node.npz"
    if case == "raise_in_validation" and broken:
        model.forward = _RaiseInValidation(model)
    if case == "raise_in_checkpoint":
        kwargs["checkpoint"] = out / "checkpoint.npz"
        if comm is not None and comm.rank == 0:  # only rank 0 writes
            import softgrad.training.together

            softgrad.training.together.save_checkpoint = _failing_checkpoint
    hand = {}
    if case.startswith("threads"):
        # mpi4py's own communicator, as a user's script passes it (not world()'s wrapper)
        comm = import_mpi().COMM_WORLD
        kwargs["callbacks"] = [counter := _CountThreads()]
        if case == "threads_chosen":  # the user's own count (softgrad train --threads 2)
            set_threads(2)
    if case.startswith("ignored_acc"):
        optimizer = SGD(lr=0.0)
        hand = {
            "hand_acc": _accuracy(model, X, y, kwargs.get("sample_weight")),
            "hand_val_acc": _accuracy(model, *kwargs["validation_data"]),
        }
    if case == "nan_in_optimizer_state" and comm is not None and comm.rank == 0:
        # a step by hand met a NaN gradient on rank 0, whose state every rank then loads
        grads = {key: np.zeros_like(value) for key, value in model.named_params().items()}
        grads["0.b"][0] = np.nan
        optimizer.step(model.named_params(), grads)
        for value in model.named_params().values():
            value[...] = np.nan_to_num(value)  # the weights repaired, not the optimizer
    history = fit(model, loss, optimizer, X, y, comm=comm, **kwargs)
    if case.startswith("threads"):
        hand = {"threads": counter.threads}
    generator = kwargs["rng"]
    # where fit's own stream ended, when the script holds it
    dropout = case.startswith("dropout")
    end = generator.bit_generator.state["state"]["state"] if dropout else ""
    return model, history, str(end), hand


def main(case: str, out: Path) -> int:
    # "threads": fit alone wraps mpi4py's communicator, as in a user's script (see run)
    comm = None if case.startswith("threads") else world()
    rank = 0 if comm is None else comm.rank
    if case.startswith("threads"):
        rank = import_mpi().COMM_WORLD.Get_rank()
    try:
        model, history, generator_state, hand = run(case, comm, out)
    except SoftgradError as err:
        # every rank raised the same error: rank 0 reports it, every rank notes it for the test
        (out / f"rank{rank}.error").write_text(str(err))
        if rank == 0:
            print(f"error: {err}", file=sys.stderr, flush=True)
        if comm is not None:
            comm.finish()  # MPI shut down everywhere before rank 0 exits with status 2
        return 2 if rank == 0 else 0
    arrays = {f"param.{k}": v for k, v in model.named_params().items()}
    arrays.update(
        train_loss=np.array(history.train_loss),
        train_acc=np.array(history.train_acc),
        val_loss=np.array(history.val_loss if history.val_loss else []),
        val_acc=np.array(history.val_acc if history.val_acc else []),
    )
    arrays.update(hand)  # figures computed by hand in the script
    if generator_state:
        arrays["generator_state"] = np.array(generator_state)
    np.savez(out / f"rank{rank}.npz", **arrays)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], Path(sys.argv[2])))
