"""The confusion matrix as a picture: a heat map with each cell's count written in it."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from softgrad.plots._figure import new_figure, save_atomic


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
    fig = new_figure(confusion_figsize(n))
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
    return save_atomic(fig, path, dpi)
