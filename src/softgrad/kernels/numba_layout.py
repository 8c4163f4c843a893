"""Which arrays the Numba lane's kernels take: the layout checks NumbaOps runs before a call.

A kernel is compiled for C-contiguous arrays of one native float dtype (and one shape where it
pairs them element by element); anything else goes to the NumPy lane, which takes every layout.
Every method of NumbaOps asks this before it calls a kernel, whether it lives in
:mod:`softgrad.kernels.numba_ops` (updates, activations, gather) or in a mixin
(:mod:`softgrad.kernels.numba_softmax_ops`): the one rule, written once below both.
"""

from __future__ import annotations

import numpy as np

from softgrad.kernels import FUSED_DTYPES


def _same_or_apart(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether two arrays of one C-contiguous layout are the same memory (an in-place call,
    which the row kernels allow) or do not overlap at all; a partial overlap goes to the NumPy
    lane, whose ufuncs buffer it."""
    if not np.may_share_memory(a, b):
        return True
    return a.__array_interface__["data"][0] == b.__array_interface__["data"][0]


def _kernel_bias(y: np.ndarray, b: np.ndarray | None) -> bool:
    """Whether the bias + activation kernel takes the product ``y`` and its bias ``b``: y of a
    native float32/64 dtype, b absent or of y's dtype and (H,) shape in C order. A float16
    product (no compiled kernel: Numba has no float16 arithmetic), or a bias the user replaced
    by another byte order, dtype or a subclass, goes to the NumPy lane's passes."""
    if y.dtype not in FUSED_DTYPES:
        return False
    return b is None or (_same_flat_layout(b) and b.dtype == y.dtype and b.shape == y.shape[1:])


def _native_rows(*arrays: object) -> bool:
    """Whether the arrays are C-contiguous ndarrays of a native (not byte-swapped) dtype."""
    return all(type(a) is np.ndarray and a.flags.c_contiguous and a.dtype.isnative for a in arrays)


def _same_flat_layout(*arrays: object) -> bool:
    """Whether the arrays are C-contiguous ndarrays of one shape and one native float32/64
    dtype (a byte-swapped float32 is not np.float32)."""
    first = arrays[0]
    if type(first) is not np.ndarray or first.dtype not in FUSED_DTYPES:
        return False  # dtype objects: a byte-swapped float32 is not one
    dtype, shape = first.dtype, first.shape
    # a plain loop: a generator under all() cost 1.8 us a call here, on every kernel call
    for a in arrays:
        if type(a) is not np.ndarray or a.dtype != dtype or a.shape != shape:
            return False
        if not a.flags.c_contiguous:
            return False
    return True


def _writes_into(x: np.ndarray, out: np.ndarray) -> bool:
    """Whether a kernel reading ``x`` may write ``out`` element by element: both C-contiguous
    ndarrays of one shape and native float32/64 dtype, ``out`` writeable and either ``x``
    itself or apart from it (a partial overlap would read what the pass wrote)."""
    return _same_flat_layout(x, out) and out.flags.writeable and _same_or_apart(x, out)
