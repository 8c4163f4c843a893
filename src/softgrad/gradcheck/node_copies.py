"""The copies a user's node is run on, and what they share with the user's object.

One float64 base copy is made (:func:`softgrad.gradcheck.views.deepcopy_linked`: views stay
views), each evaluation runs on a fresh copy of it, and the user's object is never modified.
When the node cannot be deep-copied, the copies share with it only what cannot be copied
(:class:`softgrad.gradcheck.partial_copies.PartialCopier`): the nodes that every copy shares
(they cannot be copied, or forward reaches them through what cannot be) are the user's own, so
they are snapshotted and put back by :meth:`NodeCopies.restore`, their parameters are not
checked, and a note names them. When a shared object points back at the user's object itself
(``self.registry.owner``), the user's object and its nodes are snapshotted too, and the nodes
that a forward changed through that reference (it ran the user's, not the copy's) are shared
from then on (:meth:`NodeCopies.ran_back`).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from softgrad.errors import UserCodeError
from softgrad.gradcheck.partial_copies import PartialCopier
from softgrad.gradcheck.snapshots import Snapshot
from softgrad.gradcheck.sub_nodes import Float64, Path, resolve, site_arrays, spelled, sub_nodes
from softgrad.gradcheck.views import Linked, deepcopy_linked

# deep copies are converted all the way down (each container and node once: cycles end)
_ALL_THE_WAY = 1 << 30


class NodeCopies:
    """The float64 :attr:`base` copy of ``obj`` and fresh copies of it (:meth:`fresh`); what
    they share with ``obj`` is known by path (:meth:`owned`, :meth:`shares`, :meth:`reached`)
    and put back by :meth:`restore`. What had to be shared is said in ``notes``."""

    def __init__(
        self,
        obj: Any,
        name: str,
        notes: list[str],
        prepare: Callable[[Any, bool], Any] | None = None,
    ):
        self._name = name
        self._notes = notes
        self._snapshots: list[Snapshot] = []  # of what every copy shares with obj, to put back
        # obj and its own nodes, when a shared object points back at obj: a forward that goes
        # through that reference changes them
        self._watched: list[tuple[Path, Snapshot]] = []
        self._back: list[Path] = []
        arrays = [value for _, value in site_arrays(obj, True)]
        # arrays that share memory (self.WT = self.W.T) stay views of one root in copies
        copier: Callable[[Any, dict[int, Any]], Any] = copy.deepcopy
        shared: list[Any] = []
        reached: list[Any] = []  # nodes shared because copies reach them through shared objects
        try:
            base = deepcopy_linked(obj, arrays)
        except Exception as exc:  # whatever the object's __deepcopy__/__reduce__ raises
            partial = PartialCopier(obj, name)
            copier = partial.copy
            reached = [value for _, value in partial.reached]
            shared = [value for _, value in partial.shared] + reached
            base = partial.copy(obj, Linked(arrays).memo())
            notes.append(partial.note(name, exc))
            self._share(partial.shared_nodes, partial.reached, partial.behind)
            if partial.back:
                self._watch(obj, {id(value) for value in shared}, partial.back)
        converter = Float64(
            None if prepare is None else lambda node, where: self._prepared(node, where, prepare),
            _ALL_THE_WAY,
            into_nodes=True,
            linked=Linked(value for _, value in site_arrays(base, True)),
            skip=shared,
        )
        self.base = converter.node(base)
        # every fresh copy keeps the converted views linked as well
        linked = Linked(value for _, value in site_arrays(self.base, True))
        self._copy: Callable[[], Any] = lambda: copier(self.base, linked.memo())
        self._shared_ids = {id(value) for value in shared}
        self._reached_ids = {id(value) for value in reached}

    def fresh(self) -> Any:
        """A fresh float64 copy of the checked node, as each evaluation runs on."""
        return self._copy()

    def _share(
        self, nodes: list[tuple[Path, Any]], reached: list[tuple[Path, Any]], behind: list[Any]
    ) -> None:
        """Snapshot the user's nodes that every copy shares (those that cannot be copied, those
        reached through what cannot be, and the nodes they hold) and the objects on the way to
        them, to put back afterwards; say so of the nodes that cannot be copied (the note on
        the copies names the others)."""
        held = {id(n): n for _, node in nodes + reached for _, n in sub_nodes(node)}
        self._snapshots = [Snapshot(n) for n in [*behind, *held.values()]]
        if not nodes:
            return
        self._notes.append(
            f"the nodes {self._name} holds that cannot be copied "
            f"({', '.join(spelled(path) for path, _ in nodes)}) are shared with {self._name}: "
            "their parameters were not checked, and their attributes were restored afterwards"
        )

    def _watch(self, obj: Any, shared: set[int], back: list[Path]) -> None:
        """Snapshot the user's object and the nodes it holds that copies do not share: a shared
        object's reference back to it (``back``) leads a forward to them."""
        self._back = back
        self._watched = [
            (path, Snapshot(node)) for path, node in sub_nodes(obj) if id(node) not in shared
        ]
        self._snapshots += [snapshot for _, snapshot in self._watched]

    def ran_back(self) -> bool:
        """After the first forward and backward: the user's own nodes that changed were run
        through a shared object's reference back to the user's object, not the copy's, so they
        are shared from now on as the nodes reached through what cannot be copied are (not
        checked, said so). True when some were."""
        ran = [path for path, snapshot in self._watched if snapshot.changed()]
        if not ran:
            return False
        nodes = [resolve(self.base, path) for path in ran if path]
        self._shared_ids |= {id(node) for node in nodes}
        self._reached_ids |= {id(node) for node in nodes}
        back = ", ".join(spelled(path) for path in self._back)
        through = f"through {back}, which is {self._name} itself in every copy, not the copy"
        if not nodes:
            self._notes.append(
                f"forward changed {self._name} itself {through}; its attributes were restored "
                "afterwards"
            )
            return False
        where = ", ".join(spelled(path) for path in ran if path)
        self._notes.append(
            f"forward ran {self._name}'s own {where} {through} (they changed during the check): "
            "their parameters were not checked, and their attributes were restored afterwards"
        )
        return True

    def shares(self, path: Path) -> bool:
        """Whether the node at ``path`` is the user's own in every copy (it cannot be copied)."""
        return id(resolve(self.base, path)) in self._shared_ids

    def reached(self, path: Path) -> bool:
        """Whether the node at ``path`` is shared because copies reach it through an object
        that cannot be copied (the node itself could be)."""
        return id(resolve(self.base, path)) in self._reached_ids

    def owned(self, path: Path) -> bool:
        """Whether the node at ``path`` on the base copy, and every node on the way to it, is
        the copy's own (not shared with the user's object)."""
        return not any(
            id(resolve(self.base, path[:i])) in self._shared_ids for i in range(1, len(path) + 1)
        )

    def _prepared(self, node: Any, where: str, prepare: Callable[[Any, bool], Any]) -> Any:
        """``prepare(node, top)``, a Layer's astype: the user's subclass may break it (its
        __init__ never called Layer's, so it has no params: Layer's own AttributeError says
        so), which is said as its own code raising; ``where`` is the node's path (``"self"``,
        ``"self.fc1"``)."""
        try:
            return prepare(node, where == "self")
        except (Exception, SystemExit) as exc:
            label = self._name if where == "self" else f"{self._name} {where}"
            raise UserCodeError(
                f"gradcheck: {label}.astype(float64) raised {type(exc).__name__}: {exc}"
            ) from exc

    def restore(self) -> None:
        """Put back what the copies share with the user's object, as it was before the check."""
        for snapshot in self._snapshots:
            snapshot.restore()
