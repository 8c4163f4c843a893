"""fit's argument checks: each raises a ValueError or TypeError that names fit's own argument,
before any work (the data's scan, the validation split, the first epoch) is done.

The arrays' own rules (features, targets, weights) are :mod:`softgrad.training.data`'s; these
are the checks of the other arguments, and :func:`check_arguments` runs both.
"""

from __future__ import annotations

import json
import math
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
from softgrad.training import data


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
    data.loss_reduction(loss)
    _check_checkpoint_path(checkpoint)
    params = model.named_params()
    if not params:
        raise ValueError(f"fit: model must have parameters to train; got {model!r}")
    dtype = next(iter(params.values())).dtype
    X = data.check_features(X, dtype, check_finite=check_bool(check_finite, "fit", "check_finite"))
    width = data.input_width(model)
    if width is not None:  # else a matmul deep in the first step names neither fit nor X
        check_feature_count(X, width, "fit")
    ignore_index = getattr(loss, "ignore_index", None)  # a target the loss leaves out
    target = data.check_target(y, X.shape[0], data.n_classes(model), "y", ignore_index)
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


def check_resume(resume: Any) -> None:
    """``resume``: None, a checkpoint path or a loaded Checkpoint (anything else failed deep in
    reading the file, with a message naming neither fit nor what resume takes)."""
    from softgrad.training.checkpoint import Checkpoint

    if resume is None or isinstance(resume, (str, PathLike, Checkpoint)):
        return
    raise TypeError(
        "fit: resume must be a checkpoint file path (str or pathlib.Path) or a Checkpoint "
        f"from training.checkpoint.load_checkpoint; got {type(resume).__name__}"
    )


def check_settings(settings: Any) -> dict[str, Any] | None:
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


def check_parts(model: Any, loss: Any, optimizer: Any) -> None:
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
    _check_head(model, loss)


def _check_head(model: Any, loss: Any) -> None:
    """Refuse a network ending in a Softmax (over its classes) before a loss that wants logits
    or log-probabilities: it trained softmax(softmax(z)), a flatter distribution, without a
    word (the classic network input -> Linear -> Softmax, trained with CrossEntropyLoss), while
    predict_proba and evaluate, which take a final Softmax as the head, read the logits."""
    from softgrad.nn import CrossEntropyLoss, NLLLoss, Softmax
    from softgrad.training.predict import softmax_head

    if not isinstance(softmax_head(model), Softmax):  # LogSoftmax suits both losses
        return
    fixes = {
        CrossEntropyLoss: "takes logits and applies the softmax itself: remove the Softmax "
        "(predict_proba, evaluate and Model apply it to the logits)",
        NLLLoss: "takes log-probabilities: replace the Softmax with LogSoftmax",
    }
    for kind, fix in fixes.items():
        if isinstance(loss, kind):
            raise ValueError(
                f"fit: model must not end in Softmax (layer {len(model.layers) - 1}) for "
                f"{kind.__name__}, which {fix}"
            )


def check_schedule(lr_schedule: Any, optimizer: Any) -> None:
    """A schedule fit can step: TypeError without ``step`` (an AttributeError after the first
    epoch otherwise); ValueError for one that would silently set another optimizer's rate, or
    read the monitored loss as a score (mode "max")."""
    if lr_schedule is None:
        return
    if not callable(getattr(lr_schedule, "step", None)):
        # a function of the epoch, as the estimator's lr_schedule takes (which gives the rate
        # itself): LambdaLR wraps one that gives a factor of the optimizer's lr
        fix = (
            " (for a function of the epoch: optim.LambdaLR(optimizer, f), f(epoch) a factor "
            "of the optimizer's lr)"
            if callable(lr_schedule)
            else ""
        )
        raise TypeError(
            "fit: lr_schedule must be a schedule with step(metric), such as "
            f"optim.StepLR(optimizer, step_size=10); got {type(lr_schedule).__name__}{fix}"
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


def per_sample_readers(validation_data: Any, validation_fraction: Any, weight: Any) -> list[str]:
    """The arguments given that make the run read the loss sample by sample (the validation
    figures; each batch's weighted mean)."""
    given = {
        "validation_data": validation_data is not None,
        # a fraction of another type is refused by name when the split is drawn
        "validation_fraction": isinstance(validation_fraction, (int, float, np.number))
        and not isinstance(validation_fraction, (bool, np.bool_))
        and validation_fraction > 0,
        "sample_weight": weight is not None,
    }
    return [name for name, needed in given.items() if needed]


def check_per_sample_loss(model: Any, loss: Any, target: np.ndarray, needs: list[str]) -> None:
    """Refuse, before the first epoch, a loss that cannot give one loss per sample where the
    run reads them: ``needs`` names the arguments that do (``validation_data`` and
    ``validation_fraction``: the validation figures; ``sample_weight``: each batch's weighted
    mean). Each takes a copy of the loss with ``reduction = "none"``
    (:func:`~softgrad.training.data.per_sample_loss`), so a loss needs that attribute, and
    its forward must honour it.

    A loss without ``reduction`` is refused by name. A loss of the user's own (any class but
    softgrad's CrossEntropyLoss, NLLLoss and LogisticLoss) is probed: its "none" copy's
    forward on two rows of zero logits (the model's output width, the first targets) must
    return two losses. A forward that ignores ``reduction`` returns one number, and would
    have trained an epoch before the validation refused it. The probe is skipped where the
    model does not tell its output width, or the forward raises on the made-up logits (the
    losses are checked again wherever they are read)."""
    from softgrad.nn import CrossEntropyLoss, LogisticLoss, NLLLoss
    from softgrad.nn.loss import checked_per_sample

    if not needs:
        return
    needed_by = f" ({' and '.join(needs)} {'needs' if len(needs) == 1 else 'need'} them)"
    if getattr(loss, "reduction", None) is None:
        raise TypeError(
            f"fit: loss must have a 'reduction' attribute to give one loss per sample"
            f"{needed_by}; got {type(loss).__name__} without one (add reduction = 'mean', and "
            "have forward return one loss per sample when it is 'none')"
        )
    width = data.output_width(model)
    if type(loss) in (CrossEntropyLoss, NLLLoss, LogisticLoss) or width is None:
        return
    dtype = next((p.dtype for p in model.named_params().values()), np.dtype(np.float64))
    logits, rows = np.zeros((2, width), dtype=dtype), np.arange(2) % len(target)
    per_sample = data.per_sample_loss(loss, "fit")
    try:
        losses = per_sample.forward(logits, target[rows])
    except Exception:  # made-up logits: the training step will say what the loss wants
        return
    checked_per_sample(losses, (2,), per_sample, "fit", needed_by)


def check_penalty(l2_penalty: Any, params: Any) -> float:
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
