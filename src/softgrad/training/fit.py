"""fit: the public entry of the training loop, from its checked arguments to the last epoch.

fit's argument checks live in :mod:`softgrad.training.fit_arguments`, the Run it starts from
(the split, the validation set, a resumed checkpoint) in :mod:`softgrad.training.run_start`,
one epoch (validation, history, early stopping, schedule) in :mod:`softgrad.training.epoch`
and its batches in :mod:`softgrad.training.epoch_runner`, checkpoints in
:mod:`softgrad.training.checkpoint` (the file) and :mod:`softgrad.training.run_checkpoint` (a
run's state into it and back), the batch order in :mod:`softgrad.training.batch_order`. fit
prints nothing: progress goes to callbacks.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager, nullcontext
from os import PathLike
from typing import Any

import numpy as np

from softgrad.kernels.registry import OneLane
from softgrad.nn.layer import as_generator
from softgrad.training.batch_order import batch_order
from softgrad.training.callbacks import CallbackList, TrainState
from softgrad.training.checkpoint import Checkpoint, save_checkpoint
from softgrad.training.distributed import as_communicator
from softgrad.training.early_stopping import EarlyStopping
from softgrad.training.epoch import Run, train_epoch
from softgrad.training.epoch_runner import EpochRunner
from softgrad.training.fit_arguments import (
    check_arguments,
    check_parts,
    check_penalty,
    check_per_sample_loss,
    check_resume,
    check_schedule,
    check_settings,
    per_sample_readers,
)
from softgrad.training.history import History
from softgrad.training.interrupts import ctrl_c_at_batch_end, take_pending
from softgrad.training.kept_state import KeptState
from softgrad.training.predict import model_mode
from softgrad.training.run_checkpoint import snapshot
from softgrad.training.run_start import new_run, resume_from_checkpoint
from softgrad.training.sharded import ShardedRunner
from softgrad.training.together import (
    agree_to_start,
    end_epoch_together,
    fail_together,
    shared_generator,
    start_together,
    values_checksum,
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
    resume: str | PathLike | Checkpoint | None = None,
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
        CrossEntropyLoss() (reduction "mean" or "sum"). With ``validation_data``,
        ``validation_fraction`` or ``sample_weight``, fit reads the loss sample by sample, on
        a copy with ``reduction = "none"``: a loss of your own needs a ``reduction``
        attribute, and its forward must then return one loss per sample, shape (N,). Both
        are checked before training (its forward run on two rows of zero logits), and the
        losses again wherever they are read: a TypeError names the loss and what it returned.
    optimizer : Optimizer
        ``step(params, grads)``, ``lr``, ``state_dict()``/``load_state_dict()``.
    X : ndarray or scipy sparse matrix of shape (N, D)
        Preprocessed inputs, D the model's input size; converted once to the model's dtype
        if needed (float32 stays float32, with no copy when already C-contiguous). A sparse
        matrix is kept as CSR and each batch is densified into the batch buffer. A ScaledRows
        (``Scaler.inputs`` of uint8 images) stays stored, and each batch is gathered and
        scaled into that buffer; so does an array of integers (uint8 pixels as they are),
        each batch cast. Float rows it would convert (``X / 255.0`` in float64 for a float32
        model) are kept as uint8 codes where they hold at most 256 values (CodedRows, the
        Numba lane). Every batch reads as the converted copy would, bit for bit.
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
        Scored after every epoch (the weights, if given, weigh the validation figures). The
        validation loss is on the training loss's scale: the loss's own mean (for class weights
        or ``ignore_index``, PyTorch's: divided by the sum of the targets' class weights,
        ignored targets left out), weighted as ``sample_weight`` weighs the training loss.
    validation_fraction : float in [0, 1), default 0.0
        Hold out ``ceil(validation_fraction * N)`` samples of (X, y), stratified by class
        (see :func:`softgrad.datasets.stratified_split`). A share that gives a class of 2 or
        more samples no validation sample, or holds a class out whole, is refused with the
        shares that work (a class of one sample trains, with none in validation).
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
        Non-negative weights: each batch minimises ``sum(w_i l_i) / sum(w_i c_i)`` over its
        samples, so dL/dlogits_i = w_i * dl_i/dlogits_i / sum(w c) (scikit-learn's MLP
        semantics), c_i the loss's class weight of the target (1 without class weights, 0 for
        a target the loss ignores: the divisor of the loss's own mean, weighted). Unit weights
        thus train as no weights, and an integer weight as that many copies of the sample
        (for a loss with reduction "sum", each batch minimises ``sum(w_i l_i)``). A
        batch whose weights are all 0 is skipped. A zero-weight sample adds nothing but still
        fills a batch slot: it equals dropping the sample exactly only in full-batch training.
        The epoch's training loss is the batch losses averaged by the batches' sum(w) (without
        class weights or ``ignore_index``: ``sum(w_i l_i) / sum(w_i)`` over the epoch;
        scikit-learn averages batch losses by batch size instead) and its accuracy
        ``sum(w_i hit_i) / sum(w_i)`` (no class weight in it), over the samples whose target the
        loss does not ignore (its ``ignore_index``; NaN for an epoch or a validation set whose
        targets it all ignores); the validation figures of a validation_fraction split are
        weighted the same way.
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
    resume : path or Checkpoint, optional
        Continue from a checkpoint: the result equals an uninterrupted run with the same seed.
        The model, data, optimizer (its kind and settings; its lr is the checkpoint's, where a
        schedule had moved it) and schedule (or none) must be of the run that wrote it: another
        is refused, naming the setting. Early stopping (its patience, on or off) may change:
        a run that stopped early goes on where its patience now lets it, as a run started
        with that patience does; switched on at the resume of a run that ran without it (or
        ``restore_best`` switched on), it judges the epochs from the resumed one on: the
        checkpoint holds no earlier epoch's weights to end on.
        A path is read with :func:`~softgrad.training.checkpoint.load_checkpoint`; a
        Checkpoint it returned is taken as it is, for a caller that read it already (``softgrad
        train --resume`` builds the network from its weights). Its state is copied into the
        run and the Checkpoint is left unchanged: fit keeps no reference to it or its arrays,
        so they are freed once the caller lets go of it.
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
        rounding (bit for bit with one rank), except with dropout: each rank draws its shard's
        masks from its own stream, so such a run differs for each number of ranks (and is
        reproducible at one). Only rank 0 writes the checkpoint. A failure on
        any rank raises on every rank. With several ranks each one computes on one BLAS and one
        kernel thread, unless a thread variable (``OPENBLAS_NUM_THREADS``, ``OMP_NUM_THREADS``,
        ``NUMBA_NUM_THREADS`` ...) or :func:`softgrad.set_threads` chose counts: ranks sharing
        a machine's cores with two threads each wait for each other's cores.

    Returns
    -------
    History

    Raises
    ------
    ValueError
        Among others: a ``validation_fraction`` whose split leaves a class of 2 or more
        samples without a validation sample, or holds a class out whole (the validation
        figures and early stopping were blind to it, or it was never learnt).
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
    - Ctrl-C is raised at the end of the batch it comes in (or, after the last batch, when
      fit ends; on every rank together with ``comm``), where the weights, the optimizer's
      step counts, early stopping's restored weights and every callback's record hold the
      same step; a second Ctrl-C raises at once. This holds where Python's own SIGINT
      handler is in force, in the main thread; a handler of the caller's own is left as it
      is (:mod:`softgrad.training.interrupts`).
    - Each batch's loss is checked BEFORE its backward pass, so a NaN/inf loss leaves the
      weights of the last completed step; if that step itself overflowed the weights, they are
      reset to those at the start of the epoch (one copy per epoch, not per step). NumPy's
      overflow/invalid warnings are silenced inside the loop: the DivergenceError reports it.
    - The model is in training mode during fit; each layer's previous mode is restored after.
    - The per-batch step is: gather the batch into a preallocated buffer
      (``np.take(..., out=, mode="clip")``), forward, loss, backward without the first layer's
      input gradient, optimizer step. Nothing is promoted to float64.

    Examples
    --------
    >>> from softgrad.nn import CrossEntropyLoss, build_mlp
    >>> from softgrad.optim import SGD
    >>> X = np.random.default_rng(0).normal(size=(200, 2)).astype(np.float32)
    >>> y = (X[:, 0] > 0).astype(int)
    >>> model = build_mlp(2, [8], 2, rng=0)
    >>> history = fit(model, CrossEntropyLoss(), SGD(lr=0.5), X, y, epochs=20, rng=0)
    >>> history.epochs, history.train_acc[-1] > 0.95
    (20, True)
    """
    # one lane for the whole run: a set_kernels in another thread meanwhile would mix the
    # lanes within one training (and the model file names one)
    with OneLane():
        comm = None if comm is None else as_communicator(comm)
        # every rank checks its own arguments and data: a check failing on one rank alone ends
        # every rank (Communicator.check_together), none is left waiting in the first collective
        with _on_every_rank(comm, "fit: checking the arguments"):
            check_parts(model, loss, optimizer)
            check_schedule(lr_schedule, optimizer)
            epochs, batch_size, X, target, weight = check_arguments(
                model, loss, X, y, sample_weight, epochs, batch_size, checkpoint, check_finite
            )
            check_per_sample_loss(
                model,
                loss,
                target,
                per_sample_readers(validation_data, validation_fraction, weight),
            )
            params = model.named_params()
            l2_penalty = check_penalty(l2_penalty, params)
            settings = check_settings(checkpoint_settings)
            check_resume(resume)
            if resume is None:  # a checkpoint's state replaces the optimizer's own
                optimizer.check_state(params, "fit")
            generator = as_generator(rng, "fit")
            # on several ranks a refusal can come after changes that no rank can rehearse away (a
            # resume loaded on the ranks whose file was good, the split drawn before the ranks
            # agree on the data): each rank puts back what its set-up changed, so the call after
            # the fix trains as if the refused one had not been made
            kept = (
                nullcontext()
                if comm is None
                else KeptState(model, optimizer, lr_schedule, shuffle, generator)
            )
        with kept:
            if comm is not None:
                # before the validation split draws from it: every rank splits and shuffles alike
                generator = shared_generator(comm, generator)
            # given back if the set-up refuses (a split that leaves a side weighing 0, a checkpoint
            # refused): the caller's generator had drawn the validation split, and a fit after the
            # fix split another way than the same fit without the refused one
            drawn_from = generator.bit_generator.state
            with (
                _on_every_rank(comm, "fit: setting up the run"),
                _kept_if_refused(generator, drawn_from),
            ):
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
                    EarlyStopping.from_fit(patience, min_delta, restore_best, early_stopping),
                    resuming=resume is not None,
                )
                run.settings = settings
                if checkpoint is not None or resume is not None:
                    # the values too (a millisecond): a resume on another data set of the same
                    # shape trained on it, the model naming only the new one; no run without a
                    # checkpoint reads them
                    run.data_info["checksums"] = {
                        "X": values_checksum(X),
                        "y": values_checksum(target),
                    }
                start = 0
                if resume is not None:
                    start = resume_from_checkpoint(run, resume, epochs, X, target, weight)
                # copied in: the run holds none of its arrays, and a caller that lets go of a
                # loaded checkpoint frees them (the weights, the optimizer's state) for the epochs
                # to come
                del resume
                arrays = (model, loss, optimizer, X, target, weight, batch_size, l2_penalty)
                runner = EpochRunner(*arrays) if comm is None else ShardedRunner(comm, *arrays)
            if comm is not None:
                agree_to_start(comm, run, batch_size, epochs, X, target, weight)
        del kept  # its copies of the weights and the state the set-up replaced
        if comm is not None:
            start_together(comm, run)
        # Ctrl-C raised between two batches, where every object holds a state of the run
        # (training.interrupts); a handler of the caller's own is left to do what it does
        with ctrl_c_at_batch_end() as deferral:
            if deferral is not None:  # last, after the caller's (a list checked as fit checks it)
                callbacks = [*CallbackList(callbacks).callbacks, deferral]
            _train(run, runner, runner.callback_list(callbacks), start, epochs, checkpoint, comm)
        return run.history


def _train(
    run: Run,
    runner: EpochRunner,
    hooks: Any,
    start: int,
    epochs: int,
    checkpoint: str | PathLike | None,
    comm: Any,
) -> None:
    """Epochs ``start + 1`` to ``epochs`` of the run set up, then early stopping's best
    weights; a checkpoint after each complete epoch."""
    model = run.model
    state = _train_state(run, runner, start, epochs)
    # overflow inside a step is reported once, as a DivergenceError, not as numpy warnings
    with (
        model_mode(model, True, "fit"),
        np.errstate(over="ignore", invalid="ignore", under="ignore"),
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
            params = model.named_params()  # a callback may have changed the network's store
            run.stopper.restore(params)
            if comm is not None:  # the restored best epoch too is the same on every rank
                comm.agree_epoch(params, False, "fit: at the end")
            if take_pending(hooks.callbacks):  # a Ctrl-C deferred after the last batch
                if comm is None or comm.size == 1:
                    raise KeyboardInterrupt
                # every rank raises it at fit's last agreement (fail_together), as at a step
                comm.defer(KeyboardInterrupt())
        finally:
            hooks.call("on_train_end", state)


def _on_every_rank(comm: Any, where: str) -> Any:
    """The checks of one process, or :meth:`Communicator.check_together`'s under ``comm``."""
    return nullcontext() if comm is None else comm.check_together(where)


@contextmanager
def _kept_if_refused(generator: np.random.Generator, state: Mapping[str, Any]) -> Iterator[None]:
    """``generator`` put back at ``state`` (its ``bit_generator.state``) if the block raises."""
    try:
        yield
    except Exception:
        generator.bit_generator.state = state
        raise


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
