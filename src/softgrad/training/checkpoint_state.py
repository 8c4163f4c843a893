"""A checkpoint's optimizer state read straight into buffers laid out as the run's store.

A resumed run's optimizer state ends in flat buffers, one per slot (SGD's momentum, Adam's two
moments), every parameter's state a view of its place there (optim.flat). Read array by array,
that state was held twice: once as the file's arrays, once copied into those buffers at the
first step, with the largest parameter's state in both at once; a resumed run peaked one
optimizer state (SGD with momentum) or two (Adam) above the same run uninterrupted.

:func:`read_flat_state` reads each parameter's state from the file into its place in one buffer
per slot, laid out as the checkpoint's weights are stored (the store's order: network order, W
then b), so the first step adopts the buffers (optim.flat's ``_laid_out``) and nothing is
copied. It is what ``load_checkpoint(path, single_use=True)`` does for a file written as
save_checkpoint writes them; any other layout (a state of some parameters only, another dtype
than the weights', a file of another writer) is read array by array, as before.
"""

from __future__ import annotations

import math
import os
from typing import Any

import numpy as np

__all__ = ["read_flat_state"]


def read_flat_state(
    path: str | os.PathLike, meta: Any, where: str
) -> tuple[dict[str, np.ndarray], tuple[str, ...]] | None:
    """The optimizer state's arrays of the checkpoint at ``path`` (``meta`` its header), each
    a view of its place in its slot's buffer, by array name; and the names of all the file's
    arrays in its order. None where the file or its state is laid out otherwise (see the
    module's docstring) or damaged: read_npz then reads every array, and names what is wrong."""
    from softgrad.errors import ModelFileError
    from softgrad.serialization.model_weights import plain_members, read_into
    from softgrad.serialization.npz import META_KEY

    members = plain_members(path, where)
    if members is None:
        return None
    places = _places(meta, members)
    if places is None:
        return None
    state, size, dtype = places
    buffers = {slot: np.empty(size, dtype) for slot, _, _, _ in state.values()}
    views = {
        name: buffers[slot][start:stop].reshape(members[name].shape)
        for name, (slot, start, stop, _) in state.items()
    }
    try:
        read_into(path, {name: members[name] for name in views}, views, where)
    except ModelFileError:
        return None  # read_npz reads the file again, and names the damage in its words
    return views, tuple(name for name in members if name != META_KEY)


def _places(
    meta: Any, members: dict[str, Any]
) -> tuple[dict[str, tuple[str, int, int, str]], int, np.dtype] | None:
    """Each optimizer state array's (slot, start, stop, key) in its slot's buffer, the buffers'
    size and dtype: the weights' order, sizes and dtype; None unless every slot holds a state
    of every weight, in the weight's shape and dtype."""
    params, optimizer = meta.get("params"), meta.get("optimizer")
    if not isinstance(params, dict) or not isinstance(optimizer, dict) or not params:
        return None
    layout: dict[str, tuple[int, int, tuple[int, ...]]] = {}
    start, dtype = 0, None
    for key, ref in params.items():
        array = _array_name(ref)
        member = None if array is None else members.get(array)
        if member is None:
            return None
        native = member.dtype.newbyteorder("=")
        if native.kind != "f" or dtype not in (None, native):
            return None
        dtype, stop = native, start + math.prod(member.shape)
        layout[key] = (start, stop, member.shape)
        start = stop
    state: dict[str, tuple[str, int, int, str]] = {}
    keys_of: dict[str, set[str]] = {}
    for entry, ref in optimizer.items():
        name = _array_name(ref)
        if name is None:
            continue  # the hyperparameters and step counts
        slot, dot, key = str(entry).partition(".")
        member = members.get(name)
        if not dot or key not in layout or member is None or name in state:
            return None
        if member.shape != layout[key][2] or member.dtype.newbyteorder("=") != dtype:
            return None
        state[name] = (slot, layout[key][0], layout[key][1], key)
        keys_of.setdefault(slot, set()).add(key)
    if not state or any(keys != set(layout) for keys in keys_of.values()):
        return None
    assert dtype is not None
    return state, start, dtype


def _array_name(ref: Any) -> str | None:
    """The array a header entry names (``{"__array__": name}``), or None."""
    if isinstance(ref, dict) and set(ref) == {"__array__"} and isinstance(ref["__array__"], str):
        return ref["__array__"]
    return None
