"""One epoch of :func:`fit`: its batches, its validation pass, and what it records (history,
early stopping, the learning-rate schedule, the callbacks' logs)."""

from __future__ import annotations

import time

import numpy as np

from softgrad.errors import DivergenceError
from softgrad.training.callbacks import CallbackList, TrainState
from softgrad.training.loop import EpochResult, EpochRunner
from softgrad.training.predict import evaluate
from softgrad.training.run import Run


def train_epoch(
    run: Run, runner: EpochRunner, hooks: CallbackList, state: TrainState, epoch: int
) -> bool:
    """Train, validate and record one epoch; True when training must stop."""
    state.epoch, state.batch = epoch, 0
    hooks.call("on_epoch_begin", state)
    started = time.perf_counter()
    lr = run.optimizer.lr
    result, val_loss, val_acc = _run_batches(run, runner, hooks, state, epoch)
    run.history.append(
        train_loss=result.loss,
        train_acc=result.accuracy,
        lr=lr,
        epoch_time=time.perf_counter() - started,
        val_loss=val_loss,
        val_acc=val_acc,
    )
    monitored = result.loss if val_loss is None else val_loss
    stop_early = run.stopper.update(epoch, monitored, run.model.named_params())
    run.history.best_epoch = run.stopper.best_epoch
    if run.lr_schedule is not None:
        run.lr_schedule.step(monitored)
    state.logs = {
        "train_loss": result.loss,
        "train_acc": result.accuracy,
        "val_loss": val_loss,
        "val_acc": val_acc,
        "lr": lr,
        "epoch_time": run.history.epoch_time[-1],
    }
    stop_callback = hooks.call("on_epoch_end", state) or result.stopped
    if stop_early or stop_callback:
        run.history.stopped_early = True
        run.history.stop_reason = "early_stopping" if stop_early else "callback"
    return stop_early or stop_callback


def _run_batches(
    run: Run, runner: EpochRunner, hooks: CallbackList, state: TrainState, epoch: int
) -> tuple[EpochResult, float | None, float | None]:
    """The epoch's training batches (shuffled if asked) and its validation loss and accuracy.

    A DivergenceError leaves carrying the history of the epochs completed before this one.
    """
    order = (
        run.train_idx[run.generator.permutation(len(run.train_idx))]
        if run.shuffle
        else run.train_idx
    )
    try:
        result = runner.run(order, state, hooks)
        val_loss = val_acc = None
        if run.validation is not None:
            val_loss, val_acc = _validate(run, runner, epoch, state.n_batches)
    except DivergenceError as err:
        err.history = run.history
        raise
    return result, val_loss, val_acc


def _validate(run: Run, runner: EpochRunner, epoch: int, n_batches: int) -> tuple[float, float]:
    X_val, y_val, w_val = run.validation
    val_loss, val_acc = evaluate(run.model, X_val, y_val, run.loss, sample_weight=w_val)
    if not np.isfinite(val_loss):
        # the epoch's weights are useless: go back to those it started from
        for name, value in runner.params.items():
            np.copyto(value, runner.snapshot[name])
        raise DivergenceError(
            f"fit: the validation loss must be finite; got {val_loss!r} after epoch {epoch}. "
            f"Training diverged: try a lower learning rate (now {run.optimizer.lr!r}). The "
            f"model keeps the weights at the start of epoch {epoch}.",
            epoch=epoch,
            batch=n_batches,
        )
    return val_loss, val_acc
