"""Learning curves: loss and accuracy per epoch, train beside validation."""

from __future__ import annotations

import os
from collections.abc import Mapping
from numbers import Integral
from pathlib import Path
from typing import Any

import numpy as np

from softgrad.checks import check_path
from softgrad.plots._figure import new_figure, save_atomic

CURVES_FIGSIZE = (11.0, 4.2)


def _history_lists(history: Any) -> dict[str, Any]:
    """The per-epoch values of a History object or of its ``to_dict()`` form, checked."""
    keys = ("train_loss", "train_acc", "val_loss", "val_acc")
    get = history.get if isinstance(history, Mapping) else lambda k: getattr(history, k, None)
    out: dict[str, Any] = {}
    for k in keys:
        raw = get(k)
        try:
            values = np.asarray([] if raw is None else raw, dtype=np.float64)
        except (TypeError, ValueError):
            values = None
        if values is None or values.ndim != 1:
            raise ValueError(
                f"plot_learning_curves: history[{k!r}] must be a list of numbers, one per "
                f"epoch; got {raw!r:.80}"
            )
        out[k] = values
    n_epochs = len(out["train_loss"])
    if not n_epochs:
        raise ValueError(
            f"plot_learning_curves: history must hold at least one epoch; "
            f"got train_loss={get('train_loss')!r}"
        )
    best = get("best_epoch")
    # tested apart, so that best stays as given for the comparison below (numbers.Integral's
    # stubs refuse an int on the left of <=, which any Integral takes)
    whole = isinstance(best, Integral) and not isinstance(best, bool)
    if best is not None and not whole:
        raise ValueError(f"plot_learning_curves: best_epoch must be None or an int; got {best!r}")
    # an epoch the history does not hold (a history cut short) is not marked
    out["best_epoch"] = best if best is not None and 1 <= best <= n_epochs else None
    return out


def plot_learning_curves(history: Any, path: str | os.PathLike, *, dpi: int = 100) -> Path:
    """Draw train and validation loss (left) and accuracy (right) per epoch into ``path``.

    Parameters
    ----------
    history : softgrad.training.History or dict
        Lists ``train_loss``, ``train_acc``, ``val_loss``, ``val_acc`` (the validation lists may be
        empty) and optionally ``best_epoch`` (1-based), marked by a dashed vertical line
        when the lists hold that epoch.
        A NaN or infinite value leaves a gap in its curve; a panel without values (no
        accuracy recorded) stays empty.
    path : str or PathLike
        Output file; the format follows the suffix (``.png`` by default).
    dpi : int
        Resolution; the picture is ``11 * dpi`` by ``4.2 * dpi`` pixels.

    Returns
    -------
    Path
        The file written.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from matplotlib.image import imread
    >>> history = {"train_loss": [0.9, 0.5, 0.4], "train_acc": [0.6, 0.8, 0.85],
    ...            "val_loss": [1.0, 0.6, 0.55], "val_acc": [0.55, 0.75, 0.8], "best_epoch": 3}
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = plot_learning_curves(history, Path(folder) / "curves.png")
    ...     print(path.name, imread(path).shape)  # (height, width, RGBA)
    curves.png (420, 1100, 4)
    """
    check_path(path, "plot_learning_curves")
    h = _history_lists(history)
    fig = new_figure(CURVES_FIGSIZE)  # matplotlib imported, or its install hint raised
    from matplotlib.ticker import MaxNLocator

    ax_loss, ax_acc = fig.subplots(1, 2)
    for ax, metric, title in ((ax_loss, "loss", "Loss"), (ax_acc, "acc", "Accuracy")):
        for split, style in (("train", "-o"), ("val", "-s")):
            values = h[f"{split}_{metric}"]
            if values.size:
                epochs = np.arange(1, len(values) + 1)
                label = "train" if split == "train" else "validation"
                ax.plot(epochs, values, style, markersize=3, label=label)
        best = h["best_epoch"]
        if best:
            ax.axvline(
                best, color="gray", linestyle="--", linewidth=1, label=f"best (epoch {best})"
            )
        ax.set_title(title)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))  # no epoch 1.25
        ax.set_xlabel("epoch")
        ax.set_ylabel(title.lower())
        ax.grid(True, alpha=0.3)
        if ax.get_legend_handles_labels()[0]:  # an empty legend() warns on stderr
            ax.legend()
    return save_atomic(fig, path, dpi, "plot_learning_curves")
