"""One contiguous buffer for a Sequential's parameters, another for its gradients.

A Sequential of plain layers keeps every parameter as a view into one flat array (and every
gradient as a view into a second one), in ``named_params()`` order. The values and the per-layer
dicts are unchanged; only where the arrays live changes. An optimizer handed these dicts can then
update the whole network in one set of passes instead of one set per array: for the benchmark
network that is 4 NumPy/BLAS calls per pass instead of 16, and for the small arrays (biases,
the 100 x 10 output layer) the per-call cost is all there is (see softgrad.optim.flat).

Each array starts on a 16-element boundary (64 bytes: a cache line, the widest SIMD load); the
gaps between arrays hold zeros in both buffers, so an elementwise update leaves them zero.

Packing never leaves a reference stale: an array that anything besides its layer's dict refers
to (a variable holding ``layer.params["W"]``, a view of it, a custom layer's own attribute) is
left where it is, and the network is simply not packed. ``named_params()`` / ``named_grads()``
return a :class:`ParamDict` (a dict, plus the flat buffer) only while the layers still hold the
packed views: replacing a layer's array (``astype``, or assigning ``layer.params["W"] = ...``)
quietly turns them back into plain dicts, and everything keeps working array by array.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["Packing", "ParamDict", "pack"]

_ALIGN = 16  # elements


class ParamDict(dict):
    """A ``named_params()`` or ``named_grads()`` dict whose arrays are views of ``flat``."""

    flat: np.ndarray
    packing: Packing


class Packing:
    """Where each qualified name lives in the two flat buffers.

    Attributes
    ----------
    params, grads : ndarray of shape (P,)
        The flat buffers (P >= the number of scalars in the network, gaps included).
    layout : tuple of (key, start, stop, shape)
        Qualified name, its slice of the flat buffers and its shape, in layer order.
    """

    def __init__(self, owners: list[tuple[Any, str, str]], dtype: np.dtype) -> None:
        layout = []
        start = 0
        for layer, name, key in owners:
            shape = layer.params[name].shape
            size = int(np.prod(shape, dtype=np.int64))
            layout.append((key, start, start + size, shape))
            start += -(-size // _ALIGN) * _ALIGN
        self.layout = tuple(layout)
        self.params = np.zeros(start, dtype=dtype)
        self.grads = np.zeros(start, dtype=dtype)
        self._owners = owners
        self._param_views = {}
        self._grad_views = {}
        for (layer, name, key), (_, begin, stop, shape) in zip(owners, layout, strict=True):
            param = self.params[begin:stop].reshape(shape)
            param[...] = layer.params[name]
            grad = self.grads[begin:stop].reshape(shape)
            grad[...] = layer.grads[name] if name in layer.grads else 0
            layer.params[name] = self._param_views[key] = param
            layer.grads[name] = self._grad_views[key] = grad

    def view(self, arrays: dict[str, np.ndarray], grads: bool) -> dict[str, np.ndarray]:
        """``arrays`` as a ParamDict if they are exactly the packed views, else unchanged."""
        views = self._grad_views if grads else self._param_views
        flat = self.grads if grads else self.params
        if len(arrays) != len(views):
            return arrays
        for key, array in arrays.items():
            if views.get(key) is not array or array.base is not flat:  # base: copies unpacked
                return arrays
        out = ParamDict(arrays)
        out.flat = flat
        out.packing = self
        return out


def _referenced_elsewhere(layer: Any, name: str) -> bool:
    """Whether anything but the layer's own dicts refers to its parameter or gradient array."""
    if not hasattr(sys, "getrefcount"):  # not CPython: no way to tell, so do not move arrays
        return True
    # 2 = the dict's reference + getrefcount's argument
    grad_shared = name in layer.grads and sys.getrefcount(layer.grads[name]) > 2
    return sys.getrefcount(layer.params[name]) > 2 or grad_shared


def pack(layers: Sequence[Any]) -> Packing | None:
    """Pack the parameters of ``layers`` (see the module docstring); None when not possible.

    Not packed: no parameters at all, parameters of more than one dtype, an array referenced
    from outside its layer, a layer that appears twice (shared weights), or a nested layer that
    reports qualified names itself (a Sequential inside a Sequential), whose arrays live in its
    own children.
    """
    owners = []
    seen = set()
    for index, layer in enumerate(layers):
        if not layer.params:
            continue
        if hasattr(layer, "layers") or id(layer) in seen:  # nested, or one layer used twice
            return None
        seen.add(id(layer))
        owners.extend((layer, name, f"{index}.{name}") for name in layer.params)
    if not owners or any(_referenced_elsewhere(layer, name) for layer, name, _ in owners):
        return None
    dtypes = {layer.params[name].dtype for layer, name, _ in owners}
    if len(dtypes) != 1:
        return None
    return Packing(owners, dtypes.pop())
