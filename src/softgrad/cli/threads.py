"""The ``--threads N`` option of the commands that compute (train, evaluate, predict, info), and
``softgrad info``'s note that a busy machine makes the BLAS's threads wait (softgrad.kernels.threads
has the measurements).

Only ``info`` notes it: a load average read at the start of ``train`` counts whatever ran in the
last minute (a test suite, an earlier run), so a note there would come and go with it."""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import os
from collections.abc import Iterator
from typing import Any

from softgrad.cli.argtypes import positive_int

__all__ = ["add_threads_option", "busy_note", "command_threads", "numpy_blas_pool"]


def add_threads_option(p: argparse.ArgumentParser) -> None:
    """``--threads N`` on the command's parser."""
    p.add_argument(
        "--threads",
        type=positive_int,
        metavar="N",
        help="compute with at most N threads (BLAS and kernels; default one per CPU). "
        "On a busy machine --threads 1 can be many times faster",
    )


@contextlib.contextmanager
def command_threads(args: argparse.Namespace) -> Iterator[None]:
    """The command's ``--threads`` limit, where it has one and it was given, for the command
    alone: the limit the process had is put back after it, whether it returns or raises (a
    program calling :func:`softgrad.cli.main` twice trained its second run on the first's
    ``--threads 1``)."""
    threads = getattr(args, "threads", None)
    if threads is None:
        yield
        return
    from softgrad.kernels.threads import set_threads, wanted_threads

    before = wanted_threads()
    set_threads(threads)
    try:
        yield
    finally:
        set_threads(before)


def numpy_blas_pool() -> dict[str, Any] | None:
    """threadpoolctl's record of NumPy's BLAS (library, version, kernel set, threads), or None
    where threadpoolctl is missing or does not find it."""
    if importlib.util.find_spec("threadpoolctl") is None:
        return None
    from threadpoolctl import threadpool_info

    for pool in threadpool_info():
        if pool.get("user_api") == "blas" and "numpy" in str(pool.get("filepath", "")):
            return pool
    return None


def busy_note(
    threads: Any = None, load: float | None = None, cpus: int | None = None
) -> str | None:
    """A note when NumPy's BLAS runs several ``threads`` (read from it when None, and only then)
    on a machine where other work holds a core: the last minute's load average (``load``, read
    from the system when None) at least 1, and with the BLAS's threads more than the usable
    CPUs (``cpus``). None otherwise, or where the system gives no load average. Read before the
    command's own work starts, the load counts other processes (and the last minute's runs).
    The note advises; it changes nothing.

    One busy process on 2 cores already made a 2-thread epoch 2.3x slower than a 1-thread one
    (softgrad.kernels.threads).

    Examples
    --------
    >>> busy_note(2, load=1.2, cpus=2)[:44]
    'the machine is busy (load average 1.2 on 2 C'
    >>> busy_note(2, load=0.4, cpus=2) is None, busy_note(1, load=3.6, cpus=2) is None
    (True, True)
    >>> busy_note(4, load=1.5, cpus=8) is None  # 4 threads and the other work fit on 8 CPUs
    True
    """
    from softgrad.kernels.threads import usable_cpus

    if load is None:
        try:
            load = os.getloadavg()[0]
        except (AttributeError, OSError):  # no load average on this system
            return None
    if load < 1.0:
        return None
    if threads is None:
        threads = (numpy_blas_pool() or {}).get("num_threads")
    if not isinstance(threads, int) or threads < 2:
        return None
    cpus = usable_cpus() if cpus is None else cpus
    if load + threads <= cpus:
        return None
    return (
        f"the machine is busy (load average {load:.1f} on {cpus} CPUs): the BLAS splits each "
        f"product over {threads} threads and waits for every one to get a core, which can make "
        "this many times slower; --threads 1 avoids it"
    )
