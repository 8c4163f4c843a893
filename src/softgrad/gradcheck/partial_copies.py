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
and the arrays it holds are put back afterwards (:mod:`softgrad.gradcheck.snapshots`); a note
names it. An object that refuses and is not a node (a registry holding a lock and a dict of the
composite's nodes) is shared whole, with the nodes it holds: copies that ran the copy's own
``self.fc`` while forward reaches the user's through ``self.registry.nodes['fc']`` would put the
check's caches and gradients on the user's node and check a parameter forward never used. So the
nodes reachable through it are shared too (:attr:`PartialCopier.reached`), and they and the
objects on the way (:attr:`PartialCopier.behind`) are put back afterwards. That walk goes
``DEPTH`` objects deep into containers and plain objects only: not into what holds data (arrays,
array-likes such as a DataFrame, numbers, strings), classes, modules, functions or logging's
objects (a logger leads to every logger of the process). A registry holding a logger, a
DataFrame, a dict of 100,000 numbers and an array of 1e7 float64 adds 0.2 s to a check (1.7 s
when the walk entered them); its arrays are still copied to be put back (80 MB for that array).

Such an object may point back at the composite itself (``self.registry.owner``): in every copy
that is the user's object, not the copy, so the walk records where (:attr:`PartialCopier.back`)
and the note says it; the copy's own nodes stay its own, and which of the user's a forward
reached that way is seen afterwards (:meth:`~softgrad.gradcheck.snapshots.Snapshot.changed`).
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np

from softgrad.gradcheck.snapshots import DEPTH, may_hold, slot_names
from softgrad.gradcheck.sub_nodes import Path, attributes, contents, is_node, set_attribute, spelled


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
        and containers, down to ``DEPTH`` objects deep, and keep the objects on the way to
        restore; a node ends the way (its own are found by :func:`sub_nodes`), and so does the
        user's object itself, where it is recorded (:attr:`back`)."""
        if id(value) == self._root:
            self.back.append(path)
            return
        if id(value) in seen or depth > DEPTH or not may_hold(value):
            return
        seen.add(id(value))
        if is_node(value):
            if id(value) not in self._keep:
                self._keep[id(value)] = value
                self.reached.append((path, value))
            return
        if hasattr(value, "__dict__") or slot_names(value):  # containers: their holder's
            self.behind.append(value)
        if isinstance(value, dict):  # a dict of 100,000 numbers costs one check of each
            parts = [(("item", k), item) for k, item in value.items() if may_hold(item)]
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
        memo[id(obj)] = new  # a sub-node's reference back to obj (self.fc.parent) is to the copy
        for key, value in attributes(obj).items():
            set_attribute(new, key, copy.deepcopy(value, memo))
        return new
