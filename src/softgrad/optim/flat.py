"""The optimizer step over a packed network: one update over the flat buffers.

When ``step`` receives the dicts of a packed Sequential (softgrad.nn.packing: every parameter a
view of one flat array, every gradient a view of another, in the same layout), the update runs
once over the flat arrays instead of once per parameter. The optimizer's state then lives in
flat arrays of the same layout, and its per-key slots (what ``state_dict`` exports) are views of
them, so saving, restoring and the per-array path see the same state.

The update is elementwise and the arrays tile the flat buffers with no gaps, so the flat update
is the per-array update, value for value, up to rounding: the per-array path runs arrays below
softgrad._blas's size threshold through NumPy, the flat path runs everything through BLAS
(whose kernels may fuse a multiply and an add).

Only optimizers whose update is elementwise take it: the built-in SGD, Adam and AdamW say so
in their own class body (``_elementwise_update = True``), so a subclass, whose update may look
at each array as a whole (a per-parameter norm, no decay for biases), goes array by array
unless it says so too. The flat path is taken only when every parameter has the same step
count (a state restored from a per-array run is copied in on the first flat step), the dicts
are unedited and every parameter is writable; anything else goes array by array. A step array
by array, or restoring a state, drops the flat state; the next flat step rebuilds it from the
per-key state (values copied, so nothing is lost).
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["FlatState", "flat_step"]


class FlatState:
    """The optimizer's state over one packing: flat slots, flat temporaries, the step count."""

    def __init__(self, packing: Any, slots: dict[str, np.ndarray], step: int, n_scratch: int):
        self.packing = packing
        self.slots = slots
        self.step = step
        self.scratch = [np.empty_like(packing.params) for _ in range(n_scratch)]

    def usable(self, opt: Any, packing: Any) -> bool:
        """Whether this state still serves ``packing`` under the current hyperparameters (the
        per-array path, or restoring a state, drops it: ``Optimizer.step`` and
        ``load_state_dict`` set ``opt._flat = None``)."""
        return (
            self.packing is packing
            and len(self.scratch) >= opt._n_scratch()
            and len(self.slots) == len(opt._slot_names(opt._hyper()))  # momentum 0 -> 0.9
        )


def _build(opt: Any, packing: Any) -> FlatState | None:
    """Flat state for ``packing`` holding the optimizer's per-key state, or None."""
    keys = [key for key, *_ in packing.layout]
    steps = {opt._steps.get(key, 0) for key in keys}
    if len(steps) != 1:
        return None
    (step,) = steps
    where = f"{type(opt).__name__}.step"
    names = opt._slot_names(opt._hyper())
    flat_slots = {name: np.zeros_like(packing.params) for name in names}
    params = packing.params
    for key, start, stop, shape in packing.layout:
        old = opt._slots.get(key)
        if old is not None:
            old = opt._match_state(where, key, params[start:stop].reshape(shape), old)
        views = {}
        for name in names:
            view = views[name] = flat_slots[name][start:stop].reshape(shape)
            if old is not None and name in old:  # a slot new to this key stays zero
                np.copyto(view, old[name])
        opt._slots[key] = views
        opt._steps[key] = step
        opt._scratch.pop(key, None)
    return FlatState(packing, flat_slots, step, opt._n_scratch())


def flat_step(opt: Any, params: Any, grads: Any) -> bool:
    """Run ``opt``'s update once over the flat buffers; False when the dicts are not packed.

    Parameters
    ----------
    opt : Optimizer
    params, grads : dict
        What ``Optimizer.step`` received.
    """
    packing = getattr(params, "packing", None)  # None as well once the dict was edited
    if (
        packing is None
        or not type(opt).__dict__.get("_elementwise_update", False)
        or getattr(grads, "packing", None) is not packing
        or params.flat is not packing.params
        or grads.flat is not packing.grads
    ):
        return False
    for value in params.values():  # a frozen (read-only) parameter: the per-array path refuses it
        if not value.flags.writeable:
            return False
    state = getattr(opt, "_flat", None)  # absent from optimizers pickled before it
    if state is None or not state.usable(opt, packing):
        state = opt._flat = _build(opt, packing)
        if state is None:
            return False
    step = state.step + 1
    opt._update(packing.params, packing.grads, step, state.slots, state.scratch)
    state.step = step
    opt_steps = opt._steps
    for key, *_ in packing.layout:
        opt_steps[key] = step
    return True
