"""``--resume`` of a checkpoint written before checkpoints recorded the run's settings.

Such a checkpoint (softgrad before stop 17: the same format without its ``"settings"`` entry)
still holds the weights, the optimizer's and the schedule's state and the validation split.
Those state, beyond doubt, the layer widths, whether there was dropout, the dtype, the
optimizer with its learning rate, momentum and weight decay, the schedule, and whether a
validation share was held out: :func:`settings_from_state` reads them back, so a resumed run is
checked against them exactly as against a recorded setting. What the state cannot tell
(activation, the dropout and validation shares, label smoothing, batch size, seed) is taken as
given on the command line (or the data set's default), and named in a note and in the model's
metadata (``settings["unverified"]``), so nobody mistakes it for a checked value.
"""

from __future__ import annotations

from itertools import pairwise
from typing import Any

from softgrad.errors import ModelFileError

OPTIMIZERS = {"Adam": "adam", "AdamW": "adamw", "SGD": "sgd"}
SCHEDULES = {
    "CosineLR": "cosine",
    "StepLR": "step",
    "ReduceLROnPlateau": "plateau",
    "ConstantLR": "constant",
}
# what the state of an old checkpoint cannot tell: given on the command line (cli.train_resume
# requires those the run depends on), or the defaults for the seed; said so either way
UNVERIFIABLE = ("activation", "label_smoothing", "batch_size", "seed")


def settings_from_state(ckpt: Any, path: str) -> tuple[dict[str, Any], list[str]]:
    """The settings an old checkpoint's state proves, and the names of those it cannot.

    Raises
    ------
    ModelFileError
        The state is not what ``softgrad train`` writes (another optimizer or schedule, a
        network that is not ``Linear, activation, [Dropout], ..., Linear``).
    """
    where = f"train: --resume {path!r} (written before checkpoints recorded their settings)"
    linear = sorted(
        (int(key.split(".")[0]), value) for key, value in ckpt.params.items() if key.endswith(".W")
    )
    strides = {b - a for (a, _), (b, _) in pairwise(linear)}
    kind = ckpt.optimizer.get("type")
    optimizer = OPTIMIZERS.get(kind) if isinstance(kind, str) else None
    kind = (ckpt.schedule or {}).get("type")
    schedule = SCHEDULES.get(kind) if isinstance(kind, str) else None
    if not linear or linear[0][0] != 0 or len(strides) > 1 or strides - {2, 3}:
        problem = f"a network of Linear layers at {[index for index, _ in linear]}"
    elif optimizer is None or schedule is None:
        problem = f"optimizer {ckpt.optimizer.get('type')!r} with schedule {ckpt.schedule!r}"
    else:
        problem = None
    if problem is not None:
        raise ModelFileError(
            f"{where}: it must hold what softgrad train writes; got {problem} (resume it with "
            "softgrad.training.fit, or start a new run)"
        )
    settings: dict[str, Any] = {
        "hidden": [int(W.shape[1]) for _, W in linear[:-1]],
        "dtype": str(linear[0][1].dtype),
        "optimizer": optimizer,
        "lr": float(ckpt.schedule["base_lr"]),
        "lr_schedule": schedule,
        "weight_decay": float(ckpt.optimizer["weight_decay"]),
    }
    if optimizer == "sgd":
        settings["momentum"] = float(ckpt.optimizer["momentum"])
    unverified = list(UNVERIFIABLE)
    if strides == {3}:  # Linear, activation, Dropout: there was dropout, of a share unknown
        unverified.append("dropout")
    else:
        settings["dropout"] = 0.0
    if ckpt.val_idx is None:
        settings["val_fraction"] = 0.0
    else:  # the split itself is restored from the checkpoint; its share is not recorded
        unverified.append("val_fraction")
    return settings, unverified
