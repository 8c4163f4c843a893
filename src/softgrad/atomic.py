"""Atomic file writing: the one helper every part of softgrad that writes a file goes through.

Model and checkpoint files, IDX files, ONNX graphs and plots are all written with
:func:`atomic_write`: the bytes go to a temporary file beside the destination, which is renamed
onto it only once everything was written. A reader (or a crash) sees the old file or the complete
new one, never a partial write.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import IO

__all__ = ["atomic_write"]


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike) -> Iterator[IO[bytes]]:
    """Open a temp file beside ``path`` for binary writing; on success rename it onto ``path``.

    The data is flushed and fsync'ed before ``os.replace``, so ``path`` is either the old file
    or the complete new one, never a partial write. If the body raises, the temp file is removed
    and ``path`` is untouched. The new file gets the usual permissions (0666 less the umask),
    which ``tempfile.mkstemp`` would not give (it creates files readable by their owner only).

    Parameters
    ----------
    path : str or PathLike
        Destination; its folder must exist.

    Raises
    ------
    FileNotFoundError
        The folder of ``path`` does not exist.

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
    folder = path.parent
    if not folder.is_dir():
        raise FileNotFoundError(f"atomic_write: folder of '{path}' must exist; it does not")
    tmp = folder / f".{path.name}.{secrets.token_hex(6)}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
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
