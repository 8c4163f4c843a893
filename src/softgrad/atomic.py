"""Atomic file writing: the one helper every part of softgrad that writes a file goes through.

Model and checkpoint files, IDX files, ONNX graphs and plots are all written with
:func:`atomic_write`: the bytes go to a temporary file beside the destination, which is renamed
onto it only once everything was written. A reader (or a crash) sees the old file or the complete
new one, never a partial write.

Each temp file is locked (``flock``) by the process writing it, for as long as it writes: a
command that cleans up the temp files a killed run left (``softgrad train``) tells a live one
by the lock (:func:`held`) and leaves it to its writer.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import signal
import stat
import threading
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import IO

fcntl: ModuleType | None
try:
    import fcntl
except ImportError:  # Windows: no advisory locks, so every temp file looks left behind
    fcntl = None

__all__ = [
    "STOP_SIGNALS",
    "atomic_write",
    "held",
    "hold",
    "link_loops",
    "not_a_regular_file",
    "same_file",
    "signals_held",
    "write_target",
]


#: the signals besides Ctrl-C that stop a command as Ctrl-C does (SIGHUP: not on Windows)
STOP_SIGNALS = tuple(
    getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name)
)
_HELD_SIGNALS = (signal.SIGINT, *STOP_SIGNALS)


@contextlib.contextmanager
def signals_held() -> Iterator[None]:
    """SIGINT, SIGTERM and SIGHUP noted in the block and raised again after it, each once, in
    order, to the handlers in force before (where no handler can be set, in a thread other than
    the main one, nothing): for a few lines that must run whole (a temp file made and owned,
    the renames that publish a command's outputs). Python-level: ``pthread_sigmask`` blocks
    them for the calling thread alone, and a BLAS thread took them at once. Each is raised
    again as itself: the CLI passes SIGHUP to SIGINT's handler, and one held as SIGINT was lost
    where SIGINT is ignored (a background job)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    noted: list[int] = []
    previous = {
        signum: signal.signal(signum, lambda signum, frame: noted.append(signum))
        for signum in _HELD_SIGNALS
        if signal.getsignal(signum) is not None  # a handler set outside Python stays
    }
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        _raise_each(list(dict.fromkeys(noted)))


def _raise_each(signums: list[int]) -> None:
    """Raise every signal of ``signums``, the later ones even where an earlier one's handler
    raised (Ctrl-C's KeyboardInterrupt must not drop the SIGTERM held behind it)."""
    if signums:
        try:
            signal.raise_signal(signums[0])
        finally:
            _raise_each(signums[1:])


def hold(fd: int, exclusive: bool = True) -> None:
    """Lock the open file ``fd`` (released when it is closed), so that :func:`held` sees a live
    writer. Best effort: a file system without locks leaves it unlocked."""
    if fcntl is not None:
        with contextlib.suppress(OSError):
            fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)


def held(path: str | os.PathLike) -> bool:
    """Whether a live process holds ``path`` locked (:func:`hold`): a temp file being written,
    or rendered and not yet published, as opposed to one a killed run left."""
    if fcntl is None:
        return False
    try:  # the file itself, never one a link put in its place names
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    except OSError:
        return False
    finally:
        os.close(fd)  # and with it the lock just taken
    return False


@contextlib.contextmanager
def _naming(path: Path, tmp: Path) -> Iterator[None]:
    """Re-raise an OSError about the hidden temp file as one about ``path``, the user's file."""
    try:
        yield
    except OSError as exc:
        # an error from fsync or write names no file: it is about the temp file too
        about_tmp = exc.filename is None or tmp.name in f"{exc.filename}{exc.filename2}"
        if not about_tmp or exc.errno is None or type(exc).__module__ != "builtins":
            raise
        raise type(exc)(exc.errno, exc.strerror or str(exc), str(path)) from None


def not_a_regular_file(path: str | os.PathLike) -> str | None:
    """What ``path`` (through any symbolic link) is when it exists and is neither a regular file
    nor a folder, e.g. ``"'/dev/full', a character device"``; None otherwise.

    The atomic writers rename a new file onto their target: onto ``/dev/full`` (as root) that
    replaces the device node with a regular file. Such a target is refused instead.
    """
    target = os.path.realpath(path)
    try:
        mode = os.stat(target).st_mode
    except OSError:
        return None
    if stat.S_ISREG(mode) or stat.S_ISDIR(mode):
        return None
    kinds = {
        stat.S_ISCHR: "a character device",
        stat.S_ISBLK: "a block device",
        stat.S_ISFIFO: "a named pipe",
        stat.S_ISSOCK: "a socket",
    }
    kind = next((name for test, name in kinds.items() if test(mode)), "not a regular file")
    return f"{target!r}, {kind}"


def write_target(path: str | os.PathLike, where: str = "atomic_write") -> Path:
    """The file a write to ``path`` replaces: ``path`` itself, or the file its symbolic link
    names. Refuses what a rename must not replace (a folder, a device, a pipe, a socket, a
    loop of symbolic links), the error beginning ``where`` (the public function called)."""
    if link_loops(path):
        # realpath ends inside the loop: the rename replaced a link of it with a regular file
        raise OSError(
            errno.ELOOP,
            f"{where}: path must be a file or a symbolic link to one; got a loop of "
            "symbolic links (one leads back to itself), which a rename would replace with a "
            "regular file: remove the link or point it at a file",
            str(path),
        )
    target = Path(os.path.realpath(path))
    if target.is_dir():
        raise IsADirectoryError(
            errno.EISDIR, f"{where}: path must be a file name, not a folder", str(path)
        )
    what = not_a_regular_file(path)
    if what is not None:
        raise OSError(
            errno.EINVAL,
            f"{where}: path must be a regular file (a rename would replace {what}); "
            "give a file name",
            str(path),
        )
    return target


def same_file(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    """Whether ``a`` and ``b`` name one file: the same path once links are resolved, or a hard
    link of it; False where they differ or one does not exist yet."""
    if os.path.realpath(a) == os.path.realpath(b):
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:  # one of them does not exist yet
        return False


def link_loops(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a symbolic link that never reaches a file (ELOOP)."""
    if not os.path.islink(path):  # a loop in a folder of it leaves no folder to write in
        return False
    try:
        os.stat(path)
    except OSError as exc:
        return exc.errno == errno.ELOOP
    return False


#: bytes of the target's name kept in its temp file's name: with the dot, the 12 hex digits and
#: ".tmp" (18 bytes) it stays within the 255 bytes most file systems allow a name
_TEMP_STEM_BYTES = 200


def cut_name(text: str, max_bytes: int) -> str:
    """``text`` cut to at most ``max_bytes`` bytes of its file-system encoding, whole characters.

    Example
    -------
    >>> cut_name("é" * 4, 5)
    'éé'
    """
    while len(os.fsencode(text)) > max_bytes:
        text = text[:-1]
    return text


def temp_stem(name: str) -> str:
    """The part of a target's ``name`` its temp file's name keeps: the first 200 bytes (a legal
    name of 238 bytes or more made the temp name too long, ENAMETOOLONG, so it could not be
    written). :func:`softgrad.staging.remove_leftovers` finds the temp files by it."""
    return cut_name(name, _TEMP_STEM_BYTES)


def _temp_name(name: str) -> str:
    """``.<temp_stem(name)>.<12 hex digits>.tmp``."""
    return f".{temp_stem(name)}.{secrets.token_hex(6)}.tmp"


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, where: str = "atomic_write") -> Iterator[IO[bytes]]:
    """Open a temp file beside ``path`` for binary writing; on success rename it onto ``path``.

    The data is flushed and fsync'ed before ``os.replace``, so ``path`` is either the old file
    or the complete new one, never a partial write. If the body raises, the temp file is removed
    and ``path`` is untouched. The new file gets the usual permissions (0666 less the umask),
    which ``tempfile.mkstemp`` would not give (it creates files readable by their owner only).

    A ``path`` that is a symbolic link is written through: the file it points to is replaced
    (its temp file sits beside that file) and the link stays a link.

    Parameters
    ----------
    path : str or PathLike
        Destination; its folder must exist.
    where : str, default "atomic_write"
        The public function writing, which the errors about ``path`` begin with.

    Raises
    ------
    FileNotFoundError
        The folder of ``path`` does not exist.
    IsADirectoryError
        ``path`` is a folder.
    OSError
        ``path`` is (or links to) a device, a named pipe or a socket: renaming onto it would
        replace it (``/dev/full`` would become a regular file); or it is a loop of symbolic
        links (errno ELOOP), of which the rename would replace a link.
    OSError
        Writing or renaming failed (disk full, read-only folder, ...): the error names ``path``,
        never the hidden temp file.

    Example
    -------
    >>> import tempfile, pathlib
    >>> target = pathlib.Path(tempfile.mkdtemp()) / "out.bin"
    >>> with atomic_write(target) as f:
    ...     _ = f.write(b"all or nothing")
    >>> target.read_bytes()
    b'all or nothing'
    """
    path = Path(path)
    target = write_target(path, where)  # through a symbolic link, onto the file it names
    folder = target.parent
    if not folder.is_dir():
        raise FileNotFoundError(f"{where}: folder of {str(path)!r} must exist; it does not")
    tmp = folder / _temp_name(target.name)
    created, f = False, None  # from the line that makes it on, every way out removes the file
    try:
        with _naming(path, tmp):
            # Ctrl-C held until the file is made, owned and known: raised as os.open returned,
            # it left the temp file and its descriptor behind
            with signals_held():
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
                created = True
                try:
                    hold(fd)
                    f = os.fdopen(fd, "wb")
                except BaseException:
                    os.close(fd)
                    raise
            with f:
                yield f
                f.flush()
                os.fsync(f.fileno())
                # renamed while still locked: closed first, the temp file was unlocked for a
                # moment, and another run's clean-up took it for a killed run's and removed it
                os.replace(tmp, target)
    except BaseException:
        if f is not None:
            f.close()  # a signal held over its making, raised before the block took it over
        if created:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
        raise
    # make the rename itself durable (best effort: not every platform can open a folder)
    with contextlib.suppress(OSError):
        dir_fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
