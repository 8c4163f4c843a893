"""Checking the user's own node: any object with ``forward(x)`` and ``backward(grad_y)``.

What is recognised (duck typing, nothing to inherit):

* ``obj.forward(x) -> y`` and ``obj.backward(grad_y) -> grad_x``. With a ``target``, forward is
  called as ``obj.forward(x, target)``. For a scalar output (a loss) the cotangent is 1: backward
  is called as ``backward(1.0)``, or ``backward()`` when it takes no argument; a backward that
  cannot be called so (nnfs's ``backward(dvalues, y_true)``) is refused with a TypeError that
  says how it is called.
* Parameters, looked up on the object as constructed (before any forward):

  - softgrad's convention: a dict ``obj.params`` of arrays, whose gradients backward writes into
    the dict ``obj.grads`` under the same keys;
  - attribute pairs (in ``__dict__`` or ``__slots__``): an attribute ``P`` holding a
    floating-point array, with its gradient in the attribute ``dP``, ``d_P`` or ``grad_P``
    after backward (``W``/``dW``, ``b``/``db``, ``W``/``grad_W``).

  A parameter is read by forward, never written: what tells an attribute array apart is its
  contents. An array whose contents forward changes is a cache, not a parameter, whether
  forward replaces it (``self.x = x`` over a preallocated ``self.x``) or fills it in place
  (``self.x[...] = x``, ``self.cache[:] = s``): changes from before forward at x to after it,
  or from after forward at x to after forward at a point near x (``x + (|x| + 1) / 256``), so
  that a buffer already holding what forward at x writes (the user ran ``forward(x)`` first)
  is still seen to change. One that holds the same values throughout is a parameter when it
  has a gradient partner, even if forward rebinds it to a new array of those values
  (``self.W = self.W.astype(x.dtype)``: equal in the new dtype); without a partner it is a
  constant. Caches and constants are listed in the notes. A parameter that forward itself
  changes (a max-norm clip in place) is therefore listed as a cache, not checked. A parameter
  named ``x`` is checked as ``"self.x"`` (``"params['x']"``), apart from the input's ``"x"``.

* Parameters of the nodes it holds (a composite node), found the same way on each: a node in
  an attribute, or in a list, tuple or dict an attribute holds, and so on down
  (:mod:`softgrad.gradcheck.sub_nodes`). Each is named by its path as you write it:
  ``"self.out.W"`` (gradient ``self.out.dW``), ``"self.fc1.params['W']"`` (``self.fc1.grads
  ['W']``), ``"self.layers[1].W"``, ``"self.blocks['enc'].b"``. Each node is visited once (a
  child that keeps a reference to its parent ends there), and each array is checked once,
  under the first name found, the node's own before its sub-nodes': a softgrad Sequential's
  parameters are its ``params['0.W']``..., not its layers' again. Caches and constants of a
  sub-node are listed by their path. An array that several sub-nodes hold (tied weights) is
  checked against the sum of the gradients each of them writes for its own use (a gradient
  array they share counted once), and a note says so. So is an array viewed by another that
  the node holds (``self.WT = self.W.T``, ``self.dec.W = self.enc.W.T``; ``W`` and ``b`` as
  views of a flat ``theta``): the view is checked as part of the array it views, and a view's
  gradient is laid onto the elements it views (:mod:`softgrad.gradcheck.views`).

A softgrad Layer (a subclass of it too) is checked the same way: its ``params`` dict is
softgrad's convention, and an attribute pair kept outside it (``self.W``/``self.dW`` in a user's
subclass) is found as in any node.

The object is never modified, nor any node it holds. Each evaluation runs on a fresh
``copy.deepcopy`` of a float64 base copy (a Layer's ``astype(np.float64)`` first, which keeps a
Sequential's parameter store, and so for each Layer it holds that is not float64 already; then
floating arrays in attributes, in the dicts, lists and tuples they hold, and in sub-nodes, all
the way down, are converted; aliasing such as ``params["W"] is W`` is kept, and so are views:
``WT = W.T`` stays a view of ``W`` in every copy). When deep copying is impossible (an attribute
holding a lock, an open file, a generator), each copy is still a deep copy of everything that
can be copied, sharing with the object only what cannot be (the lock;
:mod:`softgrad.gradcheck.partial_copies`): the nodes it holds are the copy's own, their
parameters are checked (tied weights stay tied: one memo for the whole copy), and its nodes
without parameters are checked alone; a note says what was shared. A node it holds that cannot
be copied at all is shared with the user's object: its parameters are not checked, nor is it
checked alone (the report says why), its attributes are restored afterwards, and a note names
it; one with parameters is not listed among the nodes without parameters, but as a shared
node whose parameters were not checked. When a shared object points back at the object itself
(``self.registry.owner``), the note says so, the object and its nodes are restored afterwards,
and the nodes that a forward changed through that reference (it ran the user's, not the
copy's) are treated as shared: their parameters are not checked, and a note names them. Each
backward follows the forward it differentiates
with no other forward in between, so a cache that every copy shares (a class attribute, a
module's global) holds that forward's values.
"""

from __future__ import annotations

import copy
import inspect
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import numpy as np

from softgrad.errors import UserCodeError
from softgrad.gradcheck.partial_copies import PartialCopier, Snapshot
from softgrad.gradcheck.runners import call_quoted
from softgrad.gradcheck.sub_nodes import (
    Float64,
    Path,
    Site,
    parameter_sites,
    resolve,
    site_arrays,
    spelled,
    sub_nodes,
)
from softgrad.gradcheck.ties import Tie, tie_note, tied_gradient, with_gradients
from softgrad.gradcheck.views import Linked, deepcopy_linked

# deep copies are converted all the way down (each container and node once: cycles end)
_ALL_THE_WAY = 1 << 30


class NodeRunner:
    """Runs the user's node on copies (see the module docstring for what is recognised)."""

    def __init__(
        self,
        obj: Any,
        target: Any,
        name: str,
        check_params: bool,
        prepare: Callable[[Any, bool], Any] | None = None,
    ):
        self.name = name
        self.notes: list[str] = []
        self.params: dict[str, np.ndarray] = {}
        self.grad_names: dict[str, str] = {}
        self.output_changed = False  # by the last gradients call's backward
        # the nodes it holds that have no parameter (a softmax in self.layers): found with them
        self.parameter_free: list[str] = []
        self.parameter_free_paths: list[Path] = []
        # the shared nodes it holds that have parameters, which were not checked
        self.shared_with_parameters: list[str] = []
        self.x_changed = False  # by the last gradients call's backward
        self._target = target
        self._check_params = check_params
        self._snapshots: list[Snapshot] = []  # of the sub-nodes that could not be copied
        # the user's object and its own nodes, when a shared object points back at it: a forward
        # that goes through that reference changes them
        self._watched: list[tuple[Path, Snapshot]] = []
        self._user = obj
        self._discovered = False
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
            self.notes.append(partial.note(name, exc))
            self._share(partial.shared_nodes, partial.reached, partial.behind)
            if partial.back:
                self._watch(obj, {id(value) for value in shared}, partial.back)
        linked = Linked(value for _, value in site_arrays(base, True))
        converter = Float64(
            None if prepare is None else lambda node, where: self._prepared(node, where, prepare),
            _ALL_THE_WAY,
            into_nodes=True,
            linked=linked,
            skip=shared,
        )
        self._base = converter.node(base)
        # every fresh copy keeps the converted views linked as well
        linked = Linked(value for _, value in site_arrays(self._base, True))
        self._fresh: Callable[[Any], Any] = lambda node: copier(node, linked.memo())
        self._shared_ids = {id(value) for value in shared}
        self._reached_ids = {id(value) for value in reached}
        self._all_sites = parameter_sites(self._base, True)
        self._sites: dict[str, Site] = {}
        self._shared_sites: list[Site] = []
        self._split_sites()
        self._partners: dict[str, str] = {}
        self._ties: dict[str, list[Tie]] = {}

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
        self.notes.append(
            f"the nodes {self.name} holds that cannot be copied "
            f"({', '.join(spelled(path) for path, _ in nodes)}) are shared with {self.name}: "
            "their parameters were not checked, and their attributes were restored afterwards"
        )

    def _split_sites(self) -> None:
        """The sites checked (on the copy's own nodes, with ties among them), and those on the
        nodes every copy shares with the user's object, which are never checked."""
        self._sites = {
            site.name: replace(site, tied=tuple(t for t in site.tied if self._owned(t.path)))
            for site in self._all_sites
            if self._owned(site.path)
        }
        self._shared_sites = [
            s for site in self._all_sites for s in (site, *site.tied) if not self._owned(s.path)
        ]

    def _watch(self, obj: Any, shared: set[int], back: list[Path]) -> None:
        """Snapshot the user's object and the nodes it holds that copies do not share: a shared
        object's reference back to it (``back``) leads a forward to them."""
        self._back = back
        self._watched = [
            (path, Snapshot(node)) for path, node in sub_nodes(obj) if id(node) not in shared
        ]
        self._snapshots += [snapshot for _, snapshot in self._watched]

    def _ran_back(self) -> None:
        """After the first forward and backward: the user's own nodes that changed were run
        through a shared object's reference back to the user's object, not the copy's, so they
        are shared as the nodes reached through what cannot be copied are (not checked, said
        so)."""
        ran = [path for path, snapshot in self._watched if snapshot.changed()]
        if not ran:
            return
        nodes = [resolve(self._base, path) for path in ran if path]
        self._shared_ids |= {id(node) for node in nodes}
        self._reached_ids |= {id(node) for node in nodes}
        self._split_sites()
        back = ", ".join(spelled(path) for path in self._back)
        through = f"through {back}, which is {self.name} itself in every copy, not the copy"
        if not nodes:
            self.notes.append(
                f"forward changed {self.name} itself {through}; its attributes were restored "
                "afterwards"
            )
            return
        where = ", ".join(spelled(path) for path in ran if path)
        self.notes.append(
            f"forward ran {self.name}'s own {where} {through} (they changed during the check): "
            "their parameters were not checked, and their attributes were restored afterwards"
        )

    def shares(self, path: Path) -> bool:
        """Whether the node at ``path`` is the user's own in every copy (it cannot be copied)."""
        return id(resolve(self._base, path)) in self._shared_ids

    def reached(self, path: Path) -> bool:
        """Whether the node at ``path`` is shared because copies reach it through an object
        that cannot be copied (the node itself could be)."""
        return id(resolve(self._base, path)) in self._reached_ids

    def _owned(self, path: Path) -> bool:
        """Whether the node at ``path`` on the base copy, and every node on the way to it, is
        the copy's own (not shared with the user's object)."""
        return not any(
            id(resolve(self._base, path[:i])) in self._shared_ids for i in range(1, len(path) + 1)
        )

    def _prepared(self, node: Any, where: str, prepare: Callable[[Any, bool], Any]) -> Any:
        """``prepare(node, top)``, a Layer's astype: the user's subclass may break it (its
        __init__ never called Layer's, so it has no params: Layer's own AttributeError says
        so), which is said as its own code raising; ``where`` is the node's path (``"self"``,
        ``"self.fc1"``)."""
        try:
            return prepare(node, where == "self")
        except (Exception, SystemExit) as exc:
            label = self.name if where == "self" else f"{self.name} {where}"
            raise UserCodeError(
                f"gradcheck: {label}.astype(float64) raised {type(exc).__name__}: {exc}"
            ) from exc

    # ---- parameters ---------------------------------------------------------------------------
    def _discover(self, done: Any, changed: set[str]) -> None:
        """Pair each site with its gradient, seen on an object after backward; an attribute
        whose contents forward changed is a cache."""
        self._ran_back()
        constants, caches = [], []
        for name, site in self._sites.items():
            if site.kind == "attr" and name in changed:
                caches.append(site.label)
                continue
            if site.kind == "attr":
                partner = site.partner(done)
                if partner is None:
                    constants.append(site.label)
                    continue
                self._partners[name] = partner
            self.grad_names[name] = site.grad_name(self._partners.get(name))
            if site.tied:
                self._tie(name, site, done)
            if self._check_params:
                self.params[name] = site.value(self._base)
        if caches:
            self.notes.append(
                "arrays whose contents forward changes (replaced or filled in place) were taken "
                "as caches, not parameters: " + ", ".join(caches)
            )
        if constants:
            self.notes.append(
                "arrays without a gradient attribute (dP, d_P or grad_P) were taken as constants: "
                + ", ".join(constants)
            )
        self._discovered = True
        holding = [self._sites[name].path for name in self.grad_names]
        # a shared node's parameters are not checked, but it has them: a params dict, or an
        # attribute whose gradient partner its backward set (on the user's node itself)
        unchecked = [
            site.path
            for site in self._shared_sites
            if site.kind == "params" or site.partner(self._user) is not None
        ]
        listed = [  # a shared node is listed, not the nodes it holds
            path for path, _ in sub_nodes(self._base) if path and self._owned(path[:-1])
        ]
        self.parameter_free_paths = [
            path for path in listed if not _holds(path, holding) and not _holds(path, unchecked)
        ]
        self.parameter_free = [spelled(path) for path in self.parameter_free_paths]
        self.shared_with_parameters = [
            spelled(path) for path in listed if not self._owned(path) and _holds(path, unchecked)
        ]

    def _tie(self, name: str, site: Site, done: Any) -> None:
        """The gradients of an array that other nodes hold or view too (tied weights):
        :mod:`softgrad.gradcheck.ties`."""
        ties = [(tie, None if tie.kind == "params" else tie.partner(done)) for tie in site.tied]
        with_grads = self._ties[name] = with_gradients(ties)
        own = self.grad_names[name]
        self.grad_names[name] = " + ".join([own, *(tie.grad_name(p) for tie, p in with_grads)])
        grad = site.gradient(done, self._partners.get(name))
        self.notes.append(tie_note(site, self.grad_names[name], ties, grad, done))

    def _attribute_contents(self, obj: Any) -> dict[str, np.ndarray]:
        """A copy of every attribute array that may be a parameter, by check name (what is no
        longer an array after forward is left out: it changed)."""
        found = {}
        for name, site in self._sites.items():
            value = site.value(obj) if site.kind == "attr" else None
            if isinstance(value, np.ndarray):
                found[name] = value.copy()
        return found

    def _contents_near(self, x: np.ndarray) -> dict[str, np.ndarray] | None:
        """The candidate attribute arrays of an object after forward near x (None when forward
        refuses the point). Run before the forward whose backward is checked, never between
        them: a node may keep its cache where every copy sees it (a class attribute, a module's
        global), and a forward near x would leave it there for backward at x."""
        nearby = self._fresh(self._base)
        try:
            self._forward(nearby, x + (np.abs(x) + 1.0) / 256.0)
        except UserCodeError:  # forward refuses the point: judge by the first comparison
            return None
        return self._attribute_contents(nearby)

    @staticmethod
    def _changed_by_forward(
        before: dict[str, np.ndarray],
        done: dict[str, np.ndarray],
        near: dict[str, np.ndarray] | None,
    ) -> set[str]:
        """The attribute arrays whose contents forward changed: from ``before`` to ``done`` (after
        forward at x), or from ``done`` to ``near`` (after forward near x)."""
        changed = {k for k, v in before.items() if not _same_contents(done.get(k), v)}
        if near is None:
            return changed
        return changed | {k for k in before if not _same_contents(near.get(k), done.get(k))}

    def _gradient(self, done: Any, name: str) -> Any:
        site = self._sites[name]
        grad = site.gradient(done, self._partners.get(name))
        ties = self._ties.get(name, ())
        if not ties or not isinstance(grad, np.ndarray):
            return grad
        return tied_gradient(site, grad, ties, done)[0]

    # ---- running ------------------------------------------------------------------------------
    def _call(self, obj: Any, method: str, *args: Any) -> Any:
        return call_quoted(f"{self.name}.{method}", getattr(obj, method), *args)

    def _forward(self, obj: Any, x: np.ndarray) -> Any:
        args = (x,) if self._target is None else (x, self._target)
        return self._call(obj, "forward", *args)

    def forward(self, x: np.ndarray) -> Any:
        return self._forward(self._fresh(self._base), x)

    def copy(self) -> Any:
        """A fresh float64 copy of the checked node, as each evaluation runs on."""
        return self._fresh(self._base)

    def forward_on(self, obj: Any, x: np.ndarray) -> Any:
        """forward at x on ``obj`` (a :meth:`copy`), the target passed as in the check."""
        return self._forward(obj, x)

    def _backward_arguments(self, obj: Any, scalar: bool, g: Any) -> tuple[Any, ...]:
        """What backward is called with: ``(g,)``, or ``()`` for a loss's (a scalar output)
        backward that takes no argument; a backward that takes neither is refused before it
        is called, since the TypeError of the call would read as its own code failing."""
        if _can_take(obj.backward, 1):
            return (g,)
        if scalar and _can_take(obj.backward, 0):
            return ()
        forms = "backward(1.0) or backward() for a loss (forward returned a scalar)"
        if not scalar:
            forms = "backward(grad_y) (forward returned an array)"
        raise TypeError(
            f"gradcheck: {self.name}.backward must take {forms}, which is how gradcheck calls it; "
            f"got backward{inspect.signature(obj.backward)}. A backward that takes other "
            "arguments, such as nnfs's backward(dvalues, y_true), is not a form gradcheck can "
            "call: check a subclass whose forward keeps the target and whose backward() calls "
            "yours (docs/check-your-backward.md shows one)"
        )

    def gradients(self, x: np.ndarray, g: Any) -> tuple[Any, dict[str, Any]]:
        obj = self._fresh(self._base)
        before = {} if self._discovered else self._attribute_contents(obj)
        near = self._contents_near(x) if before else None
        y = self._forward(obj, x)
        returned = y.copy() if isinstance(y, np.ndarray) else None
        given_x = x.copy()  # as forward left it: what the layer below still holds
        changed = self._changed_by_forward(before, self._attribute_contents(obj), near)
        grad_x = self._call(obj, "backward", *self._backward_arguments(obj, np.ndim(y) == 0, g))
        # the caller's output array, changed by backward (self.s *= ...; return self.s)
        self.output_changed = returned is not None and not np.array_equal(
            y, returned, equal_nan=True
        )
        # the caller's input, changed by backward through a cache of it (self.x *= 0)
        self.x_changed = not np.array_equal(x, given_x, equal_nan=True)
        if not self._discovered:
            self._discover(obj, changed)
        grad_x = grad_x.copy() if isinstance(grad_x, np.ndarray) else grad_x
        grads = {name: self._gradient(obj, name) for name in self.params}
        return grad_x, {k: v.copy() if isinstance(v, np.ndarray) else v for k, v in grads.items()}

    def close(self) -> None:
        for snapshot in self._snapshots:
            snapshot.restore()


def _holds(path: Path, sites: list[Path]) -> bool:
    """Whether the node at ``path`` holds one of the sites at ``sites`` (its own or a node's
    it holds)."""
    return any(site[: len(path)] == path for site in sites)


def _same_contents(after: Any, before: Any) -> bool:
    """True when ``after`` is a float array of ``before``'s shape holding its values (rounded to
    ``after``'s dtype: a rebinding that casts them keeps them)."""
    if not isinstance(after, np.ndarray) or not isinstance(before, np.ndarray):
        return False
    if after.dtype.kind != "f" or after.shape != before.shape:
        return False
    return bool(np.array_equal(after, before.astype(after.dtype), equal_nan=True))


def _can_take(method: Any, count: int) -> bool:
    """True when ``method`` can be called with ``count`` positional arguments."""
    try:
        inspect.signature(method).bind(*(None,) * count)
    except TypeError:
        return False
    except ValueError:  # no signature (a builtin): assume it takes grad_y
        return count == 1
    return True
