"""The products ``np.matmul`` cannot express, ``C = alpha A^T B + beta C``, in NumPy's own BLAS.

``np.matmul`` writes ``A^T B`` into ``C``; BLAS's GEMM also scales what ``C`` held and adds it,
in the same pass over ``C``. A training step uses that to fold a weight gradient into the
optimizer's momentum buffer (``b = 1 * x^T g + momentum * b``) or into the weights themselves
(plain SGD: ``W = -lr * x^T g + 1 * W``), instead of writing the gradient and reading it back
in a separate update pass (:mod:`softgrad.training.folded_step`).

:func:`blas_routines` gives the calls, bound to arrays, and never chooses whether they are
used: the caller does, from the user's settings. They come from one of two places:

- :class:`NumpyBlas`, the library NumPy itself calls, found among the loaded libraries by
  ``threadpoolctl`` (a scikit-learn dependency): the BLAS inside NumPy's own package (a
  wheel's ``numpy.libs``), or, for a NumPy built against the system's BLAS, the only BLAS
  loaded. Its threads are NumPy's (``--threads`` and ``threadpool_limits`` limit both), so the
  products run as ``np.matmul``'s would. Before first use each routine is checked against
  NumPy on a small product (both dtypes, ``beta`` 0 over a NaN, a transposed operand).
- :class:`~softgrad.kernels.routines.MatmulRoutines` where no library is found, a symbol is
  missing or a check fails (why: :func:`why_unavailable`): the same calls as ``np.matmul`` into
  a scratch array and NumPy's elementwise passes. The results agree to a rounding per call
  (GEMM adds ``beta * C`` inside its kernel); the passes the library saves are paid again.

Every array handed to a ``bind_*`` method must be C-contiguous, of one dtype (float32 or
float64), and stay alive and in place while the bound call is used (the call holds it).
"""

from __future__ import annotations

import ctypes
import os
from collections.abc import Callable
from typing import Any

import numpy as np

from softgrad.kernels.routines import MatmulRoutines, Routines

__all__ = ["NumpyBlas", "blas_routines", "numpy_blas", "why_unavailable"]

_ROW_MAJOR, _NO_TRANS, _TRANS = 101, 111, 112


class NumpyBlas(Routines):
    """``cblas_?gemm``, ``cblas_?gemv`` and ``cblas_?axpy`` of one loaded BLAS, bound to arrays.

    Parameters
    ----------
    functions : dict
        ``(letter, routine) -> ctypes function``, letter "s" or "d", routine "gemm", "gemv" or
        "axpy", argument types set.
    description : str
        The library and symbols, for ``softgrad info``.

    Notes
    -----
    OpenBLAS runs a long axpy on its threads, which a product just before has left awake: an
    SGD update ``W -= lr * b`` over 80k float32 took 17 us against 31-35 us on one core in the
    loop.
    """

    def __init__(
        self,
        functions: dict[tuple[str, str], Any],
        description: str,
        thread_query: Callable[[], int] | None = None,
    ) -> None:
        self._functions = functions
        self.description = description
        self._thread_query = thread_query

    def threads(self) -> int | None:
        """The threads the library runs a call on now (``threadpool_limits`` and
        ``set_threads`` change it), or None where the library does not say. One C call
        (``openblas_get_num_threads``), cheap enough to ask before every optimizer step."""
        return None if self._thread_query is None else int(self._thread_query())

    def _gemm_tn(self, a: Any, b: Any, c: Any, letter: str) -> Callable[..., None]:
        (k, m), n = a.shape, b.shape[1]
        fn = self._functions[letter, "gemm"]
        if max(m, n, k) > _int_max(fn):  # a dimension past a 32-bit BLAS's integers
            return self._wide._gemm_tn(a, b, c, letter)
        args = (_ROW_MAJOR, _TRANS, _NO_TRANS, m, n, k, 0.0, a, m, b, n, 0.0, c, n)
        return _bind(fn, args, (6, 11), (a, b, c))

    def _gemv_t(self, a: Any, x: Any, y: Any, letter: str) -> Callable[..., None]:
        k, n = a.shape
        fn = self._functions[letter, "gemv"]
        if max(k, n) > _int_max(fn):
            return self._wide._gemv_t(a, x, y, letter)
        args = (_ROW_MAJOR, _TRANS, k, n, 0.0, a, n, x, 1, 0.0, y, 1)
        return _bind(fn, args, (4, 9), (a, x, y))

    def _axpy(self, x: Any, y: Any, letter: str) -> Callable[..., None]:
        fn = self._functions[letter, "axpy"]
        step = _int_max(fn)
        if y.size <= step:
            return _bind(fn, (y.size, 0.0, x, 1, y, 1), (1,), (x, y))
        # elementwise, so exact in pieces: a 32-bit BLAS's n wrapped past 2**31 - 1 (ctypes
        # does not check), and the folded step over a flat store that long updated a part
        flat_x, flat_y = x.reshape(-1), y.reshape(-1)
        parts = [
            _bind(fn, (min(step, y.size - i), 0.0, flat_x[i:], 1, flat_y[i:], 1), (1,), ())
            for i in range(0, y.size, step)
        ]

        def run(alpha: float) -> None:
            for part in parts:
                part(alpha)

        run.arrays = (x, y)  # type: ignore[attr-defined]
        return run

    @property
    def _wide(self) -> MatmulRoutines:
        """The calls for a dimension a 32-bit BLAS cannot take (NumPy's matmul splits it)."""
        return MatmulRoutines("a dimension past the BLAS's 32-bit integers")


def _int_max(fn: Any) -> int:
    """The largest size the routine ``fn`` takes, from its integer type (its last argument,
    ``ldc`` or ``incy``, is one): 32 bits in an LP64 build such as conda-forge's OpenBLAS, 64
    in NumPy's wheels. ctypes wraps a larger Python int silently instead of raising."""
    return 2 ** (8 * ctypes.sizeof(fn.argtypes[-1]) - 1) - 1


def _bind(fn: Any, args: tuple, scalars: tuple[int, ...], keep: tuple) -> Callable[..., None]:
    """``call(*values)``: ``fn(*args)`` with the arguments converted to their C types once
    (an array as its data pointer) and ``values`` put into the scalars at the positions
    ``scalars``. Converting at each call cost about 0.6 us of a tiny product's 1.7 us."""
    converted = [
        ctype(value.ctypes.data if isinstance(value, np.ndarray) else value)
        for ctype, value in zip(fn.argtypes, args, strict=True)
    ]
    slots = [converted[index] for index in scalars]

    if len(slots) == 1:
        (only,) = slots

        def run(alpha: float) -> None:
            only.value = alpha
            fn(*converted)

    else:
        first, second = slots

        def run(alpha: float, beta: float) -> None:  # type: ignore[misc]
            first.value, second.value = alpha, beta
            fn(*converted)

    run.arrays = keep  # type: ignore[attr-defined]  # the pointers' owners stay alive
    return run


_found: dict[str, Any] = {}


def numpy_blas() -> NumpyBlas | None:
    """NumPy's own BLAS, checked (module docstring), or None; looked up once per process."""
    if "blas" not in _found:
        try:
            _found["blas"], _found["why"] = _load(), None
        except (OSError, AttributeError, ImportError, ValueError, RuntimeError) as exc:
            _found["blas"], _found["why"] = None, str(exc)
    return _found["blas"]


def blas_routines() -> NumpyBlas | MatmulRoutines:
    """The ``bind_*`` calls: NumPy's own BLAS (:func:`numpy_blas`) where it was found and
    checked, else :class:`MatmulRoutines`; the same for the whole process."""
    if "routines" not in _found:
        found = numpy_blas()
        _found["routines"] = found if found is not None else MatmulRoutines(_found["why"])
    return _found["routines"]


def why_unavailable() -> str | None:
    """Why :func:`numpy_blas` is None (one line), or None when it is not."""
    numpy_blas()
    return _found["why"]


def _numpy_library() -> tuple[str, str, str]:
    """(path, internal API, symbol prefix) of the BLAS NumPy calls, among the loaded ones."""
    from threadpoolctl import ThreadpoolController

    blas = [lib for lib in ThreadpoolController().lib_controllers if lib.user_api == "blas"]
    root = os.path.dirname(os.path.realpath(np.__file__))
    own = (root + os.sep, os.path.realpath(root + ".libs") + os.sep)
    inside = [lib for lib in blas if os.path.realpath(lib.filepath).startswith(own)]
    chosen = inside or (blas if len(blas) == 1 else [])
    if len(chosen) != 1:
        raise RuntimeError(
            f"no BLAS library inside NumPy's package and {len(blas)} others loaded: "
            "cannot tell which one NumPy calls"
        )
    lib = chosen[0]
    return lib.filepath, lib.internal_api, getattr(lib, "prefix", "") or ""


def _load() -> NumpyBlas:
    path, api, prefix = _numpy_library()
    library = ctypes.CDLL(path)
    ilp64 = False
    if api == "openblas":
        config = getattr(library, f"{'scipy_' if 'scipy' in prefix else ''}openblas_get_config64_",
                         None) or getattr(library, "openblas_get_config", None)  # fmt: skip
        if config is not None:
            config.restype = ctypes.c_char_p
            ilp64 = b"USE64BITINT" in (config() or b"")
    functions, names = {}, []
    for letter in "sd":
        for routine in ("gemm", "gemv", "axpy"):
            fn, name, int_type = _symbol(library, f"cblas_{letter}{routine}", ilp64)
            scalar = ctypes.c_float if letter == "s" else ctypes.c_double
            ptr = ctypes.c_void_p
            # the arguments after the orders and sizes: alpha, A, lda, B / x, ldb / incx,
            # beta, C / y, ldc / incy (axpy: alpha, x, incx, y, incy)
            tail = [scalar, ptr, int_type, ptr, int_type, scalar, ptr, int_type]
            if routine == "gemm":
                fn.argtypes = [ctypes.c_int] * 3 + [int_type] * 3 + tail
            elif routine == "gemv":
                fn.argtypes = [ctypes.c_int] * 2 + [int_type] * 2 + tail
            else:
                fn.argtypes = [int_type, scalar, ptr, int_type, ptr, int_type]
            fn.restype = None
            functions[letter, routine] = fn
            names.append(name)
    blas = NumpyBlas(
        functions, f"{os.path.basename(path)} ({', '.join(names)})", _thread_query(library, api)
    )
    _self_check(blas)
    return blas


def _thread_query(library: Any, api: str) -> Callable[[], int] | None:
    """The library's own count of its threads, as threadpoolctl reads it, or None."""
    bases = {
        "openblas": ("openblas_get_num_threads",),
        "mkl": ("MKL_Get_Max_Threads",),
        "blis": ("bli_thread_get_num_threads",),
    }.get(api, ())
    for base in bases:
        for name in _build_names(base):
            fn = getattr(library, name, None)
            if fn is not None:
                fn.argtypes, fn.restype = [], ctypes.c_int
                return fn
    return None


def _build_names(base: str) -> tuple[str, ...]:
    """The names a BLAS build may give the symbol ``base``: SciPy's OpenBLAS prefixes
    ``scipy_``, a 64-bit-integer build appends ``64_``."""
    return (f"scipy_{base}64_", f"{base}64_", f"scipy_{base}", base)


def _symbol(library: Any, base: str, ilp64: bool) -> tuple[Any, str, Any]:
    """The routine ``base`` under the names a BLAS build gives it, and its integer type."""
    for name in _build_names(base):
        fn = getattr(library, name, None)
        if fn is not None:
            wide = name.endswith("64_") or ilp64
            return fn, name, ctypes.c_int64 if wide else ctypes.c_int
    raise AttributeError(f"{base} not found in NumPy's BLAS")


def _self_check(blas: NumpyBlas) -> None:
    """Each routine against NumPy on small operands; RuntimeError on any disagreement."""
    rng = np.random.default_rng(0)
    dtypes: tuple[type[np.floating], ...] = (np.float32, np.float64)
    for dtype in dtypes:
        a = rng.standard_normal((7, 5)).astype(dtype)
        b = rng.standard_normal((7, 3)).astype(dtype)
        c = rng.standard_normal((5, 3)).astype(dtype)
        want = 0.5 * (a.T @ b) + 2.0 * c
        blas.bind_gemm_tn(a, b, c)(0.5, 2.0)
        nan = np.full((5, 3), np.nan, dtype)
        blas.bind_gemm_tn(a, b, nan)(-1.0, 0.0)
        x = rng.standard_normal(7).astype(dtype)
        y = rng.standard_normal(3).astype(dtype)
        want_y = -0.25 * (b.T @ x) + 0.5 * y
        blas.bind_gemv_t(b, x, y)(-0.25, 0.5)
        z = rng.standard_normal((5, 3)).astype(dtype)
        want_z = z + 0.75 * want
        blas.bind_axpy(c, z)(0.75)
        w = rng.standard_normal(9).astype(dtype)
        want_w = w + dtype(-0.125) * w
        blas.bind_axpy(w, w)(-0.125)  # onto itself, as a decay term
        tolerance = 64 * float(np.finfo(dtype).eps)
        checks = ((c, want), (nan, -(a.T @ b)), (y, want_y), (z, want_z), (w, want_w))
        for got, expected in checks:
            if not np.allclose(got, expected, rtol=tolerance, atol=tolerance):
                raise RuntimeError(f"NumPy's BLAS disagrees with np.matmul ({blas.description})")
