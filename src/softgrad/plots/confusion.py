"""The confusion matrix as a picture: a heat map with each cell's count written in it."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from softgrad.checks import check_path
from softgrad.checks.wording import counted, fixed
from softgrad.plots._figure import display_name, new_figure, save_atomic

# the figure grows with the classes up to this side (4000 x 4000 pixels at 100 dpi, 64 MB as
# RGBA): 0.75 inch a class made 1000 classes a 75250-pixel square, 22 GB to draw
MAX_SIDE_INCHES = 40.0
# each cell's count is written up to this many classes (900 numbers), and each class is named
# on the axes up to MAX_NAMED_CLASSES; beyond, the colour bar gives the counts and the axes
# their class indices (a million numbers took minutes to lay out and could not be read)
MAX_ANNOTATED_CLASSES = 30
MAX_NAMED_CLASSES = 100


def confusion_figsize(n_classes: int) -> tuple[float, float]:
    """Figure size in inches of :func:`plot_confusion_matrix` for ``n_classes`` classes:
    ``max(6, 0.75 * C + 2.5)`` a side, at most ``MAX_SIDE_INCHES`` (40).

    Parameters
    ----------
    n_classes : int
        C, the matrix's side.

    Returns
    -------
    (width, height) : tuple of float
        Equal: the figure is square.

    Examples
    --------
    >>> confusion_figsize(10), confusion_figsize(1000)
    ((10.0, 10.0), (40.0, 40.0))
    """
    side = min(MAX_SIDE_INCHES, max(6.0, 0.75 * n_classes + 2.5))
    return (side, side)


def plot_confusion_matrix(
    cm: np.ndarray, class_names: Sequence[Any], path: str | os.PathLike, *, dpi: int = 100
) -> Path:
    """Draw a confusion matrix with each cell's count written in it (up to 30 classes).

    Parameters
    ----------
    cm : ndarray of shape (C, C)
        Counts (or shares: any finite numbers >= 0); ``cm[i, j]`` is the number of samples of
        true class i predicted as class j.
    class_names : sequence of length C
        Labels of the rows and columns (rotated on the x axis so long names stay readable),
        drawn as :func:`~softgrad.plots._figure.display_name` shows them: ``$`` literal, cut
        to 20 characters. A character the installed fonts lack is drawn as a box, silently.
    path : str or PathLike
        Output file.
    dpi : int
        Resolution; see :func:`confusion_figsize` for the size in inches.

    Returns
    -------
    Path
        The file written.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from matplotlib.image import imread
    >>> cm = np.array([[5, 1], [2, 7]])
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = plot_confusion_matrix(cm, ["cat", "dog"], Path(folder) / "cm.png")
    ...     print(path.name, imread(path).shape)  # 6 x 6 inches at 100 dpi, RGBA
    cm.png (600, 600, 4)
    """
    check_path(path, "plot_confusion_matrix")
    cm = np.asarray(cm)
    if cm.ndim != 2 or cm.shape[0] != cm.shape[1] or cm.shape[0] == 0:
        raise ValueError(
            f"plot_confusion_matrix: cm must be a non-empty square matrix; got {cm.shape!r}"
        )
    if cm.dtype.kind not in "biuf" or not np.all(np.isfinite(cm)) or np.any(cm < 0):
        raise ValueError(
            "plot_confusion_matrix: cm must hold finite counts >= 0; got "
            + (f"dtype {cm.dtype.name}" if cm.dtype.kind not in "biuf" else _first_bad(cm))
        )
    n = cm.shape[0]
    if len(class_names) != n:
        raise ValueError(
            f"plot_confusion_matrix: class_names must have {n} entries; got {len(class_names)!r}"
        )
    names = [display_name(c) for c in class_names]
    fig = new_figure(confusion_figsize(n))
    ax = fig.subplots()
    image = ax.imshow(cm, cmap="Blues", interpolation="nearest")
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    threshold = cm.max() / 2.0 if cm.size else 0.0
    fontsize = 10 if n <= 12 else 7
    # counts as whole numbers (":g" drew 1,000,001 as 1e+06 and 1,234,567 as 1.23457e+06)
    counts = bool(np.all(cm == np.round(cm)))
    for i in range(n if n <= MAX_ANNOTATED_CLASSES else 0):
        for j in range(n):
            color = "white" if cm[i, j] > threshold else "black"
            text = f"{int(cm[i, j])}" if counts else f"{cm[i, j]:.4g}"
            ax.text(j, i, text, ha="center", va="center", color=color, fontsize=fontsize)
    if n <= MAX_NAMED_CLASSES:
        ticks = np.arange(n)
        ax.set_xticks(ticks, names, rotation=45, ha="right", rotation_mode="anchor")
        ax.set_yticks(ticks, names)
        index = ""
    else:
        index = " (index)"
    ax.set_xlabel(f"predicted class{index}")
    ax.set_ylabel(f"true class{index}")
    total = cm.sum()
    share = fixed(float(np.trace(cm) / total) if total else 0.0, 3)
    if counts:
        ax.set_title(f"Confusion matrix ({counted(int(total), 'sample')}, accuracy {share})")
    else:  # shares (rows normalised ...): no count of samples, and the diagonal's is no accuracy
        ax.set_title(f"Confusion matrix (the diagonal holds {share} of the total)")
    return save_atomic(fig, path, dpi, "plot_confusion_matrix")


def _first_bad(cm: np.ndarray) -> str:
    """``cm[i, j] = value`` of the first cell that is NaN, infinite or negative."""
    i, j = np.argwhere(~(np.isfinite(cm) & (cm >= 0)))[0]
    return f"cm[{i}, {j}] = {cm[i, j].item()!r}"
