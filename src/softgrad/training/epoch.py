"""One epoch of :func:`~softgrad.training.fit`: the run's state (:class:`Run`) and what an epoch
records (validation, history, early stopping, the schedule, the callbacks' logs) around the
batch loop, which is :mod:`softgrad.training.epoch_runner`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from softgrad.errors import DivergenceError
from softgrad.training.callbacks import CallbackList, TrainState
from softgrad.training.early_stopping import EarlyStopping, rules_stop
from softgrad.training.epoch_result import EpochResult
from softgrad.training.epoch_runner import EpochRunner
from softgrad.training.history import History


@dataclass
class Run:
    """Everything one fit call works with, gathered so the helpers stay small."""

    model: Any
    loss: Any
    optimizer: Any
    lr_schedule: Any
    generator: np.random.Generator
    train_idx: np.ndarray
    val_idx: np.ndarray | None
    validation: tuple[np.ndarray, np.ndarray, np.ndarray | None] | None
    stopper: EarlyStopping
    history: History
    order: Any  # the batch-order policy (softgrad.training.batch_order)
    data_info: dict[str, Any]
    # every rank's layer generator states from a data-parallel checkpoint (training.together)
    rank_streams: list[dict[str, Any]] | None = None
    # the caller's settings, stored in each checkpoint (fit's checkpoint_settings)
    settings: dict[str, Any] | None = None


def train_epoch(
    run: Run, runner: EpochRunner, hooks: CallbackList, state: TrainState, epoch: int
) -> bool:
    """Train, validate and record one epoch; True when training must stop.

    ``runner.epoch_complete`` then says whether every batch ran (False when a callback's
    on_batch_end stopped the epoch): only a complete epoch may be checkpointed.
    """
    state.epoch, state.batch = epoch, 0
    hooks.call("on_epoch_begin", state)
    started = time.perf_counter()
    lr = run.optimizer.lr
    result, val_loss, val_acc = _run_batches(run, runner, hooks, state, epoch)
    runner.epoch_complete = result.complete
    run.history.append(
        train_loss=result.loss,
        train_acc=result.accuracy,
        lr=lr,
        epoch_time=time.perf_counter() - started,
        val_loss=val_loss,
        val_acc=val_acc,
    )
    monitored = result.loss if val_loss is None else val_loss
    run.stopper.update(epoch, monitored, run.model.named_params())
    run.history.best_epoch = run.stopper.best_epoch
    if run.lr_schedule is not None:
        run.lr_schedule.step(monitored)
    stop_early = rules_stop(run.stopper, run.lr_schedule)
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
    """The epoch's training batches (in the policy's order) and its validation figures.

    A DivergenceError leaves carrying the history of the epochs completed before this one.
    """
    order = run.order.order(run.train_idx, run.generator)
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
    assert run.validation is not None  # (the caller's test)
    X_val, y_val, w_val = run.validation
    val_loss, val_acc = runner.evaluate(run.model, X_val, y_val, run.loss, w_val)
    if not np.isfinite(val_loss):
        kept = runner.restore_epoch_start(epoch)  # the epoch's weights are useless
        reason = f"the validation loss must be finite; got {val_loss!r}"
        raise DivergenceError(
            f"fit: {reason} after epoch {epoch}. Training diverged: try a lower learning rate "
            f"(now {run.optimizer.lr!r}). The model keeps {kept}.",
            epoch=epoch,
            batch=n_batches,
            reason=reason,
        )
    return val_loss, val_acc
