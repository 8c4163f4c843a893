"""The name of the training rows file ``softgrad train`` shares between MPI ranks
(:func:`softgrad.cli.ranks.training_rows`), and the removal of those that killed runs left.

Rank 0 writes the file beside ``--out`` and unlinks it once every rank has mapped it, but a
run killed in between (SIGTERM from a scheduler's time limit, SIGKILL, the OOM killer: no
handler runs) leaves it, hidden and as large as the training set in the model's dtype (188 MB
for Fashion-MNIST in float32). The name holds the host and process id of the rank 0 that
wrote it, so a later run's rank 0 on the same host removes the files whose writer is gone and
never those of a run still going in the same folder.
"""

from __future__ import annotations

import os
import re
import socket
import uuid
from pathlib import Path

_NAME = re.compile(r"\.softgrad-rows-(?P<host>[A-Za-z0-9.-]+)-(?P<pid>[0-9]+)-[0-9a-f]{12}\.npy")


def rows_path(folder: Path) -> Path:
    """A new name in ``folder`` for this process's rows file: its host, pid and a random part."""
    return Path(folder) / f".softgrad-rows-{_host()}-{os.getpid()}-{uuid.uuid4().hex[:12]}.npy"


def remove_dead_rows(folder: Path) -> list[str]:
    """Remove the rows files in ``folder`` written on this host by a process that has ended;
    the names removed. A file from another host, or one whose writer lives, is left alone."""
    removed = []
    host = _host()
    for entry in Path(folder).iterdir():
        match = _NAME.fullmatch(entry.name)
        if match is None or match["host"] != host or _alive(int(match["pid"])):
            continue
        entry.unlink(missing_ok=True)
        removed.append(entry.name)
    return removed


def _host() -> str:
    """This host's name, kept to the characters a file name and :data:`_NAME` allow."""
    return re.sub(r"[^A-Za-z0-9.-]", "-", socket.gethostname()) or "host"


def _alive(pid: int) -> bool:
    """Whether process ``pid`` exists (a pid reused since counts as alive: the file stays)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True  # another user's process; or no pid at all, left alone
    return True
