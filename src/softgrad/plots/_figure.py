"""What every picture of :mod:`softgrad.plots` shares: the optional matplotlib import (with the
install hint when it is missing), a figure on the Agg canvas, and the atomic save."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from softgrad.atomic import atomic_write
from softgrad.errors import MissingDependencyError

INSTALL_HINT = "plots need matplotlib: pip install 'softgrad[plots]'"


def require_matplotlib() -> None:
    """Raise MissingDependencyError (with the install hint) unless matplotlib can be imported.

    The CLI calls this before training so that a missing extra is reported before any work.

    Examples
    --------
    >>> require_matplotlib()  # matplotlib is installed: nothing happens
    """
    new_figure((1.0, 1.0))


def new_figure(figsize: tuple[float, float]) -> Any:
    """A matplotlib Figure on its own Agg canvas (pyplot's backend is never touched)."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise MissingDependencyError(INSTALL_HINT) from exc
    fig = Figure(figsize=figsize)
    FigureCanvasAgg(fig)
    return fig


def save_atomic(fig: Any, path: str | os.PathLike, dpi: int) -> Path:
    """Write ``fig`` to ``path`` atomically (:func:`softgrad.atomic.atomic_write`)."""
    path = Path(path)
    fmt = path.suffix[1:].lower() or "png"
    with atomic_write(path) as fh:
        fig.savefig(fh, format=fmt, dpi=dpi)
    return path
