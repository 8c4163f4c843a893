"""All or nothing for several output files: render each to a hidden temp file, then publish.

``softgrad train`` writes a model and up to two pictures; ``export_onnx`` a graph and, past
2 GiB of weights, the file of its weights. Each is rendered to a hidden temp file
beside its target (with the target's suffix, so a picture keeps its format) by the usual atomic
writers; only when every one has succeeded are they renamed onto their targets. A failure while
rendering (disk full, a folder turned read-only) removes the temp files and leaves every
earlier file as it was, and its message names the user's file, never the temp file.

A target that is a symbolic link is written through: the file it points to is replaced and the
link stays a link.

A run killed with kill -9 cannot remove its temp files. :func:`remove_leftovers` removes, for a
run's own targets, the temp files of the namings softgrad uses (``.<name>.<12 hex>.tmp`` from
the atomic writers, ``.<stem>.<12 hex>.staged<suffix>`` from here, and the atomic writer's
temp file of such a staged file, ``..<stem>.<12 hex>.staged<suffix>.<12 hex>.tmp``) before
the run writes, except those a live process holds locked (``softgrad.atomic.held``): the
atomic writers lock their temp file while they write and rename it, and :class:`Staged` each
rendered file until it is published. A second run given the same ``--checkpoint`` removed the
first run's temp file while it was being written, and the first run then failed naming its
checkpoint.

A live run's temp file is unlocked for a moment twice: between its creation and its lock, and
between a staged file's rename by its writer and :class:`Staged`'s lock. So a file younger
than ``LEFTOVER_AGE`` seconds is not removed either, whatever its lock: a second run removed a
first run's staged model in that moment, and the first then failed ("its writer made no
file"). A killed run's file that young is left for a later run to clean.

Two runs given the same outputs publish one after the other: :meth:`Staged.publish` renames
while it holds each target's folder locked (taken only there, and in one order, so that no
two runs wait on each other in a cycle; locks held while staging deadlocked two runs that
staged in the same two folders).

A temp name must fit in the 255 bytes a file system allows a name, whatever the target's name:
the stem is cut (at a character boundary) so that ``.<stem>.<12 hex>.staged<suffix>`` does, as
the atomic writers cut theirs, and a suffix longer than 64 bytes (no picture format; the model
writer ignores it) is cut too.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import secrets
import stat
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from softgrad.atomic import cut_name, held, hold, signals_held, temp_stem, write_target

NAME_MAX = 255  # bytes in a file name on Linux, macOS and Windows file systems
_SUFFIX_BYTES = 64
_STAGED_FIXED_BYTES = len(".") + len(".") + 12 + len(".staged")  # around the stem and suffix
LEFTOVER_AGE = 10.0  # seconds: a temp file younger than this may be a live run's, unlocked


class Staged:
    """Output files rendered first and published together (see the module docstring).

    Example
    -------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> with Staged() as staged:
    ...     staged.render("--out", folder / "a.txt", lambda tmp: tmp.write_text("new"))
    ...     print(sorted(p.name for p in folder.iterdir()) != ["a.txt"])  # only a temp file yet
    ...     staged.publish()
    True
    >>> sorted(p.name for p in folder.iterdir()), (folder / "a.txt").read_text()
    (['a.txt'], 'new')
    """

    def __init__(self, written: str | None = None, where: str = "train") -> None:
        """``written``: a file the command wrote before its outputs (a checkpoint after each
        epoch), which a failure's message must not deny; ``where``: the command or function
        writing, which the messages begin with."""
        self._where = where
        # (temp file, target, "--out 'm.npz'" for messages) of each file rendered
        self._pending: list[tuple[Path, Path, str]] = []
        self._held: list[int] = []  # a lock on each rendered file until it is published
        self._tail = "nothing was written and every earlier file is as it was"
        if written is not None:
            self._tail = (
                f"no other output was written and each is as it was; {written} holds the run, "
                "written after every epoch"
            )

    def __enter__(self) -> Staged:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        for tmp, _, _ in self._pending:  # not published: the targets stay as they were
            tmp.unlink(missing_ok=True)
        self._pending.clear()
        self._release()

    def _release(self) -> None:
        for fd in self._held:
            os.close(fd)
        self._held.clear()

    def render(self, option: str, path: str | os.PathLike, write: Callable[[Path], Any]) -> None:
        """Call ``write(tmp)`` for a temp file standing in for ``path`` (named for ``option``)."""
        # the suffix of the user's name: a picture's format follows it, and a link's target
        # may have another (plot.png -> /data/picture)
        suffix = Path(path).suffix
        try:
            final = write_target(path)
        except OSError as exc:
            raise OSError(
                exc.errno, f"{self._where}: {option} {str(path)!r}: {exc.strerror}"
            ) from None
        stem, suffix = _staged_parts(final.stem, suffix)
        tmp = final.with_name(f".{stem}.{secrets.token_hex(6)}.staged{suffix}")
        self._pending.append((tmp, final, f"{option} {str(path)!r}"))
        try:
            write(tmp)
        except OSError as exc:
            reason = exc.strerror or str(exc)
            raise OSError(
                exc.errno,
                f"{self._where}: could not write {option} {str(path)!r} ({reason}); {self._tail}",
            ) from None
        if not tmp.is_file():
            raise OSError(
                errno.EIO,
                f"{self._where}: {option} {str(path)!r} was not written (its writer made no file); "
                f"{self._tail}",
            )
        with contextlib.suppress(OSError):  # unlocked, it is taken for a killed run's
            fd = os.open(tmp, os.O_RDONLY)
            self._held.append(fd)
            hold(fd, exclusive=False)

    def publish(self) -> None:
        """Rename every rendered file onto its target, with Ctrl-C and SIGTERM held until the
        last rename: a signal between two renames published a new model beside an old
        picture. One that arrives meanwhile is raised once they are done, saying what was
        written (and, with a rename that failed, that the rest is as it was).

        The renames run while this process holds each target's folder locked (an ``flock`` on
        the folder itself, taken in one order by every run and only here, so two runs never
        wait on each other in a cycle): two runs given the same outputs left one run's model
        beside the other's picture when their renames interleaved."""
        done = 0
        folders = _locked_folders(final.parent for _, final, _ in self._pending)
        try:
            with signals_held():
                for tmp, final, _ in self._pending:
                    try:
                        os.replace(tmp, final)
                    except OSError as exc:
                        raise OSError(exc.errno, self._failed(done, exc)) from None
                    done += 1
        except KeyboardInterrupt:
            if done == 0:  # before the first rename: nothing was published
                raise
            raise KeyboardInterrupt(self._written(done)) from None
        finally:
            for fd in folders:
                os.close(fd)
            self._pending = self._pending[done:]
            self._release()

    def _written(self, done: int) -> str:
        """What the first ``done`` renames published, and what they left as it was."""
        rest = ", the rest as they were" if done < len(self._pending) else ""
        return f"{', '.join(named for _, _, named in self._pending[:done])} written{rest}"

    def _failed(self, done: int, exc: OSError) -> str:
        """The message of rename ``done`` failing: the user's file, and what was published."""
        reason = exc.strerror or str(exc)
        state = self._written(done) if done else self._tail
        return f"{self._where}: could not write {self._pending[done][2]} ({reason}); {state}"


def _locked_folders(folders: Iterable[Path]) -> list[int]:
    """A descriptor of each distinct folder, locked exclusively, in sorted order (so that no
    two runs wait on each other); a folder that cannot be opened or locked is passed over."""
    held_open = []
    try:
        for folder in sorted(set(folders)):
            try:
                fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
            except OSError:
                continue
            held_open.append(fd)
            hold(fd)  # waits while another run publishes there
    except BaseException:  # Ctrl-C while waiting: nothing renamed, nothing held
        for fd in held_open:
            os.close(fd)
        raise
    return held_open


def remove_leftovers(paths: list[Path | None]) -> list[str]:
    """Remove temp files that interrupted runs left beside ``paths``; the names removed. A
    file a live process holds (``softgrad.atomic.held``), or younger than ``LEFTOVER_AGE``
    seconds, is left (module docstring)."""
    removed = []
    for path in paths:
        if path is None:
            continue
        final = Path(os.path.realpath(path))
        try:
            entries = list(final.parent.iterdir())
        except OSError:  # no such folder, or one we may write in but not list: best effort
            continue
        for entry in entries:
            if not _is_leftover(entry.name, final.name, final.stem, Path(path).suffix):
                continue
            with contextlib.suppress(OSError):  # gone meanwhile, or not ours to stat
                info = entry.lstat()  # softgrad writes regular files: a link is the user's
                # within LEFTOVER_AGE either way: a clock ahead of ours gives a live run's file
                # a time to come, and one far ahead (a wrong clock) must not keep it for ever
                young = abs(time.time() - info.st_mtime) < LEFTOVER_AGE
                if stat.S_ISREG(info.st_mode) and not young and not held(entry):
                    entry.unlink(missing_ok=True)
                    removed.append(entry.name)
    return removed


def _is_leftover(entry: str, name: str, stem: str, suffix: str) -> bool:
    """Whether the file named ``entry`` is a temp file of a target named ``name`` (``stem``
    and ``suffix``), as the atomic writers and :meth:`Staged.render` name them."""
    stem, suffix = _staged_parts(stem, suffix)
    staged = re.compile(rf"\.{re.escape(stem)}\.[0-9a-f]{{12}}\.staged{re.escape(suffix)}")
    if staged.fullmatch(entry):
        return True
    atomic = re.fullmatch(r"\.(.+)\.[0-9a-f]{12}\.tmp", entry)
    if atomic is None:
        return False
    # the first bytes of the name written (temp_stem): the target's, or those of a staged
    # file that an atomic writer rendered, cut (within or after its stem) when it is long
    kept = atomic.group(1)
    if kept == temp_stem(name) or staged.fullmatch(kept):
        return True
    start = len(f".{stem}.")
    digits = kept[start : start + 12]  # the staged name's 12 hex digits, or those kept
    if not re.fullmatch("[0-9a-f]*", digits):
        return False
    return kept == temp_stem(f".{stem}.{digits.ljust(12, '0')}.staged{suffix}")


def _staged_parts(stem: str, suffix: str) -> tuple[str, str]:
    """The stem and suffix of a staged temp name, cut so that the name fits in NAME_MAX bytes."""
    suffix = cut_name(suffix, _SUFFIX_BYTES)
    return cut_name(stem, NAME_MAX - _STAGED_FIXED_BYTES - len(os.fsencode(suffix))), suffix
