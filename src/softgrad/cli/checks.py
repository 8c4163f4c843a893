"""Checks of the command line's paths, run before any work starts, so a bad command line never
leaves a file behind. Checks of values (finite features, feature counts ...) are softgrad's own,
in :mod:`softgrad.checks`."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from softgrad.atomic import not_a_regular_file
from softgrad.cli.errors import UsageError

PLOT_SUFFIXES = (".png", ".pdf", ".svg", ".jpg", ".jpeg")


def output_path(path: str | None, option: str, suffixes: Iterable[str] = ()) -> Path | None:
    """Check that ``path`` can be written: its folder exists and is writable, it is not a folder.

    Raises UsageError naming ``option`` otherwise; returns the path (None stays None).
    """
    if path is None:
        return None
    p = Path(path)
    suffixes = tuple(suffixes)
    if suffixes and p.suffix.lower() not in suffixes:
        raise UsageError(f"{option} must end in one of {', '.join(suffixes)}; got {path!r}")
    if p.is_dir():
        raise UsageError(f"{option} must be a file name, not a folder; got {path!r}")
    what = not_a_regular_file(p)
    if what is not None:  # the rename that publishes the output would replace it
        raise UsageError(f"{option} must be a regular file; got {path!r}, which is {what}")
    folder = p.parent
    if not folder.is_dir():
        raise UsageError(f"{option}: folder {str(folder)!r} does not exist")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise UsageError(f"{option}: folder {str(folder)!r} is not writable")
    target = Path(os.path.realpath(p))  # a link is written through: beside the file it names
    if target.parent != folder.resolve() and not os.access(target.parent, os.W_OK | os.X_OK):
        raise UsageError(f"{option}: folder {str(target.parent)!r} of {path!r} is not writable")
    if p.exists() and not os.access(p, os.W_OK):
        raise UsageError(f"{option}: file {path!r} is not writable")
    return p


def input_file(path: str, option: str) -> Path:
    """Check that ``path`` is an existing, readable file."""
    p = Path(path)
    if not p.exists():
        raise UsageError(f"{option}: file {path!r} does not exist")
    if p.is_dir():
        raise UsageError(f"{option} must be a file, not a folder; got {path!r}")
    if not os.access(p, os.R_OK):
        raise UsageError(f"{option}: file {path!r} is not readable")
    return p


def distinct(paths: dict[str, Path | None]) -> None:
    """Refuse two options naming the same file (one would overwrite the other)."""
    seen: dict[Path, str] = {}
    for option, p in paths.items():
        if p is None:
            continue
        key = Path(os.path.abspath(p))
        if key in seen:
            raise UsageError(
                f"{seen[key]} and {option} must name different files; both are {str(p)!r}"
            )
        seen[key] = option
