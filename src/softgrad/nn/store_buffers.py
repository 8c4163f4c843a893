"""The parameter store's flat buffers: allocated, and each layer's array moved into its place,
adopted there, or put back there (:mod:`softgrad.nn.store`)."""

from __future__ import annotations

import itertools

import numpy as np


def allocate_flat(size: int, dtype: np.dtype, what: str) -> tuple[np.ndarray, np.ndarray]:
    """Two 1-d buffers of ``size`` scalars of ``dtype``: parameters (not initialised: the caller
    fills every one) and gradients (zeros).

    A MemoryError names ``what`` (``"{what} must fit in memory; got ..."``) and the size.
    """
    try:
        return np.empty(size, dtype=dtype), np.zeros(size, dtype=dtype)
    except MemoryError:
        raise MemoryError(
            f"{what} must fit in memory; got {size * dtype.itemsize / 2**30:.3g} GiB of "
            f"{dtype.name}, and as much for their gradients, that cannot be allocated"
        ) from None


def allocate_places(
    sizes: list[int], dtype: np.dtype, what: str
) -> tuple[tuple[np.ndarray, np.ndarray], list[tuple[np.ndarray, np.ndarray]]]:
    """Flat buffers for layers of ``sizes`` scalars each, in store order (:func:`allocate_flat`
    of their sum, ``what`` naming them), and each layer's ``(params, grads)`` slices of them:
    where ``build_mlp`` and ``Sequential.from_config`` draw their Linear layers."""
    ends = list(itertools.accumulate(sizes))
    params, grads = allocate_flat(ends[-1], dtype, what)
    starts = [0, *ends[:-1]]
    return (params, grads), [(params[a:b], grads[a:b]) for a, b in zip(starts, ends, strict=True)]


def _move(flat: np.ndarray, arrays: dict, name: str, row: tuple) -> np.ndarray:
    """Copy ``arrays[name]`` (if not None: zeros stay) into its place in ``flat``, a new
    buffer that no other array uses; the view replaces it."""
    _, begin, stop, shape = row
    view = flat[begin:stop].reshape(shape)
    if arrays.get(name) is not None:
        view[...] = arrays[name]
    arrays[name] = view
    return view


def _adopt(flat: np.ndarray, arrays: dict, name: str, row: tuple) -> np.ndarray:
    """``arrays[name]``, which must be the view of its place in ``flat``."""
    _, begin, stop, shape = row
    array = arrays.get(name)
    address = flat.__array_interface__["data"][0] + begin * flat.itemsize
    if (
        not isinstance(array, np.ndarray)
        or array.shape != shape
        or not array.flags.c_contiguous
        or array.__array_interface__["data"][0] != address
    ):
        raise ValueError(f"ParamStore: {name!r} must be the view of [{begin}:{stop}] to adopt it")
    return array


def _reseat(arrays: dict, name: str, view: np.ndarray, missing_ok: bool = False) -> bool:
    """Copy ``arrays[name]`` into ``view`` and put ``view`` back; False when it cannot fit."""
    if name not in arrays:
        if missing_ok:  # a gradient the layer dropped: the store's array again
            arrays[name] = view
        return missing_ok
    value = arrays[name]
    if not isinstance(value, np.ndarray) or value.shape != view.shape or value.dtype != view.dtype:
        return False
    np.copyto(view, value)
    arrays[name] = view
    return True
