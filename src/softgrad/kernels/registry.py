"""Which implementation of the kernel seam is in use: chosen explicitly, never by probing.

The choice is ``set_kernels(name)`` or, read once at the first :func:`get_ops`, the environment
variable ``SOFTGRAD_KERNELS``. Nothing else (the CPU, the BLAS found, the interpreter) changes it.
"""

from __future__ import annotations

import importlib
import os

__all__ = ["KERNELS", "get_ops", "set_kernels"]

# name -> "module:class" of each implementation of the seam
KERNELS = {"numpy": "softgrad.kernels.numpy_ops:NumpyOps"}

# the one process-wide choice the API names (set_kernels / SOFTGRAD_KERNELS); see module docstring
_active: dict[str, object] = {}


def set_kernels(name: str) -> object:
    """Use the kernels called ``name`` from now on in this process; returns their Ops object.

    Parameters
    ----------
    name : str
        One of ``KERNELS`` (``"numpy"``).

    Examples
    --------
    >>> from softgrad.kernels import set_kernels
    >>> set_kernels("numpy").name
    'numpy'
    """
    if not isinstance(name, str) or name not in KERNELS:
        raise ValueError(
            f"set_kernels: name must be one of {', '.join(map(repr, KERNELS))}; got {name!r}"
        )
    module, cls = KERNELS[name].split(":")
    ops = getattr(importlib.import_module(module), cls)()
    _active["ops"] = ops
    return ops


def get_ops() -> object:
    """The Ops object in use (``SOFTGRAD_KERNELS``, default ``"numpy"``, on first call)."""
    ops = _active.get("ops")
    if ops is None:
        name = os.environ.get("SOFTGRAD_KERNELS", "numpy")
        if name not in KERNELS:
            raise ValueError(
                f"SOFTGRAD_KERNELS must be one of {', '.join(map(repr, KERNELS))}; got {name!r}"
            )
        ops = set_kernels(name)
    return ops
