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
copy's) are treated as shared: their parameters are not checked, and a note names them
(:mod:`softgrad.gradcheck.node_copies`). Each backward follows the forward it differentiates
with no other forward in between, so a cache that every copy shares (a class attribute, a
module's global) holds that forward's values.

This module runs the node (:class:`NodeRunner`); the copies it runs on are
:mod:`softgrad.gradcheck.node_copies`', and which arrays are parameters, with where their
gradients are, :mod:`softgrad.gradcheck.node_parameters`'.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import numpy as np

from softgrad.errors import UserCodeError
from softgrad.gradcheck.node_copies import NodeCopies
from softgrad.gradcheck.node_parameters import NodeParameters, changed_by_forward
from softgrad.gradcheck.runners import call_quoted
from softgrad.gradcheck.sub_nodes import Path


class NodeRunner:
    """Runs the user's node on copies (see the module docstring for what is recognised): the
    copies and what they share are :class:`~softgrad.gradcheck.node_copies.NodeCopies`', the
    parameters found on them :class:`~softgrad.gradcheck.node_parameters.NodeParameters`'."""

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
        self.output_changed = False  # by the last gradients call's backward
        self.x_changed = False  # by the last gradients call's backward
        self._target = target
        self._copies = NodeCopies(obj, name, self.notes, prepare)
        self._parameters = NodeParameters(self._copies, obj, check_params, self.notes)

    # ---- what was found ------------------------------------------------------------------------
    @property
    def params(self) -> dict[str, np.ndarray]:
        """The parameters' values by check name (after the first :meth:`gradients`)."""
        return self._parameters.params

    @property
    def grad_names(self) -> dict[str, str]:
        """Where each parameter's gradient is expected, by check name."""
        return self._parameters.grad_names

    @property
    def parameter_free(self) -> list[str]:
        """The nodes it holds that have no parameter (a softmax in self.layers), by path."""
        return self._parameters.parameter_free

    @property
    def parameter_free_paths(self) -> list[Path]:
        return self._parameters.parameter_free_paths

    @property
    def shared_with_parameters(self) -> list[str]:
        """The nodes with parameters that every copy shares with the user's object (their
        parameters were not checked), by path."""
        return self._parameters.shared_with_parameters

    def shares(self, path: Path) -> bool:
        """Whether the node at ``path`` is the user's own in every copy (it cannot be copied)."""
        return self._copies.shares(path)

    def reached(self, path: Path) -> bool:
        """Whether the node at ``path`` is shared because copies reach it through an object
        that cannot be copied (the node itself could be)."""
        return self._copies.reached(path)

    # ---- running ------------------------------------------------------------------------------
    def _call(self, obj: Any, method: str, *args: Any) -> Any:
        return call_quoted(f"{self.name}.{method}", getattr(obj, method), *args)

    def _forward(self, obj: Any, x: np.ndarray) -> Any:
        args = (x,) if self._target is None else (x, self._target)
        return self._call(obj, "forward", *args)

    def forward(self, x: np.ndarray) -> Any:
        return self._forward(self._copies.fresh(), x)

    def copy(self) -> Any:
        """A fresh float64 copy of the checked node, as each evaluation runs on."""
        return self._copies.fresh()

    def forward_on(self, obj: Any, x: np.ndarray) -> Any:
        """forward at x on ``obj`` (a :meth:`copy`), the target passed as in the check."""
        return self._forward(obj, x)

    def _contents_near(self, x: np.ndarray) -> dict[str, np.ndarray] | None:
        """The candidate attribute arrays of an object after forward near x (None when forward
        refuses the point). Run before the forward whose backward is checked, never between
        them: a node may keep its cache where every copy sees it (a class attribute, a module's
        global), and a forward near x would leave it there for backward at x."""
        nearby = self._copies.fresh()
        try:
            self._forward(nearby, x + (np.abs(x) + 1.0) / 256.0)
        except UserCodeError:  # forward refuses the point: judge by the first comparison
            return None
        return self._parameters.attribute_contents(nearby)

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
        parameters = self._parameters
        obj = self._copies.fresh()
        before = {} if parameters.discovered else parameters.attribute_contents(obj)
        near = self._contents_near(x) if before else None
        y = self._forward(obj, x)
        returned = y.copy() if isinstance(y, np.ndarray) else None
        given_x = x.copy()  # as forward left it: what the layer below still holds
        changed = changed_by_forward(before, parameters.attribute_contents(obj), near)
        grad_x = self._call(obj, "backward", *self._backward_arguments(obj, np.ndim(y) == 0, g))
        # the caller's output array, changed by backward (self.s *= ...; return self.s)
        self.output_changed = returned is not None and not np.array_equal(
            y, returned, equal_nan=True
        )
        # the caller's input, changed by backward through a cache of it (self.x *= 0)
        self.x_changed = not np.array_equal(x, given_x, equal_nan=True)
        if not parameters.discovered:
            parameters.discover(obj, changed)
        grad_x = grad_x.copy() if isinstance(grad_x, np.ndarray) else grad_x
        grads = {name: parameters.gradient(obj, name) for name in self.params}
        return grad_x, {k: v.copy() if isinstance(v, np.ndarray) else v for k, v in grads.items()}

    def close(self) -> None:
        self._copies.restore()


def _can_take(method: Any, count: int) -> bool:
    """True when ``method`` can be called with ``count`` positional arguments."""
    try:
        inspect.signature(method).bind(*(None,) * count)
    except TypeError:
        return False
    except ValueError:  # no signature (a builtin): assume it takes grad_y
        return count == 1
    return True
