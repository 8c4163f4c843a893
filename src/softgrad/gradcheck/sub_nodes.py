"""Where a node's parameters may sit: on the node itself, and on its sub-nodes, by path.

A sub-node is a node (an object with ``forward`` and ``backward``) held by an attribute, or by
the lists, tuples and dicts an attribute holds, nested to any depth (``self.out``,
``self.layers[1]``, ``self.blocks['enc']``, ``self.stages[1][0]``; a namedtuple's by field:
``self.pair.enc``), and so on down. Each is visited once, whatever holds it again (a
child's reference to its parent, a Sequential's second tuple of its layers), so cycles end.

A :class:`Site` is one array that may be a parameter: a value of a node's ``params`` dict, or
an attribute's floating array that is not named as a gradient (``dW``, ``d_W``, ``grad_W``). An
array reached twice is one site, the first found: the node's own before its sub-nodes', so a
softgrad Sequential's parameters are its ``params['0.W']``..., not its layers' again. Nor is a
Sequential's ``params['0.W']`` a tie with its layer's ``params['W']``: it is the layer's own
array under its qualified name, one parameter held once (:func:`one_holding`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from softgrad.gradcheck.views import Linked, overlaps
from softgrad.nn.sequential import Sequential

GRAD_PATTERNS = ("d{}", "d_{}", "grad_{}")

# one step from a node down to a sub-node: ("attr", name) or ("item", index or key)
Step = tuple[str, Any]
Path = tuple[Step, ...]


def is_node(obj: Any) -> bool:
    """True when ``obj`` (not a class) has callable ``forward`` and ``backward`` attributes."""
    if isinstance(obj, type):
        return False
    return callable(getattr(obj, "forward", None)) and callable(getattr(obj, "backward", None))


def is_node_class(cls: type) -> bool:
    """True when ``cls`` defines callable ``forward`` and ``backward``: a node's class, given
    where one of its objects belongs."""
    return callable(getattr(cls, "forward", None)) and callable(getattr(cls, "backward", None))


def attributes(obj: Any) -> dict[str, Any]:
    """The object's attributes: the ``__slots__`` it has set, and its ``__dict__``."""
    found = {}
    for klass in type(obj).__mro__:
        slots = vars(klass).get("__slots__", ())
        for name in [slots] if isinstance(slots, str) else slots:
            if name not in ("__dict__", "__weakref__") and hasattr(obj, name):
                found[name] = getattr(obj, name)
    return {**found, **vars(obj)} if hasattr(obj, "__dict__") else found


def set_attribute(obj: Any, key: str, value: Any) -> None:
    """``obj.key = value``, past any ``__setattr__`` of the object's own when it is in
    ``__dict__``."""
    if hasattr(obj, "__dict__") and key in vars(obj):
        vars(obj)[key] = value
    else:
        setattr(obj, key, value)


def spelled(path: Path) -> str:
    """The path as the user writes it: ``"self.layers[1]"``, ``"self.fc1"``, ``"self"``."""
    return "self" + "".join(f".{key}" if kind == "attr" else f"[{key!r}]" for kind, key in path)


def resolve(obj: Any, path: Path) -> Any:
    """The sub-node at ``path`` on ``obj``, or None when it is not there (any more)."""
    for kind, key in path:
        try:
            obj = getattr(obj, key) if kind == "attr" else obj[key]
        except (AttributeError, LookupError, TypeError):
            return None
    return obj


def _children(node: Any) -> Iterator[tuple[Path, Any]]:
    """``(steps, child)`` for the nodes a node holds: in an attribute, or in the lists, tuples
    (named ones by field), and dicts an attribute holds, however deeply nested."""
    for key, value in attributes(node).items():
        yield from _held((("attr", key),), value, set())


def _held(steps: Path, value: Any, seen: set[int]) -> Iterator[tuple[Path, Any]]:
    """The nodes ``value`` is or holds, each with the steps from the attribute to it; a
    container met again on the way down (one that holds itself) is skipped."""
    if is_node(value):
        yield steps, value
        return
    items = contents(value)
    if not items or id(value) in seen:
        return
    seen.add(id(value))
    for step, item in items:
        yield from _held((*steps, step), item, seen)


def contents(value: Any) -> list[tuple[Step, Any]]:
    """``(step, item)`` for what a container that may hold nodes holds: a list's or tuple's
    items by index, a dict's by key, a namedtuple's by field; empty for anything else."""
    if _is_namedtuple(value):
        return [(("attr", field), getattr(value, field)) for field in type(value)._fields]
    if type(value) in (list, tuple):
        return [(("item", index), item) for index, item in enumerate(value)]
    if isinstance(value, dict):
        return [(("item", key), item) for key, item in value.items()]
    return []


def sub_nodes(root: Any) -> Iterator[tuple[Path, Any]]:
    """``(path, node)`` for ``root`` (path ``()``) and every node under it, depth first in
    attribute order, each once."""
    seen: set[int] = set()
    stack: list[tuple[Path, Any]] = [((), root)]
    while stack:
        path, node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        yield path, node
        found = [((*path, *steps), child) for steps, child in _children(node)]
        stack.extend(reversed(found))


@dataclass(frozen=True)
class Site:
    """One array that may be a parameter: ``kind`` "params" (``node.params[key]``) or "attr"
    (``node.key``), on the node at ``path`` (``()`` for the checked node itself)."""

    path: Path
    kind: str
    key: Any
    #: the same array held by other nodes (tied weights): their sites, in the order found
    tied: tuple[Site, ...] = ()
    #: a tied site whose array is a view sharing memory with the site's (``W.T``), not the array
    view: bool = False

    @property
    def name(self) -> str:
        """The check's name: the key or attribute alone on the node itself (``"W"``; an
        ``x`` is ``"self.x"`` or ``"params['x']"``, apart from the input), the full path on a
        sub-node (``"self.out.W"``, ``"self.fc1.params['W']"``)."""
        if not self.path:
            if str(self.key) != "x":
                return str(self.key)
            return "self.x" if self.kind == "attr" else "params['x']"
        return self._spelled("params")

    @property
    def label(self) -> str:
        """How a note lists it: the attribute's name on the node itself, else its name."""
        return str(self.key) if not self.path else self.name

    def grad_name(self, partner: str | None = None) -> str:
        """Where its gradient is expected: ``grads['W']``, or the attribute ``partner`` (``dW``)
        found for it, with the sub-node's path in front (``"self.out.dW"``)."""
        if self.kind == "params":
            return self._spelled("grads")
        return f"{spelled(self.path)}.{partner}" if self.path else str(partner)

    def _spelled(self, store: str) -> str:
        where = f"{store}[{self.key!r}]" if self.kind == "params" else str(self.key)
        return f"{spelled(self.path)}.{where}" if self.path else where

    def node(self, obj: Any) -> Any:
        """The node holding this site on ``obj`` (a fresh copy of the checked node)."""
        return resolve(obj, self.path)

    def value(self, obj: Any) -> Any:
        """The array at this site on ``obj``, or None when it is not there."""
        node = self.node(obj)
        if self.kind == "params":
            params = getattr(node, "params", None)
            return params.get(self.key) if isinstance(params, Mapping) else None
        return getattr(node, self.key, None)

    def partner(self, obj: Any) -> str | None:
        """The attribute holding an attribute site's gradient on ``obj`` after backward
        (``dW``, ``d_W`` or ``grad_W`` for ``W``), or None."""
        node = self.node(obj)
        names = (pattern.format(self.key) for pattern in GRAD_PATTERNS)
        return next((name for name in names if hasattr(node, name)), None)

    def gradient(self, obj: Any, partner: str | None) -> Any:
        """The gradient at this site on ``obj`` after backward: ``grads[key]``, or the
        attribute ``partner`` (:meth:`partner`); None when it is not there."""
        node = self.node(obj)
        if self.kind == "params":
            grads = getattr(node, "grads", None)
            return grads.get(self.key) if isinstance(grads, Mapping) else None
        return getattr(node, partner, None) if partner is not None else None


def parameter_sites(root: Any, into_sub_nodes: bool) -> list[Site]:
    """Every floating array that may be a parameter, on ``root`` and (``into_sub_nodes``) on
    the nodes under it: each array once, and each name once (a ``params['W']`` before an
    attribute ``W`` of another array). An array that other nodes hold too (weights tied
    between two sub-nodes) lists their sites in ``tied``; another name for it on the same node
    (``params['W']`` and ``self.W``, one parameter), or a softgrad Sequential's name for its
    layer's array (``params['0.W']`` and ``self.layers[0].params['W']``), is dropped
    (:func:`one_holding`). An array that shares memory with one found before
    (``self.WT = self.W.T``; views of one flat vector) is tied to it too, as a view
    (``Site.view``), on any node."""
    found: dict[str, Site] = {}
    first: dict[int, str] = {}  # id of an array -> the name of its first site
    values: dict[str, np.ndarray] = {}  # name of a site -> its array

    views: set[int] = set()  # ids of the arrays tied as views

    def add(site: Site, value: np.ndarray) -> None:
        name = first.get(id(value))
        if name is not None:
            held = found[name]
            if not any(one_holding(site, other, root) for other in (held, *held.tied)):
                found[name] = replace(
                    held, tied=(*held.tied, replace(site, view=id(value) in views))
                )
            return
        name = next((n for n, v in values.items() if overlaps(v, value)), None)
        if name is not None:
            held = found[name]
            found[name] = replace(held, tied=(*held.tied, replace(site, view=True)))
            first[id(value)] = name
            views.add(id(value))
        elif site.name not in found:
            found[site.name] = site
            first[id(value)] = site.name
            values[site.name] = value

    for site, value in site_arrays(root, into_sub_nodes):
        add(site, value)
    return list(found.values())


def one_holding(site: Site, other: Site, root: Any) -> bool:
    """Whether two sites of one array on ``root`` are one parameter held once, not a tie: two
    names on one node (``params['W']`` and ``self.W``), or a softgrad Sequential's qualified
    name for the array of a layer it holds (its ``params['0.W']``, the layer's
    ``params['W']``; each layer appears once in a Sequential, so its store never ties two)."""
    if site.path == other.path:
        return True
    return _qualified_in(other, site, root) or _qualified_in(site, other, root)


def _qualified_in(outer: Site, inner: Site, root: Any) -> bool:
    """Whether ``outer`` is a Sequential's ``params`` entry that names ``inner``'s: its
    qualified name (``"1.0.W"``) leads through the layers, nested Sequentials included, to
    ``inner``'s node and key."""
    if outer.kind != "params" or inner.kind != "params":
        return False
    node, key, target = outer.node(root), str(outer.key), inner.node(root)
    while isinstance(node, Sequential):
        index, _, key = key.partition(".")
        if not index.isdigit() or int(index) >= len(node.layers):
            return False
        node = node.layers[int(index)]
        if node is target and key == inner.key:
            return True
    return False


def site_arrays(root: Any, into_sub_nodes: bool) -> Iterator[tuple[Site, np.ndarray]]:
    """``(site, array)`` for every floating array that may be a parameter, found as
    :func:`parameter_sites` finds them, before any array is merged with another."""
    nodes = sub_nodes(root) if into_sub_nodes else iter([((), root)])
    for path, node in nodes:
        params = getattr(node, "params", None)
        if isinstance(params, Mapping):
            for key, value in params.items():
                if _floating(value):
                    yield Site(path, "params", key), value
        arrays = {key: value for key, value in attributes(node).items() if _floating(value)}
        grad_like = {pattern.format(key) for key in arrays for pattern in GRAD_PATTERNS}
        for key, value in arrays.items():
            if key not in grad_like:
                yield Site(path, "attr", key), value


def _is_namedtuple(value: Any) -> bool:
    return isinstance(value, tuple) and hasattr(type(value), "_fields")


def _floating(value: Any) -> bool:
    return isinstance(value, np.ndarray) and value.dtype.kind == "f"


class Float64:
    """Converts a copy's floating arrays to float64 in place: in attributes, in the dicts,
    lists and tuples (named ones too) they hold, down to ``depth`` containers, and
    (``into_nodes``) in sub-nodes, each prepared first (a softgrad Layer's astype), all but those
    in ``skip`` (the user's own, shared by a copy that could not copy them). Two names
    for one array keep pointing at one array, arrays of one group of ``linked`` stay views of
    one converted root, and each container and node is visited once (cycles end)."""

    def __init__(
        self,
        prepare: Callable[[Any, str], Any] | None,
        depth: int,
        into_nodes: bool,
        linked: Linked | None = None,
        skip: Iterable[Any] = (),
    ):
        self._prepare = prepare
        self._linked = linked  # arrays that share memory: converted as views of one root
        self._depth = depth
        self._into_nodes = into_nodes
        self._memo: dict[int, np.ndarray] = {}
        # what is shared with the user's object (it could not be copied) is never converted
        self._visited: set[int] = {id(value) for value in skip}

    def node(self, node: Any, path: Path = (), depth: int | None = None) -> Any:
        """``node`` prepared, its attributes converted (call it on copies only)."""
        depth = self._depth if depth is None else depth
        self._visited.add(id(node))
        if self._prepare is not None:
            node = self._prepare(node, spelled(path))
        for key, value in attributes(node).items():
            set_attribute(node, key, self._value(value, (*path, ("attr", key)), depth))
        return node

    def _value(self, value: Any, path: Path, depth: int) -> Any:
        if isinstance(value, np.ndarray):
            if value.dtype.kind != "f" or value.dtype == np.float64:
                return value
            if id(value) not in self._memo:
                linked = self._linked.convert(value, np.float64) if self._linked else None
                self._memo[id(value)] = value.astype(np.float64) if linked is None else linked
            return self._memo[id(value)]
        if depth == 0 or id(value) in self._visited:
            return value
        if isinstance(value, dict):
            self._visited.add(id(value))
            for key in value:
                value[key] = self._item(value[key], path, key, depth)
        elif isinstance(value, list):
            self._visited.add(id(value))
            value[:] = [self._item(item, path, index, depth) for index, item in enumerate(value)]
        elif type(value) is tuple:
            return tuple(self._item(item, path, index, depth) for index, item in enumerate(value))
        elif _is_namedtuple(value):  # rebuilt by field, as sub_nodes names its items
            fields = type(value)._fields
            return value._make(
                self._value(getattr(value, f), (*path, ("attr", f)), depth - 1) for f in fields
            )
        elif self._into_nodes and is_node(value):
            return self.node(value, path, depth - 1)
        return value

    def _item(self, item: Any, path: Path, index: Any, depth: int) -> Any:
        return self._value(item, (*path, ("item", index)), depth - 1)
