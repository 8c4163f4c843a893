"""What machine and libraries a benchmark ran on: CPU, cores, NumPy's BLAS, softgrad's kernel lane,
thread counts."""

from __future__ import annotations

import contextlib
import os
import platform
from collections.abc import Iterator
from importlib import metadata


def blas_info() -> dict:
    """NumPy's BLAS as threadpoolctl sees it (library, version, kernel architecture, threads)."""
    import numpy as np

    try:
        from threadpoolctl import threadpool_info
    except ImportError:  # the bench extra's; without it the BLAS is reported as unknown
        return {"internal_api": "unknown BLAS (threadpoolctl not installed)"}
    np.ones(1) @ np.ones(1)  # make sure the BLAS is loaded
    for info in threadpool_info():
        if info.get("user_api") == "blas" and "numpy" in info.get("filepath", ""):
            return info
    for info in threadpool_info():
        if info.get("user_api") == "blas":
            return info
    return {}


def blas_threads() -> int:
    """Threads NumPy's BLAS uses (the count every peer is given)."""
    return int(blas_info().get("num_threads") or os.cpu_count() or 1)


def cpu_model(path: str = "/proc/cpuinfo") -> str:
    """The CPU's name, with its family and model numbers and its widest vector extension
    when /proc/cpuinfo gives them: a VM's name alone ("AMD EPYC") told a Zen 1 with AVX2 from
    a Zen 5 with AVX-512 apart in nothing, and the two differ 6x in the GEMM bound."""
    fields: dict[str, str] = {}
    try:
        with open(path) as f:
            for line in f:
                key, sep, value = line.partition(":")
                key = key.strip()
                if not sep or key in fields:
                    if not line.strip() and fields:  # the first processor's block is enough
                        break
                    continue
                fields[key] = value.strip()
    except OSError:
        pass
    name = fields.get("model name") or platform.processor() or "unknown"
    details = [
        f"{label} {fields[key]}"
        for key, label in (("cpu family", "family"), ("model", "model"))
        if key in fields
    ]
    flags = set(fields.get("flags", "").split())
    isas = (("avx512f", "AVX-512"), ("avx2", "AVX2"), ("avx", "AVX"), ("sse4_2", "SSE4.2"))
    widest = next((label for flag, label in isas if flag in flags), None)
    if widest is not None:
        details.append(widest)
    return f"{name} ({', '.join(details)})" if details else name


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def load_average() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "n/a"


def kernels() -> str:
    """softgrad's kernel lane as this run uses it: its name, and for Numba's lane the version,
    threading layer and thread count (a NumPy lane reached by fallback says why)."""
    try:
        from softgrad.kernels import get_ops, registry
    except ImportError:
        return "softgrad not importable"
    import numpy as np

    try:
        ops = get_ops()
    except ValueError as error:  # a bad SOFTGRAD_KERNELS
        return f"none ({error})"
    facts = ops.describe() if hasattr(ops, "describe") else {}
    text = ops.name
    if facts:
        threads = threads_text(facts["threads"])
        text += f" (numba {facts['numba']}, {facts['layer']} layer, {threads})"
    elif ops.name == "numpy":  # NumPy's elementwise passes run on the calling thread
        text += f" (NumPy {np.__version__} ufuncs, 1 thread)"
    if registry.fallback():
        text += f"; {registry.fallback()}"
    return text


#: The environment variables that choose the BLAS's kernels and every library's thread count,
#: recorded with each run: a run made under one of them is another run
ENV_KEYS = (
    "OPENBLAS_CORETYPE",
    "OPENBLAS_L2_SIZE",
    "OPENBLAS_NUM_THREADS",
    "OMP_NUM_THREADS",
    "NUMBA_NUM_THREADS",
)


@contextlib.contextmanager
def held_threads(count: int | None) -> Iterator[None]:
    """NumPy's BLAS (and so scikit-learn and the NumPy reference) and softgrad's kernels held
    to ``count`` threads inside the block, the libraries' defaults given back after it (None:
    left as they are). PyTorch and ONNX Runtime are given the BLAS's count by the scripts
    (:func:`blas_threads`). Without softgrad, the BLAS alone is held (threadpoolctl)."""
    if count is None:
        yield
        return
    try:
        from softgrad import set_threads
    except ImportError:
        from threadpoolctl import threadpool_limits

        with threadpool_limits(count, user_api="blas"):
            yield
        return
    set_threads(count)  # the BLAS and the Numba kernels together
    try:
        yield
    finally:
        set_threads(None)


def threads_text(count) -> str:
    """``"1 thread"``, ``"2 threads"`` (``"? threads"`` where the count is unknown)."""
    return f"{count} thread" if count == 1 else f"{count} threads"


def describe() -> dict:
    """A JSON-safe description of the machine and library versions."""
    import numpy as np

    blas = blas_info()
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:
        cores = os.cpu_count()
    env = {k: os.environ[k] for k in ENV_KEYS if k in os.environ}
    return {
        "cpu": cpu_model(),
        "cores": cores,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "blas": (
            f"{blas.get('internal_api', '?')} {blas.get('version', '?')}, kernel "
            f"{blas.get('architecture', '?')}, {threads_text(blas.get('num_threads', '?'))}"
        ),
        "blas_threads": blas_threads(),
        "kernels": kernels(),
        "torch": _version("torch"),
        "scikit-learn": _version("scikit-learn"),
        "onnxruntime": _version("onnxruntime"),
        "softgrad": _version("softgrad"),
        "env": env or "unset",
        "load_average": load_average(),
    }
