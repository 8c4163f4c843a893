"""NumPy's BLAS threads: how many it uses, and one thread each for a block of code.

Inference spreads its batches over threads of its own, one BLAS thread each
(:mod:`softgrad.training.row_threads`), instead of letting BLAS split every product between
the cores. On the test set of Fashion-MNIST (10,000 x 784 through 784-100-10, batches of
1,024, 2 cores) that took predict_proba from 40.7 to 24.8 ms, against 36.1 ms for ONNX
Runtime in the same process (a prototype; BENCHMARKS.md has the measured figures): a product
split between two cores leaves half its output in the other core's cache for the bias pass
that follows, and two single-thread products side by side run at 1.95x one (the MPI
section's GEMM ceiling), where one two-thread product of these shapes reaches 1.5x.

BLAS libraries keep one thread count for the whole process (OpenBLAS's
``openblas_set_num_threads_local`` is not thread-local either, despite its name: it returns
the previous count). :func:`one_blas_thread` therefore sets every loaded BLAS library to one
thread while any caller is inside it -- counted, so two overlapping callers (two threads
predicting at once) restore the counts only when the last one leaves -- and restores the
counts it found. While it holds, a BLAS call from another thread of the process runs on one
thread too: slower, never different in result.

Both go through threadpoolctl (a dependency of scikit-learn), imported at the first call, so
``import softgrad`` does not import it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["blas_threads", "one_blas_thread"]

_LOCK = threading.Lock()
_state: dict[str, Any] = {"controller": None, "depth": 0, "limiter": None}


def _controller() -> Any:
    """threadpoolctl's controller of the BLAS libraries loaded now (found once: NumPy's is
    loaded with NumPy, before any call here)."""
    if _state["controller"] is None:
        from threadpoolctl import ThreadpoolController

        _state["controller"] = ThreadpoolController().select(user_api="blas")
    return _state["controller"]


def blas_threads() -> int:
    """The threads NumPy's BLAS uses now (the largest count of the loaded BLAS libraries;
    ``OPENBLAS_NUM_THREADS``, ``threadpoolctl.threadpool_limits`` and :func:`one_blas_thread`
    all show here), or 1 where no BLAS library is found."""
    with _LOCK:
        counts = [lib.num_threads for lib in _controller().lib_controllers]
    return max(counts, default=1)


@contextmanager
def one_blas_thread() -> Iterator[None]:
    """Every loaded BLAS library on one thread inside the block; the counts found at the
    first entry come back when the last overlapping caller leaves (module docstring)."""
    with _LOCK:
        if _state["depth"] == 0:
            _state["limiter"] = _controller().limit(limits=1)
        _state["depth"] += 1
    try:
        yield
    finally:
        with _LOCK:
            _state["depth"] -= 1
            if _state["depth"] == 0:
                _state["limiter"].restore_original_limits()
                _state["limiter"] = None
