"""``softgrad train --resume``: the settings of the run it continues, checked against its
checkpoint.

Which settings a resumed run honours or refuses, and why, are the tables beside the defaults
(``softgrad.cli.train_config.RESUME_HONOURED`` and ``RESUME_REFUSED``).
Here: a checkpoint's saved settings must be well formed (:func:`_check_saved`), a refused one
given another value is refused (:func:`_refuse_changes`), and a checkpoint from before the
settings record is checked against what its state proves (cli/legacy_checkpoint.py), with what
it cannot prove required or reported (:func:`resume_note`).
"""

from __future__ import annotations

import argparse
from typing import Any

from softgrad.cli.argtypes import (
    fraction,
    hidden_sizes,
    nonnegative_float,
    nonnegative_int,
    positive_float,
    positive_int,
)
from softgrad.cli.train_config import (
    ACTIVATIONS,
    DTYPES,
    OPTIMIZERS,
    RESUME_REFUSED,
    SCHEDULES,
    option_flag,
)

# what a checkpoint's setting must be (the refused ones, and patience, taken when left out): an
# argparse type of the command line, or choices
_SAVED_CHECKS: dict[str, Any] = {
    "hidden": hidden_sizes,
    "activation": ACTIVATIONS,
    "dropout": fraction,
    "dtype": DTYPES,
    "optimizer": OPTIMIZERS,
    "lr": positive_float,
    "lr_schedule": SCHEDULES,
    "momentum": fraction,
    "weight_decay": nonnegative_float,
    "label_smoothing": fraction,
    "batch_size": positive_int,
    "val_fraction": fraction,
    "seed": nonnegative_int,
    "patience": positive_int,  # or None (no early stopping): honoured, its left-out value
}


def _check_saved(path: str, saved: dict[str, Any]) -> None:
    """ModelFileError naming the first refused setting of the checkpoint that is malformed."""
    from softgrad.errors import ModelFileError

    for key, check in _SAVED_CHECKS.items():
        if key not in saved or (key == "patience" and saved[key] is None):
            continue
        value = saved[key]
        if isinstance(check, tuple):
            problem = None if value in check else f"must be one of {', '.join(check)}"
        else:
            text = (
                ",".join(map(str, value)) if key == "hidden" and isinstance(value, list) else value
            )
            try:
                problem = None if check(str(text)) == value else "must keep its type"
            except argparse.ArgumentTypeError as exc:
                problem = str(exc).split(";")[0]
        if problem is not None:
            raise ModelFileError(
                f"train: --resume {path!r}: setting {key!r} {problem}; got {value!r} (the "
                "checkpoint is damaged: start a new run, or resume an intact checkpoint)"
            )


def _shown(value: Any) -> str:
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _refuse_changes(args: argparse.Namespace, saved: dict[str, Any]) -> None:
    """ValueError naming the first refused setting given a value other than the checkpoint's."""
    for key, why in RESUME_REFUSED.items():
        given = getattr(args, key)
        if given is None or key not in saved or given == saved[key]:
            continue
        if key == "momentum" and saved.get("optimizer") != "sgd":
            continue  # adam and adamw have no momentum setting: nothing to keep or change
        raise ValueError(
            f"train: {option_flag(key)} must be {_shown(saved[key])} to resume {args.resume!r}, "
            f"the checkpoint's value ({why}); got {_shown(given)} (leave {option_flag(key)} out to "
            "continue that run, or start a new one)"
        )


# the settings an old checkpoint cannot prove that change how its run goes on: never guessed
_MUST_BE_GIVEN = ("activation", "batch_size", "label_smoothing", "dropout")


def _require_unproven(args: argparse.Namespace, settings: dict[str, Any], unverified: list) -> None:
    """Refuse to guess what an old checkpoint's state cannot prove and the run depends on."""
    where = f"train: --resume {args.resume!r} predates the settings record"
    missing = [key for key in _MUST_BE_GIVEN if key in unverified and getattr(args, key) is None]
    if missing:
        # "dropout" is unverified where its network holds dropout layers: its p was above 0,
        # whatever this data set's default (--dropout 0, suggested, was refused next)
        has_dropout = "dropout" in missing and not settings["dropout"]
        defaults = [key for key in missing if not (has_dropout and key == "dropout")]
        examples = []
        if defaults:
            shown = " ".join(f"{option_flag(key)} {_shown(settings[key])}" for key in defaults)
            examples.append(f"{shown}, this data set's defaults")
        if has_dropout:
            examples.append("--dropout P with P above 0, as its network holds dropout layers")
        raise ValueError(
            f"{where}, and its state cannot tell {', '.join(map(option_flag, missing))}: pass the "
            f"original run's values (e.g. {'; and '.join(examples)}); its layers, dtype, "
            "optimizer, learning rate and schedule are checked against its state"
        )
    for key, held in (("dropout", "dropout layers"), ("val_fraction", "a validation split")):
        if key in unverified and not settings[key]:
            raise ValueError(
                f"{where}, and its network holds {held}: {option_flag(key)} must be above 0; got "
                f"{_shown(settings[key])} (pass the original run's {option_flag(key)})"
            )


def unchecked_data_note(args: argparse.Namespace) -> str:
    """The note for a checkpoint of an earlier softgrad, which recorded no checksum of its data:
    data of its shape from another source (a CSV's 64 features and 1,437 rows, resumed on the
    digits) went on silently, its class names another run's."""
    return (
        f"--resume {args.resume!r} was written by an earlier softgrad, which recorded no "
        "checksum of its data: that --data is the data its run was trained on is checked by "
        "its shape alone"
    )


def resume_note(args: argparse.Namespace, settings: dict[str, Any]) -> str | None:
    """The one line naming the settings a resumed run could not check, or None."""
    unverified = settings.get("unverified")
    if args.resume is None or not unverified:
        return None
    used = ", ".join(f"{option_flag(key)} {_shown(settings[key])}" for key in unverified)
    return (
        f"--resume {args.resume!r} continues a run whose checkpoint predates the settings "
        "record: its layers, dtype, optimizer, learning rate and schedule were checked against "
        f"its state; these could not be and are used as given: {used} (recorded in the "
        "model's settings as 'unverified')"
    )


def check_unchanged(args: argparse.Namespace, checkpoint: Any) -> None:
    """Refuse a ``--resume`` checkpoint whose epochs or settings differ from those its header
    gave :func:`match_checkpoint` at the run's start: another run rewrote the file between
    the two readings (while the data loaded). The model then recorded one run's settings
    beside another run's weights."""
    epoch, settings = args.resume_checked
    if (checkpoint.epoch, checkpoint.settings) != (epoch, settings):
        raise ValueError(
            f"train: --resume {str(args.resume)!r} changed while the run started (epoch "
            f"{epoch} when its settings were checked, {checkpoint.epoch} when it was read): "
            "another run is writing it; resume once that run has ended"
        )


def match_checkpoint(args: argparse.Namespace, settings: dict[str, Any]) -> dict[str, Any]:
    """``settings`` as the run ``--resume`` continues: its refused settings, and its epochs.

    A setting of RESUME_REFUSED given a value other than the checkpoint's is refused; left out,
    it takes the checkpoint's value. A checkpoint written before settings were recorded (or by
    ``fit`` without ``checkpoint_settings``) is checked against the settings its state proves
    (cli/legacy_checkpoint.py); the others are used as given and listed in
    ``settings["unverified"]`` (see :func:`resume_note`). Settings of RESUME_HONOURED are used
    as given.

    A cosine schedule spans exactly the epochs its run was started with (``t_max``, restored
    from the checkpoint): going on past them would climb the learning rate back up (3 epochs
    resumed to 6 gave 0.003, 0.00225, 0.00075, 0, 0.00075, 0.00225). So with a cosine schedule
    ``--epochs`` left out means the checkpoint's epochs, and any other value is refused. So
    with the step schedule, which decays every third of the run's epochs (its step size,
    restored too: a 3-epoch run resumed to 6 decayed every epoch, while its model recorded
    "6 epochs, step"). The other schedules do not depend on the total and may be continued
    for more epochs.
    """
    if args.resume is None:
        return settings
    from softgrad.cli import legacy_checkpoint
    from softgrad.training.checkpoint import load_checkpoint, read_checkpoint_header

    # its header alone: fit reads the whole file (weights, optimizer state) once, to resume
    ckpt = read_checkpoint_header(args.resume)
    args.resume_checked = (ckpt.epoch, ckpt.settings)  # what the whole file must still hold
    if ckpt.settings is None:  # written before checkpoints recorded them: what its state proves
        saved, unverified = legacy_checkpoint.settings_from_state(
            load_checkpoint(args.resume), args.resume
        )
        _require_unproven(args, settings, unverified)
    else:
        saved = ckpt.settings
        unverified = saved.get("unverified", [])  # a run resumed from such a checkpoint
    _check_saved(args.resume, saved)
    _refuse_changes(args, saved)
    settings = {**settings, **{k: saved[k] for k in RESUME_REFUSED if k in saved}}
    if unverified:
        settings["unverified"] = [key for key in RESUME_REFUSED if key in unverified]
    if args.epochs is None and isinstance(saved.get("epochs"), int):
        settings["epochs"] = saved["epochs"]  # left out: finish the run, not the default's total
    if args.patience is None and "patience" in saved:
        # left out: the run's early stopping goes on (its best weights are in the checkpoint);
        # None here turned it off, and the resumed run kept its last weights, not its best
        settings["patience"] = saved["patience"]
    if settings["epochs"] < ckpt.epoch:
        # fit would train nothing, and the metadata would record fewer epochs than were run
        raise ValueError(
            f"train: --epochs must be at least {ckpt.epoch} to resume {args.resume!r}, the epochs "
            f"its run has trained; got {settings['epochs']} (the total, not the epochs to add: "
            f"pass {ckpt.epoch + 1} or more to go on)"
        )
    schedule = ckpt.schedule or {}
    if schedule.get("type") == "CosineLR":
        started, spans = int(schedule["t_max"]), "its cosine learning-rate schedule spans exactly"
    elif schedule.get("type") == "StepLR" and isinstance(saved.get("epochs"), int):
        started, spans = saved["epochs"], "its step schedule decays at each third of"
    else:
        return settings
    if args.epochs is not None and args.epochs != started:
        raise ValueError(
            f"train: --epochs must be {started} to resume {args.resume!r}, the epochs its run was "
            f"started with ({spans} those); got {args.epochs} (leave --epochs out to finish that "
            "run, or start a new one)"
        )
    return {**settings, "epochs": started}
