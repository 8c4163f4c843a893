"""Which implementation of the kernel seam is in use: chosen explicitly, never by probing.

The choice is ``set_kernels(name)`` or, read once at the first :func:`get_ops`, the environment
variable ``SOFTGRAD_KERNELS``. Nothing else (the CPU, the BLAS found, the interpreter) changes it.
Without either, ``DEFAULT`` ("numba", a dependency of the default install) runs. Where it
cannot be imported (Numba missing, or broken for this NumPy) the "numpy" lane runs instead, and
says so: :func:`fallback` gives the reason, ``softgrad info`` shows it, ``softgrad train`` notes it
once, and a model file's metadata records the lane that actually ran. A lane chosen explicitly
that cannot be imported is an error that says why. A lane is imported at the first
:func:`get_ops` (the first kernel call), never by ``import softgrad`` or ``softgrad --help``.
"""

from __future__ import annotations

import importlib
import os
import threading
from typing import TYPE_CHECKING, TypedDict

from softgrad.errors import MissingDependencyError

if TYPE_CHECKING:  # every lane subclasses NumpyOps; importing it here would import them all
    from softgrad.kernels.numpy_ops import NumpyOps

__all__ = ["DEFAULT", "KERNELS", "OneLane", "fallback", "get_ops", "set_kernels"]

# name -> "module:class" of each implementation of the seam
KERNELS = {
    "numpy": "softgrad.kernels.numpy_ops:NumpyOps",
    "numba": "softgrad.kernels.numba_ops:NumbaOps",
}

# the lane used when neither set_kernels nor SOFTGRAD_KERNELS chooses one
DEFAULT = "numba"

# what each lane needs beyond NumPy (imported only when the lane is chosen)
_REQUIRES = {"numba": "numba"}


# the one process-wide choice the API names (set_kernels / SOFTGRAD_KERNELS); see module docstring
class _Active(TypedDict, total=False):
    ops: NumpyOps  # the lane in use
    fallback: str  # why it is not DEFAULT (see fallback())


_active: _Active = {}

# per thread: the lane of the computation under way in it (OneLane: ``ops``, and ``depth`` the
# holds nested), which get_ops returns whatever another thread chooses meanwhile
_held = threading.local()


def set_kernels(name: str) -> NumpyOps:
    """Use the kernels called ``name`` from now on in this process; returns their Ops object.

    The setting is the process's. A computation under way in another thread keeps the lane
    it started on to its end (fit, a batched prediction or evaluation: :class:`OneLane`), so
    a switch does not mix the lanes' roundings within one result; the thread that switches
    uses the new lane from its next kernel call, inside a computation of its own too (a fit
    callback may switch lanes between epochs). A network's forward and backward called by
    hand read the setting at each layer: switch between them, not while another thread runs
    them.

    Parameters
    ----------
    name : str
        One of ``KERNELS`` (``"numpy"``, ``"numba"``).

    Returns
    -------
    ops : NumpyOps
        The lane's Ops object, the one :func:`get_ops` now returns (``ops.name == name``).

    Raises
    ------
    ValueError
        ``name`` is not one of ``KERNELS``.
    MissingDependencyError
        (an ImportError) The lane needs a package that cannot be imported (``"numba"``
        without Numba).

    Examples
    --------
    >>> from softgrad.kernels import get_ops, set_kernels
    >>> in_use = get_ops().name
    >>> set_kernels("numpy").name
    'numpy'
    >>> set_kernels(in_use).name == in_use  # back to the lane in use before
    True
    """
    if not isinstance(name, str) or name not in KERNELS:
        raise ValueError(
            f"set_kernels: name must be one of {', '.join(map(repr, KERNELS))}; got {name!r}"
        )
    required = _REQUIRES.get(name)
    if required is not None:
        try:
            importlib.import_module(required)
        except Exception as exc:  # not installed, or broken (a mismatched llvmlite raises others)
            raise MissingDependencyError(
                f"set_kernels: the {name!r} kernels need {required}, which cannot be imported "
                f"({_why(exc)}); install it (pip install {required}) or use set_kernels('numpy')"
            ) from exc
    module, cls = KERNELS[name].split(":")
    ops: NumpyOps = getattr(importlib.import_module(module), cls)()
    _active.pop("fallback", None)  # a choice made now replaces any earlier one, and its fallback
    _active["ops"] = ops
    if getattr(_held, "ops", None) is not None:  # this thread's computation switches too
        _held.ops = ops
    return ops


def _why(exc: BaseException) -> str:
    """Why an import failed: an ImportError's message, any other error's type too.

    Given a MissingDependencyError from set_kernels, the import error it was raised from."""
    if isinstance(exc, MissingDependencyError) and exc.__cause__ is not None:
        exc = exc.__cause__
    return str(exc) if isinstance(exc, ImportError) else f"{type(exc).__name__}: {exc}"


def get_ops() -> NumpyOps:
    """The Ops object in use (``SOFTGRAD_KERNELS``, else ``DEFAULT``, on first call); within a
    computation (:class:`OneLane`), the one it started on."""
    ops = getattr(_held, "ops", None)
    if ops is not None:
        return ops
    ops = _active.get("ops")
    if ops is not None:
        return ops
    name = os.environ.get("SOFTGRAD_KERNELS") or None  # set but empty: as unset
    if name is None:
        try:
            return set_kernels(DEFAULT)
        except MissingDependencyError as exc:  # the default's package is missing
            ops = set_kernels("numpy")
            _active["fallback"] = (
                f"the default {DEFAULT!r} kernels cannot run here ({_why(exc)}); the "
                f"'numpy' kernels run instead (pip install {_REQUIRES[DEFAULT]}, or set "
                "SOFTGRAD_KERNELS=numpy to choose them)"
            )
            return ops
    if name not in KERNELS:
        raise ValueError(
            f"SOFTGRAD_KERNELS must be one of {', '.join(map(repr, KERNELS))}; got {name!r}"
        )
    try:
        return set_kernels(name)
    except MissingDependencyError as exc:  # the advice is the variable's, not set_kernels'
        required = _REQUIRES[name]
        raise MissingDependencyError(
            f"SOFTGRAD_KERNELS={name}: the {name!r} kernels need {required}, which cannot be "
            f"imported ({_why(exc)}); install it (pip install {required}) or set "
            "SOFTGRAD_KERNELS=numpy"
        ) from exc.__cause__


class OneLane:
    """Context manager: within it, this thread's :func:`get_ops` keeps returning the lane in
    use when it began, whatever :func:`set_kernels` another thread calls meanwhile.

    Around every computation that calls the kernels more than once (fit, each batched
    prediction and evaluation); nested ones hold the outer one's lane. Not for generators:
    one suspended inside it would leave its thread holding the lane. Entered inside the
    computation's function, not by a decorator, whose frame would hold the call's arguments to
    its end (fit lets go of a loaded checkpoint once its state is copied in).

    Examples
    --------
    >>> from softgrad.kernels import get_ops
    >>> with OneLane():
    ...     same = get_ops() is get_ops()
    >>> same
    True
    """

    __slots__ = ()  # the hold is the thread's (a depth and a lane): one object may nest

    def __enter__(self) -> NumpyOps:
        depth = getattr(_held, "depth", 0)
        if depth == 0:
            _held.ops = get_ops()  # raises before the depth counts a hold never taken
        _held.depth = depth + 1
        return _held.ops

    def __exit__(self, *exc: object) -> None:
        depth = getattr(_held, "depth", 0) - 1
        _held.depth = max(depth, 0)  # an exit without its enter lets go, no deeper
        if depth <= 0:
            _held.ops = None


def fallback() -> str | None:
    """Why the default lane is not the one in use (its package cannot be imported), or None.

    Set by the :func:`get_ops` call that fell back; cleared by an explicit :func:`set_kernels`.

    Examples
    --------
    >>> from softgrad.kernels import get_ops, registry
    >>> reason = registry.fallback()  # None here unless Numba cannot be imported
    >>> reason is None or reason.startswith("the default 'numba' kernels cannot run here")
    True
    """
    return _active.get("fallback")
