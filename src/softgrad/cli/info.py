"""``softgrad info``: what this installation computes with (versions, BLAS, kernel lane, threads).

The BLAS line names OpenBLAS's kernel set ("architecture") and an ``OPENBLAS_CORETYPE`` that
pins it; a note follows where that pin holds a CPU with AVX-512 on kernels without it
(:func:`coretype_note`).

The lane shown is the one a command would use here: ``SOFTGRAD_KERNELS`` or the default
(Numba's), with the reason when the default could not be imported and the NumPy lane runs
instead. Numba is imported only when that lane is Numba's; otherwise its installed version is
read from the package metadata, without importing it.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import os
import platform
import sys
from collections.abc import Mapping
from typing import Any

import numpy as np

from softgrad import __version__
from softgrad.cli.output import print_json
from softgrad.cli.threads import add_threads_option, busy_note, numpy_blas_pool


def add_parser(commands: Any) -> argparse.ArgumentParser:
    p = commands.add_parser(
        "info",
        help="show versions, the BLAS and the kernel lane in use",
        description="Show softgrad's, Python's and NumPy's versions, the BLAS behind NumPy's "
        "matrix products and its threads, and the kernel lane the other commands use here "
        "(chosen with SOFTGRAD_KERNELS=numpy|numba), with its threads.",
    )
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    add_threads_option(p)
    return p


def run(args: argparse.Namespace) -> int:
    info = collect()
    if args.json:
        print_json(info)
        return 0
    blas, kernels = info["blas"], info["kernels"]
    print(f"softgrad  {info['softgrad']}")
    print(f"python    {info['python']}")
    print(f"numpy     {info['numpy']}")
    _print_with_note("blas", blas, "note")
    shown = {key: value for key, value in kernels.items() if not key.startswith("cache")}
    if not _print_with_note("kernels", shown, "fallback") and kernels["name"] != "numba":
        numba = info["numba"]
        print(f"numba     {f'{numba} (installed, not in use)' if numba else 'not installed'}")
    if "cache" in kernels:  # the Numba lane's: where a first run's compiles are kept
        print(f"cache     {kernels['cache'] or NO_CACHE}")
        if kernels.get("cache_note"):
            print(f"note      {kernels['cache_note']}")
    print(f"folding   {info['folding']['summary']}")
    if info["busy"]:  # its own label: the lines above may carry a note each
        print(f"load      {info['busy']}")
    return 0


# the cache line where no folder could be written (numba_threads.kernel)
NO_CACHE = "none: no folder can be written, so every process compiles the kernels it calls"


def _print_with_note(label: str, info: dict[str, Any], note_key: str) -> bool:
    """One ``label  key value ...`` line of ``info`` without ``note_key``, then that entry on a
    ``note`` line when it is set; whether it was."""
    print(f"{label:<10}{_describe({k: v for k, v in info.items() if k != note_key})}")
    if info.get(note_key):
        print(f"note      {info[note_key]}")
        return True
    return False


def collect() -> dict[str, Any]:
    """Everything ``softgrad info`` shows, as a JSON-safe dict."""
    from softgrad.kernels import get_ops, registry

    ops = get_ops()
    kernels: dict[str, Any] = {"name": ops.name}
    describe = getattr(ops, "describe", None)
    if describe is not None:
        kernels.update(describe())
    kernels["fallback"] = registry.fallback()
    blas = blas_info()
    return {
        "softgrad": __version__,
        "python": f"{platform.python_version()} ({platform.python_implementation()}, "
        f"{sys.platform})",
        "numpy": np.__version__,
        "blas": blas,
        "kernels": kernels,
        "numba": _installed_version("numba"),
        "folding": folding_info(),
        # the BLAS's threads on a busy machine; 0 threads (no count known) never notes
        "busy": busy_note(blas.get("threads", 0)),
    }


def folding_info() -> dict[str, Any]:
    """How SGD's trusted steps fold the gradients into the update (softgrad.kernels.sgd_fold;
    each SGD's ``fold_gradients``, True by default, chooses whether): ``blas`` (the routines
    that run the folded products: NumPy's BLAS, or np.matmul and NumPy's passes), ``why`` (why
    not NumPy's BLAS, or None) and a one-line ``summary``."""
    from softgrad.kernels.blas import blas_routines, why_unavailable

    routines = blas_routines()
    summary = (
        f"SGD's gradients into its update, in {routines.description} "
        "(SGD's fold_gradients, True by default)"
    )
    return {"blas": routines.description, "why": why_unavailable(), "summary": summary}


def blas_info() -> dict[str, Any]:
    """NumPy's BLAS: from threadpoolctl when installed (library, version, CPU kernel, threads),
    else from NumPy's build configuration (no thread count); with OpenBLAS, the
    ``OPENBLAS_CORETYPE`` in effect (``coretype``, None when unset) and :func:`coretype_note`."""
    info = _blas_library()
    if info.get("name") == "openblas":
        info["coretype"] = os.environ.get("OPENBLAS_CORETYPE")
        info["note"] = coretype_note(info["coretype"], info.get("architecture"), _cpu_features())
    return info


# OpenBLAS's kernel sets for x86 CPUs with AVX-512 (F, CD, BW, DQ, VL: NumPy's "AVX512_SKX")
AVX512_CORES = frozenset({"skylakex", "cooperlake", "sapphirerapids"})


def coretype_note(coretype: Any, architecture: Any, cpu: Mapping[str, bool]) -> str | None:
    """A note where ``OPENBLAS_CORETYPE`` (``coretype``) holds a CPU with AVX-512 (``cpu``:
    NumPy's CPU features) on kernels without it (``architecture``, the set OpenBLAS runs);
    None otherwise. Unset, OpenBLAS picks its SkylakeX kernels or newer on such a CPU: float32
    products ran 1.55x faster on them than on the Haswell kernels on an AMD Zen 5 (x @ W1,
    1024 x 784 x 100: 245 against 158 GFLOP/s on 2 cores). A machine may pin the variable on
    purpose (older OpenBLAS builds misbehave on some CPUs), so the note informs; it changes
    nothing.

    Example
    -------
    >>> avx512 = {"AVX512_SKX": True}
    >>> coretype_note("Haswell", "Haswell", avx512)[:40]
    'OPENBLAS_CORETYPE=Haswell holds this CPU'
    >>> coretype_note(None, "SkylakeX", avx512), coretype_note("Haswell", "Haswell", {})
    (None, None)
    """
    if not coretype or not cpu.get("AVX512_SKX") or str(architecture).lower() in AVX512_CORES:
        return None
    return (
        f"OPENBLAS_CORETYPE={coretype} holds this CPU, which has AVX-512, on OpenBLAS's "
        f"{architecture} kernels; unset, OpenBLAS picks its SkylakeX kernels or newer (float32 "
        "products about 1.5x faster on an AMD Zen 5). Unset it unless it is pinned on purpose"
    )


def _cpu_features() -> dict[str, bool]:
    """NumPy's reading of the CPU's SIMD features (what ``np.show_runtime`` prints); empty
    where this NumPy does not expose it."""
    for name in ("numpy._core._multiarray_umath", "numpy.core._multiarray_umath"):  # 2.x, 1.x
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        return dict(getattr(module, "__cpu_features__", {}))
    return {}


def _blas_library() -> dict[str, Any]:
    pool = numpy_blas_pool()
    if pool is not None:
        return {
            "name": pool.get("internal_api"),
            "version": pool.get("version"),
            "architecture": pool.get("architecture"),
            "threads": pool.get("num_threads"),
            "threading_layer": pool.get("threading_layer"),
        }
    try:
        # typed Any: NumPy 1.24's stubs (and code) have no mode=, which raises TypeError there
        show_config: Any = np.show_config
        blas = show_config(mode="dicts")["Build Dependencies"]["blas"]
    except Exception:  # an older NumPy without mode="dicts": nothing more to say
        return {"name": "unknown"}
    return {"name": blas.get("name", "unknown"), "version": blas.get("version")}


def _installed_version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def _describe(fields: dict[str, Any]) -> str:
    """``name (key value, ...)`` from a dict of facts, leaving out the unknown ones.

    Example
    -------
    >>> _describe({"name": "openblas", "version": "0.3.31", "threads": 2, "layer": None})
    'openblas (version 0.3.31, threads 2)'
    """
    rest = [f"{key} {value}" for key, value in fields.items() if key != "name" and value]
    return f"{fields['name']} ({', '.join(rest)})" if rest else str(fields["name"])
