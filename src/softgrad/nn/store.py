"""The parameter store: a network's parameters in one flat buffer, its gradients in another.

When
    ``Sequential(*layers)`` builds the store of its layers when it is constructed, every time.
    ``Sequential.astype`` and copying or unpickling a Sequential build a new one. Nothing else
    decides it: not who holds an array, not the interpreter, not the BLAS.

What happens to the layers' arrays
    Building copies each parameter's values (and each gradient's) into the store's buffers, in
    ``named_params()`` order with no gaps, and puts a view of the buffer into the layer's own
    dict in place of the array (``layer.params["W"]`` is then a view). An array you held from
    before is a detached copy from then on: training no longer updates it, and writing into it
    no longer changes the network. Take references after building the Sequential.

    Memory: the parameter buffer is allocated and filled first, each layer's array let go as
    its view replaces it, then the gradient buffer (zeros), so building peaks at the layers'
    arrays and one buffer (3x the weights' bytes, if nothing else holds them), not both
    buffers on top of them. ``build_mlp`` allocates the two buffers itself (:func:`allocate_flat`),
    draws each Linear straight into them and the store adopts them (``buffers=``): no copy,
    and building peaks at the weights and their gradients (2x) and one 2 MB block of draws.

Afterwards
    Every parameter and gradient is a view of the store. A layer reads ``self.params[name]`` at
    each call and ``backward`` writes ``self.grads[name][...]`` in place. An array that a layer
    (or you) puts in ``params[name]`` or ``grads[name]`` instead (or in a new dict), with the
    same shape and dtype, is copied into the store, and the view put back, at the next
    ``named_params()``, ``named_grads()`` or optimizer step; a new shape or dtype, or a layer
    replaced, added or removed (in the Sequential or one nested in it), makes the Sequential
    build a new store at its next ``named_params()`` / ``named_grads()``, and an optimizer
    given the dicts from before refuses them.

What cannot be stored raises when the Sequential is built: parameters of more than one dtype,
a layer (with or without parameters) or a parameter array used twice, and a layer keeping an
attribute over its parameter or gradient memory (it would go on reading the old array after the
move).

``named_params()`` / ``named_grads()`` return a :class:`ParamDict`: a dict whose ``store`` says
that its arrays are the store's views. An optimizer given both runs its update once over the
flat buffers (:mod:`softgrad.optim.flat`). Editing such a dict (replacing or removing an entry,
to freeze a parameter or clip a gradient) sets ``store`` to None, and so does building a plain
dict from it: the optimizer then updates exactly the entries it was given, array by array.

A nested Sequential and a slice ``net[i:j]`` use a window of the outer store: the same views,
and a flat buffer that is a slice of the outer one.
"""

from __future__ import annotations

import operator
from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["ParamDict", "ParamStore", "allocate_flat"]


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


class ParamDict(dict):
    """A ``named_params()`` or ``named_grads()`` dict whose arrays are views of ``flat``.

    Attributes
    ----------
    store : ParamStore or None
        The store whose views the entries are; None once the dict has been edited (it then no
        longer says what the flat buffer holds, and an optimizer goes by its entries).
    flat : ndarray of shape (P,)
        The store's parameter (or gradient) buffer.
    holds_grads : bool
        Whether the entries are the gradients.
    """

    store: ParamStore | None
    flat: np.ndarray
    holds_grads: bool

    def _edited(self) -> None:
        self.store = None

    def __setitem__(self, key: Any, value: Any) -> None:
        if self.get(key) is not value:  # grads[key] *= 0.5 puts back the same view
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


class _Entry:
    """One parameter: its qualified key, the layer that holds it, its two views."""

    __slots__ = ("grad", "key", "layer", "name", "param")

    def __init__(self, key: str, layer: Any, name: str, param: np.ndarray, grad: np.ndarray):
        self.key, self.layer, self.name = key, layer, name
        self.param, self.grad = param, grad


class ParamStore:
    """Where each qualified name lives in the two flat buffers; built by Sequential.

    Parameters
    ----------
    owners : sequence of (key, layer, name)
        Qualified name (``"0.W"``), the layer and its parameter name, in network order.
    where : str
        The caller, for error messages.
    buffers : (ndarray, ndarray) of shape (P,), optional
        The parameter and gradient buffers to adopt instead of allocating new ones: every
        layer's arrays must already be their views at their places in store order (a
        ValueError otherwise). What build_mlp gives.

    Attributes
    ----------
    params, grads : ndarray of shape (P,)
        The flat buffers (P = the number of scalars in the network).
    layout : tuple of (key, start, stop, shape)
        Qualified name, its slice of the flat buffers and its shape, in network order.

    Examples
    --------
    >>> from softgrad.nn import Linear, ReLU, Sequential
    >>> net = Sequential(Linear(2, 3, rng=0), ReLU(), Linear(3, 1, rng=1))
    >>> store = net.named_params().store
    >>> store.layout[1], store.params.size
    (('0.b', 6, 9, (3,)), 13)
    >>> net.layers[0].params["b"].base is store.params
    True
    """

    def __init__(
        self,
        owners: Sequence[tuple[str, Any, str]],
        where: str = "Sequential",
        buffers: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> None:
        _check_storable(owners, where)
        dtype = owners[0][1].params[owners[0][2]].dtype if owners else np.dtype(np.float32)
        layout, start = [], 0
        for key, layer, name in owners:
            shape = layer.params[name].shape
            size = int(np.prod(shape, dtype=np.int64))
            layout.append((key, start, start + size, shape))
            start += size
        self.layout = tuple(layout)
        rows = list(zip(owners, layout, strict=True))
        if buffers is not None and not all(flat.size == start for flat in buffers):
            raise ValueError(f"ParamStore: buffers must hold {start} scalars each to adopt them")
        # build_mlp drew its layers into the buffers it gives: adopted, not copied. Else one
        # buffer at a time, each layer's array let go as its view replaces it: the peak is the
        # layers' arrays and one new buffer, never both buffers on top of them
        place = _move if buffers is None else _adopt
        self.params = np.empty(start, dtype=dtype) if buffers is None else buffers[0]
        params = [place(self.params, layer.params, name, row) for (_, layer, name), row in rows]
        self.grads = np.zeros(start, dtype=dtype) if buffers is None else buffers[1]
        grads = [place(self.grads, layer.grads, name, row) for (_, layer, name), row in rows]
        self._set_entries(
            [
                _Entry(key, layer, name, param, grad)
                for (key, layer, name), param, grad in zip(owners, params, grads, strict=True)
            ]
        )
        self._watched: tuple[tuple[Any, tuple[Any, ...]], ...] = ()

    def watch(self, containers: Sequence[Any]) -> None:
        """Remember the layer lists (``.layers``) of the containers built over this store (a
        Sequential and those nested in it): :meth:`sync` is False once one of them changes (a
        layer replaced, added or removed), since the store then misses the new layer."""
        self._watched = tuple((container, tuple(container.layers)) for container in containers)

    def _set_entries(self, entries: list[_Entry]) -> None:
        self._entries = tuple(entries)
        # how many parameters each layer holds: one added later is not in this store
        sizes: dict[int, tuple[Any, int]] = {}
        for entry in entries:
            layer, count = sizes.get(id(entry.layer), (entry.layer, 0))
            sizes[id(entry.layer)] = (layer, count + 1)
        self._sizes = tuple(sizes.values())
        # unpacked once: sync() runs every training step and reads these as plain tuples
        self._checks = tuple((e.layer, e.name, e.param, e.grad) for e in entries)
        self._items = (
            tuple((e.key, e.param) for e in entries),
            tuple((e.key, e.grad) for e in entries),
        )

    def window(self, renames: Sequence[tuple[str, str]]) -> ParamStore:
        """The part of this store under some key prefixes, renamed (a nested Sequential's, a
        slice's): the same view objects, buffers that are a slice of these.

        Parameters
        ----------
        renames : sequence of (old_prefix, new_prefix)
            In store order; the picked entries must be contiguous in the buffers.
        """
        picked = []
        for old, new in renames:
            for entry, row in zip(self._entries, self.layout, strict=True):
                if entry.key.startswith(old):
                    picked.append((entry, row, new + entry.key[len(old) :]))
        first = picked[0][1][1] if picked else 0
        last = picked[-1][1][2] if picked else 0
        window = ParamStore.__new__(ParamStore)
        window._watched = ()
        window.params, window.grads = self.params[first:last], self.grads[first:last]
        window.layout = tuple(
            (key, start - first, stop - first, shape) for _, (_, start, stop, shape), key in picked
        )
        window._set_entries(
            [
                _Entry(key, entry.layer, entry.name, entry.param, entry.grad)
                for entry, _, key in picked
            ]
        )
        return window

    def sync(self) -> bool:
        """Put the store's views back where a layer holds another array; False if impossible.

        An array of the view's shape and dtype is copied into the store first (the values are
        kept). False when one differs in shape or dtype or a parameter is missing: the store
        no longer describes the network, and its Sequential must build a new one. False too
        when a watched layer list changed (:meth:`watch`).
        """
        for container, layers in self._watched:
            now = container.layers
            if len(now) != len(layers) or not all(map(operator.is_, now, layers)):
                return False
        for layer, name, param, grad in self._checks:
            params = layer.params  # read each time: a layer may replace a whole dict
            if params.get(name) is not param and not _reseat(params, name, param):
                return False
            grads = layer.grads
            if grads.get(name) is not grad and not _reseat(grads, name, grad, missing_ok=True):
                return False
        for layer, count in self._sizes:
            if len(layer.params) != count:
                return False
        return True

    def named_params(self) -> ParamDict:
        """Qualified name -> parameter view, as a ParamDict over this store."""
        return self._named(holds_grads=False)

    def named_grads(self) -> ParamDict:
        """Qualified name -> gradient view, as a ParamDict over this store."""
        return self._named(holds_grads=True)

    def _named(self, holds_grads: bool) -> ParamDict:
        out = ParamDict(self._items[holds_grads])
        out.store, out.flat = self, self.grads if holds_grads else self.params
        out.holds_grads = holds_grads
        return out

    def __repr__(self) -> str:
        return f"ParamStore({len(self.layout)} arrays, {self.params.size} {self.params.dtype})"


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


def _check_storable(owners: Sequence[tuple[str, Any, str]], where: str) -> None:
    """Raise unless these parameters can move into one buffer without stranding anything."""
    seen_dicts: dict[int, str] = {}
    arrays: list[tuple[str, np.ndarray]] = []
    for key, layer, name in owners:
        index = key.rpartition(".")[0]
        first = seen_dicts.setdefault(id(layer.params), index)
        if first != index:
            raise ValueError(
                f"{where}: each layer must appear once; got the layer at {index} again after "
                f"{first} (shared weights are not supported: use two layers)"
            )
        if vars(layer).get("params") is not layer.params:
            raise TypeError(
                f"{where}: layer {type(layer).__name__} at {index} must keep its parameters in "
                "its own dict self.params (the store puts its views there)"
            )
        param = layer.params[name]
        if not isinstance(param, np.ndarray) or param.dtype.kind != "f":
            raise TypeError(
                f"{where}: parameter {key!r} must be a floating-point ndarray; "
                f"got {type(param).__name__}"
            )
        grad = layer.grads.get(name)
        if grad is not None and (not isinstance(grad, np.ndarray) or grad.shape != param.shape):
            got = grad.shape if isinstance(grad, np.ndarray) else type(grad).__name__
            raise ValueError(
                f"{where}: gradient {key!r} must be an ndarray of its parameter's shape "
                f"{param.shape} (or absent or None); got {got}"
            )
        arrays.append((key, param))
    dtypes = {param.dtype for _, param in arrays}
    if len(dtypes) > 1:
        listed = ", ".join(f"{key} {param.dtype}" for key, param in arrays)
        raise ValueError(
            f"{where}: parameters must share one dtype; got {listed} "
            "(convert the layers first, e.g. layer.astype(np.float32))"
        )
    for i, (key, param) in enumerate(arrays):
        for other_key, other in arrays[:i]:
            if np.may_share_memory(param, other):
                raise ValueError(
                    f"{where}: parameters must not share memory; got {other_key!r} and {key!r} "
                    "(tied weights are not supported)"
                )
    for key, layer, name in owners:
        _check_no_stray_reference(where, key, layer, name)


def _check_no_stray_reference(where: str, key: str, layer: Any, name: str) -> None:
    """A layer attribute over a parameter's (or gradient's) memory would keep the old array."""
    held = [layer.params[name]]
    if isinstance(layer.grads.get(name), np.ndarray):
        held.append(layer.grads[name])
    for attribute, value in vars(layer).items():
        if attribute in ("params", "grads") or not isinstance(value, np.ndarray):
            continue
        if any(np.may_share_memory(value, array) for array in held):
            raise ValueError(
                f"{where}: layer {type(layer).__name__} at {key.rpartition('.')[0]} must read "
                f"its parameters from self.params and write self.grads; got attribute "
                f"{attribute!r} over the memory of {name!r}, which the store moves"
            )
