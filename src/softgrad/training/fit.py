"""fit: the mini-batch training loop (shuffling, validation, early stopping, callbacks,
checkpoints and resume). It prints nothing: progress goes to callbacks.

Its argument checks and the Run they build live in :mod:`softgrad.training.prepare`; one epoch
(batches, validation, history, early stopping, schedule) in :mod:`softgrad.training.epoch`.
"""

from __future__ import annotations

from os import PathLike
from typing import Any

import numpy as np

from softgrad.training.callbacks import CallbackList, TrainState
from softgrad.training.checkpoint import load_checkpoint, save_checkpoint
from softgrad.training.distributed import as_communicator
from softgrad.training.early_stopping import EarlyStopping
from softgrad.training.epoch import train_epoch
from softgrad.training.history import History
from softgrad.training.loop import EpochRunner
from softgrad.training.predict import model_mode
from softgrad.training.prepare import check_arguments, new_run
from softgrad.training.run import Run, snapshot
from softgrad.training.run import resume as resume_run
from softgrad.training.sharded import (
    ShardedRunner,
    end_epoch_together,
    fail_together,
    shared_generator,
    start_together,
)


def fit(
    model: Any,
    loss: Any,
    optimizer: Any,
    X: Any,
    y: Any,
    *,
    epochs: int = 10,
    batch_size: int = 128,
    rng: np.random.Generator | int | None = None,
    shuffle: bool = True,
    validation_data: tuple[Any, Any] | None = None,
    validation_fraction: float = 0.0,
    early_stopping: bool = False,
    patience: int = 10,
    min_delta: float = 0.0,
    restore_best: bool = True,
    lr_schedule: Any = None,
    callbacks: Any = (),
    sample_weight: Any = None,
    checkpoint: str | PathLike | None = None,
    resume: str | PathLike | None = None,
    comm: Any = None,
) -> History:
    """Train ``model`` on ``(X, y)`` with mini-batch gradient descent; return its History.

    Parameters
    ----------
    model : Sequential
        Produces logits; its parameters are updated in place.
    loss : loss layer
        ``forward(logits, target) -> float`` and ``backward() -> grad_logits``, e.g.
        CrossEntropyLoss() (reduction "mean" or "sum").
    optimizer : Optimizer
        ``step(params, grads)``, ``lr``, ``state_dict()``/``load_state_dict()``.
    X : ndarray of shape (N, D)
        Preprocessed inputs; converted once to the model's dtype if needed (float32 stays
        float32, with no copy when already C-contiguous).
    y : ndarray of int of shape (N,)
        Class indices 0..C-1.
    epochs : int, default 10
        Total number of epochs (a resumed run counts the epochs already done).
    batch_size : int, default 128
        The last batch of an epoch holds the remainder.
    rng : numpy.random.Generator or int or None
        Draws the validation split (first) and one permutation per epoch. The same seed, model
        initialisation and arguments give bit-identical weights and history (except epoch_time).
    shuffle : bool, default True
    validation_data : (X_val, y_val), optional
    validation_fraction : float in [0, 1), default 0.0
        Hold out ``ceil(validation_fraction * N)`` samples of (X, y), stratified by class
        (see :func:`softgrad.datasets.stratified_split`).
    early_stopping : bool, default False
        Stop after ``patience`` epochs in which the validation loss (the training loss when
        there is no validation set) did not fall below the best by more than ``min_delta``.
    patience : int, default 10
    min_delta : float, default 0.0
    restore_best : bool, default True
        With early stopping, copy the best epoch's weights back into the live arrays at the end.
    lr_schedule : schedule, optional
        Stepped once per epoch with the monitored loss: ``lr_schedule.step(loss)``.
    callbacks : sequence of objects, optional
        With any of on_train_begin, on_epoch_begin, on_batch_end, on_epoch_end, on_train_end
        (see :class:`Callback`); on_batch_end / on_epoch_end returning True stops training.
    sample_weight : ndarray of shape (N,), optional
        Non-negative weights: each batch minimises ``sum(w_i l_i) / sum(w_i)`` over its
        samples, so dL/dlogits_i = w_i * dl_i/dlogits_i / sum(w) (scikit-learn's MLP
        semantics); a batch whose weights are all 0 is skipped. A zero-weight sample adds
        nothing but still fills a batch slot: it equals dropping the sample exactly only in
        full-batch training. The epoch's training loss and accuracy are ``sum(w_i l_i) /
        sum(w_i)`` and ``sum(w_i hit_i) / sum(w_i)`` over the epoch (scikit-learn averages
        batch losses by batch size instead); the validation figures of a validation_fraction
        split are weighted the same way.
    checkpoint : path, optional
        After every epoch, atomically write the run's full state there.
    resume : path, optional
        Continue from a checkpoint: the result equals an uninterrupted run with the same seed.
    comm : mpi4py communicator or Communicator, optional
        Train data-parallel over its ranks (see :mod:`softgrad.training.distributed`): call fit
        on every rank with the same arguments and data; ``batch_size`` is the global batch.
        Rank 0's weights, optimizer state and generator are broadcast first; each rank trains
        on its shard of every batch and the gradients are summed before each step, so the
        weights equal a one-process fit's to rounding (bit for bit with one rank). Only rank 0
        writes the checkpoint. A failure on any rank raises on every rank.

    Returns
    -------
    History

    Raises
    ------
    DivergenceError
        The training or validation loss became NaN/inf. It names the 1-based epoch and batch,
        and the model keeps the last finite weights (see its message); ``err.history`` holds
        the completed epochs.

    Notes
    -----
    - Each batch's loss is checked BEFORE its backward pass, so a NaN/inf loss leaves the
      weights of the last completed step; if that step itself overflowed the weights, they are
      reset to those at the start of the epoch (one copy per epoch, not per step). NumPy's
      overflow/invalid warnings are silenced inside the loop: the DivergenceError reports it.
    - The model is in training mode during fit; each layer's previous mode is restored after.
    - The per-batch step is: gather the batch into a preallocated buffer
      (``np.take(..., out=, mode="clip")``), forward, loss, backward without the first layer's
      input gradient, optimizer step. Nothing is promoted to float64.

    Example
    -------
    >>> from softgrad.nn import CrossEntropyLoss, build_mlp
    >>> from softgrad.optim import SGD
    >>> X = np.random.default_rng(0).normal(size=(200, 2)).astype(np.float32)
    >>> y = (X[:, 0] > 0).astype(int)
    >>> model = build_mlp(2, [8], 2, rng=0)
    >>> history = fit(model, CrossEntropyLoss(), SGD(lr=0.5), X, y, epochs=20, rng=0)
    >>> history.epochs, history.train_acc[-1] > 0.95
    (20, True)
    """
    epochs, batch_size, X, target, weight = check_arguments(
        model, loss, X, y, sample_weight, epochs, batch_size, checkpoint
    )
    params = model.named_params()
    if comm is not None:
        comm = as_communicator(comm)
        # before the validation split draws from it: every rank splits and shuffles alike
        rng = shared_generator(comm, rng)
    run = new_run(
        model,
        loss,
        optimizer,
        lr_schedule,
        X,
        target,
        weight,
        rng,
        shuffle,
        validation_data,
        validation_fraction,
        EarlyStopping(patience, min_delta, restore_best, early_stopping),
    )
    start = 0
    if resume is not None:
        start = resume_run(run, load_checkpoint(resume), X, target, weight)
    if comm is None:
        runner = EpochRunner(model, loss, optimizer, X, target, weight, batch_size)
    else:
        runner = ShardedRunner(comm, model, loss, optimizer, X, target, weight, batch_size)
        start_together(comm, run, batch_size)
    hooks = CallbackList(callbacks)
    state = _train_state(run, runner, start, epochs)
    # overflow inside a step is reported once, as a DivergenceError, not as numpy warnings
    with (
        model_mode(model, True),
        np.errstate(over="ignore", invalid="ignore"),
        fail_together(comm),
    ):
        hooks.call("on_train_begin", state)
        try:
            finished = run.history.stop_reason == "early_stopping"
            for epoch in range(start + 1, epochs + 1):
                if finished:
                    break
                finished = train_epoch(run, runner, hooks, state, epoch)
                if comm is not None:
                    finished = end_epoch_together(comm, run, finished, epoch)
                if checkpoint is not None and (comm is None or comm.rank == 0):
                    save_checkpoint(checkpoint, snapshot(run, epoch))
            run.stopper.restore(params)
            if comm is not None:  # the restored best epoch too is the same on every rank
                comm.agree_epoch(params, False, "fit: at the end")
        finally:
            hooks.call("on_train_end", state)
    return run.history


def _train_state(run: Run, runner: EpochRunner, start: int, epochs: int) -> TrainState:
    """What the callbacks see of the run, before epoch ``start + 1`` of ``epochs``."""
    return TrainState(
        epoch=start,
        epochs=epochs,
        n_batches=runner.n_batches(len(run.train_idx)),
        n_samples=len(run.train_idx),
        history=run.history,
        model=run.model,
        optimizer=run.optimizer,
    )
