"""A grid of misclassified images, each titled with its true and (in red) predicted class."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from softgrad.plots._figure import display_name, new_figure, save_atomic

_GRID_MAX_COLS = 6


def misclassified_figsize(n_images: int) -> tuple[float, float]:
    """Figure size in inches of :func:`plot_misclassified` for ``n_images`` pictures.

    Parameters
    ----------
    n_images : int
        Pictures in the grid, laid out in rows of up to 6.

    Returns
    -------
    (width, height) : tuple of float
        1.7 inches a column and 2 a row, plus 0.6 for the title; (4.0, 1.5) for no picture.

    Examples
    --------
    >>> misclassified_figsize(20)  # 6 columns, 4 rows
    (10.2, 8.6)
    """
    if n_images == 0:
        return (4.0, 1.5)
    cols = min(n_images, _GRID_MAX_COLS)
    rows = math.ceil(n_images / cols)
    return (1.7 * cols, 2.0 * rows + 0.6)


def _grid_inputs(images, y_true, y_pred, n_classes, image_shape):
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
    for name, labels in (("y_true", y_true), ("y_pred", y_pred)):
        if labels.size and (
            labels.dtype.kind not in "iu" or labels.min() < 0 or labels.max() >= n_classes
        ):
            raise ValueError(
                f"plot_misclassified: {name} must be class indices in 0..{n_classes - 1}; got "
                f"{labels.dtype.name} {labels.min().item()!r}..{labels.max().item()!r}"
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
    y_true, y_pred : ndarray of int of shape (n,)
        Class indices into ``class_names``, in 0..C-1.
    class_names : sequence of length C
        Drawn as :func:`~softgrad.plots._figure.display_name` shows them (``$`` literal, cut to
        20 characters).
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

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from matplotlib.image import imread
    >>> images = np.arange(3 * 16, dtype=float).reshape(3, 16)  # three 4 x 4 images
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = plot_misclassified(images, [0, 1, 0], [1, 0, 1], ["even", "odd"], (4, 4),
    ...                               Path(folder) / "wrong.png", n_total=7)
    ...     print(path.name, imread(path).shape)  # 3 columns, 1 row, RGBA
    wrong.png (260, 510, 4)
    """
    names = [display_name(c) for c in class_names]
    images, y_true, y_pred, shape = _grid_inputs(images, y_true, y_pred, len(names), image_shape)
    n = images.shape[0]
    fig = new_figure(misclassified_figsize(n))
    if n == 0:
        fig.text(0.5, 0.5, "no misclassified samples", ha="center", va="center", fontsize=12)
        return save_atomic(fig, path, dpi, "plot_misclassified", tight=False)
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
    return save_atomic(fig, path, dpi, "plot_misclassified")
