"""A composite's nodes without parameters, each checked alone at the input its forward gave it.

A node without parameters (a softmax in ``self.layers``) that hands a wrong grad_y down makes x
and every parameter below it wrong, however right their backward: the composite's own check
sees only that, and names no mistake. Then each such node is checked alone, by the ordinary
check, at the input the composite's forward passed it, and the report names the node whose
mistake it is (``self.layers[1]: the softmax Jacobian reduced to its diagonal``).

The inputs are recorded during one forward of a fresh copy of the composite whose nodes'
``forward`` are wrapped: the copy's nodes, never the user's (a composite that cannot be
deep-copied holds nodes of its own in its copies too; a node that cannot be copied at all is the
user's, shared by every copy, and is reported as not checked alone, with why). A shared node
that has parameters (a Linear reached through a registry that holds a lock) is not one of them:
the diagnosis lists it apart, as a node whose parameters were not checked. A
node is checked as it stood when forward first called it (a copy taken then keeps what the
composite set on it before the call), at that first call's input; a node called more than once
is said to be. A node reached by two paths is one node, checked once. A node that forward never
called as ``node.forward(...)``, or whose own check raises (its forward needs what only the
composite sets up), is reported as not checked alone, with why. Only this failure path runs it:
a passing check runs nothing more.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from softgrad.errors import SoftgradError, UserCodeError
from softgrad.gradcheck.result import GradcheckResult, SubNodeCheck
from softgrad.gradcheck.sub_nodes import Path, resolve, spelled, sub_nodes
from softgrad.gradcheck.user_objects import NodeRunner

#: ``check_alone(node, x, target, name)``: the ordinary check of one node (gradcheck's own)
CheckAlone = Callable[[Any, np.ndarray, Any, str], GradcheckResult]

_SHARED = "it cannot be copied, so every copy shares it with your object"
_REACHED = (
    "it is reached through an object that cannot be copied, so every copy shares it with your "
    "object"
)
_ALONE = "gradcheck(node, x) at an x of its input's shape"
_YOURSELF = f"check it alone yourself ({_ALONE})"


@dataclass
class _FirstCall:
    """What a watched node's forward was first called with, and the node as it stood then."""

    node: Any  # a copy taken at the call (None when it could not be copied)
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    calls: int = 1


class _Watch:
    """The first call of each watched node's forward (and how many calls) in one forward of a
    copy of the composite, by the node's path."""

    def __init__(self) -> None:
        self.seen: dict[Path, _FirstCall] = {}
        self._wrappers: set[Any] = set()

    def wrap(self, node: Any, path: Path) -> bool:
        """Wrap ``node.forward`` (an attribute set on this object, a copy); False when it
        cannot be set."""
        original = node.forward

        def forward(*args: Any, **kwargs: Any) -> Any:
            first = self.seen.get(path)
            if first is not None:
                first.calls += 1
            else:  # copied before the call: forward may keep (or change) what it is given
                self.seen[path] = _FirstCall(self._unwatched_copy(node), *_copied((args, kwargs)))
            return original(*args, **kwargs)

        try:
            object.__setattr__(node, "forward", forward)
        except (AttributeError, TypeError):  # __slots__ without a forward slot, a frozen class
            return False
        self._wrappers.add(forward)
        return True

    def _unwatched_copy(self, node: Any) -> Any:
        """A deep copy of ``node`` as it stands, with no wrapper left on it or on the nodes it
        holds, whose forward would run the watched copy's (None when it cannot be copied)."""
        try:
            copied = copy.deepcopy(node)
        except Exception:  # whatever its __deepcopy__/__reduce__ raises: a fresh copy serves
            return None
        for _, held in sub_nodes(copied):
            own = vars(held) if hasattr(held, "__dict__") else {}
            if own.get("forward") in self._wrappers:
                del own["forward"]
        return copied


def _copied(call: tuple[tuple[Any, ...], dict[str, Any]]) -> tuple[tuple[Any, ...], dict[str, Any]]:
    try:
        return copy.deepcopy(call)
    except Exception:  # arguments that cannot be copied: arrays are, and are all it needs
        return call


def check_sub_nodes(
    runner: NodeRunner, x: np.ndarray, check_alone: CheckAlone
) -> tuple[SubNodeCheck, ...]:
    """Each node without parameters the runner's composite holds, checked alone at the input
    one forward at ``x`` gave it (see the module docstring)."""
    paths = runner.parameter_free_paths
    if not paths:
        return ()
    watched = runner.copy()
    watch = _Watch()
    shared = {p for p in paths if runner.shares(p)}  # the user's: never wrapped, never run alone
    unwatched = {
        p
        for p in paths
        if p not in shared and ((node := resolve(watched, p)) is None or not watch.wrap(node, p))
    }
    try:
        runner.forward_on(watched, x.copy())
    except UserCodeError:  # it ran at x before; whatever was called until it raised is checked
        pass
    return tuple(
        SubNodeCheck(spelled(path), None, note=_REACHED if runner.reached(path) else _SHARED)
        if path in shared
        else _verdict(runner, path, path in unwatched, watch.seen.get(path), check_alone)
        for path in paths
    )


def _verdict(
    runner: NodeRunner,
    path: Path,
    unwatched: bool,
    first: _FirstCall | None,
    check_alone: CheckAlone,
) -> SubNodeCheck:
    where = spelled(path)
    if unwatched:
        return SubNodeCheck(where, None, note="its forward could not be wrapped to see its input")
    if first is None:
        return SubNodeCheck(
            where,
            None,
            note="forward did not call it as node.forward(...) at this x, so its input is not "
            "known (a call past the instance's forward: Class.forward(node, x), or a __call__ = "
            "forward alias called as node(x))",
        )
    args, calls = first.args, first.calls
    if first.kwargs or len(args) not in (1, 2):
        return SubNodeCheck(
            where,
            None,
            calls=calls,
            note="forward called it with other arguments than (x) or (x, target), which is how "
            "gradcheck calls a node",
        )
    node = first.node if first.node is not None else resolve(runner.copy(), path)
    target = args[1] if len(args) == 2 else None
    try:
        result = check_alone(node, args[0], target, where)
    except (SoftgradError, TypeError, ValueError) as exc:
        return SubNodeCheck(where, None, calls=calls, note=str(exc))
    return SubNodeCheck(where, result.ok, result.mistakes, result.diagnosis, calls)


def handed_down(
    free: Sequence[str], subs: Sequence[SubNodeCheck], unchecked: Sequence[str] = ()
) -> str:
    """The diagnosis lines for a composite whose x and parameters are wrong with no mistake
    named, while it holds the nodes ``free`` without parameters, checked alone in ``subs``
    (empty when they could not be), and the nodes ``unchecked`` with parameters that every copy
    shares with the user's object (their parameters were not checked, nor are they here)."""
    named = any(sub.mistakes for sub in subs)
    head = (
        "x and parameters wrong" + ("" if named else " with no mistake named") + ": a node that "
        "hands a wrong grad_y down makes every gradient below it wrong, however right the "
        "backward there."
    )
    if unchecked:
        head += (
            " The nodes with parameters that every copy shares with your object, whose "
            "parameters were not checked (the notes say why), which only x checks: "
            f"{', '.join(unchecked)}; check each alone yourself ({_ALONE})"
            + ("." if free else ", where its mistake is named")
        )
    if not free:
        return head
    head += f" The nodes without parameters, which only x checks: {', '.join(free)}"
    if not subs:
        return f"{head}; check each alone ({_ALONE}), where its mistake is named"
    lines = [f"{head}; each checked alone at the input forward gave it:"]
    for sub in subs:
        lines += _sub_lines(sub)
    if all(sub.ok and sub.calls == 1 for sub in subs):  # a node called twice said its own
        lines.append(
            "  each is right alone: look at "
            + ("the shared nodes above, and at " if unchecked else "")
            + "how backward hands grad_y from one node to the next (a node's backward skipped "
            "or called out of order, the wrong array handed down)"
        )
    return "\n".join(lines)


def _sub_lines(sub: SubNodeCheck) -> list[str]:
    """A sub-node's lines: its diagnosis under its path, or that it is right, or not checked."""
    twice = (
        f" (forward called it {sub.calls} times; checked at the first call's input)"
        if sub.calls > 1
        else ""
    )
    if sub.ok is None:
        return [f"  {sub.path}: not checked alone{twice}: {sub.note}; {_YOURSELF}"]
    if sub.ok and sub.calls > 1:
        return [
            f"  {sub.path}: right alone, but forward called it {sub.calls} times (checked at the "
            "first call's input): what forward keeps for backward in attributes (self.y) the "
            "last call overwrote, so every backward through it but the last is wrong; hold one "
            "node for each use"
        ]
    if sub.ok:
        return [f"  {sub.path}: right alone"]
    lines = []
    for line in (sub.diagnosis or "it failed alone").splitlines():
        if line[:1].isspace():  # its own indentation, under the sub-node's line
            lines.append(f"    {line}")
        else:
            lines.append(f"  {sub.path}: {line.removeprefix('x: ')}")
    if twice:
        lines[0] += twice
    return lines
