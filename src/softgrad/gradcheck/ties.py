"""Tied parameters: one array that several nodes hold (``self.second.W = self.first.W``), or
that another array the node holds views (``self.WT = self.W.T``). Each node that uses it
writes the gradient of its own use; the array's gradient is their sum, a view's gradient laid
onto the elements it views (:func:`softgrad.gradcheck.views.carried`). A gradient array that
is (or views) one already summed is counted once.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from softgrad.gradcheck.sub_nodes import Site
from softgrad.gradcheck.views import carried, overlaps

__all__ = ["Tie", "tie_note", "tied_gradient", "with_gradients"]

#: a tied site and the attribute holding its gradient (None for a ``params`` site)
Tie = tuple[Site, "str | None"]


def _counted(grad: Any, summed: list[Any]) -> bool:
    """Whether ``grad`` is, or shares memory with, a gradient already summed."""
    return isinstance(grad, np.ndarray) and any(
        isinstance(seen, np.ndarray) and overlaps(grad, seen) for seen in summed
    )


def with_gradients(ties: list[Tie]) -> list[Tie]:
    """The ties that give a gradient: every ``params`` site, an attribute one with a partner."""
    return [(tie, partner) for tie, partner in ties if tie.kind == "params" or partner]


def tied_gradient(site: Site, grad: Any, ties: list[Tie], done: Any) -> tuple[Any, list[Tie]]:
    """The gradient of ``site``'s array on ``done`` (the copy after backward): ``grad``, its
    own node's, plus each tie's; and the ties whose gradient was one already summed (counted
    once). A missing or misshapen gradient is returned as it is, for the check to report."""
    summed, total, once = [grad], grad, []
    for tie, partner in ties:
        more = tie.gradient(done, partner)
        if tie.view and isinstance(more, np.ndarray):  # dWT of WT = W.T: onto W's elements
            if _counted(more, summed):  # dW and db as views of dtheta: in it already
                once.append((tie, partner))
                continue
            summed.append(more)
            view = tie.value(done)
            carried_over = (
                carried(more, view, site.value(done)) if isinstance(view, np.ndarray) else None
            )
            if carried_over is None:  # not of the view's shape
                return more, once
            more = carried_over
        elif not isinstance(more, np.ndarray) or more.shape != grad.shape:
            return more, once
        elif _counted(more, summed):  # one array written by both uses
            once.append((tie, partner))
            continue
        else:
            summed.append(more)
        total = total + more
    return total, once


def tie_note(site: Site, grad_name: str, ties: list[Tie], grad: Any, done: Any) -> str:
    """What the check's notes say of ``site``'s ties: what holds its array, the sum its
    gradient was taken as (``grad_name``, the terms joined), and what was left out of it."""
    with_grads = with_gradients(ties)
    views = [tie.name for tie, _ in ties if tie.view]
    same = [tie.name for tie, _ in ties if not tie.view]
    held = [f"also {', '.join(same)} (one array, tied)"] if same else []
    held += [f"viewed as {', '.join(views)} (one memory, tied)"] if views else []
    taken = f"the sum {grad_name}" if with_grads else grad_name
    note = f"{site.name} is {' and '.join(held)}: its gradient was taken as {taken}"
    if any(tie.view for tie, _ in with_grads):
        note += " (a view's gradient laid onto the elements it views)"
    without = [tie.name for tie, partner in ties if tie.kind == "attr" and partner is None]
    if without:
        note += f"; {', '.join(without)} has no gradient attribute, left out of the sum"
    once = tied_gradient(site, grad, with_grads, done)[1] if isinstance(grad, np.ndarray) else []
    if once:
        names = ", ".join(tie.grad_name(partner) for tie, partner in once)
        verb = "shares" if len(once) == 1 else "share"
        note += f"; {names} {verb} memory with a gradient before: counted once"
    return note
