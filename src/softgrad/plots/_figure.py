"""What every picture of :mod:`softgrad.plots` shares: the optional matplotlib import (with the
install hint when it is missing), a figure on the Agg canvas, class names as drawn, and the
quiet, atomic save."""

from __future__ import annotations

import contextlib
import math
import os
import warnings
from collections.abc import Iterator
from numbers import Real
from pathlib import Path
from typing import Any

from softgrad.atomic import atomic_write
from softgrad.errors import MissingDependencyError

INSTALL_HINT = "plots need matplotlib: pip install 'softgrad[plots]'"
# the largest picture drawn (width x height in pixels): 400 MB as the RGBA buffer Agg draws in
MAX_PIXELS = 100_000_000
# a longer class name is cut (with an ellipsis) so the axes keep room on the figure
MAX_NAME_CHARS = 20


def require_matplotlib() -> None:
    """Raise MissingDependencyError (with the install hint) unless matplotlib can be imported.

    The CLI calls this before training so that a missing extra is reported before any work.

    Examples
    --------
    >>> require_matplotlib()  # matplotlib is installed: nothing happens
    """
    new_figure((1.0, 1.0))


def _import_failure(exc: ImportError) -> str:
    """What to do when matplotlib did not import: install it where it is missing; where it is
    there but failed (built for NumPy 1.x under NumPy 2, a broken install), installing the
    extra again is satisfied and changes nothing, so the message says what failed."""
    import importlib.util

    if importlib.util.find_spec("matplotlib") is None:
        return INSTALL_HINT
    reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    return (
        f"plots need matplotlib, which is installed but failed to import ({reason}): install "
        "a matplotlib built for this NumPy (pip install -U matplotlib)"
    )


def new_figure(figsize: tuple[float, float]) -> Any:
    """A matplotlib Figure on its own Agg canvas (pyplot's backend is never touched)."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise MissingDependencyError(_import_failure(exc)) from exc
    fig = Figure(figsize=figsize)
    FigureCanvasAgg(fig)
    return fig


def display_name(name: Any) -> str:
    """``name`` as drawn: its text, cut to ``MAX_NAME_CHARS`` characters, every ``$`` literal.

    matplotlib reads the text between two ``$`` as math: a class named ``$x^2$`` would be drawn
    as a formula, and one named ``$\\frac{$`` would stop the drawing with a parse error.

    Example
    -------
    >>> display_name("$5 note"), display_name("x" * 40)
    ('\\\\$5 note', 'xxxxxxxxxxxxxxxxxxx…')
    """
    text = str(name)
    if len(text) > MAX_NAME_CHARS:
        text = text[: MAX_NAME_CHARS - 1] + "…"
    return text.replace("$", r"\$")


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Drawing that never prints: matplotlib warns on stderr about a character its font lacks
    (drawn as a box: a class named in Chinese with only DejaVu installed) and about a layout it
    could not tighten. Both are about looks; the picture is still written."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", r"Glyph \d+ .*missing from", UserWarning)
        warnings.filterwarnings("ignore", "Tight layout not applied", UserWarning)
        yield


# the formats matplotlib draws as vectors: their sizes are points, never cut to whole pixels
VECTOR_FORMATS = frozenset({"eps", "pdf", "pgf", "ps", "svg", "svgz"})


@contextlib.contextmanager
def _whole_pixels(fig: Any, dpi: float, fmt: str) -> Iterator[None]:
    """Within the block, ``fig``'s size nudged up by a millionth of a pixel where ``inches *
    dpi`` fell a floating-point tick short of a whole pixel, so that every matplotlib draws the
    pixels the size names; the size as it was afterwards. A vector format (``fmt``) is left
    alone: its size is not counted in pixels.

    matplotlib before 3.11 truncates the size in pixels (``int(inches * dpi)``), and 6 columns
    of 1.7 inches at 100 dpi are 1019.9999999999999 pixels: the grid of misclassified images
    came out 1019 pixels wide, not the 1020 documented (509 for 3 columns, not 510). matplotlib
    3.11 adds 1e-8 pixel before truncating; this gives the older ones the same count, and
    leaves alone a size that needs no nudge.
    """
    sizes = [float(size) for size in fig.get_size_inches()]
    wanted = sizes if fmt in VECTOR_FORMATS else [_nudged(size, dpi) for size in sizes]
    if wanted == sizes:
        yield
        return
    fig.set_size_inches(wanted)
    try:
        yield
    finally:
        fig.set_size_inches(sizes)


def _nudged(inches: float, dpi: float) -> float:
    """``inches``, or the size a millionth of a pixel above the whole pixel it fell short of."""
    whole = math.floor(inches * dpi + 1e-8)
    return inches if int(inches * dpi) == whole else (whole + 1e-6) / dpi


def save_atomic(
    fig: Any, path: str | os.PathLike, dpi: float, where: str, *, tight: bool = True
) -> Path:
    """Lay ``fig`` out (``tight``) and write it to ``path`` atomically
    (:func:`softgrad.atomic.atomic_write`), without a word on stdout or stderr.

    ``dpi`` must be positive and keep the picture within ``MAX_PIXELS``; the format (from the
    suffix, PNG without one) must be one matplotlib writes. Both are checked before drawing.
    """
    path = Path(path)
    fmt = path.suffix[1:].lower() or "png"
    formats = fig.canvas.get_supported_filetypes()
    if fmt not in formats:
        raise ValueError(
            f"{where}: path must end in one of {', '.join('.' + f for f in sorted(formats))}; "
            f"got {str(path)!r}"
        )
    width, height = fig.get_size_inches()
    if not (isinstance(dpi, Real) and not isinstance(dpi, bool) and 0 < dpi < math.inf):
        raise ValueError(f"{where}: dpi must be a positive number; got {dpi!r}")
    if width * height * dpi * dpi > MAX_PIXELS:
        raise ValueError(
            f"{where}: dpi must keep the {width:g} x {height:g} inch picture within "
            f"{MAX_PIXELS} pixels ({4 * MAX_PIXELS // 10**6} MB to draw); got {dpi!r}"
        )
    with _quiet(), _whole_pixels(fig, dpi, fmt):
        if tight:
            fig.tight_layout()
        with atomic_write(path, where) as fh:
            fig.savefig(fh, format=fmt, dpi=dpi)
    return path
