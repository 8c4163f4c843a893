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
dict from it: the optimizer then updates exactly the entries it was given, array by array. An
edited ParamDict keeps its ``origin`` store, so such a step still puts that store's views back
in the layers first (an array assigned in their place copied in) and refuses a replaced store,
as the flat step does; a plain dict is stepped as it is.

A nested Sequential and a slice ``net[i:j]`` use a window of the outer store: the same views,
and a flat buffer that is a slice of the outer one.
"""

from __future__ import annotations

import operator
import weakref
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from softgrad.nn.param_dict import ParamDict
from softgrad.nn.store_buffers import _adopt, _move, _reseat, allocate_flat
from softgrad.nn.store_checks import _check_storable

__all__ = ["ParamDict", "ParamStore", "allocate_flat"]


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
        self._watched: tuple[tuple[weakref.ref[Any], tuple[Any, ...]], ...] = ()

    def watch(self, containers: Sequence[Any]) -> None:
        """Remember the layer lists (``.layers``) of the containers built over this store (a
        Sequential and those nested in it): :meth:`sync` is False once one of them changes (a
        layer replaced, added or removed), since the store then misses the new layer.

        A container is held by a weak reference: the Sequential holds its store, so a strong
        one back made every network a reference cycle, freed only by Python's cycle collector
        (a search of 100 dropped 784-1024-10 networks peaked 291 MB higher)."""
        self._watched = tuple(
            (weakref.ref(container), tuple(container.layers)) for container in containers
        )
        # a layer that held no parameter when the store was built holds none in it: one it
        # makes later (a lazy shape, known at the first forward) must retire the store too, or
        # named_params() never held it and no optimizer ever moved it
        counted = {id(layer) for layer, _ in self._sizes}
        nested = {id(container) for container in containers}
        self._sizes += tuple(
            (layer, 0)
            for container in containers
            for layer in container.layers
            if id(layer) not in counted and id(layer) not in nested
        )

    def __getstate__(self) -> dict[str, Any]:
        """The store without the containers it watches: weak references do not pickle (a
        pickled ``net.params`` raised TypeError), and a copy watches no network of the
        caller's."""
        state = self.__dict__.copy()
        state["_watched"] = ()
        return state

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
        for container_ref, layers in self._watched:
            container = container_ref()
            if container is None:  # dropped, its layers kept (the dicts of a network made
                continue  # in passing): no layer list left to change
            now = container.layers
            if len(now) != len(layers) or not all(map(operator.is_, now, layers)):
                return False
        for layer, name, param, grad in self._checks:
            params = layer.params  # read each time: a layer may replace a whole dict
            if params.get(name) is not param and not self._reseat_param(params, name, param):
                return False
            grads = layer.grads
            if grads.get(name) is not grad and not _reseat(grads, name, grad, missing_ok=True):
                return False
        for layer, count in self._sizes:
            if len(layer.params) != count:
                return False
        return True

    def _reseat_param(self, params: dict, name: str, view: np.ndarray) -> bool:
        """:func:`_reseat` for a parameter, but False for an array over the store's own
        memory (another parameter's view, tied after the store was built): copied in, the tie
        would be cut without a word; the new store's checks refuse it by name."""
        value = params.get(name)
        if isinstance(value, np.ndarray) and np.may_share_memory(value, self.params):
            others = (param for _, _, param, _ in self._checks if param is not view)
            if any(np.shares_memory(value, other) for other in others):
                return False
        return _reseat(params, name, view)

    def holds_any(self, arrays: Iterable[Any], grads: bool) -> bool:
        """Whether any of ``arrays`` is one of this store's parameter (or gradient) views: an
        edited dict that still holds one follows the store (optim.flat.sync_origins)."""
        views = {id(view) for _, view in self._items[grads]}
        return any(id(array) in views for array in arrays)

    def named_params(self) -> ParamDict:
        """Qualified name -> parameter view, as a ParamDict over this store."""
        return self._named(holds_grads=False)

    def named_grads(self) -> ParamDict:
        """Qualified name -> gradient view, as a ParamDict over this store."""
        return self._named(holds_grads=True)

    def _named(self, holds_grads: bool) -> ParamDict:
        out = ParamDict(self._items[holds_grads])
        out.store = out.origin = self
        out.flat = self.grads if holds_grads else self.params
        out.holds_grads = holds_grads
        return out

    def __repr__(self) -> str:
        return f"ParamStore({len(self.layout)} arrays, {self.params.size} {self.params.dtype})"
