"""Model and checkpoint files: one .npz of plain arrays plus a JSON header, written atomically.

Layout of a file written by :func:`write_npz`::

    __meta__         uint8 array: UTF-8 JSON {"format": "softgrad", "kind": "model", "version": 1,
                     "meta": {...the caller's fields, returned as is by read_npz}}
    <name>           every array the caller passed (numbers or fixed-width strings, never objects)

A model file (:func:`write_model`) holds the weights under their qualified names (``"0.W"``,
``"0.b"``, ``"2.W"`` ...), ``scaler.offset``, ``scaler.scale`` and ``classes``, and in its JSON
the network architecture (``Sequential.get_config()``), ``image_shape``, the user's ``metadata``
and ``scaled`` (false when the model has no scaler: the identity is stored, and reading gives
back no scaler). Files are read with ``allow_pickle=False``: nothing in them can run code.

This module is the file format only. ``softgrad.save`` / ``softgrad.load`` and ``Model.save``
(:mod:`softgrad.model`) build on it; it does not know the Model class.
"""

from __future__ import annotations

import json
import math
import os
import reprlib
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from softgrad.atomic import atomic_write
from softgrad.datasets.sniff import read_arrays
from softgrad.errors import ModelFileError
from softgrad.preprocessing import Scaler

__all__ = [
    "FORMAT",
    "VERSION",
    "ModelContents",
    "read_model",
    "read_npz",
    "write_model",
    "write_npz",
]

FORMAT = "softgrad"
VERSION = 1
META_KEY = "__meta__"
KINDS = ("model", "checkpoint")
#: How deeply lists and objects may nest in the JSON header. A real one nests a few levels a
#: layer (Sequential in Sequential adds three); readers of the header recurse into it, so
#: thousands of levels ended in a RecursionError traceback.
MAX_HEADER_DEPTH = 100
_TOO_DEEP = (
    f"{META_KEY} must nest lists and objects at most {MAX_HEADER_DEPTH} levels deep; got "
    "deeper (the file is damaged or was not written by softgrad)"
)
#: The most digits an integer in the header may have: Python's default limit on converting
#: between int and str (sys.int_info.default_max_str_digits). A fixed number, not the running
#: process's setting, so a file one process writes every other one reads.
MAX_INT_DIGITS = 4300
#: the Python values that JSON gives back as they were saved
_JSON_SCALARS = (str, int, float, bool, type(None))


def write_npz(
    path: str | os.PathLike,
    arrays: dict[str, np.ndarray],
    meta: dict[str, Any] | None = None,
    kind: str = "model",
) -> None:
    """Write ``arrays`` and a JSON header atomically to ``path`` (that exact name, no suffix added).

    Parameters
    ----------
    path : str or PathLike
        Destination; its folder must exist.
    arrays : dict of str to ndarray
        Numeric, boolean or fixed-width string arrays (object arrays are refused).
    meta : dict, optional
        JSON-serialisable fields, stored in the header under ``"meta"`` (beside ``format``,
        ``kind`` and ``version``, which they cannot clash with) and returned by :func:`read_npz`.
        NumPy numbers (``np.float32(0.98)``) are stored as the Python numbers they hold.
        (The header may nest deeper than :func:`read_npz` reads: tests write such files.)
    kind : {"model", "checkpoint"}
        What the file is; :func:`read_npz` checks it.

    Raises
    ------
    ValueError
        Unknown ``kind``, an object array, the key ``"__meta__"``, or ``meta`` that is not JSON.
    """
    if kind not in KINDS:
        raise ValueError(f"write_npz: kind must be one of {KINDS}; got {kind!r}")
    header = {"format": FORMAT, "kind": kind, "version": VERSION, "meta": dict(meta or {})}
    payload = {}
    for name, array in arrays.items():
        array = np.asarray(array)
        if name == META_KEY or array.dtype.hasobject:
            raise ValueError(
                f"write_npz: arrays must be non-object arrays not named {META_KEY!r}; "
                f"got {name!r} of dtype {array.dtype}"
            )
        payload[name] = array
    text = _json_text(header)
    payload[META_KEY] = np.frombuffer(text.encode("utf-8"), dtype=np.uint8)
    with atomic_write(path) as f:
        np.savez(f, **payload)


def _json_text(value: Any) -> str:
    try:
        return json.dumps(value, sort_keys=True, default=_numpy_scalar)
    except (TypeError, ValueError, RecursionError) as exc:
        raise ValueError(f"write_npz: meta must be JSON-serialisable; got {exc}") from exc


def _numpy_scalar(value: Any) -> Any:
    """A NumPy scalar (``np.float32(0.98)``, ``np.int64(3)``, ``np.True_``) as the Python
    number it holds, for ``json.dumps``; anything else is not JSON (TypeError)."""
    if isinstance(value, np.generic) and isinstance(value.item(), _JSON_SCALARS):
        return value.item()  # a float128's item() is itself: json.dumps recursed
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def _fail(where: str, problem: str) -> ModelFileError:
    return ModelFileError(f"{where}: {problem}")


def model_file_error(path: str | os.PathLike, problem: str) -> ModelFileError:
    """The ModelFileError for a model file whose ``problem`` was found after reading it."""
    return _fail(f"model file '{path}'", problem)


def _read_all(path: Path, where: str) -> dict[str, np.ndarray]:
    return read_arrays(path, where, ModelFileError, "a softgrad .npz file")


def _parse_meta(raw: np.ndarray | None, where: str, kind: str) -> dict[str, Any]:
    if raw is None:
        raise _fail(where, f"file has no {META_KEY} entry: not a softgrad file (a plain .npz?)")
    if raw.dtype != np.uint8 or raw.ndim != 1:
        raise _fail(where, f"{META_KEY} must be a 1-D uint8 array; got {raw.dtype} {raw.shape}")
    try:
        meta = json.loads(raw.tobytes().decode("utf-8"), parse_int=_header_int)
    except _LongInt as exc:
        raise _fail(
            where,
            f"{META_KEY} must hold integers of at most {MAX_INT_DIGITS} digits; got one of "
            f"{exc.digits} digits (the file is damaged or was not written by softgrad)",
        ) from None
    except ValueError as exc:  # UnicodeDecodeError and JSONDecodeError among them
        raise _fail(where, f"{META_KEY} is not valid JSON ({exc})") from exc
    except RecursionError:  # the decoder's own limit, far beyond MAX_HEADER_DEPTH
        raise _fail(where, _TOO_DEEP) from None
    if _too_deep(meta):
        raise _fail(where, _TOO_DEEP)
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise _fail(where, "file is not a softgrad file (its header has no softgrad format marker)")
    version = meta.get("version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise _fail(where, f"format version must be a positive integer; got {version!r}")
    if version > VERSION:
        raise _fail(
            where,
            f"file was written by a newer softgrad (format version {version}; this "
            f"softgrad reads up to {VERSION}): upgrade softgrad",
        )
    if meta.get("kind") != kind:
        raise _fail(where, f"file must be a {kind} file; got a {meta.get('kind')!r} file")
    if not isinstance(meta.get("meta"), dict):
        raise _fail(where, "header must hold a 'meta' object; it does not")
    return meta["meta"]


class _LongInt(ValueError):
    def __init__(self, digits: int):
        super().__init__(digits)
        self.digits = digits


def _header_int(text: str) -> int:
    """An integer of the JSON header: one beyond MAX_INT_DIGITS is refused by its length
    (``int()`` refused it too, in a message that named neither the file nor the field)."""
    digits = len(text.lstrip("-"))
    if digits > MAX_INT_DIGITS:
        raise _LongInt(digits)
    return int(text)


def _too_deep(value: Any) -> bool:
    """Whether lists and objects nest deeper than MAX_HEADER_DEPTH in ``value``.

    A loop over a stack, not a recursion: a deep header must not exhaust what it is checked for.
    """
    stack = [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, (dict, list)):
            if level > MAX_HEADER_DEPTH:
                return True
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, level + 1) for child in children)
    return False


def read_npz(
    path: str | os.PathLike, kind: str = "model", *, what: str | None = None
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Read a file written by :func:`write_npz`, checking it thoroughly.

    Parameters
    ----------
    path : str or PathLike
    kind : {"model", "checkpoint"}
        What the file must be.
    what : {"model", "checkpoint"}, optional
        Same as ``kind`` (the name SPEC.md uses); overrides it when given.

    Returns
    -------
    arrays : dict of str to ndarray
        Every array except the header, read eagerly (the file is closed on return), in native
        byte order.
    meta : dict
        The ``meta`` dict given to :func:`write_npz`.

    Raises
    ------
    FileNotFoundError
        No file at ``path``.
    ModelFileError
        Truncated, corrupted, foreign (no softgrad header, not a zip), pickled, of another
        kind, or written by a newer format version. The message names the file.
    """
    if what is not None:
        kind = what
    if kind not in KINDS:
        raise ValueError(f"read_npz: kind must be one of {KINDS}; got {kind!r}")
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(
            f"load: path of the {kind} file must be a str or pathlib.Path; got "
            f"{type(path).__name__}"
        )
    path = Path(path)
    where = f"{kind} file '{path}'"
    if not path.exists():
        raise FileNotFoundError(f"{where}: no such file")
    if path.is_dir():
        raise _fail(where, "is a folder, not a file")
    arrays = {name: _native(array) for name, array in _read_all(path, where).items()}
    meta = _parse_meta(arrays.pop(META_KEY, None), where, kind)
    return arrays, meta


def _native(array: np.ndarray) -> np.ndarray:
    """``array`` in this machine's byte order (swapped in place: it was just read).

    A file may store big-endian weights (np.savez keeps any byte order); the compiled kernels
    accept only native arrays.
    """
    if array.dtype.isnative:
        return array
    return array.byteswap(inplace=True).view(array.dtype.newbyteorder("="))


def write_model(
    path: str | os.PathLike,
    network: Any,
    *,
    classes: np.ndarray,
    scaler: Scaler | None = None,
    image_shape: tuple[int, ...] | None = None,
    metadata: dict[str, Any] | None = None,
) -> None:
    """Write a model file: the network's weights and architecture, its classes and scaler.

    Parameters
    ----------
    path : str or PathLike
        Written exactly as given (``np.savez``'s automatic ``.npz`` suffix does not apply).
    network : softgrad.nn.Sequential
    classes : ndarray of shape (C,)
    scaler : Scaler, optional
        None stores the identity and marks the file unscaled.
    image_shape : tuple of int, optional
    metadata : dict, optional
        JSON facts about the model, which :func:`read_model` gives back equal: string keys;
        dicts, lists, strings, numbers (NumPy's stored as Python's), booleans and None.

    Raises
    ------
    ValueError
        ``metadata`` that would not come back equal (named by its key), or the file would be
        one :func:`read_model` refuses (:mod:`softgrad.model_checks`: NaN or inf weights, no
        Linear layer, a zero scale ..., or metadata nested beyond ``MAX_HEADER_DEPTH`` or
        holding an integer beyond ``MAX_INT_DIGITS``): nothing is written.
    """
    from softgrad import __version__
    from softgrad.kernels import get_ops
    from softgrad.model_checks import check_model_contents

    if not isinstance(path, (str, os.PathLike)):  # as read_npz refuses it, by name
        raise TypeError(f"save: path must be a str or pathlib.Path; got {type(path).__name__}")
    arrays: dict[str, np.ndarray] = dict(network.named_params())
    for name, array in (scaler or Scaler()).to_arrays().items():
        arrays[f"scaler.{name}"] = array
    arrays["classes"] = np.asarray(classes)
    meta = {
        "network": network.get_config(),
        "image_shape": None if image_shape is None else list(image_shape),
        "metadata": dict(metadata or {}),
        "scaled": scaler is not None,
        "softgrad_version": __version__,
        "kernels": get_ops().name,  # the lane in use (that trained it, in ``softgrad train``)
    }
    # never write a file that read_model refuses (NaN weights, no Linear layer ...), nor
    # metadata that it would give back changed
    where = f"save: '{path}' not written (load would refuse it)"
    _check_metadata(meta["metadata"], f"save: '{path}' not written")
    meta = json.loads(_json_text(meta))  # as read_model will see it (NumPy numbers converted)
    if _too_deep({"meta": meta}):  # the header's levels above the meta, as read_npz counts
        raise ValueError(
            f"{where}: the architecture must nest lists and objects at most {MAX_HEADER_DEPTH} "
            "levels deep in the header (a Sequential in a Sequential adds three); got deeper"
        )
    try:
        check_model_contents(meta, arrays, where)
    except ModelFileError as exc:
        raise ValueError(str(exc)) from None
    write_npz(path, arrays, meta, kind="model")


_TOO_MANY_DIGITS = 10**MAX_INT_DIGITS


def _check_metadata(metadata: dict[str, Any], where: str) -> None:
    """Refuse metadata that load would not give back as it was given: keys that are not
    strings (JSON's keys are: ``1`` came back as ``"1"``), tuples (they came back as lists),
    integers beyond MAX_INT_DIGITS and nesting beyond MAX_HEADER_DEPTH (load refused the file),
    and what JSON cannot hold. NumPy numbers pass: they are stored as the Python numbers they
    hold (a float128, whose value a Python float cannot hold, does not).

    A loop over a stack, not a recursion: metadata nested 10**5 levels deep is refused, not a
    RecursionError.
    """
    stack: list[tuple[Any, str, int]] = [(metadata, "metadata", 1)]
    while stack:
        value, name, level = stack.pop()
        if isinstance(value, np.generic) and isinstance(value.item(), _JSON_SCALARS):
            value = value.item()  # as _numpy_scalar stores it
        if isinstance(value, (dict, list)) and level > MAX_HEADER_DEPTH - 2:
            # the header's own object and its "meta" hold the metadata
            raise ValueError(
                f"{where} (load would refuse it): metadata must nest dicts and lists at most "
                f"{MAX_HEADER_DEPTH - 2} levels deep (itself the first); got deeper"
            )
        if isinstance(value, dict):
            for key in value:
                if not isinstance(key, str):
                    raise ValueError(
                        f"{where}: {name} keys must be strings, as JSON's are ({_json_key(key)}); "
                        f"got {key!r}"
                    )
            stack.extend((item, f"{name}[{key!r}]", level + 1) for key, item in value.items())
        elif isinstance(value, list):
            stack.extend((item, f"{name}[{i}]", level + 1) for i, item in enumerate(value))
        elif isinstance(value, tuple):
            raise ValueError(
                f"{where}: {name} must be a list, not a tuple (JSON has lists only: load would "
                f"give back a list); got {reprlib.repr(value)}"
            )
        elif isinstance(value, int) and abs(value) >= _TOO_MANY_DIGITS:
            raise ValueError(
                f"{where} (load would refuse it): {name} must be an integer of at most "
                f"{MAX_INT_DIGITS} digits; got one of {int(math.log10(abs(value))) + 1} digits"
            )
        elif not isinstance(value, _JSON_SCALARS):
            raise ValueError(
                f"{where}: {name} must be JSON: a dict, list, str, int, float, bool or None "
                f"(NumPy numbers are stored as Python numbers); got {type(value).__name__} "
                f"{reprlib.repr(value)}"
            )


def _json_key(key: Any) -> str:
    """What ``json.dumps`` makes of the dict key ``key``: what load would give back."""
    try:
        return f"load would give back {next(iter(json.loads(json.dumps({key: 0}))))!r}"
    except (TypeError, ValueError):
        return "JSON has no such key"


class ModelContents(NamedTuple):
    """What :func:`read_model` found in a model file (the arguments of ``Model``)."""

    network: Any
    classes: np.ndarray
    scaler: Scaler | None
    image_shape: tuple[int, ...] | None
    metadata: dict[str, Any]


def _build_network(meta: dict[str, Any], arrays: dict[str, np.ndarray], where: str):
    from softgrad.nn import Sequential

    try:
        network = Sequential.from_config(meta["network"])
    except (KeyError, TypeError, ValueError) as exc:
        raise _fail(where, f"architecture is not one this softgrad can build ({exc})") from exc
    params = network.named_params()
    missing = [name for name in params if name not in arrays]
    if missing:
        raise _fail(where, f"file lacks the weights {missing} its architecture needs")
    for name, param in params.items():
        stored = arrays.pop(name)
        if stored.shape != param.shape or stored.dtype.kind != "f":
            raise _fail(
                where,
                f"weight {name!r} must be floating point of shape {param.shape}; "
                f"got {stored.dtype} of shape {stored.shape}",
            )
        if stored.dtype != param.dtype:
            network.astype(stored.dtype)
            params = network.named_params()
        params[name][...] = stored
    return network


def read_model(path: str | os.PathLike) -> ModelContents:
    """Read a model file written by :func:`write_model`, checking it thoroughly.

    Parameters
    ----------
    path : str or PathLike

    Returns
    -------
    ModelContents
        The network (weights in the file's dtype), classes, scaler (None for an unscaled model),
        image shape and metadata.

    Raises
    ------
    FileNotFoundError
        No file at ``path``.
    ModelFileError
        Anything wrong with the file (see :func:`read_npz`), or contents that do not fit
        together (weights missing or of the wrong shape, classes not matching the output size),
        or values that cannot give finite answers (:mod:`softgrad.model_checks`).
    """
    from softgrad.model_checks import check_model_contents

    arrays, meta = read_npz(path, "model")
    where = f"model file '{path}'"
    check_model_contents(meta, arrays, where)  # before anything is built from the declaration
    network = _build_network(meta, arrays, where)
    try:
        scaler = Scaler.from_arrays(
            {"offset": arrays.pop("scaler.offset"), "scale": arrays.pop("scaler.scale")}
        )
        classes = arrays.pop("classes")
    except (KeyError, TypeError, ValueError) as exc:
        raise _fail(where, f"contents do not fit together ({exc})") from exc
    image_shape = meta.get("image_shape")
    return ModelContents(
        network=network,
        classes=classes,
        scaler=scaler if meta.get("scaled", True) else None,
        image_shape=None if image_shape is None else tuple(image_shape),
        metadata=meta.get("metadata") or {},
    )
