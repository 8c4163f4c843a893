"""Which implementation of the kernel seam is in use: chosen explicitly, never by probing.

The choice is ``set_kernels(name)`` or, read once at the first :func:`get_ops`, the environment
variable ``SOFTGRAD_KERNELS``. Nothing else (the CPU, the BLAS found, the interpreter) changes it.
Without either, ``DEFAULT`` runs; if the default cannot be imported (the "numba" lane where
Numba is not installed) the "numpy" lane runs instead. A lane chosen explicitly that cannot be
imported is an error that says why. The Numba lane is imported only when chosen: ``import
softgrad`` never imports Numba.
"""

from __future__ import annotations

import importlib
import os

from softgrad.errors import MissingDependencyError

__all__ = ["KERNELS", "get_ops", "set_kernels"]

# name -> "module:class" of each implementation of the seam
KERNELS = {
    "numpy": "softgrad.kernels.numpy_ops:NumpyOps",
    "numba": "softgrad.kernels.numba_ops:NumbaOps",
}

# the lane used when neither set_kernels nor SOFTGRAD_KERNELS chooses one
DEFAULT = "numpy"

# what each lane needs beyond NumPy (imported only when the lane is chosen)
_REQUIRES = {"numba": "numba"}

# the one process-wide choice the API names (set_kernels / SOFTGRAD_KERNELS); see module docstring
_active: dict[str, object] = {}


def set_kernels(name: str) -> object:
    """Use the kernels called ``name`` from now on in this process; returns their Ops object.

    Parameters
    ----------
    name : str
        One of ``KERNELS`` (``"numpy"``, ``"numba"``).

    Raises
    ------
    ValueError
        ``name`` is not one of ``KERNELS``.
    MissingDependencyError
        (an ImportError) The lane needs a package that cannot be imported (``"numba"``
        without Numba).

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
    required = _REQUIRES.get(name)
    if required is not None:
        try:
            importlib.import_module(required)
        except ImportError as exc:
            raise MissingDependencyError(
                f"set_kernels: the {name!r} kernels need {required}, which cannot be imported "
                f"({exc}); install it (pip install {required}) or use set_kernels('numpy')"
            ) from exc
    module, cls = KERNELS[name].split(":")
    ops = getattr(importlib.import_module(module), cls)()
    _active["ops"] = ops
    return ops


def get_ops() -> object:
    """The Ops object in use (``SOFTGRAD_KERNELS``, else ``DEFAULT``, on first call)."""
    ops = _active.get("ops")
    if ops is not None:
        return ops
    name = os.environ.get("SOFTGRAD_KERNELS")
    if name is None:
        try:
            return set_kernels(DEFAULT)
        except MissingDependencyError:
            return set_kernels("numpy")  # the default's package is missing (module docstring)
    if name not in KERNELS:
        raise ValueError(
            f"SOFTGRAD_KERNELS must be one of {', '.join(map(repr, KERNELS))}; got {name!r}"
        )
    return set_kernels(name)
