"""The container of model and checkpoint files: one .npz of plain arrays plus a JSON header,
written atomically and read back checked.

Layout of a file written by :func:`write_npz`::

    __meta__         uint8 array: UTF-8 JSON {"format": "softgrad", "kind": "model", "version": 1,
                     "meta": {...the caller's fields, returned as is by read_npz}}
    <name>           every array the caller passed (numbers or fixed-width strings, never objects)

Files are read with ``allow_pickle=False``: nothing in them can run code. The header's nesting,
its objects and its integers are bounded (``MAX_HEADER_DEPTH``, ``MAX_HEADER_OBJECTS``,
``MAX_INT_DIGITS``), so a damaged or hostile header is refused in one line naming the file, not
in a RecursionError, Python's own int-to-str limit or seconds of parsing. What a model file
holds in it is :mod:`softgrad.serialization.model_file`.
"""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from softgrad.atomic import atomic_write
from softgrad.checks import check_path
from softgrad.datasets.sniff import read_arrays
from softgrad.errors import ModelFileError

__all__ = [
    "EXPECTED",
    "FORMAT",
    "JSON_SCALARS",
    "KINDS",
    "MAX_CHECKPOINT_OBJECTS",
    "MAX_HEADER_DEPTH",
    "MAX_HEADER_OBJECTS",
    "MAX_INT_DIGITS",
    "META_KEY",
    "VERSION",
    "json_text",
    "parse_header",
    "read_npz",
    "read_npz_header",
    "too_deep",
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
#: How many JSON objects the header may hold. A real one holds a few a layer (a model declares
#: at most model_checks.MAX_LAYERS, 10,000) and one an array a checkpoint names. Counted as the
#: header is parsed: a 106 KB file inflating to 35 MB of a million layers took 13 s and 470 MB
#: to read before the layer count refused it.
MAX_HEADER_OBJECTS = 200_000
#: A checkpoint's: its state holds the random state of every layer drawing one (Dropout) for
#: every rank of a data-parallel run, two objects each, beside a model's. write_npz refuses a
#: checkpoint beyond it, so that no run writes one its resume refuses.
MAX_CHECKPOINT_OBJECTS = 2_000_000
_MAX_OBJECTS = {"model": MAX_HEADER_OBJECTS, "checkpoint": MAX_CHECKPOINT_OBJECTS}
#: The most digits an integer in the header may have: Python's default limit on converting
#: between int and str (sys.int_info.default_max_str_digits). A fixed number, not the running
#: process's setting, so a file one process writes every other one reads.
MAX_INT_DIGITS = 4300
#: the Python values that JSON gives back as they were given
JSON_SCALARS = (str, int, float, bool, type(None))


def write_npz(
    path: str | os.PathLike,
    arrays: dict[str, np.ndarray],
    meta: dict[str, Any] | None = None,
    kind: str = "model",
    where: str = "write_npz",
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
    where : str, default "write_npz"
        The public function writing (``save``, ``save_checkpoint``), which the errors about
        ``path`` begin with.

    Raises
    ------
    ValueError
        Unknown ``kind``, an object array, the key ``"__meta__"``, or ``meta`` that is not JSON.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = pathlib.Path(folder) / "state"  # no ".npz" is added
    ...     write_npz(path, {"w": np.arange(3.0)}, {"step": np.int64(7)}, kind="checkpoint")
    ...     arrays, meta = read_npz(path, "checkpoint")
    >>> arrays, meta
    ({'w': array([0., 1., 2.])}, {'step': 7})
    """
    check_path(path, "write_npz")
    if not isinstance(arrays, dict) or not all(isinstance(k, str) for k in arrays):
        raise TypeError(
            "write_npz: arrays must be a dict of arrays by str name; got "
            + (type(arrays).__name__ if not isinstance(arrays, dict) else f"keys {list(arrays)!r}")
        )
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
    text = json_text(header)
    if kind == "checkpoint":  # write_model checks a model's with its other checks
        try:
            parse_header(text, MAX_CHECKPOINT_OBJECTS)
        except _TooManyObjects:
            raise ValueError(
                f"{where}: a checkpoint's header must hold at most {MAX_CHECKPOINT_OBJECTS} "
                "JSON objects, as resume reads it; this one would hold more (its layers' random "
                "states for every rank)"
            ) from None
    payload[META_KEY] = np.frombuffer(text.encode("utf-8"), dtype=np.uint8)
    with atomic_write(path, where) as f:
        _savez(f, payload)


def json_text(value: Any) -> str:
    try:
        return json.dumps(value, sort_keys=True, default=_numpy_scalar)
    except (TypeError, ValueError, RecursionError) as exc:
        raise ValueError(f"write_npz: meta must be JSON-serialisable; got {exc}") from exc


def _numpy_scalar(value: Any) -> Any:
    """A NumPy scalar (``np.float32(0.98)``, ``np.int64(3)``, ``np.True_``) as the Python
    number it holds, for ``json.dumps``; anything else is not JSON (TypeError)."""
    if isinstance(value, np.generic) and isinstance(value.item(), JSON_SCALARS):
        return value.item()  # a float128's item() is itself: json.dumps recursed
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def _fail(where: str, problem: str) -> ModelFileError:
    return ModelFileError(f"{where}: {problem}")


#: what a file read by read_npz must be, in its messages
EXPECTED = "a softgrad .npz file"


def _read_all(path: Path, where: str, keys: tuple[str, ...] | None) -> dict[str, np.ndarray]:
    return read_arrays(path, where, ModelFileError, EXPECTED, keys=keys)


def _parse_meta(raw: np.ndarray | None, where: str, kind: str) -> dict[str, Any]:
    if raw is None:
        raise _fail(where, f"file has no {META_KEY} entry: not a softgrad file (a plain .npz?)")
    if raw.dtype != np.uint8 or raw.ndim != 1:
        raise _fail(where, f"{META_KEY} must be a 1-D uint8 array; got {raw.dtype} {raw.shape}")
    limit = _MAX_OBJECTS.get(kind, MAX_HEADER_OBJECTS)
    try:
        meta = parse_header(raw.tobytes().decode("utf-8"), limit)
    except _TooManyObjects:
        raise _fail(
            where,
            f"{META_KEY} must hold at most {limit} JSON objects; got more (the file is "
            "damaged or was not written by softgrad)",
        ) from None
    except _RepeatedKey as exc:
        raise _fail(
            where,
            f"{META_KEY} must name each key of an object once; got {exc.key!r} twice (the file "
            "is damaged or was not written by softgrad)",
        ) from None
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
    if too_deep(meta):
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


class _RepeatedKey(ValueError):
    def __init__(self, key: str):
        super().__init__(key)
        self.key = key


class _TooManyObjects(ValueError):
    pass


def parse_header(text: str, max_objects: int = MAX_HEADER_OBJECTS) -> Any:
    """The JSON header ``text``, parsed; ValueError subclasses for a key given twice in an
    object (``_RepeatedKey``), more than ``max_objects`` objects (``_TooManyObjects``,
    raised as the parser reaches the one too many) and an integer beyond ``MAX_INT_DIGITS``
    digits (``_LongInt``)."""
    count = 0

    def checked(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        # a key given twice is refused: JSON readers keep the last one silently, so a file
        # edited by hand could say two things and be read as one
        nonlocal count
        count += 1
        if count > max_objects:
            raise _TooManyObjects()
        obj = dict(pairs)  # one pass in C; a key given twice is looked for only then
        if len(obj) != len(pairs):
            seen: set[str] = set()
            for key, _ in pairs:
                if key in seen:
                    raise _RepeatedKey(key)
                seen.add(key)
        return obj

    return json.loads(text, parse_int=_header_int, object_pairs_hook=checked)


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


def too_deep(value: Any) -> bool:
    """Whether lists and objects nest deeper than MAX_HEADER_DEPTH in ``value``.

    A loop over the levels, not a recursion: a deep header must not exhaust what it is checked
    for. Each level's containers are gathered in one comprehension (a stack of (item, level)
    pairs took 3 us a container, 5.7 s for the million layers of a hostile 106 KB file); only
    containers are kept (a long run's history is six lists of a number an epoch).
    """
    containers = (dict, list)
    level = [value] if isinstance(value, containers) else []
    depth = 0
    while level:
        depth += 1
        if depth > MAX_HEADER_DEPTH:
            return True
        level = [
            child
            for item in level
            for child in (item.values() if isinstance(item, dict) else item)
            if isinstance(child, containers)
        ]
    return False


def _savez(f: Any, payload: dict[str, np.ndarray]) -> None:
    """What ``np.savez(f, **payload)`` writes (one uncompressed .npy member per array), without
    passing the names as keywords: np.savez has its own (``file``, ``allow_pickle``), so an
    array named "allow_pickle" was taken for that flag and left out of the file, and one named
    "file" raised a TypeError. No object arrays reach here (write_npz refuses them)."""
    with zipfile.ZipFile(f, mode="w", compression=zipfile.ZIP_STORED, allowZip64=True) as archive:
        for name, array in payload.items():
            with archive.open(f"{name}.npy", "w", force_zip64=True) as member:
                np.lib.format.write_array(member, np.asanyarray(array), allow_pickle=False)


def read_npz(
    path: str | os.PathLike,
    kind: str = "model",
    *,
    what: str | None = None,
    keys: tuple[str, ...] | None = None,
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Read a file written by :func:`write_npz`, checking it thoroughly.

    Parameters
    ----------
    path : str or PathLike
    kind : {"model", "checkpoint"}
        What the file must be.
    what : {"model", "checkpoint"}, optional
        Same as ``kind`` (the name SPEC.md uses); overrides it when given.
    keys : tuple of str, optional
        Read only these arrays (those present) besides the header; default all.

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

    Examples
    --------
    >>> import tempfile, pathlib
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = pathlib.Path(folder) / "m.npz"
    ...     write_npz(path, {"a": np.ones(2), "b": np.zeros(1)}, {"note": "hi"})
    ...     arrays, meta = read_npz(path, keys=("a",))
    ...     try:
    ...         _ = read_npz(path, "checkpoint")
    ...     except ModelFileError:
    ...         refused = True
    >>> sorted(arrays), meta, refused
    (['a'], {'note': 'hi'}, True)
    """
    kind, path, where = _opened(path, kind if what is None else what, "read_npz")
    wanted = None if keys is None else (*keys, META_KEY)
    arrays = {name: _native(array) for name, array in _read_all(path, where, wanted).items()}
    meta = _parse_meta(arrays.pop(META_KEY, None), where, kind)
    return arrays, meta


def read_npz_header(path: str | os.PathLike, kind: str = "model") -> dict[str, Any]:
    """The ``meta`` dict of a file written by :func:`write_npz`, read and checked as
    :func:`read_npz` reads it, without reading any other array (a caller that checks a
    checkpoint's settings before the run reads its weights). Raises as :func:`read_npz`."""
    kind, path, where = _opened(path, kind, "read_npz_header")
    raw = read_arrays(path, where, ModelFileError, "a softgrad .npz file", keys=(META_KEY,))
    return _parse_meta(raw.get(META_KEY), where, kind)


def _opened(path: Any, kind: str, caller: str) -> tuple[str, Path, str]:
    """(kind, path, the message prefix naming the file) for a file about to be read, checked:
    a known kind, a path to an existing file."""
    if kind not in KINDS:
        raise ValueError(f"{caller}: kind must be one of {KINDS}; got {kind!r}")
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(
            f"load: path of the {kind} file must be a str or pathlib.Path; got "
            f"{type(path).__name__}"
        )
    path = Path(path)
    where = f"{kind} file {str(path)!r}"
    if not path.exists():
        raise FileNotFoundError(f"{where}: no such file")
    if path.is_dir():
        raise _fail(where, "is a folder, not a file")
    return kind, path, where


def _native(array: np.ndarray) -> np.ndarray:
    """``array`` in this machine's byte order (swapped in place: it was just read).

    A file may store big-endian weights (np.savez keeps any byte order); the compiled kernels
    accept only native arrays.
    """
    if array.dtype.isnative:
        return array
    return array.byteswap(inplace=True).view(array.dtype.newbyteorder("="))
