"""Chunks of independent work on several threads of the process, one BLAS thread each.

Inference is a list of batches that do not depend on each other. :func:`map_chunks` runs them
on the calling thread and on ``threads - 1`` pool threads at once, inside
:func:`~softgrad.kernels.blas_threads.one_blas_thread`: the products release the GIL, and so do
the kernels after them, so the threads overlap. Each thread claims the next chunk not yet
taken, so a late or slow thread leaves its share to the others; which thread computes a
chunk changes nothing in it (the same single-thread BLAS call, the same kernels), so the
result is the same bits run to run on one machine.

Errors are those of the chunks in order: the first failing chunk's exception is raised, as a
loop would raise it. Once a chunk fails, no later chunk starts; the earlier ones still run,
since one of them could fail first. Nothing runs after :func:`map_chunks` returns or raises:
it waits for every chunk a pool thread started.

The pool threads (a ``concurrent.futures.ThreadPoolExecutor``, started at the first call) run
each chunk in a copy of the caller's ``contextvars`` context, so ``np.errstate`` and other
context settings of the caller hold there too. A child process forked from here starts with
no pool and makes its own.
"""

from __future__ import annotations

import contextvars
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from softgrad.kernels.blas_threads import one_blas_thread

__all__ = ["map_chunks"]

_POOL_LOCK = threading.Lock()
_pool: dict[str, Any] = {"executor": None, "size": 0}


def _executor(workers: int) -> ThreadPoolExecutor:
    """The pool, with at least ``workers`` threads (made again, larger, when asked for more)."""
    with _POOL_LOCK:
        if _pool["size"] < workers:
            old = _pool["executor"]
            _pool["executor"] = ThreadPoolExecutor(workers, thread_name_prefix="softgrad-rows")
            _pool["size"] = workers
            if old is not None:
                old.shutdown(wait=False)
        return _pool["executor"]


def _forget_pool() -> None:
    # a forked child has none of the parent's threads: its first call starts a pool of its own
    _pool["executor"], _pool["size"] = None, 0


os.register_at_fork(after_in_child=_forget_pool)


class _Chunks:
    """The shared state of one :func:`map_chunks` call: the next chunk, the failures, the
    chunks under way."""

    def __init__(self, n_chunks: int, fn: Callable[[int], Any]) -> None:
        self.n_chunks, self.fn = n_chunks, fn
        self.results: list[Any] = [None] * n_chunks
        self.next = 0
        self.running = 0
        self.failed: dict[int, BaseException] = {}
        self.cond = threading.Condition()

    def _claim(self) -> int | None:
        with self.cond:
            index = self.next
            if index >= self.n_chunks or (self.failed and index > min(self.failed)):
                return None
            self.next += 1
            self.running += 1
            return index

    def work(self) -> None:
        """Run chunks until none is left (or a failure stops the later ones)."""
        while (index := self._claim()) is not None:
            try:
                self.results[index] = self.fn(index)
            except BaseException as error:  # re-raised by the caller (wait)
                with self.cond:
                    self.failed[index] = error
            finally:
                with self.cond:
                    self.running -= 1
                    self.cond.notify_all()

    def wait(self) -> list[Any]:
        """Wait for the chunks under way; the results in order, or the first failure."""
        with self.cond:
            self.cond.wait_for(lambda: self.running == 0)
            # a pool thread that starts from now on finds nothing to claim
            self.next = self.n_chunks
            if self.failed:
                raise self.failed[min(self.failed)]
        return self.results


def map_chunks(n_chunks: int, fn: Callable[[int], Any], threads: int) -> list[Any]:
    """``[fn(i) for i in range(n_chunks)]`` on ``threads`` threads (the caller's and pool
    threads), one BLAS thread each (module docstring); ``threads <= 1`` or a single chunk
    runs the plain loop on the calling thread, with BLAS untouched.

    ``fn`` must not depend on the order of the calls or on the thread it runs on.
    """
    if threads <= 1 or n_chunks <= 1:
        return [fn(index) for index in range(n_chunks)]
    chunks = _Chunks(n_chunks, fn)
    helpers = min(threads, n_chunks) - 1
    executor = _executor(helpers)
    with one_blas_thread():
        for _ in range(helpers):
            executor.submit(contextvars.copy_context().run, chunks.work)
        chunks.work()
        return chunks.wait()
