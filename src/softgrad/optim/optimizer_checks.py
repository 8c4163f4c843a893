"""What an :class:`~softgrad.optim.Optimizer` refuses: ``step``'s two dicts of parameters and
gradients (:func:`check_step_args`; :func:`check_roles`, the two in their places;
:func:`check_apart`, no memory shared between parameters), and a saved
state's per-parameter entries (:func:`parse_entries`, for ``load_state_dict``). Each raises
before anything changes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from softgrad.checks import plain_ndarray


def check_step_args(where: str, params: Any, grads: Any) -> None:
    """Validate ``step``'s arguments: same keys, float ndarrays, equal shapes, writable params."""
    for what, value in (("params", params), ("grads", grads)):
        if not isinstance(value, Mapping):
            raise TypeError(f"{where}: {what} must be a dict of name -> ndarray; got {value!r}")
    if params.keys() != grads.keys():
        missing = sorted(set(params) - set(grads))
        extra = sorted(set(grads) - set(params))
        raise ValueError(
            f"{where}: grads must have the same keys as params; "
            f"got missing {missing!r}, unexpected {extra!r}"
        )
    for key, param in params.items():
        grad = grads[key]
        for what, array in (("params", param), ("grads", grad)):
            # a matrix's * is a matrix product (a square one updated silently wrong), and a
            # masked array's mask would be ignored
            if not (plain_ndarray(array) and array.dtype.kind == "f"):
                subclass = isinstance(array, np.ndarray) and array.dtype.kind == "f"
                raise TypeError(
                    f"{where}: {what}[{key!r}] must be a floating-point ndarray; "
                    f"got {type(array).__name__} of dtype {getattr(array, 'dtype', None)}"
                    + (
                        " (a matrix or masked array is not one: it would be updated wrong)"
                        if subclass
                        else ""
                    )
                )
        if grad.shape != param.shape:
            raise ValueError(
                f"{where}: grads[{key!r}] must have the shape of params[{key!r}] "
                f"{param.shape}; got {grad.shape}"
            )
        if grad is param:
            raise ValueError(f"{where}: grads[{key!r}] must be the gradient; got params[{key!r}]")
        if np.may_share_memory(grad, param) and np.shares_memory(grad, param):
            # the update writes the parameter while it still reads the gradient (AdamW's decay
            # came first and moved the gradient it then read)
            raise ValueError(
                f"{where}: grads[{key!r}] must not share memory with params[{key!r}] "
                "(pass a copy of the gradient)"
            )
        if not param.flags.writeable:
            raise ValueError(f"{where}: params[{key!r}] must be writable (updated in place)")


def check_apart(where: str, params: Mapping[str, np.ndarray]) -> None:
    """Refuse two parameters that share memory (the same array under two names, or views that
    overlap): each step would update it twice (torch warns, and updates twice). One
    ``np.may_share_memory`` bounds test a pair, the exact test where that cannot tell."""
    items = list(params.items())
    for index, (key, param) in enumerate(items):
        for other_key, other in items[index + 1 :]:
            if np.may_share_memory(param, other) and np.shares_memory(param, other):
                same = "the same array" if param is other else "views of one array that overlap"
                raise ValueError(
                    f"{where}: params must be apart; params[{key!r}] and params[{other_key!r}] "
                    f"are {same}, which each step would update twice"
                )


def check_roles(where: str, params: Any, grads: Any) -> None:
    """Refuse the two dicts swapped or one dict given twice: the update would run on the
    gradients, or take the parameters for their own gradients, and raise nothing."""
    if getattr(params, "holds_grads", False) or getattr(grads, "holds_grads", True) is False:
        raise ValueError(
            f"{where}: params must be named_params() and grads named_grads(), in that order; "
            f"got {_which(params)} and {_which(grads)}"
        )
    if params is grads and len(params):
        raise ValueError(f"{where}: grads must be the gradients; got the params dict again")


def _which(named: Any) -> str:
    holds_grads = getattr(named, "holds_grads", None)
    return "a dict" if holds_grads is None else f"named_{'grads' if holds_grads else 'params'}()"


def parse_entries(
    where: str,
    state: Mapping[str, Any],
    scalar_keys: set[str],
    slot_names: tuple[str, ...],
    copy: bool = True,
) -> tuple[dict, dict]:
    """Split ``"step.<key>"`` / ``"<slot>.<key>"`` entries into per-key steps and slot arrays:
    copies, or with ``copy=False`` the arrays themselves where each is writeable, C-ordered and
    in this machine's byte order (the others copied: the update writes them in place)."""
    steps: dict[str, int] = {}
    slots: dict[str, dict[str, np.ndarray]] = {}
    for entry, value in state.items():
        if entry in scalar_keys:
            continue
        kind, dot, key = str(entry).partition(".")
        if not dot or kind not in ("step", *slot_names):
            allowed = ", ".join(f"'{name}.<param>'" for name in ("step", *slot_names))
            raise ValueError(f"{where}: state keys must be {allowed}; got {entry!r}")
        if kind == "step":
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
                raise ValueError(f"{where}: {entry} must be an int >= 0; got {value!r}")
            steps[key] = int(value)
        else:
            if not isinstance(value, np.ndarray) or value.dtype.kind != "f":
                raise ValueError(
                    f"{where}: {entry} must be a floating-point ndarray; got {type(value).__name__}"
                )
            own = not copy and value.flags.writeable and value.flags.c_contiguous
            own = own and value.dtype.isnative
            slots.setdefault(key, {})[kind] = value if own else np.array(value, copy=True)
    for key in steps.keys() | slots.keys():
        have = slots.setdefault(key, {})
        if key not in steps or set(have) != set(slot_names):
            raise ValueError(
                f"{where}: parameter {key!r} must have 'step' and {list(slot_names)!r} entries; "
                f"got step={key in steps}, slots {sorted(have)!r}"
            )
    return steps, slots
