"""What a parameter store cannot hold, refused before anything moves: a layer or an array used
twice, parameters of several dtypes or sharing memory, and a layer attribute over the memory the
store moves (:mod:`softgrad.nn.store`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np


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
            # either side may be the one changed: a parameter replaced by an array of another
            # shape was blamed on its gradient alone
            hint = (
                f" (or the parameter was replaced by an array of another shape: assign into it, "
                f"params[{name!r}][...] = ..., or build a new layer)"
                if isinstance(grad, np.ndarray)
                else ""
            )
            raise ValueError(
                f"{where}: gradient {key!r} must be an ndarray of its parameter's shape "
                f"{param.shape} (or absent or None); got {got}{hint}"
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
