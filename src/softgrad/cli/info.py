"""``softgrad info``: what this installation computes with (versions, BLAS, kernel lane, threads).

The lane shown is the one a command would use here: ``SOFTGRAD_KERNELS`` or the default
(Numba's), with the reason when the default could not be imported and the NumPy lane runs
instead. Numba is imported only when that lane is Numba's; otherwise its installed version is
read from the package metadata, without importing it.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import platform
import sys
from typing import Any

import numpy as np

from softgrad import __version__
from softgrad.cli.output import print_json


def add_parser(commands: Any) -> argparse.ArgumentParser:
    p = commands.add_parser(
        "info",
        help="show versions, the BLAS and the kernel lane in use",
        description="Show softgrad's, Python's and NumPy's versions, the BLAS behind NumPy's "
        "matrix products and its threads, and the kernel lane the other commands use here "
        "(chosen with SOFTGRAD_KERNELS=numpy|numba), with its threads.",
    )
    p.add_argument("--json", action="store_true", help="print the result as JSON")
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
    print(f"blas      {_describe(blas)}")
    print(f"kernels   {_describe({k: v for k, v in kernels.items() if k != 'fallback'})}")
    if kernels["fallback"]:
        print(f"note      {kernels['fallback']}")
    elif kernels["name"] != "numba":
        numba = info["numba"]
        print(f"numba     {f'{numba} (installed, not in use)' if numba else 'not installed'}")
    return 0


def collect() -> dict[str, Any]:
    """Everything ``softgrad info`` shows, as a JSON-safe dict."""
    from softgrad.kernels import get_ops, registry

    ops = get_ops()
    kernels = {"name": ops.name}
    describe = getattr(ops, "describe", None)
    if describe is not None:
        kernels.update(describe())
    kernels["fallback"] = registry.fallback()
    return {
        "softgrad": __version__,
        "python": f"{platform.python_version()} ({platform.python_implementation()}, "
        f"{sys.platform})",
        "numpy": np.__version__,
        "blas": blas_info(),
        "kernels": kernels,
        "numba": _installed_version("numba"),
    }


def blas_info() -> dict[str, Any]:
    """NumPy's BLAS: from threadpoolctl when installed (library, version, CPU kernel, threads),
    else from NumPy's build configuration (no thread count)."""
    if importlib.util.find_spec("threadpoolctl") is not None:
        from threadpoolctl import threadpool_info

        for pool in threadpool_info():
            if pool.get("user_api") == "blas" and "numpy" in str(pool.get("filepath", "")):
                return {
                    "name": pool.get("internal_api"),
                    "version": pool.get("version"),
                    "architecture": pool.get("architecture"),
                    "threads": pool.get("num_threads"),
                    "threading_layer": pool.get("threading_layer"),
                }
    try:
        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
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
