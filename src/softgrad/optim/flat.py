"""The optimizer step over a parameter store: one update over the flat buffers.

When ``step`` receives a Sequential's ``named_params()`` and ``named_grads()`` (ParamDicts of
one store, softgrad.nn.store: every parameter a view of one flat array, every gradient a view
of another, in the same layout), the update runs once over the flat arrays. The optimizer's
state then lives in flat arrays of the same layout, and its per-key slots (what
``state_dict`` exports) are views of them, so saving and restoring see the same state.

Which path runs follows what the caller passed and nothing else: the store's two dicts take
this one; a plain dict, or a ParamDict that was edited (a frozen parameter left out, a clipped
gradient put in), is updated entry by entry (``Optimizer.step``). The update is elementwise and
the arrays tile the flat buffers with no gaps, so the flat update is the per-array update,
value for value, up to rounding. An optimizer whose update looks at each array as a whole sets
``elementwise = False`` and always goes array by array.

The flat path needs every parameter at the same step count. After steps on a subset (which
leave the others behind), the whole network's next steps go array by array too, so that each
parameter keeps its own count. A step array by array, or restoring a state, drops the flat
state; the next flat step rebuilds it from the per-key state (values copied, nothing lost).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from softgrad.kernels import get_ops

if TYPE_CHECKING:  # for the annotations only
    from softgrad.nn.store import ParamStore

__all__ = ["FlatState", "flat_step", "sync_origins"]


class FlatState:
    """The optimizer's state over one store: flat slots, flat temporaries, the step count."""

    def __init__(self, store: Any, slots: dict[str, np.ndarray], step: int, n_scratch: int):
        self.store = store
        self.slots = slots
        self.step = step
        self.scratch = [np.empty_like(store.params) for _ in range(n_scratch)]
        self.keys = tuple(key for key, *_ in store.layout)
        # the update of the flat buffers, bound on the lane in use (Optimizer._bind_update)
        self.update: Callable[[Any, int], None] | None = None
        self.update_ops: Any = None

    def advance(self, opt: Any, steps: dict[str, int] | None = None) -> None:
        """One update of the flat buffers (the bound ``update``, given ``opt``) with the next
        step count; with ``steps`` (the optimizer's count per key), every key is given that
        count too."""
        step = self.step + 1
        assert self.update is not None  # flat_step binds it before the first advance
        self.update(opt, step)
        self.step = step
        if steps is not None:
            self.write_steps(steps)

    def write_steps(self, steps: dict[str, int]) -> None:
        """Give every key of the store the state's step count (Adam's bias corrections and a
        saved state read the optimizer's own count per key)."""
        for key in self.keys:
            steps[key] = self.step

    def usable(self, store: Any) -> bool:
        """Whether this state still serves ``store``. The per-array path, restoring a state and
        setting a hyperparameter drop it (``Optimizer.step``, ``load_state_dict`` and
        ``Optimizer.__setattr__`` set ``opt._flat = None``)."""
        return self.store is store


def _build(opt: Any, store: Any) -> FlatState | None:
    """Flat state for ``store`` holding the optimizer's per-key state, or None."""
    keys = [key for key, *_ in store.layout]
    steps = {opt._steps.get(key, 0) for key in keys}
    if len(steps) != 1:
        return None
    (step,) = steps
    where = f"{type(opt).__name__}.step"
    names = opt._slot_names(opt._hyper())
    adopted = _laid_out(opt._slots, names, store)
    if adopted is not None:  # a resumed run's state, read into buffers laid out as the store
        for key, *_ in store.layout:
            opt._steps[key] = step
            opt._scratch.pop(key, None)
        return FlatState(store, adopted, step, opt._n_scratch())
    flat_slots = {name: np.zeros_like(store.params) for name in names}
    params = store.params
    for key, start, stop, shape in store.layout:
        old = opt._slots.get(key)
        if old is not None:
            param = params[start:stop].reshape(shape)
            opt._check_state_shape(where, key, param, old)
            old = opt._match_state(key, param, old)
        views = {}
        for name in names:
            view = views[name] = flat_slots[name][start:stop].reshape(shape)
            if old is not None and name in old:  # a slot new to this key stays zero
                np.copyto(view, old[name])
        for name, array in (old or {}).items():
            if name not in names:  # kept for a later setting that uses it again (momentum 0.9
                views[name] = array  # -> 0 -> 0.9), as the per-array path and torch keep it
        opt._slots[key] = views
        opt._steps[key] = step
        opt._scratch.pop(key, None)
    return FlatState(store, flat_slots, step, opt._n_scratch())


def _laid_out(
    slots: dict[str, dict[str, np.ndarray]], names: tuple[str, ...], store: Any
) -> dict[str, np.ndarray] | None:
    """The buffers the per-key state already lies in, by slot name, or None.

    That is: every key of the store has exactly the slots ``names``, and each slot is a view
    of its key's [start, stop) in one buffer of the store's size and dtype, a buffer of its own
    (it owns its memory, so it is no view of the store's or of another slot's): the state a
    resumed run read from its checkpoint (``load_checkpoint(..., single_use=True)``). The flat
    state then adopts those buffers, where copying them into new ones held the largest
    parameter's state twice and the whole state beside its copy.
    """
    params = store.params
    bases: dict[str, np.ndarray] = {}
    for key, start, _stop, shape in store.layout:
        have = slots.get(key)
        if have is None or set(have) != set(names):
            return None
        for name in names:
            view, base = have[name], have[name].base
            # (an unpickled array's base may be the bytes it was read from)
            if not isinstance(base, np.ndarray) or bases.setdefault(name, base) is not base:
                return None
            offset = view.__array_interface__["data"][0] - base.__array_interface__["data"][0]
            if view.shape != shape or not view.flags.c_contiguous:
                return None
            if offset != start * view.itemsize:
                return None
    for base in bases.values():
        if not (
            base.base is None
            and base.shape == params.shape
            and base.dtype == params.dtype
            and base.flags.writeable
            and base is not params
            and base is not store.grads
        ):
            return None
    if len({id(base) for base in bases.values()}) != len(bases):
        return None
    return bases


def sync_origins(opt: Any, params: Any, grads: Any) -> None:
    """Before a step array by array: the stores the dicts were made from (``ParamDict.origin``,
    an edited dict's too) put their views back in the layers, an array put in a layer's place
    since copied in first, as the flat step's store does. An edited dict's entries are the
    store's views from before: updating them while the layer held another array lost the step
    (the next ``named_params()`` copied the layer's array over it), and a gradient put in
    ``layer.grads`` took every later backward, the dict's entry keeping the old one.

    A dict whose entries were all replaced (arrays of the user's own: a shadow set of weights)
    no longer speaks for the store, and is stepped as it is.

    Raises
    ------
    RuntimeError
        A dict of a store the network has replaced (``astype``, a new shape, a layer
        replaced, added or removed), edited or not, that still holds some of its views.
    """
    for held in (params, grads):
        origin = getattr(held, "origin", None)
        if origin is None:
            continue
        if held.store is None and not origin.holds_any(held.values(), held.holds_grads):
            continue
        if not origin.sync():
            raise _replaced(opt)


def _replaced(opt: Any) -> RuntimeError:
    return RuntimeError(
        f"{type(opt).__name__}.step: params must be the network's current parameters; "
        "got the dicts of a store it has replaced (call named_params() and named_grads() "
        "again, and edit them again, after astype, a change of shape or a layer replaced, "
        "added or removed)"
    )


def flat_step(opt: Any, params: Any, grads: Any) -> bool:
    """Run ``opt``'s update once over the store's buffers; False for any other dicts.

    Parameters
    ----------
    opt : Optimizer
    params, grads : dict
        What ``Optimizer.step`` received.

    Raises
    ------
    RuntimeError
        The dicts belong to a store that the network has since replaced (``astype``, a new
        shape), or to two stores (one of them stale): updating it would leave the network as
        it is.
    """
    # None as well once the dict was edited
    store: ParamStore | None = getattr(params, "store", None)
    grad_store: ParamStore | None = getattr(grads, "store", None)
    if store is not None and grad_store is not None and grad_store is not store:
        raise RuntimeError(
            f"{type(opt).__name__}.step: params and grads must be one network's current "
            "parameters and gradients; got the dicts of two parameter stores (call "
            "named_params() and named_grads() again after astype, a change of shape or a layer "
            "replaced, added or removed)"
        )
    if (
        store is None
        or grad_store is not store
        or params.holds_grads
        or not grads.holds_grads
        or not opt.elementwise
    ):
        return False
    if not store.sync():
        raise _replaced(opt)
    for value in params.values():  # a frozen (read-only) parameter: the per-array path refuses it
        if not value.flags.writeable:
            return False
    state: FlatState | None = getattr(
        opt, "_flat", None
    )  # absent from optimizers pickled before it
    if state is None or not state.usable(store):
        state = opt._flat = _build(opt, store)
        if state is None:
            return False
    ops = get_ops()
    if state.update is None or state.update_ops is not ops:  # bound once (on this lane)
        state.update = opt._bind_update(store.params, store.grads, state.slots, state.scratch)
        state.update_ops = ops
    state.advance(opt, opt._steps)
    return True
