"""Learning curves: loss and accuracy per epoch, train beside validation."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from softgrad.plots._figure import new_figure, save_atomic

CURVES_FIGSIZE = (11.0, 4.2)


def _history_lists(history: Any) -> dict[str, list[float]]:
    """The per-epoch lists of a History object or of its ``to_dict()`` form."""
    keys = ("train_loss", "train_acc", "val_loss", "val_acc")
    if isinstance(history, Mapping):
        out = {k: list(history.get(k) or []) for k in keys}
        out["best_epoch"] = history.get("best_epoch")
    else:
        out = {k: list(getattr(history, k, None) or []) for k in keys}
        out["best_epoch"] = getattr(history, "best_epoch", None)
    if not out["train_loss"]:
        raise ValueError(
            f"plot_learning_curves: history must hold at least one epoch; "
            f"got train_loss={out['train_loss']!r}"
        )
    return out


def plot_learning_curves(history: Any, path: str | os.PathLike, *, dpi: int = 100) -> Path:
    """Draw train and validation loss (left) and accuracy (right) per epoch into ``path``.

    Parameters
    ----------
    history : softgrad.training.History or dict
        Lists ``train_loss``, ``train_acc``, ``val_loss``, ``val_acc`` (the validation lists may be
        empty) and optionally ``best_epoch`` (1-based), marked by a dashed vertical line.
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
    h = _history_lists(history)
    fig = new_figure(CURVES_FIGSIZE)
    ax_loss, ax_acc = fig.subplots(1, 2)
    for ax, metric, title in ((ax_loss, "loss", "Loss"), (ax_acc, "acc", "Accuracy")):
        for split, style in (("train", "-o"), ("val", "-s")):
            values = h[f"{split}_{metric}"]
            if values:
                epochs = np.arange(1, len(values) + 1)
                label = "train" if split == "train" else "validation"
                ax.plot(epochs, values, style, markersize=3, label=label)
        best = h["best_epoch"]
        if best:
            ax.axvline(
                best, color="gray", linestyle="--", linewidth=1, label=f"best (epoch {best})"
            )
        ax.set_title(title)
        ax.set_xlabel("epoch")
        ax.set_ylabel(title.lower())
        ax.grid(True, alpha=0.3)
        ax.legend()
    fig.tight_layout()
    return save_atomic(fig, path, dpi)
