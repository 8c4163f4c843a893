"""Everything :func:`fit` does before the first epoch: check its arguments once and build the
:class:`~softgrad.training.run.Run` (generator, validation split, fresh History) it trains."""

from __future__ import annotations

import math
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np

from softgrad.datasets.split import stratified_split
from softgrad.nn.layer import as_generator
from softgrad.training import data
from softgrad.training.early_stopping import EarlyStopping
from softgrad.training.history import History
from softgrad.training.run import Run


def check_arguments(
    model: Any,
    loss: Any,
    X: Any,
    y: Any,
    sample_weight: Any,
    epochs: Any,
    batch_size: Any,
    checkpoint: str | PathLike | None,
) -> tuple[int, int, np.ndarray, np.ndarray, np.ndarray | None]:
    """fit's sizes and arrays, checked: ``(epochs, batch_size, X, target, weight)``.

    ``X`` and ``weight`` come back in the dtype of the model's parameters, ``target`` as intp.
    """
    epochs = data.check_positive_int(epochs, "epochs")
    batch_size = data.check_positive_int(batch_size, "batch_size")
    if getattr(loss, "reduction", "mean") not in ("mean", "sum"):
        raise ValueError(f"fit: loss reduction must be 'mean' or 'sum'; got {loss.reduction!r}")
    if checkpoint is not None and not Path(checkpoint).parent.is_dir():
        # fail now, not after the first epoch's work
        raise ValueError(f"fit: checkpoint must be in an existing folder; got {str(checkpoint)!r}")
    params = model.named_params()
    if not params:
        raise ValueError(f"fit: model must have parameters to train; got {model!r}")
    dtype = next(iter(params.values())).dtype
    X = data.check_features(X, dtype)
    target = data.check_target(y, len(X), data.output_width(model))
    weight = data.check_weight(sample_weight, len(X), dtype)
    return epochs, batch_size, X, target, weight


def new_run(
    model: Any,
    loss: Any,
    optimizer: Any,
    lr_schedule: Any,
    X: np.ndarray,
    target: np.ndarray,
    weight: np.ndarray | None,
    rng: np.random.Generator | int | None,
    shuffle: bool,
    validation_data: tuple[Any, Any] | None,
    validation_fraction: float,
    stopper: EarlyStopping,
) -> Run:
    """A fresh Run: the generator from ``rng``, the training indices and the validation set."""
    generator = as_generator(rng, "fit")
    val_idx = validation = None
    if validation_data is not None and validation_fraction:
        raise ValueError(
            "fit: validation_data and validation_fraction must not both be given; got both"
        )
    if validation_fraction:
        train_idx, val_idx = _split_validation(target, float(validation_fraction), generator)
        validation = (X[val_idx], target[val_idx], None if weight is None else weight[val_idx])
    else:
        train_idx = np.arange(len(X))
        if validation_data is not None:
            validation = _check_validation(validation_data, X, model)
    info = {
        "n_samples": len(X),
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
        bool(shuffle),
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


def _check_validation(validation_data, X, model) -> tuple[np.ndarray, np.ndarray, None]:
    if not (isinstance(validation_data, (tuple, list)) and len(validation_data) == 2):
        raise ValueError(
            f"fit: validation_data must be a pair (X_val, y_val); got {type(validation_data)!r}"
        )
    X_val = data.check_features(validation_data[0], X.dtype, "X_val")
    if X_val.shape[1:] != X.shape[1:]:
        raise ValueError(
            f"fit: X_val must have shape (N, {X.shape[1]}) like X; got shape {X_val.shape}"
        )
    y_val = data.check_target(validation_data[1], len(X_val), data.output_width(model), "y_val")
    return X_val, y_val, None
