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


def data_path(spec: str) -> Path | None:
    """The file or folder ``--data`` reads, or None for a named data set or a missing path."""
    from softgrad.datasets import DATASET_NAMES

    if str(spec).strip().lower().replace("_", "-") in DATASET_NAMES:
        return None
    path = Path(spec)
    return path if path.exists() else None


def separate(
    outputs: dict[str, Path | None],
    inputs: dict[str, Path | None],
    may_share: Iterable[tuple[str, str]] = (),
) -> None:
    """Refuse an output that would replace another output or an input, or write into an input.

    Every command checks its files here, before it reads or writes anything. Paths are compared
    resolved, since outputs are written through symbolic links (and a hard link is the same
    file). An output in a sub-folder of an input folder is refused too: a folder of images reads
    every .png of its class sub-folders. The folder itself may hold outputs (``--data .``
    writing model.npz): loaders read only their own names there (the IDX files), which no
    output's suffix matches. ``may_share`` lists the (output, input) pairs that may name one
    file: a run may rewrite the checkpoint it resumed, never its data.
    """
    allowed = set(may_share)
    named = [(k, p) for k, p in outputs.items() if p is not None]
    for n, (option, path) in enumerate(named):
        for earlier, other in named[:n]:
            if _same_file(other, path):
                raise UsageError(_clash(earlier, other, option, path))
    for source, given in inputs.items():
        if given is None:
            continue
        folder = Path(os.path.realpath(given)) if given.is_dir() else None
        for option, path in named:
            if (option, source) in allowed:
                continue
            if _same_file(given, path):
                raise UsageError(_clash(option, path, source, given))
            if folder is not None and Path(os.path.realpath(path)).parent.parent == folder:
                raise UsageError(
                    f"{option} must be outside the sub-folders of the {source} folder "
                    f"{str(given)!r}, whose images it would replace or join; got {str(path)!r}"
                )


def _same_file(a: Path, b: Path) -> bool:
    if os.path.realpath(a) == os.path.realpath(b):
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:  # one of them does not exist yet
        return False


def _clash(option: str, path: Path, other: str, other_path: Path) -> str:
    if str(path) == str(other_path):
        both = f"both are {str(path)!r}"
    else:
        both = f"{str(path)!r} and {str(other_path)!r} are the same file"
    return f"{option} and {other} must name different files; {both}"
