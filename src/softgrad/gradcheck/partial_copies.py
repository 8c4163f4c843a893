"""Copies of a node that cannot be deep-copied whole: all it holds that can be copied is copied,
and only what cannot be is shared with the user's object.

A composite that holds a ``threading.Lock``, an open file or a generator makes
``copy.deepcopy`` raise. Its copies must still hold sub-nodes of their own: the caches a
sub-node's forward sets (``self.s``, ``self.x``) and the gradients its backward accumulates
(``self.dW += ...``) would otherwise land on the user's objects. So the objects that refuse to be
copied are found as deep as they sit, by the paths :mod:`softgrad.gradcheck.sub_nodes` uses
(the lock in ``self.lock``, not the composite holding it; a sub-node only when it refuses
itself, its own ``__deepcopy__`` or ``__reduce__`` raising, once what it holds that refuses is
left aside), and every copy is one ``copy.deepcopy`` whose memo maps each of them to itself:
they alone are shared. One memo for the whole copy keeps what sub-nodes share shared in it
(tied weights, one gradient array). When the node's own class refuses, the node is copied with
``copy.copy`` and its attributes are deep-copied with one memo.

A sub-node that is shared is the user's own: its parameters are not checked, and its attributes
and the arrays it holds are put back afterwards (:class:`Snapshot`); a note names it. An object
that refuses and is not a node (a registry holding a lock and a dict of the composite's nodes)
is shared whole, with the nodes it holds: copies that ran the copy's own ``self.fc`` while
forward reaches the user's through ``self.registry.nodes['fc']`` would put the check's caches and
gradients on the user's node and check a parameter forward never used. So the nodes reachable
through it are shared too (:attr:`PartialCopier.reached`), and they and the objects on the way
(:attr:`PartialCopier.behind`) are put back afterwards. That walk goes ``_DEPTH`` objects deep
into containers and plain objects only: not into what holds data (arrays, array-likes such as a
DataFrame, numbers, strings), classes, modules, functions or logging's objects (a logger leads
to every logger of the process). A registry holding a logger, a DataFrame, a dict of 100,000
numbers and an array of 1e7 float64 adds 0.2 s to a check (1.7 s when the walk entered them);
its arrays are still copied to be put back (80 MB for that array).

Such an object may point back at the composite itself (``self.registry.owner``): in every copy
that is the user's object, not the copy, so the walk records where (:attr:`PartialCopier.back`)
and the note says it; the copy's own nodes stay its own, and which of the user's a forward
reached that way is seen afterwards (:meth:`Snapshot.changed`).
"""

from __future__ import annotations

import copy
import inspect
import logging
import types
from typing import Any

import numpy as np

from softgrad.gradcheck.sub_nodes import Path, attributes, contents, is_node, set_attribute, spelled

# how deep Snapshot looks into containers held in containers (self.stats = ([array],))
_DEPTH = 4


def _slot_names(obj: Any) -> list[str]:
    """The names of the ``__slots__`` ``obj``'s classes declare (set or not)."""
    names = []
    for klass in type(obj).__mro__:
        slots = vars(klass).get("__slots__", ())
        names += [slots] if isinstance(slots, str) else list(slots)
    return [n for n in names if n not in ("__dict__", "__weakref__")]


class Snapshot:
    """An object's attributes (in ``__dict__`` and ``__slots__``) and the contents of the
    arrays, dicts and lists they hold, nested in lists, tuples and dicts down to ``_DEPTH``
    levels, to put back. The nodes among them are left to snapshots of their own."""

    def __init__(self, obj: Any):
        self._obj = obj
        self._dict = dict(vars(obj)) if hasattr(obj, "__dict__") else None
        self._slots = {n: getattr(obj, n) for n in _slot_names(obj) if hasattr(obj, n)}
        self._containers: list[tuple[Any, Any]] = []
        arrays: list[np.ndarray] = []
        self._collect(attributes(obj).values(), arrays, 0, set())
        self._arrays = [(a, a.copy()) for a in arrays if a.flags.writeable]

    def _collect(self, values: Any, arrays: list[np.ndarray], depth: int, seen: set[int]) -> None:
        for value in values:
            if isinstance(value, np.ndarray):
                arrays.append(value)
            elif (
                depth < _DEPTH and _may_hold(value) and id(value) not in seen and not is_node(value)
            ):
                seen.add(id(value))
                if type(value) in (dict, list):
                    self._containers.append((value, copy.copy(value)))
                self._collect(_items(value), arrays, depth + 1, seen)

    def changed(self) -> bool:
        """Whether the object's attributes, or the containers and arrays snapshotted with them,
        differ from the snapshot's (an attribute rebound counts, even to equal values)."""
        if self._dict is not None and _rebound(vars(self._obj), self._dict):
            return True
        slots = {n: getattr(self._obj, n) for n in _slot_names(self._obj) if hasattr(self._obj, n)}
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
        for name in _slot_names(self._obj):
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
_LEAVES = (
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


def _may_hold(value: Any) -> bool:
    """Whether ``value`` may hold nodes in its attributes or items: not one of ``_LEAVES``, a
    function, or an array-like (a class with ``__array__``: a pandas DataFrame, a tensor),
    which holds data."""
    return not (
        isinstance(value, _LEAVES) or inspect.isroutine(value) or hasattr(type(value), "__array__")
    )


def _copies(value: Any, memo: dict[int, Any]) -> bool:
    """Whether ``value`` deep-copies with what ``memo`` maps left shared (tried on a copy of the
    memo: a copy that fails half-way leaves half-made copies in it)."""
    try:
        copy.deepcopy(value, dict(memo))
    except Exception:  # whatever a __deepcopy__/__reduce__ raises
        return False
    return True


class PartialCopier:
    """Copies of ``obj`` (whose ``copy.deepcopy`` raised) that share with it only what cannot be
    copied: :attr:`shared` lists those objects by path, :attr:`shared_nodes` the nodes among
    them. Raises TypeError when ``obj`` cannot even be copied with ``copy.copy``."""

    def __init__(self, obj: Any, name: str):
        self._keep: dict[int, Any] = {}  # id -> the object itself: deepcopy leaves it shared
        self.shared: list[tuple[Path, Any]] = []
        #: the nodes reachable through a shared object that is not a node (a registry's dict of
        #: them): copies reach the user's own through it, so they are shared too
        self.reached: list[tuple[Path, Any]] = []
        #: the objects on the way to them, shared with the user's object as well, to restore
        self.behind: list[Any] = []
        #: where a shared object points back at ``obj`` itself (``self.registry.owner``): in
        #: every copy that is the user's object, not the copy
        self.back: list[Path] = []
        self._holds_nodes = False
        seen = {id(obj)}  # a sub-node's reference back to obj ends there
        for key, value in attributes(obj).items():
            self._find((("attr", key),), value, seen)
        self._root = id(obj)
        reach_seen: set[int] = set()
        for path, value in list(self.shared):
            if not is_node(value):
                self._reach(path, value, reach_seen, 0)
        self._top_refuses = not _copies(obj, self._keep)
        if self._top_refuses:
            try:
                copy.copy(obj)
            except Exception as exc:
                raise TypeError(
                    f"gradcheck: obj must support copy.deepcopy or copy.copy; {name} supports "
                    f"neither ({type(exc).__name__}: {exc})"
                ) from exc

    def _find(self, path: Path, value: Any, seen: set[int]) -> None:
        """Keep shared what ``value`` is or holds that refuses to be copied: a node or container
        that refuses with all it holds left aside (its own class refuses), anything else that
        refuses; each object once, whatever holds it again."""
        if id(value) in seen or isinstance(value, np.ndarray):
            return
        seen.add(id(value))
        parts = contents(value)
        if is_node(value):
            self._holds_nodes = True
            parts = [(("attr", key), item) for key, item in attributes(value).items()]
        for step, item in parts:
            self._find((*path, step), item, seen)
        if not _copies(value, {id(item): item for _, item in parts}):
            self._keep[id(value)] = value
            self.shared.append((path, value))

    def _reach(self, path: Path, value: Any, seen: set[int], depth: int) -> None:
        """Share the nodes ``value`` (shared whole, or held by what is) holds in its attributes
        and containers, down to ``_DEPTH`` objects deep, and keep the objects on the way to
        restore; a node ends the way (its own are found by :func:`sub_nodes`), and so does the
        user's object itself, where it is recorded (:attr:`back`)."""
        if id(value) == self._root:
            self.back.append(path)
            return
        if id(value) in seen or depth > _DEPTH or not _may_hold(value):
            return
        seen.add(id(value))
        if is_node(value):
            if id(value) not in self._keep:
                self._keep[id(value)] = value
                self.reached.append((path, value))
            return
        if hasattr(value, "__dict__") or _slot_names(value):  # containers: their holder's
            self.behind.append(value)
        if isinstance(value, dict):  # a dict of 100,000 numbers costs one check of each
            parts = [(("item", k), item) for k, item in value.items() if _may_hold(item)]
        else:
            parts = contents(value) or [
                (("attr", key), item) for key, item in attributes(value).items()
            ]
        for step, item in parts:
            self._reach((*path, step), item, seen, depth + 1)

    @property
    def shared_nodes(self) -> list[tuple[Path, Any]]:
        return [(path, value) for path, value in self.shared if is_node(value)]

    def note(self, name: str, exc: Exception) -> str:
        """What was done, for the result's notes."""
        how = (
            f"a copy.copy of {name} whose attributes were deep-copied"
            if self._top_refuses
            else "a deep copy"
        )
        head = f"{name} could not be deep-copied ({type(exc).__name__}: {exc}); each evaluation ran"
        if not self.shared:
            return f"{head} on {how}, which shares nothing {name} holds"
        where = ", ".join(spelled(path) for path, _ in self.shared)
        if self.reached:
            reached = ", ".join(spelled(path) for path, _ in self.reached)
            text = (
                f"{head} on {how} that shares with {name} what cannot be copied ({where}) and "
                f"the nodes reachable through it ({reached}), which are {name}'s own in every "
                "copy: their parameters were not checked, and their attributes were restored "
                "afterwards; the rest was the copy's own"
            )
        else:
            text = (
                f"{head} on {how} that shares with {name} only what cannot be copied ({where}): "
                + ("the rest, the nodes it holds included," if self._holds_nodes else "the rest")
                + " was the copy's own"
            )
        if not self.back:
            return text
        back = ", ".join(spelled(path) for path in self.back)
        return (
            f"{text}. But {back} is {name} itself in every copy, not the copy: what forward "
            f"reaches through it is {name}'s own ({name} and its nodes were restored afterwards)"
        )

    def copy(self, obj: Any, memo: dict[int, Any]) -> Any:
        """A copy of ``obj`` (the user's node, or a copy of it) sharing only what cannot be
        copied; ``memo`` may map arrays to copies already made (views kept linked)."""
        memo = {**memo, **self._keep}
        if not self._top_refuses:
            return copy.deepcopy(obj, memo)
        new = copy.copy(obj)
        for key, value in attributes(obj).items():
            set_attribute(new, key, copy.deepcopy(value, memo))
        return new
