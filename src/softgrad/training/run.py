"""The state of one fit run, and how it goes into and comes back from a checkpoint."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from softgrad.training.checkpoint import Checkpoint, layer_generators
from softgrad.training.early_stopping import EarlyStopping
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
    shuffle: bool
    data_info: dict[str, Any]


def snapshot(run: Run, epoch: int) -> Checkpoint:
    """The run's state after epoch ``epoch``, ready for ``save_checkpoint``."""
    return Checkpoint(
        epoch=epoch,
        params=run.model.named_params(),
        optimizer=run.optimizer.state_dict(),
        schedule=None if run.lr_schedule is None else run.lr_schedule.state_dict(),
        rng=run.generator.bit_generator.state,
        layer_rngs={k: g.bit_generator.state for k, g in layer_generators(run.model).items()},
        history=run.history,
        stopper=run.stopper.state_dict(),
        val_idx=run.val_idx,
        data=run.data_info,
    )


def resume(run: Run, ckpt: Checkpoint, X, target, weight) -> int:
    """Load ``ckpt`` into the run (weights copied into the live arrays); the epochs done."""
    if ckpt.data != run.data_info:
        raise ValueError(
            f"fit: resume must continue a run on the same data; the checkpoint was written for "
            f"{ckpt.data!r}; got {run.data_info!r}"
        )
    params = run.model.named_params()
    shapes = {name: value.shape for name, value in params.items()}
    saved = {name: value.shape for name, value in ckpt.params.items()}
    if shapes != saved:
        raise ValueError(
            f"fit: resume must continue the same model; the checkpoint has parameters {saved!r}; "
            f"got {shapes!r}"
        )
    for name, value in params.items():
        np.copyto(value, ckpt.params[name])
    run.optimizer.load_state_dict(ckpt.optimizer)
    if run.lr_schedule is not None and ckpt.schedule is not None:
        run.lr_schedule.load_state_dict(ckpt.schedule)
    run.generator.bit_generator.state = ckpt.rng
    for key, generator in layer_generators(run.model).items():
        if key in ckpt.layer_rngs:
            generator.bit_generator.state = ckpt.layer_rngs[key]
    run.stopper.load_state_dict(ckpt.stopper)
    run.history = ckpt.history
    if run.history.stop_reason == "callback":
        # a callback's stop (a time budget, an interrupt) is what resume is for: carry on
        run.history.stopped_early, run.history.stop_reason = False, None
    if ckpt.val_idx is not None:
        # the split of the original run, whatever generator this call was given
        val_idx = np.asarray(ckpt.val_idx, dtype=np.intp)
        keep = np.ones(len(X), dtype=bool)
        keep[val_idx] = False
        run.train_idx, run.val_idx = np.flatnonzero(keep), val_idx
        run.validation = (X[val_idx], target[val_idx], None if weight is None else weight[val_idx])
    return ckpt.epoch
