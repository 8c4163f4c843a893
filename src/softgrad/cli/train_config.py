"""``softgrad train``'s settings: the defaults per data set, the objects they turn into, and which
of them ``--resume`` honours or refuses.

A bare ``softgrad train`` (the 8x8 digits) must finish in seconds with >= 0.97 test accuracy;
``softgrad train --data fashion-mnist`` must reach >= 0.885 within a few minutes on 2 cores. The
values below were found by running the CLI (see BENCHMARKS.md). Every option left out on the command
line takes its value from the table of the chosen data set; user files get the ``file`` row.
How ``--resume`` checks the settings against its checkpoint is :mod:`softgrad.cli.train_resume`.
"""

from __future__ import annotations

import argparse
from typing import Any

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
                f"train: {option_flag(key)} must be at most {largest:.6g}, the largest "
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
# per unit and row of a batch: the product, the activation's output, the gradient, a mask
ACTIVATION_COPIES = 4


def physical_memory() -> int | None:
    """This machine's memory in bytes, or None where the system does not say."""
    import os

    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def check_network_memory(
    settings: dict[str, Any], n_features: int, n_classes: int, n_rows: int | None = None
) -> None:
    """ValueError when the network alone could not fit in this machine's memory.

    ``--hidden 100000000`` asked NumPy for 47.7 GiB of initial weights: refused where
    allocation fails, but where the system overcommits memory the allocation succeeds and
    filling it wakes the out-of-memory killer, which may end other processes than this one.
    The activations count too: a batch's rows times every layer's units, a few arrays of them
    (at 2 features the weights of ``--hidden 100000000`` came to 14.9 GiB and passed, and
    the first batch's 12 GiB arrays ended the run with the out-of-memory killer's status 137).
    A batch holds at most ``n_rows``, the larger of the training and test sets (75 rows at
    ``--hidden 2000000`` train in 1.25 GB, where 1,024 rows would need 31 GiB).
    """
    from itertools import pairwise

    import numpy as np

    from softgrad.training.predict import INFERENCE_BATCH  # the rows evaluate runs at once

    sizes = [n_features, *settings["hidden"], n_classes]
    n_params = sum((a + 1) * b for a, b in pairwise(sizes))
    itemsize = np.dtype(settings["dtype"]).itemsize
    rows = max(settings.get("batch_size") or 0, INFERENCE_BATCH)
    if n_rows is not None:
        rows = max(1, min(rows, n_rows))
    activations = rows * sum(sizes[1:]) * ACTIVATION_COPIES * itemsize
    needed = n_params * COPIES_PER_PARAMETER * itemsize + activations
    available = physical_memory()
    if available is not None and needed > available:
        hidden = ",".join(map(str, settings["hidden"]))
        raise ValueError(
            f"train: --hidden {hidden} must fit in this machine's memory; got a network of "
            f"{n_params:,} parameters, which needs about {needed / 2**30:,.1f} GiB to train "
            f"(weights, gradients, optimizer state and the activations of {rows:,} rows) "
            f"against {available / 2**30:,.1f} GiB here (pass smaller layer widths)"
        )


# --lr-schedule plateau: the rate is halved after PLATEAU_PATIENCE + 1 epochs in a row without
# an improvement of the validation loss (the training loss without validation)
PLATEAU_PATIENCE = 2


def check_pairs(args: argparse.Namespace, settings: dict[str, Any]) -> None:
    """Refuse settings that cannot act together: ``--momentum`` with adam or adamw (it was
    ignored, and the model's metadata recorded it), and ``--lr-schedule plateau`` with a
    ``--patience`` that stops the run before the schedule can lower the rate (it trained as
    the constant schedule, without a word)."""
    if args.momentum is not None and settings["optimizer"] != "sgd":
        # the optimizer left out is the checkpoint's on a resume, else the data set's default
        whose = ""
        if args.optimizer is None:
            whose = "the checkpoint's " if args.resume is not None else "the default "
        raise ValueError(
            f"train: --momentum is SGD's, so --optimizer must be sgd; got {whose}--optimizer "
            f"{settings['optimizer']} (drop --momentum: {settings['optimizer']} keeps moment "
            "estimates of its own)"
        )
    waits = PLATEAU_PATIENCE + 1
    patience = settings["patience"]
    if settings["lr_schedule"] == "plateau" and patience is not None and patience <= waits:
        # on a resume the schedule is the checkpoint's, and so is a --patience left out
        whose = "the checkpoint's " if args.resume is not None and args.patience is None else ""
        fix = "" if args.resume is not None else ", or another --lr-schedule"
        raise ValueError(
            f"train: --lr-schedule plateau halves the learning rate after {waits} epochs "
            f"without improvement, so --patience must be above {waits}, or early stopping ends "
            f"the run first; got {whose}--patience {patience} (pass a larger --patience{fix})"
        )


def acting(settings: dict[str, Any]) -> dict[str, Any]:
    """``settings`` without those the run does not use, so the model's metadata records only
    what trained it: ``momentum`` is SGD's (an adam model recorded the default 0.9, and an
    adam checkpoint of an earlier softgrad still holds it).

    Example
    -------
    >>> sorted(acting({"optimizer": "adam", "momentum": 0.9, "lr": 0.001}))
    ['lr', 'optimizer']
    """
    if settings["optimizer"] == "sgd":
        return settings
    return {key: value for key, value in settings.items() if key != "momentum"}


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
        # x0.1 after each third: a step of ceil(epochs / 3) decays twice in any run of 5 epochs
        # or more (epochs // 3 decayed every epoch of 4 or 5, three times in 10)
        return optim.StepLR(optimizer, step_size=max(1, -(-epochs // 3)), gamma=0.1)
    if name == "plateau":
        return optim.ReduceLROnPlateau(optimizer, factor=0.5, patience=PLATEAU_PATIENCE)
    return optim.ConstantLR(optimizer)


# ``--resume`` continues a run from its checkpoint. Every setting is either honoured (the value
# given now is used from the resumed epoch on) or refused when it differs from the checkpoint's;
# a refused setting left out takes the checkpoint's value, so the model's metadata records the
# settings the run was actually trained with. Each entry says why.
RESUME_HONOURED: dict[str, str] = {
    "epochs": "the run goes on to the new total, at least the epochs done (left out: the "
    "checkpoint run's total; cosine and step schedules: see "
    "train_resume.match_checkpoint)",
    "patience": "early stopping is checked from the resumed epoch on; nothing in the weights, "
    "optimizer or split depends on it (left out: the checkpoint's, so the run's early "
    "stopping goes on)",
}
RESUME_REFUSED: dict[str, str] = {
    "hidden": "the checkpoint's weights have its layer widths",
    "activation": "the checkpoint's weights were trained through its activation",
    "dropout": "part of the network the checkpoint's weights were trained in",
    "dtype": "the checkpoint's weights and optimizer state are in its dtype",
    "optimizer": "the checkpoint holds that optimizer's state",
    "lr": "the checkpoint's optimizer and schedule restore its learning rate",
    "lr_schedule": "the checkpoint holds that schedule's state",
    "momentum": "the checkpoint's SGD state restores its momentum (adam/adamw refuse it: "
    "check_pairs)",
    "weight_decay": "the checkpoint's optimizer state restores its weight decay",
    "label_smoothing": "the loss the checkpoint's weights were trained on",
    "batch_size": "a resumed run equals an uninterrupted one only with the same batches",
    "val_fraction": "the checkpoint holds its validation split",
    "seed": "the initial weights, split and shuffling came from it; the checkpoint holds them",
}


def option_flag(key: str) -> str:
    """A setting's command-line option: ``lr_schedule`` -> ``--lr-schedule``."""
    return "--" + key.replace("_", "-")
