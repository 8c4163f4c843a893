"""How many threads softgrad computes with: NumPy's BLAS and the Numba lane's kernels, set together.

By default NumPy's BLAS (OpenBLAS in NumPy's wheels) and Numba each run one thread per CPU.
That is the fastest choice on a quiet machine, and a trap on a busy one: OpenBLAS splits every
product between its threads and waits for the slowest, so when other processes hold the cores
each product waits for a thread to be scheduled. Measured on the project's 2-core machine
(one-epoch ``fit`` on Fashion-MNIST, h100 b128 SGD momentum, min and max of 5 epochs):

=====================================  ================  ==============
other work                             2 BLAS threads    1 thread
=====================================  ================  ==============
none                                   0.097-0.098 s     0.122-0.123 s
one busy process                       0.28-0.42 s       0.127-0.128 s
two busy processes                     0.54-3.0 s        0.14-0.26 s
other engineers' test runs (load 3-4)  1.8-7.4 s         0.12-0.35 s
=====================================  ================  ==============

Numba's ``workqueue`` threads sleep while they wait (:mod:`softgrad.kernels.numba_threads`), so
its thread count mattered little there.

:func:`set_threads` limits both: the BLAS through threadpoolctl (a scikit-learn dependency, so
always installed), every BLAS library loaded in the process; the Numba lane at each parallel
launch (Numba's own setting is per calling thread, so the launch applies it). ``softgrad train``,
``evaluate``, ``predict`` and ``info`` take it as ``--threads N`` (softgrad.cli.threads, which
also notes when the machine looks too busy for the BLAS's threads). Nothing here imports Numba.
"""

from __future__ import annotations

import os
import sys
import threading
from typing import Any

from softgrad.checks.scalars import check_positive_int

__all__ = ["set_threads", "usable_cpus", "wanted_threads"]

# the limit set_threads chose (None: the libraries' defaults) and threadpoolctl's limiter
_state: dict[str, Any] = {"threads": None, "limiter": None}


_C_INT_MAX = 2**31 - 1

# held while set_threads changes the limits: threadpoolctl's limiter records the limits it
# found as the ones to put back; a forked child gets a fresh one (one held by another thread
# at the fork would never be released there)
_LOCK = threading.Lock()


def _new_lock() -> None:
    global _LOCK
    _LOCK = threading.Lock()


if hasattr(os, "register_at_fork"):  # POSIX
    os.register_at_fork(after_in_child=_new_lock)


def set_threads(n: int | None) -> None:
    """Compute with at most ``n`` threads from now on, in the BLAS and the Numba kernels.

    Parameters
    ----------
    n : int or None
        A positive number of threads; None puts back the libraries' own defaults (one thread a
        CPU unless ``OPENBLAS_NUM_THREADS`` or ``NUMBA_NUM_THREADS`` says otherwise). Numba
        never runs more threads than it started with (``NUMBA_NUM_THREADS``).

    Raises
    ------
    TypeError, ValueError
        ``n`` is not a positive int (bools and floats are refused).

    Notes
    -----
    One thread is often much faster on a machine whose cores other work holds (module
    docstring); the results are the same computation, and a BLAS may order its sums
    differently with another thread count, so compare runs with a tolerance. The limit holds
    for the whole process, every Python thread included. Set it from one thread, the main
    one say: threadpoolctl (3.8) lets the first Python thread that limits OpenBLAS's
    process-wide pool keep control of it while that thread lives, and ignores the BLAS part
    of a limit another thread then sets (the kernels' part still applies).

    Examples
    --------
    >>> from softgrad.kernels.threads import set_threads, wanted_threads
    >>> set_threads(1)
    >>> wanted_threads()
    1
    >>> set_threads(None)
    >>> wanted_threads() is None
    True
    """
    if n is not None:
        n = check_positive_int(n, "set_threads", "n")
    with _LOCK:  # two threads at once both took the default for "original": None kept 1
        _set_threads(n)


def _set_threads(n: int | None) -> None:
    limiter = _state["limiter"]
    if limiter is not None:
        limiter.restore_original_limits()
        _state["limiter"] = None
    if n is not None:
        from threadpoolctl import threadpool_limits

        # the BLAS takes a C int and runs at most its own maximum: a larger n means as many as
        # it can (2**64 raised ctypes' "int too long to convert")
        _state["limiter"] = threadpool_limits(limits=min(n, _C_INT_MAX), user_api="blas")
    _state["threads"] = n
    numba = sys.modules.get("numba")  # never imported here: only if something did
    if numba is not None and n is None:  # the calling thread's own setting, put back
        numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)


def wanted_threads() -> int | None:
    """The limit :func:`set_threads` set, or None (the libraries' defaults)."""
    return _state["threads"]


def usable_cpus() -> int:
    """The CPUs this process may run on (its affinity where the system tells it, else all)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # macOS and Windows have no affinity call
        return os.cpu_count() or 1
