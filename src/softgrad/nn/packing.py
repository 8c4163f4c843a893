"""One contiguous buffer for a Sequential's parameters, another for its gradients.

A Sequential of plain layers keeps every parameter as a view into one flat array (and every
gradient as a view into a second one), in ``named_params()`` order. The values and the per-layer
dicts are unchanged; only where the arrays live changes. An optimizer handed these dicts can then
update the whole network in one set of passes instead of one set per array: for the benchmark
network that is 4 NumPy/BLAS calls per pass instead of 16, and for the small arrays (biases,
the 100 x 10 output layer) the per-call cost is all there is (see softgrad.optim.flat).

The arrays follow each other with no gaps, so every element of the flat buffers belongs to a
parameter: an elementwise update of the buffer is exactly the per-array update. (Padding each
array to a cache line was tried; its gaps hold zeros that an update such as Adam's with eps=0
turns into 0/0.)

Packing never leaves a reference stale. Only arrays that nothing but their layer's dict refers
to, over memory that nothing else holds, are moved; a variable holding ``layer.params["W"]``, a
view of it, a custom layer keeping its own attribute or exposing a view of a buffer it keeps all
leave the network unpacked (it then trains array by array, as before). Reference counts decide
that, so packing is done only on the interpreters whose counting it was written against
(CPython up to 3.13 with the GIL).

``named_params()`` / ``named_grads()`` return a :class:`ParamDict` (a dict, plus the flat buffer)
only while the layers still hold the packed views; editing that dict (replacing or removing an
entry, to clip a gradient or freeze a parameter) turns it into an ordinary dict for the
optimizer, which then updates exactly what the dict holds.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["Packing", "ParamDict", "pack"]


class ParamDict(dict):
    """A ``named_params()`` or ``named_grads()`` dict whose arrays are views of ``flat``.

    ``packing`` is None once the dict has been edited: it then no longer says what the flat
    buffer holds, and an optimizer must go by its entries.
    """

    flat: np.ndarray
    packing: Packing | None

    def _edited(self) -> None:
        self.packing = None

    def __setitem__(self, key: Any, value: Any) -> None:
        self._edited()
        super().__setitem__(key, value)

    def __delitem__(self, key: Any) -> None:
        self._edited()
        super().__delitem__(key)

    def __ior__(self, other: Any) -> ParamDict:
        self._edited()
        return super().__ior__(other)

    def pop(self, *args: Any) -> Any:
        self._edited()
        return super().pop(*args)

    def popitem(self) -> Any:
        self._edited()
        return super().popitem()

    def clear(self) -> None:
        self._edited()
        super().clear()

    def update(self, *args: Any, **kwargs: Any) -> None:
        self._edited()
        super().update(*args, **kwargs)

    def setdefault(self, key: Any, default: Any = None) -> Any:
        self._edited()
        return super().setdefault(key, default)


class Packing:
    """Where each qualified name lives in the two flat buffers.

    Attributes
    ----------
    params, grads : ndarray of shape (P,)
        The flat buffers (P = the number of scalars in the network).
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
            start += size
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
        out.flat, out.packing = flat, self
        return out


def _can_count_references() -> bool:
    # CPython <= 3.13 with the GIL: every reference, the caller's locals included, is counted
    gil = getattr(sys, "_is_gil_enabled", lambda: True)()
    return sys.implementation.name == "cpython" and sys.version_info < (3, 14) and gil


def _movable(array: np.ndarray) -> bool:
    """Whether only its layer's dict refers to ``array``, and only ``array`` to its memory."""
    # 3 = the dict's reference, the caller's argument and getrefcount's own argument; a base
    # (an unpickled array's bytes, a buffer a layer keeps) counts the array's reference + 1
    if sys.getrefcount(array) > 3:
        return False
    return array.base is None or sys.getrefcount(array.base) <= 2


def pack(layers: Sequence[Any]) -> Packing | None:
    """Pack the parameters of ``layers`` (see the module docstring); None when not possible.

    Not packed: no parameters at all, parameters of more than one dtype, an array referenced
    from outside its layer or viewing memory that something else holds, a layer that appears
    twice (shared weights), or a nested layer that reports qualified names itself (a Sequential
    inside a Sequential), whose arrays live in its own children.
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
    if not owners or not _can_count_references():
        return None
    for layer, name, _ in owners:
        if not _movable(layer.params[name]):
            return None
        if name in layer.grads and not _movable(layer.grads[name]):
            return None
    dtypes = {layer.params[name].dtype for layer, name, _ in owners}
    if len(dtypes) != 1:
        return None
    return Packing(owners, dtypes.pop())
