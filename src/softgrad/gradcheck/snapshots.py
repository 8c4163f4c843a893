"""Putting back what a check changed on the user's objects that its copies share.

A :class:`Snapshot` holds an object's attributes (in ``__dict__`` and ``__slots__``) and the
contents of the arrays, dicts and lists they hold, nested in lists, tuples and dicts down to
``DEPTH`` levels; :meth:`Snapshot.restore` puts them back, and :meth:`Snapshot.changed` says
whether anything differs. :func:`may_hold` bounds what is entered, here and in the walk for the
nodes reachable through what cannot be copied (:mod:`softgrad.gradcheck.partial_copies`): not
what holds data (arrays, array-likes, numbers, strings), classes, modules, functions or
logging's objects.
"""

from __future__ import annotations

import copy
import inspect
import logging
import types
from typing import Any

import numpy as np

from softgrad.gradcheck.sub_nodes import attributes, contents, is_node

# how deep a Snapshot looks into containers held in containers (self.stats = ([array],)), and
# how many objects deep the walk behind what cannot be copied goes
DEPTH = 4


def slot_names(obj: Any) -> list[str]:
    """The names of the ``__slots__`` ``obj``'s classes declare (set or not)."""
    names = []
    for klass in type(obj).__mro__:
        slots = vars(klass).get("__slots__", ())
        names += [slots] if isinstance(slots, str) else list(slots)
    return [n for n in names if n not in ("__dict__", "__weakref__")]


class Snapshot:
    """An object's attributes (in ``__dict__`` and ``__slots__``) and the contents of the
    arrays, dicts and lists they hold, nested in lists, tuples and dicts down to ``DEPTH``
    levels, to put back. The nodes among them are left to snapshots of their own."""

    def __init__(self, obj: Any):
        self._obj = obj
        self._dict = dict(vars(obj)) if hasattr(obj, "__dict__") else None
        self._slots = {n: getattr(obj, n) for n in slot_names(obj) if hasattr(obj, n)}
        self._containers: list[tuple[Any, Any]] = []
        arrays: list[np.ndarray] = []
        self._collect(attributes(obj).values(), arrays, 0, set())
        self._arrays = [(a, a.copy()) for a in arrays if a.flags.writeable]

    def _collect(self, values: Any, arrays: list[np.ndarray], depth: int, seen: set[int]) -> None:
        for value in values:
            if isinstance(value, np.ndarray):
                arrays.append(value)
            elif depth < DEPTH and may_hold(value) and id(value) not in seen and not is_node(value):
                seen.add(id(value))
                if type(value) in (dict, list):
                    self._containers.append((value, copy.copy(value)))
                self._collect(_items(value), arrays, depth + 1, seen)

    def changed(self) -> bool:
        """Whether the object's attributes, or the containers and arrays snapshotted with them,
        differ from the snapshot's (an attribute rebound counts, even to equal values)."""
        if self._dict is not None and _rebound(vars(self._obj), self._dict):
            return True
        slots = {n: getattr(self._obj, n) for n in slot_names(self._obj) if hasattr(self._obj, n)}
        if _rebound(slots, self._slots):
            return True
        for container, content in self._containers:
            now = container if isinstance(container, dict) else dict(enumerate(container))
            was = content if isinstance(content, dict) else dict(enumerate(content))
            if _rebound(now, was):
                return True
        return any(not np.array_equal(a, c, equal_nan=True) for a, c in self._arrays)

    def restore(self) -> None:
        if self._dict is not None:
            vars(self._obj).clear()
            vars(self._obj).update(self._dict)
        for name in slot_names(self._obj):
            if name in self._slots:
                object.__setattr__(self._obj, name, self._slots[name])
            elif hasattr(self._obj, name):
                object.__delattr__(self._obj, name)
        for container, content in self._containers:
            container.clear()
            if isinstance(container, dict):
                container.update(content)
            else:
                container.extend(content)
        for array, content in self._arrays:
            array[...] = content


def _items(value: Any) -> Any:
    """The items :func:`contents` finds in ``value``, without their steps (a dict of 100,000
    entries is not made into 100,000 pairs)."""
    if isinstance(value, dict):
        return value.values()
    if type(value) in (list, tuple):
        return value
    return [item for _, item in contents(value)]


def _rebound(now: dict[Any, Any], was: dict[Any, Any]) -> bool:
    """Whether ``now`` has other keys than ``was``, or another object under one of them."""
    return now.keys() != was.keys() or any(now[key] is not value for key, value in was.items())


# what holds no node, whatever it holds: scalars and strings, arrays, classes and modules, and
# logging's objects (a logger leads to every logger of the process, and their handlers' streams)
LEAVES = (
    str,
    bytes,
    bytearray,
    int,
    float,
    complex,
    type(None),
    np.ndarray,
    np.generic,
    type,
    types.ModuleType,
    logging.Logger,
    logging.LoggerAdapter,
    logging.Handler,
    logging.Manager,
)


def may_hold(value: Any) -> bool:
    """Whether ``value`` may hold nodes in its attributes or items: not one of ``LEAVES``, a
    function, or an array-like (a class with ``__array__``: a pandas DataFrame, a tensor),
    which holds data."""
    return not (
        isinstance(value, LEAVES) or inspect.isroutine(value) or hasattr(type(value), "__array__")
    )
