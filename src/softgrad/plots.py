"""Pictures of a training run: learning curves, a confusion matrix, misclassified images.

matplotlib is an optional dependency (``pip install 'softgrad[plots]'``); without it every function
here raises :class:`~softgrad.errors.MissingDependencyError` with that hint. Figures are drawn on
matplotlib's Agg canvas directly (``matplotlib.figure.Figure``), so calling these functions never
switches the pyplot backend of the caller's process. Every file is written atomically: the picture
goes to a temporary file in the destination folder, then replaces ``path`` in one rename, so a crash
never leaves half a PNG behind.

Pixel sizes (at the default ``dpi=100``):

* learning curves: 1100 x 420;
* confusion matrix of C classes: side ``100 * max(6, 0.75 * C + 2.5)`` (1000 x 1000 for C = 10);
* misclassified grid of n images in ``cols = min(n, 6)`` columns and ``rows = ceil(n / cols)``:
  ``100 * 1.7 * cols`` wide by ``100 * (2.0 * rows + 0.6)`` tall (400 x 150 when n = 0).
"""

from __future__ import annotations

import math
import os
import secrets
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from softgrad.errors import MissingDependencyError

INSTALL_HINT = "plots need matplotlib: pip install 'softgrad[plots]'"

__all__ = [
    "INSTALL_HINT",
    "confusion_figsize",
    "misclassified_figsize",
    "plot_confusion_matrix",
    "plot_learning_curves",
    "plot_misclassified",
    "require_matplotlib",
]

CURVES_FIGSIZE = (11.0, 4.2)
_GRID_MAX_COLS = 6


def require_matplotlib() -> None:
    """Raise MissingDependencyError (with the install hint) unless matplotlib can be imported.

    The CLI calls this before training so that a missing extra is reported before any work.
    """
    _new_figure((1.0, 1.0))


def _new_figure(figsize: tuple[float, float]) -> Any:
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise MissingDependencyError(INSTALL_HINT) from exc
    fig = Figure(figsize=figsize)
    FigureCanvasAgg(fig)
    return fig


def _save_atomic(fig: Any, path: str | os.PathLike, dpi: int) -> Path:
    """Write ``fig`` to a temporary file beside ``path``, then rename it over ``path``."""
    path = Path(path)
    fmt = path.suffix[1:].lower() or "png"
    # open(..., "xb") rather than mkstemp: the file gets the umask's permissions, not 0600
    tmp = path.parent / f".{path.name}.{secrets.token_hex(6)}.tmp"
    try:
        with open(tmp, "xb") as fh:
            fig.savefig(fh, format=fmt, dpi=dpi)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


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
    """
    h = _history_lists(history)
    fig = _new_figure(CURVES_FIGSIZE)
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
    return _save_atomic(fig, path, dpi)


def confusion_figsize(n_classes: int) -> tuple[float, float]:
    """Figure size in inches of :func:`plot_confusion_matrix` for ``n_classes`` classes.

    Example
    -------
    >>> confusion_figsize(10)
    (10.0, 10.0)
    """
    side = max(6.0, 0.75 * n_classes + 2.5)
    return (side, side)


def plot_confusion_matrix(
    cm: np.ndarray, class_names: Sequence[Any], path: str | os.PathLike, *, dpi: int = 100
) -> Path:
    """Draw a confusion matrix with each cell's count written in it.

    Parameters
    ----------
    cm : ndarray of shape (C, C)
        Counts; ``cm[i, j]`` is the number of samples of true class i predicted as class j.
    class_names : sequence of length C
        Labels of the rows and columns (rotated on the x axis so long names stay readable).
    path : str or PathLike
        Output file.
    dpi : int
        Resolution; see :func:`confusion_figsize` for the size in inches.

    Returns
    -------
    Path
        The file written.
    """
    cm = np.asarray(cm)
    if cm.ndim != 2 or cm.shape[0] != cm.shape[1] or cm.shape[0] == 0:
        raise ValueError(
            f"plot_confusion_matrix: cm must be a non-empty square matrix; got {cm.shape!r}"
        )
    n = cm.shape[0]
    if len(class_names) != n:
        raise ValueError(
            f"plot_confusion_matrix: class_names must have {n} entries; got {len(class_names)!r}"
        )
    names = [str(c) for c in class_names]
    fig = _new_figure(confusion_figsize(n))
    ax = fig.subplots()
    image = ax.imshow(cm, cmap="Blues", interpolation="nearest")
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    threshold = cm.max() / 2.0 if cm.size else 0.0
    fontsize = 10 if n <= 12 else 7
    for i in range(n):
        for j in range(n):
            color = "white" if cm[i, j] > threshold else "black"
            ax.text(j, i, f"{cm[i, j]:g}", ha="center", va="center", color=color, fontsize=fontsize)
    ticks = np.arange(n)
    ax.set_xticks(ticks, names, rotation=45, ha="right", rotation_mode="anchor")
    ax.set_yticks(ticks, names)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    total = cm.sum()
    accuracy = float(np.trace(cm) / total) if total else 0.0
    ax.set_title(f"Confusion matrix ({int(total)} samples, accuracy {accuracy:.3f})")
    fig.tight_layout()
    return _save_atomic(fig, path, dpi)


def misclassified_figsize(n_images: int) -> tuple[float, float]:
    """Figure size in inches of :func:`plot_misclassified` for ``n_images`` pictures.

    Example
    -------
    >>> misclassified_figsize(20)  # 6 columns, 4 rows
    (10.2, 8.6)
    """
    if n_images == 0:
        return (4.0, 1.5)
    cols = min(n_images, _GRID_MAX_COLS)
    rows = math.ceil(n_images / cols)
    return (1.7 * cols, 2.0 * rows + 0.6)


def _grid_inputs(images, y_true, y_pred, image_shape):
    """Validated arrays for :func:`plot_misclassified` and the (height, width) of one image."""
    images = np.asarray(images)
    y_true = np.asarray(y_true)
    y_pred = np.asarray(y_pred)
    n = images.shape[0] if images.ndim else 0
    if images.ndim != 2 or len(y_true) != n or len(y_pred) != n:
        raise ValueError(
            "plot_misclassified: images must be (n, D) with n labels in y_true and y_pred; got "
            f"{images.shape!r}, {y_true.shape!r}, {y_pred.shape!r}"
        )
    shape = tuple(int(s) for s in image_shape)
    if len(shape) != 2 or shape[0] * shape[1] != images.shape[1]:
        raise ValueError(
            f"plot_misclassified: image_shape must be (height, width) with "
            f"{images.shape[1]} pixels; got {image_shape!r}"
        )
    return images, y_true, y_pred, shape


def plot_misclassified(
    images: np.ndarray,
    y_true: np.ndarray,
    y_pred: np.ndarray,
    class_names: Sequence[Any],
    image_shape: tuple[int, ...],
    path: str | os.PathLike,
    *,
    n_total: int | None = None,
    dpi: int = 100,
) -> Path:
    """Draw a grid of images, each titled with its true and (in red) predicted class.

    Parameters
    ----------
    images : ndarray of shape (n, D)
        The images to show (typically the first misclassified test images), raw or scaled: each
        is drawn with its own grey range. ``n`` may be 0 (the picture then says so).
    y_true, y_pred : ndarray of shape (n,)
        Class indices into ``class_names``.
    class_names : sequence of length C
    image_shape : tuple (height, width)
        ``height * width`` must equal D.
    path : str or PathLike
        Output file.
    n_total : int, optional
        How many samples were misclassified in all, when ``images`` shows only the first few
        (the title then says "first n of n_total").
    dpi : int
        Resolution; see :func:`misclassified_figsize` for the size in inches.

    Returns
    -------
    Path
        The file written.
    """
    images, y_true, y_pred, shape = _grid_inputs(images, y_true, y_pred, image_shape)
    n = images.shape[0]
    names = [str(c) for c in class_names]
    fig = _new_figure(misclassified_figsize(n))
    if n == 0:
        fig.text(0.5, 0.5, "no misclassified samples", ha="center", va="center", fontsize=12)
        return _save_atomic(fig, path, dpi)
    cols = min(n, _GRID_MAX_COLS)
    rows = math.ceil(n / cols)
    axes = np.atleast_1d(fig.subplots(rows, cols, squeeze=False)).ravel()
    for k, ax in enumerate(axes):
        ax.set_axis_off()
        if k >= n:
            continue
        ax.imshow(images[k].reshape(shape), cmap="gray_r", interpolation="nearest")
        ax.set_title(f"true: {names[int(y_true[k])]}", fontsize=9, pad=14)
        ax.text(
            0.5,
            1.02,
            f"pred: {names[int(y_pred[k])]}",
            transform=ax.transAxes,
            ha="center",
            va="bottom",
            color="crimson",
            fontsize=9,
        )
    shown = f"first {n} of {n_total}" if n_total and n_total > n else f"{n}"
    fig.suptitle(f"Misclassified samples ({shown})", fontsize=11)
    fig.tight_layout()
    return _save_atomic(fig, path, dpi)
