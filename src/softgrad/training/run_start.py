"""The Run that fit starts from: its generator, its training and validation split (or the
validation set given), and, to resume, a checkpoint's state.

The epochs themselves run in :mod:`softgrad.training.epoch`; the checks of fit's other
arguments are :mod:`softgrad.training.fit_arguments`'.
"""

from __future__ import annotations

from os import PathLike
from typing import Any

import numpy as np

from softgrad.datasets.split import (
    fraction_fix,
    held_out_size,
    stratified_split,
    validation_problem,
)
from softgrad.nn.layer import as_generator
from softgrad.training import data
from softgrad.training.checkpoint import Checkpoint, load_checkpoint
from softgrad.training.early_stopping import EarlyStopping
from softgrad.training.epoch import Run
from softgrad.training.history import History
from softgrad.training.run_checkpoint import resume_run


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
    resuming: bool = False,
) -> Run:
    """A fresh Run: the generator from ``rng``, the training indices and the validation set.
    ``resuming``: a checkpoint's split replaces this one, so the split's share is not judged
    (a checkpoint written before fit judged it resumes with the arguments that wrote it)."""
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
        ignore_index = getattr(loss, "ignore_index", None)
        train_idx, val_idx = _split_validation(
            target, float(validation_fraction), generator, ignore_index, judge=not resuming
        )
        _check_split_weights(weight, train_idx, val_idx, validation_fraction)
        validation = (
            data.dense_rows(X, val_idx),
            target[val_idx],
            None if weight is None else weight[val_idx],
        )
    else:
        train_idx = np.arange(X.shape[0])
        if validation_data is not None:
            ignore_index = getattr(loss, "ignore_index", None)  # y_val may hold it as y may
            validation = data.check_validation(
                validation_data, X, data.n_classes(model), ignore_index
            )
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
    target: np.ndarray,
    fraction: float,
    generator: np.random.Generator,
    ignore_index: Any = None,
    judge: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """stratified_split, behind checks whose messages name fit's own argument; the targets
    the loss ignores (``ignore_index``, maybe outside the classes: -100) are one stratum.
    ``judge``: refuse a share that leaves a class unvalidated or held out whole."""
    if not 0.0 < fraction < 1.0:
        raise ValueError(
            f"fit: validation_fraction must be a float in [0, 1) (0: no validation split); "
            f"got {fraction!r}"
        )
    if held_out_size(fraction, len(target)) >= len(target):
        raise ValueError(
            f"fit: validation_fraction must leave at least one training sample; got "
            f"{fraction!r} of {len(target)} samples"
        )
    ignored = ignore_index
    if ignore_index is not None and ignore_index < 0:
        # stratified_split takes labels >= 0: the ignored ones become a label of their own
        ignored = max(int(target.max()), 0) + 1
        target = np.where(target == ignore_index, ignored, target)
    # as softgrad train's --val-fraction: validation figures blind to a class (early stopping
    # watched the others), or a class held out whole (never learnt), without a word
    why = validation_problem(target, fraction, "samples", ignored) if judge else None
    if why is not None:
        raise ValueError(
            "fit: validation_fraction must give every class of 2 or more samples a validation "
            f"sample and keep one of each; got {why}: "
            f"{fraction_fix(target, 'validation_fraction', ignored)}"
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


def resume_from_checkpoint(
    run: Run,
    resume: str | PathLike | Checkpoint,
    epochs: int,
    X: np.ndarray,
    target: np.ndarray,
    weight: np.ndarray | None,
) -> int:
    """Load the checkpoint ``resume`` (a path, or a Checkpoint already read) into ``run``; the
    number of epochs it has done."""
    # a file read here is this run's alone: its optimizer state is read to be the run's own
    ckpt = resume if isinstance(resume, Checkpoint) else load_checkpoint(resume, single_use=True)
    if epochs < ckpt.epoch:  # checked before the model takes the checkpoint's weights
        raise ValueError(
            f"fit: epochs must be at least the {ckpt.epoch} epochs the checkpoint has done "
            f"(epochs is the total); got {epochs}"
        )
    return resume_run(run, ckpt, X, target, weight)
