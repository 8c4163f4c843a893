"""``softgrad train``'s defaults per data set and the objects they turn into.

A bare ``softgrad train`` (the 8x8 digits) must finish in seconds with >= 0.97 test accuracy;
``softgrad train --data fashion-mnist`` must reach >= 0.885 within a few minutes on 2 cores. The
values below were found by running the CLI (see BENCHMARKS.md). Every option left out on the command
line takes its value from the table of the chosen data set; user files get the ``file`` row.
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

# what every data set shares; the rows below only say where they differ
_COMMON: dict[str, Any] = {
    "activation": "relu",
    "optimizer": "adam",
    "lr_schedule": "cosine",
    "val_fraction": 0.1,
    "patience": None,
    "dropout": 0.0,
    "weight_decay": 0.0,
    "label_smoothing": 0.0,
    "momentum": 0.9,
    "seed": 0,
    "dtype": "float32",
}

DEFAULTS: dict[str, dict[str, Any]] = {
    "digits": {**_COMMON, "hidden": [100], "epochs": 30, "batch_size": 32, "lr": 3e-3},
    "fashion-mnist": {**_COMMON, "hidden": [256], "epochs": 15, "batch_size": 128, "lr": 1e-3},
    "file": {**_COMMON, "hidden": [100], "epochs": 20, "batch_size": 64, "lr": 1e-3},
}
DEFAULTS["mnist"] = dict(DEFAULTS["fashion-mnist"])

ACTIVATIONS = ("relu", "tanh", "sigmoid", "identity")
OPTIMIZERS = ("adam", "adamw", "sgd")
SCHEDULES = ("constant", "step", "cosine", "plateau")
DTYPES = ("float32", "float64")


def defaults_for(data: str) -> dict[str, Any]:
    """The default row for ``--data data`` (``file`` for anything that is not a named set)."""
    return DEFAULTS.get(str(data).strip().lower().replace("_", "-"), DEFAULTS["file"])


def describe_defaults() -> str:
    """The default table in one sentence, for ``softgrad train --help``.

    Example
    -------
    >>> describe_defaults().split("; ")[0]
    'digits: hidden 100, 30 epochs, batch 32, adam lr 0.003 (cosine), val 0.1'
    """
    parts = []
    for name in ("digits", "fashion-mnist", "file"):
        d = DEFAULTS[name]
        label = {"file": "files", "fashion-mnist": "fashion-mnist/mnist"}.get(name, name)
        hidden = ",".join(str(h) for h in d["hidden"])
        parts.append(
            f"{label}: hidden {hidden}, {d['epochs']} epochs, batch {d['batch_size']}, "
            f"{d['optimizer']} lr {d['lr']:g} ({d['lr_schedule']}), val {d['val_fraction']:g}"
        )
    return "; ".join(parts)


def resolve(args: argparse.Namespace) -> dict[str, Any]:
    """Every hyperparameter: the command line's value, else the data set's default."""
    settings = {}
    for key, default in defaults_for(args.data).items():
        value = getattr(args, key)
        settings[key] = default if value is None else value
    return settings


def check_dtype_range(settings: dict[str, Any]) -> None:
    """ValueError if ``--lr`` or ``--weight-decay``, or a scalar the optimizer's update derives
    from them (AdamW's ``lr * weight_decay``), is beyond the largest value of ``--dtype``.

    The optimizer keeps them in the model's dtype: 1e308 would become inf in float32 (and the
    message would speak of inf, a value nobody typed).
    """
    import numpy as np

    largest = float(np.finfo(settings["dtype"]).max)
    fix = ", or --dtype float64 for values up to 1.8e308" if settings["dtype"] == "float32" else ""
    for key in ("lr", "weight_decay"):
        if settings[key] > largest:
            raise ValueError(
                f"train: {_option(key)} must be at most {largest:.6g}, the largest "
                f"{settings['dtype']} value (the model's dtype, --dtype); got "
                f"{settings[key]:g} (pass a smaller value{fix})"
            )
    if np.dtype(settings["dtype"]).type(settings["lr"]) == 0:  # 1e-320 is 0 in float32
        smallest = float(np.finfo(settings["dtype"]).smallest_subnormal)
        raise ValueError(
            f"train: --lr must be at least {smallest:g}, the smallest positive "
            f"{settings['dtype']} value; got {settings['lr']:g}, which "
            "is 0 there and would not train (pass a larger value)"
        )
    make_optimizer(settings).check_dtype(
        settings["dtype"], f"train: --optimizer {settings['optimizer']}", f" (lower --lr{fix})"
    )


# what training holds per parameter, in units of the dtype: weights, gradients, Adam's two
# moments and the update's temporaries (SGD holds less; a bound, not a measurement)
COPIES_PER_PARAMETER = 5


def physical_memory() -> int | None:
    """This machine's memory in bytes, or None where the system does not say."""
    import os

    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def check_network_memory(settings: dict[str, Any], n_features: int, n_classes: int) -> None:
    """ValueError when the network alone could not fit in this machine's memory.

    ``--hidden 100000000`` asked NumPy for 47.7 GiB of initial weights: refused where
    allocation fails, but where the system overcommits memory the allocation succeeds and
    filling it wakes the out-of-memory killer, which may end other processes than this one.
    """
    from itertools import pairwise

    import numpy as np

    sizes = [n_features, *settings["hidden"], n_classes]
    n_params = sum((a + 1) * b for a, b in pairwise(sizes))
    needed = n_params * COPIES_PER_PARAMETER * np.dtype(settings["dtype"]).itemsize
    available = physical_memory()
    if available is not None and needed > available:
        hidden = ",".join(map(str, settings["hidden"]))
        raise ValueError(
            f"train: --hidden {hidden} must fit in this machine's memory; got a network of "
            f"{n_params:,} parameters, which needs about {needed / 2**30:,.1f} GiB to train "
            f"(weights, gradients, optimizer state) against {available / 2**30:,.1f} GiB here "
            "(pass smaller layer widths)"
        )


def make_optimizer(settings: dict[str, Any]) -> Any:
    """The optimizer named by ``settings["optimizer"]`` with its lr and weight decay."""
    from softgrad import optim

    lr, wd = settings["lr"], settings["weight_decay"]
    if settings["optimizer"] == "sgd":
        return optim.SGD(
            lr=lr, momentum=settings["momentum"], nesterov=settings["momentum"] > 0, weight_decay=wd
        )
    if settings["optimizer"] == "adamw":
        return optim.AdamW(lr=lr, weight_decay=wd)
    return optim.Adam(lr=lr, weight_decay=wd)


def make_schedule(settings: dict[str, Any], optimizer: Any) -> Any:
    """The per-epoch learning-rate schedule named by ``settings["lr_schedule"]``."""
    from softgrad import optim

    name, epochs = settings["lr_schedule"], settings["epochs"]
    if name == "cosine":
        return optim.CosineLR(optimizer, t_max=epochs)
    if name == "step":
        return optim.StepLR(optimizer, step_size=max(1, epochs // 3), gamma=0.1)
    if name == "plateau":
        return optim.ReduceLROnPlateau(optimizer, factor=0.5, patience=2)
    return optim.ConstantLR(optimizer)


# ``--resume`` continues a run from its checkpoint. Every setting is either honoured (the value
# given now is used from the resumed epoch on) or refused when it differs from the checkpoint's;
# a refused setting left out takes the checkpoint's value, so the model's metadata records the
# settings the run was actually trained with. Each entry says why.
RESUME_HONOURED: dict[str, str] = {
    "epochs": "the run goes on to the new total, at least the epochs done (left out: the "
    "checkpoint run's total; cosine schedule: see match_checkpoint)",
    "patience": "early stopping is checked from the resumed epoch on; nothing in the weights, "
    "optimizer or split depends on it",
}
RESUME_REFUSED: dict[str, str] = {
    "hidden": "the checkpoint's weights have its layer widths",
    "activation": "the checkpoint's weights were trained through its activation",
    "dropout": "part of the network the checkpoint's weights were trained in",
    "dtype": "the checkpoint's weights and optimizer state are in its dtype",
    "optimizer": "the checkpoint holds that optimizer's state",
    "lr": "the checkpoint's optimizer and schedule restore its learning rate",
    "lr_schedule": "the checkpoint holds that schedule's state",
    "momentum": "the checkpoint's SGD state restores its momentum (ignored by adam/adamw)",
    "weight_decay": "the checkpoint's optimizer state restores its weight decay",
    "label_smoothing": "the loss the checkpoint's weights were trained on",
    "batch_size": "a resumed run equals an uninterrupted one only with the same batches",
    "val_fraction": "the checkpoint holds its validation split",
    "seed": "the initial weights, split and shuffling came from it; the checkpoint holds them",
}


# what a checkpoint's refused setting must be: an argparse type of the command line, or choices
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
}


def _check_saved(path: str, saved: dict[str, Any]) -> None:
    """ModelFileError naming the first refused setting of the checkpoint that is malformed."""
    from softgrad.errors import ModelFileError

    for key, check in _SAVED_CHECKS.items():
        if key not in saved:
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


def _option(key: str) -> str:
    return "--" + key.replace("_", "-")


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
            f"train: {_option(key)} must be {_shown(saved[key])} to resume {args.resume}, the "
            f"checkpoint's value ({why}); got {_shown(given)} (leave {_option(key)} out to "
            "continue that run, or start a new one)"
        )


# the settings an old checkpoint cannot prove that change how its run goes on: never guessed
_MUST_BE_GIVEN = ("activation", "batch_size", "label_smoothing", "dropout")


def _require_unproven(args: argparse.Namespace, settings: dict[str, Any], unverified: list) -> None:
    """Refuse to guess what an old checkpoint's state cannot prove and the run depends on."""
    where = f"train: --resume {args.resume} predates the settings record"
    missing = [key for key in _MUST_BE_GIVEN if key in unverified and getattr(args, key) is None]
    if missing:
        example = " ".join(f"{_option(key)} {_shown(settings[key])}" for key in missing)
        raise ValueError(
            f"{where}, and its state cannot tell {', '.join(map(_option, missing))}: pass the "
            f"original run's values (e.g. {example}, this data set's defaults); its layers, "
            "dtype, optimizer, learning rate and schedule are checked against its state"
        )
    for key, held in (("dropout", "dropout layers"), ("val_fraction", "a validation split")):
        if key in unverified and not settings[key]:
            raise ValueError(
                f"{where}, and its network holds {held}: {_option(key)} must be above 0; got "
                f"{_shown(settings[key])} (pass the original run's {_option(key)})"
            )


def resume_note(args: argparse.Namespace, settings: dict[str, Any]) -> str | None:
    """The one line naming the settings a resumed run could not check, or None."""
    unverified = settings.get("unverified")
    if args.resume is None or not unverified:
        return None
    used = ", ".join(f"{_option(key)} {_shown(settings[key])}" for key in unverified)
    return (
        f"--resume {args.resume!r} continues a run whose checkpoint predates the settings "
        "record: its layers, dtype, optimizer, learning rate and schedule were checked against "
        f"its state; these could not be and are used as given: {used} (recorded in the "
        "model's settings as 'unverified')"
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
    ``--epochs`` left out means the checkpoint's epochs, and any other value is refused. The
    other schedules do not depend on the total and may be continued for more epochs.
    """
    if args.resume is None:
        return settings
    from softgrad.cli import legacy_checkpoint
    from softgrad.training.checkpoint import load_checkpoint

    ckpt = load_checkpoint(args.resume)
    if ckpt.settings is None:  # written before checkpoints recorded them: what its state proves
        saved, unverified = legacy_checkpoint.settings_from_state(ckpt, args.resume)
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
    if settings["epochs"] < ckpt.epoch:
        # fit would train nothing, and the metadata would record fewer epochs than were run
        raise ValueError(
            f"train: --epochs must be at least {ckpt.epoch} to resume {args.resume}, the epochs "
            f"its run has trained; got {settings['epochs']} (the total, not the epochs to add: "
            f"pass {ckpt.epoch + 1} or more to go on)"
        )
    schedule = ckpt.schedule or {}
    if schedule.get("type") != "CosineLR":
        return settings
    started = int(schedule["t_max"])
    if args.epochs is not None and args.epochs != started:
        raise ValueError(
            f"train: --epochs must be {started} to resume {args.resume}, the epochs its run was "
            f"started with (its cosine learning-rate schedule spans exactly those); got "
            f"{args.epochs} (leave --epochs out to finish that run, or start a new one)"
        )
    return {**settings, "epochs": started}
