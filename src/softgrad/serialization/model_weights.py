"""A model file's weights read straight into the parameter store's buffers.

:func:`read_model_weights` is how :func:`softgrad.serialization.read_model` reads a model file
that softgrad wrote as it writes them (:func:`plain_members`): every member's .npy header is
read and checked against the bytes that hold it first (nothing is allocated before), the header,
scaler and classes are read as :func:`~softgrad.serialization.npz.read_npz` reads them, the
declaration is checked against the weights' headers (:func:`check_model_declaration`), the
store's flat buffer is allocated, each weight's data is read into its place in it
``CHUNK_BYTES`` at a time, the values are checked there (:func:`check_model_values`), and the
network is built over the buffers. Loading peaks at the weights' bytes and one chunk, where
reading every array and then copying it into the store peaked at 1.8x the weights.

A file of anything else (a member named without ``.npy``, Fortran order, weights that are not
float16, float32 or float64 ...) is read whole by read_npz, which says what is wrong with it.
"""

from __future__ import annotations

import math
import os
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from softgrad.datasets.sniff import check_array_headers, npy_header, sniff
from softgrad.errors import ModelFileError
from softgrad.model_file_scaler import SCALER_ARRAYS
from softgrad.serialization.npz import EXPECTED, META_KEY, read_npz

__all__ = ["CHUNK_BYTES", "Member", "plain_members", "read_into", "read_model_weights"]

#: how many bytes of a weight are read at a time: the most that loading holds beside the store
CHUNK_BYTES = 1 << 20
#: the arrays read whole (they are small: the scaler's are the input's width)
_READ_WHOLE = (*SCALER_ARRAYS, "classes")
#: the dtypes a weight may have (as model_checks refuses others)
_WEIGHT_DTYPES = ("float16", "float32", "float64")
# what zipfile raises on a damaged archive: read_npz reads it again, and names the damage
_DAMAGED = (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, EOFError, OSError, ValueError)


class Member(NamedTuple):
    """An .npz member and what its .npy header declares (``dtype`` in the stored byte order)."""

    info: zipfile.ZipInfo
    shape: tuple[int, ...]
    dtype: np.dtype


def plain_members(path: Any, where: str) -> dict[str, Member] | None:
    """Every member of the .npz file at ``path`` by array name, when each is as write_npz
    writes it: named ``<name>.npy``, once, a C-ordered array of numbers or strings. None for
    anything else (a path to no file, a file that is no zip or a damaged one, a member named
    without ``.npy``, Fortran order, Python objects): read_npz reads it whole and names what
    is wrong.

    Raises
    ------
    ModelFileError
        A header that declares other than the bytes that hold it, a zip bomb, a compression
        NumPy does not write (:func:`softgrad.datasets.sniff.check_array_headers`): checked
        before anything is allocated, as read_npz checks them.
    """
    if not isinstance(path, (str, os.PathLike)) or not Path(path).is_file():
        return None
    members: dict[str, Member] = {}
    try:
        if sniff(path) != "zip":
            return None
        check_array_headers(path, "zip", where, ModelFileError)
        with zipfile.ZipFile(path) as archive:
            for info in archive.infolist():
                name = info.filename.removesuffix(".npy")
                if name == info.filename or name in members:
                    return None
                with archive.open(info) as member:
                    holder = f"array {name!r}"
                    shape, fortran, dtype = npy_header(member, where, ModelFileError, holder)
                if fortran or dtype.hasobject:
                    return None
                members[name] = Member(info, shape, dtype)
    except _DAMAGED:
        return None
    return members


def read_model_weights(
    path: str | os.PathLike, where: str
) -> tuple[Any, dict[str, np.ndarray], dict[str, Any]] | None:
    """The network of the model file at ``path`` over buffers its weights were read into,
    the other arrays (``scaler.offset``, ``scaler.scale``, ``classes``) and the file's meta,
    every check of :func:`softgrad.model_checks.check_model_contents` passed; None for a file
    that :func:`plain_members` leaves to read_npz.

    Raises
    ------
    ModelFileError
        As read_npz and check_model_contents, in the same words; a weight whose data is
        truncated or damaged (its CRC) as read_npz names it.
    """
    from softgrad.model_checks import check_model_declaration, check_model_values

    members = plain_members(path, where)
    if members is None:
        return None
    members.pop(META_KEY, None)  # read_npz reads it, or names its absence
    weights = {name: m for name, m in members.items() if name not in _READ_WHOLE}
    if any(m.dtype.name not in _WEIGHT_DTYPES for m in weights.values()):
        return None
    arrays, meta = read_npz(path, "model", keys=_READ_WHOLE)
    # zero-strided stand-ins of each weight's shape and dtype, which hold no memory: the
    # declaration checks read only those
    stand_ins = {
        name: np.broadcast_to(np.empty((), m.dtype.newbyteorder("=")), m.shape)
        for name, m in weights.items()
    }
    check_model_declaration(meta, {**arrays, **stand_ins}, where)
    buffers, places, views = _allocate(meta["network"], weights, where)
    read_into(path, weights, views, where)
    # in the file's order, as read_npz gives them: the first array that is not finite is named
    values = {name: views[name] if name in views else arrays[name] for name in members}
    check_model_values(meta, values, where)
    return _build(meta["network"], buffers, places, where), arrays, meta


def _allocate(
    config: Any, weights: dict[str, Member], where: str
) -> tuple[tuple[np.ndarray, np.ndarray], dict[str, tuple[int, int]], dict[str, np.ndarray]]:
    """The store's two flat buffers for the declared weights (checked: one dtype, the stored
    shapes, whose bytes the file holds), each weight's [start, stop) in them and its view of
    the parameter buffer, in store order (network order, W then b, as ``declared_shapes``)."""
    from softgrad.model_checks import declared_shapes
    from softgrad.nn.store import allocate_flat

    shapes = declared_shapes(config, where)
    dtype = next(iter(weights.values())).dtype.newbyteorder("=")
    total = sum(math.prod(shape) for shape in shapes.values())
    params, grads = allocate_flat(total, dtype, f"{where}: the {total} weights")
    places, views, start = {}, {}, 0
    for name, shape in shapes.items():
        places[name] = (start, start + math.prod(shape))
        views[name] = params[slice(*places[name])].reshape(shape)
        start = places[name][1]
    return (params, grads), places, views


def read_into(
    path: str | os.PathLike, weights: dict[str, Member], views: dict[str, np.ndarray], where: str
) -> None:
    """Each member's data into its view (of the member's shape and dtype, in this machine's
    byte order), ``CHUNK_BYTES`` at a time (zipfile checks each member's CRC as its last byte
    is read), then in this machine's byte order: the model's weights here, a checkpoint's
    optimizer state (training.checkpoint_state)."""
    try:
        with zipfile.ZipFile(path) as archive:
            for name, member in weights.items():
                view = views[name]
                data = view.reshape(-1).view(np.uint8)
                with archive.open(member.info) as f:
                    npy_header(f, where, ModelFileError, f"array {name!r}")  # checked before
                    for start in range(0, data.nbytes, CHUNK_BYTES):
                        chunk = data[start : start + CHUNK_BYTES]
                        got = f.read(chunk.nbytes)
                        if len(got) != chunk.nbytes:  # in NumPy's words, as read_npz says it
                            raise EOFError(
                                f"EOF: reading array data, expected {data.nbytes} bytes got "
                                f"{start + len(got)}"
                            )
                        chunk[...] = np.frombuffer(got, dtype=np.uint8)
                if not member.dtype.isnative:
                    view.byteswap(inplace=True)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, EOFError, OSError) as exc:
        raise ModelFileError(
            f"{where}: file must be {EXPECTED}; got a truncated or corrupted zip ({exc})"
        ) from None


def _build(
    config: Any,
    buffers: tuple[np.ndarray, np.ndarray],
    places: dict[str, tuple[int, int]],
    where: str,
) -> Any:
    """The Sequential the config declares, its store adopting ``buffers`` (each Linear's
    arrays views of its ``places`` in them); refused as read_model's building refuses."""
    from softgrad.nn import Sequential

    params, grads = buffers

    def memory(
        key: str, in_features: int, out_features: int, bias: bool
    ) -> tuple[np.ndarray, np.ndarray]:
        names = [f"{key}.W", *([f"{key}.b"] if bias else [])]
        missing = [name for name in names if name not in places]
        if missing:
            raise ModelFileError(
                f"{where}: file lacks the weights {missing} its architecture needs"
            )
        start, stop = places[names[0]][0], places[names[-1]][1]
        return params[start:stop], grads[start:stop]

    return built(lambda: Sequential._over_buffers(config, buffers, memory), where)


def built(build: Callable[[], Any], where: str) -> Any:
    """``build()``: a network from a model file's declaration, over the store's buffers here
    or from arrays read whole (model_file's ``_build_network``); whatever the builder refuses
    (KeyError, TypeError, ValueError) is a ModelFileError naming the file."""
    try:
        return build()
    except ModelFileError:
        raise
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelFileError(
            f"{where}: architecture is not one this softgrad can build ({exc})"
        ) from exc
