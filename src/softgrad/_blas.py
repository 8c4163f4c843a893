"""BLAS axpy (``y += a * x`` in one pass) from the very library NumPy's products already use.

An optimizer step is a few ``y += a * x`` updates over every parameter. NumPy needs two passes
and a temporary for each (``t = a * x``, then ``y += t``) and runs them on one core; BLAS axpy
makes one pass, and OpenBLAS splits a long one over its threads. The split matters as much as
the pass count: the gradient of a large weight matrix comes out of a multi-threaded matrix
product with each half in a different core's cache, and a one-core pass must first pull the
other half across (measured on the 784 x 100 layer with 2 threads: the SGD-momentum update took
77 us in NumPy ufuncs, 27 us with BLAS). For ``y *= a`` NumPy's one pass is as good: OpenBLAS's
scal is one-threaded at these sizes and slower than NumPy's (10.4 against 6.7 us on 79,552
float32), so it is not wrapped here.

The library is the one NumPy is linked against (found among the shared objects this process
has mapped from NumPy's own folders), so it shares NumPy's thread pool. Loading a second BLAS
(SciPy's, say) beside it makes two pools of spinning threads fight for the cores and slows a
training step 18-30x; tests/test_architecture.py forbids that. When NumPy's BLAS cannot be
found (a NumPy built against Accelerate or MKL, an OS without /proc) every function falls back
to the NumPy expression it replaces, with the same results up to rounding.

Numerics: BLAS kernels may fuse the multiply and add (one rounding instead of two), so the BLAS
and NumPy paths can differ in the last bit; each path is deterministic on its own.
"""

from __future__ import annotations

import ctypes
import functools
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["available", "axpy", "library_path"]

# NumPy's OpenBLAS builds: (symbol template, integer type of its interface). Only builds whose
# symbol names say their integer width: a wrong width would pass garbage sizes to BLAS.
_SYMBOLS = (
    ("scipy_cblas_{}64_", ctypes.c_int64),  # NumPy >= 2.0 wheels (scipy-openblas64)
    ("cblas_{}64_", ctypes.c_int64),  # NumPy 1.22-1.26 wheels (openblas64_)
    ("scipy_cblas_{}", ctypes.c_int32),  # scipy-openblas32 (32-bit integer builds)
)

# below this many elements the ctypes call (~3 us with its pointer lookups) costs more than
# the NumPy pass it saves (measured: 7 us for axpy on 78,400 float32, 3.5 us on 300)
_MIN_SIZE = 4096


@dataclass(frozen=True)
class _Blas:
    path: str
    axpy: dict[Any, Any]
    max_size: int  # the largest size its integer type holds


def _numpy_dirs() -> list[Path]:
    root = Path(np.__file__).resolve().parent
    return [root, root.parent / "numpy.libs", root / ".dylibs"]


def _mapped_blas_files() -> list[str]:
    """Shared objects named like a BLAS that this process has mapped from NumPy's folders."""
    dirs = [str(d) for d in _numpy_dirs()]
    try:
        with open("/proc/self/maps", encoding="utf-8") as maps:
            lines = maps.read().splitlines()
    except OSError:
        return []
    found = []
    for line in lines:
        fields = line.split(maxsplit=5)
        path = fields[5] if len(fields) == 6 else ""
        name = os.path.basename(path).lower()
        if "blas" in name and path.startswith(tuple(dirs)) and path not in found:
            found.append(path)
    return found


def _declared_ilp64() -> bool | None:
    """Whether NumPy's build config says its BLAS uses 64-bit integers (None: not said)."""
    try:
        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
    except Exception:  # older NumPy: no dict mode; the symbol names decide
        return None
    config = str(blas.get("openblas configuration", ""))
    return "USE64BITINT" in config if config else None


def _bind(lib: ctypes.CDLL, path: str) -> _Blas | None:
    c_p = ctypes.c_void_p
    ilp64 = _declared_ilp64()
    for template, c_int in _SYMBOLS:
        if ilp64 is not None and ilp64 != (c_int is ctypes.c_int64):
            continue
        try:
            functions = {
                prefix + name: getattr(lib, template.format(prefix + name))
                for prefix in ("s", "d")
                for name in ("axpy",)
            }
        except AttributeError:
            continue
        axpy = {}
        for dtype, prefix, c_real in (
            (np.dtype(np.float32), "s", ctypes.c_float),
            (np.dtype(np.float64), "d", ctypes.c_double),
        ):
            f = axpy[dtype] = functions[prefix + "axpy"]
            f.argtypes = [c_int, c_real, c_p, c_int, c_p, c_int]
            f.restype = None
        return _Blas(path, axpy, 2**63 - 1 if c_int is ctypes.c_int64 else 2**31 - 1)
    return None


@functools.cache
def _library() -> _Blas | None:
    """NumPy's own BLAS with its axpy entry points, or None (then NumPy is used)."""
    if sys.platform != "linux":
        return None
    for path in _mapped_blas_files():
        try:
            lib = ctypes.CDLL(path)  # already loaded by NumPy: the same handle, not a copy
        except OSError:
            continue
        bound = _bind(lib, path)
        if bound is not None:
            return bound
    return None


def available() -> bool:
    """Whether NumPy's BLAS was found (otherwise every function here runs NumPy ufuncs)."""
    return _library() is not None


def library_path() -> str | None:
    """The file of NumPy's BLAS that these functions call, or None."""
    lib = _library()
    return None if lib is None else lib.path


def _direct(lib: _Blas, alpha: float, x: np.ndarray, y: np.ndarray) -> bool:
    """Whether BLAS may do this call: same native float dtype and shape, contiguous, aligned,
    writable, large enough to be worth a ctypes call, small enough for its integer type, and a
    nonzero alpha (BLAS skips alpha == 0, NumPy computes 0 * x, NaN where x is not finite)."""
    return (
        y.dtype in lib.axpy
        and x.dtype == y.dtype
        and x.shape == y.shape
        and _MIN_SIZE <= y.size <= lib.max_size
        and alpha != 0.0
        and x.flags.c_contiguous
        and y.flags.c_contiguous
        and x.flags.aligned
        and y.flags.aligned
        and y.flags.writeable
    )


def axpy(alpha: float, x: np.ndarray, y: np.ndarray) -> None:
    """``y += alpha * x`` in place, in one pass.

    Parameters
    ----------
    alpha : float
    x : ndarray
        Same shape as ``y``; not overlapping ``y`` unless it is ``y``.
    y : ndarray
        Updated in place.

    Examples
    --------
    >>> y = np.ones(3, dtype=np.float32)
    >>> axpy(-0.5, np.array([2.0, 4.0, 6.0], dtype=np.float32), y)
    >>> y
    array([ 0., -1., -2.], dtype=float32)
    """
    lib = _library()
    if lib is not None and _direct(lib, alpha, x, y):
        lib.axpy[y.dtype](y.size, alpha, x.ctypes.data, 1, y.ctypes.data, 1)
    elif alpha == 1.0:
        y += x
    else:
        y += np.multiply(x, alpha)  # no dtype=: a byte-swapped dtype is no ufunc loop dtype
