"""Checks of the command line's paths, run before any work starts, so a bad command line never
leaves a file behind. Checks of values (finite features, feature counts ...) are softgrad's own,
in :mod:`softgrad.checks`."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable
from pathlib import Path
from typing import overload

from softgrad.atomic import link_loops, not_a_regular_file, same_file
from softgrad.cli.errors import UsageError

PLOT_SUFFIXES = (".png", ".pdf", ".svg", ".jpg", ".jpeg")


@overload
def output_path(path: str, option: str, suffixes: Iterable[str] = ()) -> Path: ...
@overload
def output_path(path: None, option: str, suffixes: Iterable[str] = ()) -> None: ...
@overload
def output_path(path: str | None, option: str, suffixes: Iterable[str] = ()) -> Path | None: ...
def output_path(path: str | None, option: str, suffixes: Iterable[str] = ()) -> Path | None:
    """Check that ``path`` can be written: its folder exists and is writable, it is not a folder.

    Raises UsageError naming ``option`` and what is wrong with the path (empty, a folder, a
    device or pipe, a link to a missing folder or a loop, a file where a folder is needed);
    returns the path (None stays None).
    """
    if path is None:
        return None
    p = _named(path, option)
    # Path() drops a final separator: 'new.onnx/' (a folder, as cp and mv read it) wrote a file
    if p.is_dir() or str(path).endswith(tuple({"/", os.sep})):
        raise UsageError(f"{option} must be a file name, not a folder; got {path!r}")
    suffixes = tuple(suffixes)
    if suffixes and p.suffix.lower() not in suffixes:
        raise UsageError(f"{option} must end in one of {', '.join(suffixes)}; got {path!r}")
    what = not_a_regular_file(p)
    if what is not None:  # the rename that publishes the output would replace it
        raise UsageError(f"{option} must be a regular file; got {path!r}, which is {what}")
    if link_loops(p):  # the rename would replace the link itself, not the file it names
        raise UsageError(f"{option} must be a file or a link to one; got {path!r}, {_LOOP}")
    folder = p.parent
    problem = _folder_problem(folder)
    if problem is not None:
        raise UsageError(f"{option}: {problem}; got {path!r}")
    target = Path(os.path.realpath(p))  # a link is written through: beside the file it names
    if target.parent != folder.resolve():
        problem = _folder_problem(target.parent)
        if problem is not None:
            raise UsageError(
                f"{option}: {path!r} is a symbolic link to {str(target)!r}, whose {problem}"
            )
    if p.exists() and not os.access(p, os.W_OK):
        raise UsageError(f"{option}: file {path!r} is not writable")
    if _owned_by_another_in_a_sticky_folder(target):
        # writable, but the rename that publishes the output is refused (EPERM): it failed
        # after training, once the other outputs had been published
        raise UsageError(
            f"{option}: file {path!r} belongs to another user in a folder where only a file's "
            "owner may replace it (a sticky folder, as /tmp is): choose another name"
        )
    return p


def _owned_by_another_in_a_sticky_folder(target: Path) -> bool:
    """Whether renaming onto ``target`` is refused by the sticky bit of its folder: neither
    the file nor the folder is ours, and we are not root (Linux's and BSD's rule)."""
    euid = os.geteuid() if hasattr(os, "geteuid") else 0
    try:
        folder, file = os.stat(target.parent), os.lstat(target)
    except OSError:  # no such file yet: a new name is ours
        return False
    return bool(folder.st_mode & stat.S_ISVTX) and euid not in (0, folder.st_uid, file.st_uid)


def input_file(path: str, option: str) -> Path:
    """Check that ``path`` is an existing, readable regular file (a named pipe would block the
    read until something wrote to it; a device has no end)."""
    p = _named(path, option)
    if not p.exists():
        raise UsageError(f"{option}: {_absent(p)}")
    if p.is_dir():
        raise UsageError(f"{option} must be a file, not a folder; got {path!r}")
    what = not_a_regular_file(p)
    if what is not None:
        raise UsageError(f"{option} must be a regular file; got {path!r}, which is {what}")
    if not os.access(p, os.R_OK):
        raise UsageError(f"{option}: file {path!r} is not readable")
    return p


#: how a symbolic link that leads back to itself is described
_LOOP = "a loop of symbolic links (one leads back to itself)"


def _named(path: str | os.PathLike, option: str) -> Path:
    """``path`` as a Path; an empty one is refused (``Path('')`` is the current folder)."""
    if not str(path):
        raise UsageError(f"{option} must name a file; got ''")
    return Path(path)


def _absent(path: Path) -> str:
    """What is wrong with ``path``, which does not exist: ``file 'x' does not exist``, or what
    it is instead (a link to nothing, a loop), or the part of its folder that is not one."""
    name = f"file {str(path)!r}"
    if link_loops(path):
        return f"{name} is {_LOOP}"
    if path.is_symlink():
        return f"{name} is a symbolic link to {os.path.realpath(path)!r}, which does not exist"
    problem = _folder_problem(path.parent)
    if problem is None or problem.endswith("is not writable"):
        return f"{name} does not exist"
    return f"{name} does not exist: {problem}"


def _folder_problem(folder: Path) -> str | None:
    """What keeps a file from being created in ``folder``, or None: the first part of it that
    is missing, a link to nothing or a loop, or not a folder (``'model.npz' is a file, not a
    folder``), else the folder being read-only."""
    if folder.is_dir():
        if os.access(folder, os.W_OK | os.X_OK):
            return None
        return f"folder {str(folder)!r} is not writable"
    for part in [*reversed(folder.parents), folder]:
        if part.is_dir():
            continue
        if part.exists():
            kind = "a file" if part.is_file() else "not a regular file"
            return f"{str(part)!r} is {kind}, not a folder"
        if link_loops(part):
            return f"folder {str(part)!r} is {_LOOP}"
        if part.is_symlink():
            return (
                f"folder {str(part)!r} is a symbolic link to {os.path.realpath(part)!r}, "
                "which does not exist"
            )
        return f"folder {str(part)!r} does not exist"
    return f"folder {str(folder)!r} does not exist"


def data_path(spec: str, option: str = "--data") -> Path | None:
    """The file or folder ``--data`` reads, or None for a named data set or a missing path.

    A named pipe or a device is refused (``option`` names it): reading a pipe waited forever
    for a writer.
    """
    from softgrad.datasets import DATASET_NAMES

    if str(spec).strip().lower().replace("_", "-") in DATASET_NAMES:
        return None
    path = Path(spec)
    what = not_a_regular_file(path)
    if what is not None:
        raise UsageError(
            f"{option} must be a data set name, a file or a folder; got {spec!r}, which is {what}"
        )
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
            if same_file(other, path):
                raise UsageError(_clash(earlier, other, option, path))
    for source, given in inputs.items():
        if given is None:
            continue
        folder = Path(os.path.realpath(given)) if given.is_dir() else None
        for option, path in named:
            if (option, source) in allowed:
                continue
            if same_file(given, path):
                raise UsageError(_clash(option, path, source, given))
            if folder is not None and Path(os.path.realpath(path)).parent.parent == folder:
                raise UsageError(
                    f"{option} must be outside the sub-folders of the {source} folder "
                    f"{str(given)!r}, whose images it would replace or join; got {str(path)!r}"
                )


def _clash(option: str, path: Path, other: str, other_path: Path) -> str:
    if str(path) == str(other_path):
        both = f"both are {str(path)!r}"
    else:
        both = f"{str(path)!r} and {str(other_path)!r} are the same file"
    return f"{option} and {other} must name different files; {both}"
