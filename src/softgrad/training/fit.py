"""fit: the public entry of the training loop, its argument checks and the Run they build.

One epoch (batches, validation, history, early stopping, schedule) lives in
:mod:`softgrad.training.epoch`, checkpoints in :mod:`softgrad.training.checkpoint`, the batch
order in :mod:`softgrad.training.batch_order`. fit prints nothing: progress goes to callbacks.
"""

from __future__ import annotations

import json
import math
from contextlib import nullcontext
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np

from softgrad.checks import (
    check_bool,
    check_feature_count,
    check_fits_dtype,
    check_positive_int,
)
from softgrad.datasets.split import stratified_split
from softgrad.nn.layer import as_generator
from softgrad.training import data
from softgrad.training.batch_order import batch_order
from softgrad.training.callbacks import TrainState
from softgrad.training.checkpoint import load_checkpoint, resume_run, save_checkpoint, snapshot
from softgrad.training.distributed import as_communicator
from softgrad.training.early_stopping import EarlyStopping
from softgrad.training.epoch import EpochRunner, Run, train_epoch
from softgrad.training.history import History
from softgrad.training.predict import model_mode
from softgrad.training.sharded import ShardedRunner
from softgrad.training.together import (
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
    shuffle: Any = True,
    validation_data: tuple[Any, Any] | None = None,
    validation_fraction: float = 0.0,
    early_stopping: bool = False,
    patience: int = 10,
    min_delta: float = 0.0,
    restore_best: bool = True,
    lr_schedule: Any = None,
    callbacks: Any = (),
    sample_weight: Any = None,
    l2_penalty: float = 0.0,
    check_finite: bool = True,
    checkpoint: str | PathLike | None = None,
    resume: str | PathLike | None = None,
    comm: Any = None,
    checkpoint_settings: dict[str, Any] | None = None,
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
    X : ndarray or scipy sparse matrix of shape (N, D)
        Preprocessed inputs, D the model's input size; converted once to the model's dtype
        if needed (float32 stays float32, with no copy when already C-contiguous). A sparse
        matrix is kept as CSR and each batch is densified into the batch buffer. A ScaledRows
        (``Scaler.inputs`` of uint8 images) stays stored, and each batch is gathered and
        scaled into that buffer.
    y : ndarray of int of shape (N,)
        Class indices 0..C-1 (0 or 1 for a model with one logistic output).
    epochs : int, default 10
        Total number of epochs (a resumed run counts the epochs already done: at least those).
    batch_size : int, default 128
        The last batch of an epoch holds the remainder.
    rng : numpy.random.Generator or int or None
        Draws the validation split (first) and one permutation per epoch. The same seed, model
        initialisation and arguments give bit-identical weights and history (except epoch_time).
    shuffle : bool or batch-order policy, default True
        True: a fresh permutation from ``rng`` each epoch; False: the stored order; or a policy
        of :mod:`softgrad.training.batch_order` (``ReshuffleEachEpoch``: scikit-learn's order).
    validation_data : (X_val, y_val) or (X_val, y_val, sample_weight_val), optional
        Scored after every epoch (the weights, if given, weigh the validation figures).
    validation_fraction : float in [0, 1), default 0.0
        Hold out ``ceil(validation_fraction * N)`` samples of (X, y), stratified by class
        (see :func:`softgrad.datasets.stratified_split`).
    early_stopping : bool, default False
        Stop after ``patience`` epochs in which the validation loss (the training loss when
        there is no validation set) did not fall below the best by more than ``min_delta``.
    patience : int, default 10
    min_delta : float >= 0, default 0.0
    restore_best : bool, default True
        With early stopping, copy the best epoch's weights back into the live arrays at the end.
    lr_schedule : schedule, optional
        Stepped once per epoch with the monitored loss: ``lr_schedule.step(loss)``. It must
        wrap ``optimizer`` and, if it has a ``mode``, watch a loss (``mode="min"``). Training
        stops (as early stopping) once its ``should_stop`` is True (AdaptiveLR's rule).
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
    l2_penalty : float >= 0, default 0.0
        scikit-learn's ``alpha``: each batch adds ``0.5 * alpha * sum(W**2) / sum(w)`` to its
        loss and ``alpha * W / sum(w)`` to the gradient of every weight matrix (parameters
        named ``W``; biases are not penalised), w the batch's sample weights (1 each by
        default). Formula: ``softgrad.kernels.penalty``.
    check_finite : bool, default True
        Scan X for NaN/inf once before training. False skips that pass over X, for a caller
        that has checked it already (the scikit-learn estimator: ``validate_data``).
    checkpoint : path, optional
        After every epoch, atomically write the run's full state there; not after an epoch
        that a callback's on_batch_end cut short (the file keeps the epoch before, so that
        resuming it trains the cut epoch whole).
    resume : path, optional
        Continue from a checkpoint: the result equals an uninterrupted run with the same seed.
        The model, data, optimizer (and schedule, if given) must be of the run that wrote it.
    checkpoint_settings : dict, optional
        JSON-safe settings of the caller, stored as they are in every checkpoint
        (``load_checkpoint(path).settings``): the CLI keeps its options there, to honour or
        refuse changed ones on resume. fit itself never reads them.
    comm : mpi4py communicator or Communicator, optional
        Train data-parallel over its ranks (see :mod:`softgrad.training.distributed`): call fit
        on every rank with the same arguments and data; ``batch_size`` is the global batch.
        Rank 0's weights, optimizer state and generator are broadcast first; each rank trains
        on its shard of every batch and the gradients are summed before each step (the L2
        penalty is added once, after the sum), so the weights equal a one-process fit's to
        rounding (bit for bit with one rank). Only rank 0 writes the checkpoint. A failure on
        any rank raises on every rank.

    Returns
    -------
    History

    Raises
    ------
    DivergenceError
        The run diverged: the training or validation loss became NaN/inf, or the mean training
        loss of an epoch so far exceeded 20 x max(loss of the first batch, log(C)) once it
        covered min(512, epoch size) samples (the rule: :mod:`softgrad.training.divergence`).
        It names the 1-based epoch and batch, and the model keeps the last good weights (see
        its message; those at the start of the epoch for an exploding finite loss);
        ``err.history`` holds the completed epochs, and no checkpoint is written for the
        diverged epoch.

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
    comm = None if comm is None else as_communicator(comm)
    # every rank checks its own arguments and data: a check failing on one rank alone ends
    # every rank (Communicator.check_together), none is left waiting in the first collective
    with _on_every_rank(comm, "fit: checking the arguments"):
        _check_parts(model, loss, optimizer)
        _check_schedule(lr_schedule, optimizer)
        epochs, batch_size, X, target, weight = check_arguments(
            model, loss, X, y, sample_weight, epochs, batch_size, checkpoint, check_finite
        )
        params = model.named_params()
        l2_penalty = _check_penalty(l2_penalty, params)
        settings = _check_settings(checkpoint_settings)
        generator = as_generator(rng, "fit")
    if comm is not None:
        # before the validation split draws from it: every rank splits and shuffles alike
        generator = shared_generator(comm, generator)
    with _on_every_rank(comm, "fit: setting up the run"):
        run = new_run(
            model,
            loss,
            optimizer,
            lr_schedule,
            X,
            target,
            weight,
            generator,
            batch_order(shuffle),
            validation_data,
            validation_fraction,
            EarlyStopping(patience, min_delta, restore_best, early_stopping),
        )
        run.settings = settings
        start = 0 if resume is None else _resume(run, resume, epochs, X, target, weight)
    arrays = (model, loss, optimizer, X, target, weight, batch_size, l2_penalty)
    if comm is None:
        runner = EpochRunner(*arrays)
    else:
        runner = ShardedRunner(comm, *arrays)
        start_together(comm, run, batch_size)
    hooks = runner.callback_list(callbacks)
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
                if comm is not None:  # rank 0 writes the checkpoint, with every rank's state
                    # (the ranks agreed on a callback's stop, so each cut the epoch alike)
                    saved = checkpoint if runner.epoch_complete else None
                    finished = end_epoch_together(comm, run, finished, epoch, saved)
                elif checkpoint is not None and runner.epoch_complete:
                    # an epoch a callback cut short is not saved as done: the file keeps the
                    # epoch before, and resuming it trains this epoch whole, as an
                    # uninterrupted run does
                    save_checkpoint(checkpoint, snapshot(run, epoch))
            run.stopper.restore(params)
            if comm is not None:  # the restored best epoch too is the same on every rank
                comm.agree_epoch(params, False, "fit: at the end")
        finally:
            hooks.call("on_train_end", state)
    return run.history


def _on_every_rank(comm: Any, where: str) -> Any:
    """The checks of one process, or :meth:`Communicator.check_together`'s under ``comm``."""
    return nullcontext() if comm is None else comm.check_together(where)


def _resume(
    run: Run,
    resume: str | PathLike,
    epochs: int,
    X: np.ndarray,
    target: np.ndarray,
    weight: np.ndarray | None,
) -> int:
    """Load the checkpoint ``resume`` into ``run``; the number of epochs it has done."""
    ckpt = load_checkpoint(resume)
    if epochs < ckpt.epoch:  # checked before the model takes the checkpoint's weights
        raise ValueError(
            f"fit: epochs must be at least the {ckpt.epoch} epochs the checkpoint has done "
            f"(epochs is the total); got {epochs}"
        )
    return resume_run(run, ckpt, X, target, weight)


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


def check_arguments(
    model: Any,
    loss: Any,
    X: Any,
    y: Any,
    sample_weight: Any,
    epochs: Any,
    batch_size: Any,
    checkpoint: str | PathLike | None,
    check_finite: bool = True,
) -> tuple[int, int, np.ndarray, np.ndarray, np.ndarray | None]:
    """fit's sizes and arrays, checked: ``(epochs, batch_size, X, target, weight)``.

    ``X`` and ``weight`` come back in the dtype of the model's parameters, ``target`` as intp.
    """
    epochs = check_positive_int(epochs, "fit", "epochs")
    batch_size = check_positive_int(batch_size, "fit", "batch_size")
    if getattr(loss, "reduction", "mean") not in ("mean", "sum"):
        raise ValueError(f"fit: loss reduction must be 'mean' or 'sum'; got {loss.reduction!r}")
    _check_checkpoint_path(checkpoint)
    params = model.named_params()
    if not params:
        raise ValueError(f"fit: model must have parameters to train; got {model!r}")
    dtype = next(iter(params.values())).dtype
    X = data.check_features(X, dtype, check_finite=check_bool(check_finite, "fit", "check_finite"))
    width = data.input_width(model)
    if width is not None:  # else a matmul deep in the first step names neither fit nor X
        check_feature_count(X, width, "fit")
    target = data.check_target(y, X.shape[0], data.n_classes(model))
    weight = data.check_weight(sample_weight, X.shape[0], dtype)
    return epochs, batch_size, X, target, weight


def _check_checkpoint_path(checkpoint: Any) -> None:
    """A file path fit can write after each epoch: checked now, not after the first epoch's
    work (the empty string is the current folder)."""
    if checkpoint is None:
        return
    if not isinstance(checkpoint, (str, PathLike)):
        raise TypeError(f"fit: checkpoint must be a file path; got {checkpoint!r}")
    if Path(checkpoint).is_dir():
        raise ValueError(f"fit: checkpoint must be a file path, not a folder; got {checkpoint!r}")
    if not Path(checkpoint).parent.is_dir():
        raise ValueError(f"fit: checkpoint must be in an existing folder; got {str(checkpoint)!r}")


def new_run(
    model: Any,
    loss: Any,
    optimizer: Any,
    lr_schedule: Any,
    X: np.ndarray,
    target: np.ndarray,
    weight: np.ndarray | None,
    rng: np.random.Generator | int | None,
    order: Any,
    validation_data: tuple[Any, Any] | None,
    validation_fraction: float,
    stopper: EarlyStopping,
) -> Run:
    """A fresh Run: the generator from ``rng``, the training indices and the validation set."""
    generator = as_generator(rng, "fit")
    val_idx = validation = None
    if isinstance(validation_fraction, (bool, np.bool_)) or not isinstance(
        validation_fraction, (int, float, np.integer, np.floating)
    ):  # "0.2" was read as float("0.2"), True as a fraction of 1.0
        raise TypeError(
            f"fit: validation_fraction must be a float in [0, 1); got {validation_fraction!r}"
        )
    if validation_data is not None and validation_fraction:
        raise ValueError(
            "fit: validation_data and validation_fraction must not both be given; got both"
        )
    if validation_fraction:
        train_idx, val_idx = _split_validation(target, float(validation_fraction), generator)
        _check_split_weights(weight, train_idx, val_idx, validation_fraction)
        validation = (
            data.dense_rows(X, val_idx),
            target[val_idx],
            None if weight is None else weight[val_idx],
        )
    else:
        train_idx = np.arange(X.shape[0])
        if validation_data is not None:
            validation = data.check_validation(validation_data, X, data.n_classes(model))
    info = {
        "n_samples": X.shape[0],
        "n_features": X.shape[1],
        "validation": "fraction" if val_idx is not None else "data" if validation else None,
    }
    return Run(
        model,
        loss,
        optimizer,
        lr_schedule,
        generator,
        train_idx,
        val_idx,
        validation,
        stopper,
        History(),
        order,
        info,
    )


def _split_validation(
    target: np.ndarray, fraction: float, generator: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """stratified_split, behind checks whose messages name fit's own argument."""
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"fit: validation_fraction must be in (0, 1); got {fraction!r}")
    if math.ceil(fraction * len(target)) >= len(target):
        raise ValueError(
            f"fit: validation_fraction must leave at least one training sample; got "
            f"{fraction!r} of {len(target)} samples"
        )
    return stratified_split(target, fraction, generator)


def _check_split_weights(
    weight: np.ndarray | None, train_idx: np.ndarray, val_idx: np.ndarray, fraction: Any
) -> None:
    """Refuse a validation split that leaves either side weighing 0: its figures divide by
    the weights' sum (the training loss of every epoch was NaN, and no step was taken)."""
    if weight is None:
        return
    for side, idx in (("training", train_idx), ("validation", val_idx)):
        if not weight[idx].sum(dtype=np.float64) > 0:
            raise ValueError(
                f"fit: sample_weight must not be all 0 in the {side} split; got {len(idx)} "
                f"samples of weight 0 there with validation_fraction={fraction!r} (only "
                f"{np.count_nonzero(weight)} of {len(weight)} samples weigh more than 0)"
            )


def _check_settings(settings: Any) -> dict[str, Any] | None:
    """``checkpoint_settings``, checked before training rather than at the first checkpoint."""
    if settings is None:
        return None
    try:
        json.dumps(settings)
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"fit: checkpoint_settings must be a JSON-serialisable dict; got {exc}"
        ) from None
    if not isinstance(settings, dict):
        raise TypeError(f"fit: checkpoint_settings must be a dict; got {settings!r}")
    return settings


def _check_parts(model: Any, loss: Any, optimizer: Any) -> None:
    """TypeError naming the argument that is not a network, a loss layer or an optimizer
    (``fit(model, None, ...)`` would fail later as an AttributeError deep in the loop)."""
    from softgrad.optim import Optimizer

    parts = (
        ("model", model, ("named_params", "forward", "backward"), "a softgrad.nn.Sequential"),
        ("loss", loss, ("forward", "backward"), "a loss layer such as nn.CrossEntropyLoss()"),
    )
    for what, value, methods, expected in parts:
        if not all(callable(getattr(value, name, None)) for name in methods):
            raise TypeError(f"fit: {what} must be {expected}; got {type(value).__name__}")
    if not isinstance(optimizer, Optimizer):
        raise TypeError(
            "fit: optimizer must be a softgrad.optim.Optimizer such as optim.SGD(lr=0.1); got "
            f"{type(optimizer).__name__}"
        )


def _check_schedule(lr_schedule: Any, optimizer: Any) -> None:
    """A schedule fit can step: TypeError without ``step`` (an AttributeError after the first
    epoch otherwise); ValueError for one that would silently set another optimizer's rate, or
    read the monitored loss as a score (mode "max")."""
    if lr_schedule is None:
        return
    if not callable(getattr(lr_schedule, "step", None)):
        raise TypeError(
            "fit: lr_schedule must be a schedule with step(metric), such as "
            f"optim.StepLR(optimizer, step_size=10); got {type(lr_schedule).__name__}"
        )
    scheduled = getattr(lr_schedule, "optimizer", optimizer)
    if scheduled is not optimizer:  # it would set the rate of an optimizer that never steps
        raise ValueError(
            f"fit: lr_schedule must wrap the optimizer given to fit; got a schedule of another "
            f"optimizer, {scheduled!r} (build it as {type(lr_schedule).__name__}(optimizer, ...))"
        )
    if getattr(lr_schedule, "mode", "min") != "min":  # a loss falling would count as worse
        raise ValueError(
            f"fit: lr_schedule must watch a loss (mode='min'): fit steps it with the monitored "
            f"loss; got mode={lr_schedule.mode!r}"
        )


def _check_penalty(l2_penalty: Any, params: Any) -> float:
    """The L2 factor as a float, finite in every parameter's dtype (the update converts it)."""
    if (
        isinstance(l2_penalty, bool)
        or not isinstance(l2_penalty, (int, float, np.integer, np.floating))
        or not 0.0 <= l2_penalty < math.inf
    ):
        raise ValueError(f"fit: l2_penalty must be a finite float >= 0; got {l2_penalty!r}")
    for dtype in {param.dtype for param in params.values()}:
        check_fits_dtype(float(l2_penalty), dtype, "fit", "l2_penalty", " (or float64 weights)")
    return float(l2_penalty)
