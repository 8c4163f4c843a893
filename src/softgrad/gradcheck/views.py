"""Arrays of a node that share memory: a weight kept with its transpose as a view (``self.WT =
self.W.T``, a tied autoencoder), or parameters kept as views of one flat vector.

``copy.deepcopy`` copies each array on its own, so in a copy ``WT`` no longer moves with ``W``:
a finite difference on ``W`` would then miss ``WT``'s use, and a right node fail. The helpers
here keep such arrays linked in every copy gradcheck makes (:func:`deepcopy_linked`) and in the
float64 conversion (:meth:`Linked.convert`), and carry a gradient written for one view over to
another (:func:`carried`). Only arrays that overlap another array the node holds are linked;
every other array is copied on its own, as before.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from typing import Any

import numpy as np

__all__ = ["Linked", "carried", "deepcopy_linked", "overlaps"]


def _root(array: np.ndarray) -> np.ndarray:
    """The array that owns ``array``'s memory (``array`` itself when it owns it)."""
    while isinstance(array.base, np.ndarray):
        array = array.base
    return array


# np.exceptions is NumPy 1.25's; 1.24 (the floor pyproject.toml declares) has it at the top
_TOO_HARD = getattr(np, "exceptions", np).TooHardError


def overlaps(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether two arrays share memory (an exact answer, or True when it is too hard to find)."""
    if not np.may_share_memory(a, b):
        return False
    try:
        # NumPy 2's stubs allow only -1 and 0 (1.x's any int), its documentation and code any
        # bound on the work: typed Any, which both accept
        max_work: Any = 10_000
        return bool(np.shares_memory(a, b, max_work=max_work))
    except _TOO_HARD:
        return True


def _relinkable(root: np.ndarray, members: Iterable[np.ndarray]) -> bool:
    """Whether the members can be rebuilt over a copy of ``root``: one dtype, a contiguous root,
    and no member that repeats an element (a stride of 0)."""
    if not (root.flags.c_contiguous or root.flags.f_contiguous):
        return False
    return all(
        m.dtype == root.dtype
        and all(s != 0 or n <= 1 for s, n in zip(m.strides, m.shape, strict=True))
        for m in members
    )


def _rebuilt(member: np.ndarray, root: np.ndarray, new_root: np.ndarray) -> np.ndarray:
    """``member``'s view of ``root`` taken of ``new_root`` (same layout, maybe a wider dtype)."""
    ratio = new_root.itemsize // root.itemsize
    offset = (member.__array_interface__["data"][0] - root.__array_interface__["data"][0]) * ratio
    strides = tuple(s * ratio for s in member.strides)
    view: np.ndarray = np.ndarray(member.shape, new_root.dtype, new_root, offset, strides)
    if not member.flags.writeable:
        view.flags.writeable = False
    return view


class Linked:
    """The groups of overlapping arrays among ``arrays`` (each group's arrays views of one root
    array), by the id of that root."""

    def __init__(self, arrays: Iterable[np.ndarray]):
        unique = list({id(a): a for a in arrays}.values())
        by_root: dict[int, list[np.ndarray]] = {}
        for a in unique:
            by_root.setdefault(id(_root(a)), []).append(a)
        self.groups: dict[int, list[np.ndarray]] = {}
        self.roots: dict[int, np.ndarray] = {}
        for key, members in by_root.items():
            root = _root(members[0])
            linked = any(overlaps(a, b) for i, a in enumerate(members) for b in members[i + 1 :])
            if linked and _relinkable(root, members):
                self.groups[key] = members
                self.roots[key] = root
        self._converted: dict[int, np.ndarray] = {}

    def __bool__(self) -> bool:
        return bool(self.groups)

    def memo(self) -> dict[int, Any]:
        """A ``copy.deepcopy`` memo that maps each linked array to its view of a copy of its
        root (and the root to that copy)."""
        memo: dict[int, Any] = {}
        for key, members in self.groups.items():
            root = self.roots[key]
            new_root = root.copy(order="K")
            memo[id(root)] = new_root
            for member in members:
                memo[id(member)] = _rebuilt(member, root, new_root)
        return memo

    def convert(self, array: np.ndarray, dtype: Any) -> np.ndarray | None:
        """``array`` in ``dtype``, still a view of its (converted) root, or None when it is in
        no group. Each root is converted once, so its views stay linked."""
        key = id(_root(array))
        if key not in self.groups or not any(array is m for m in self.groups[key]):
            return None
        root = self.roots[key]
        if key not in self._converted:
            self._converted[key] = root.astype(dtype, order="K")
        return _rebuilt(array, root, self._converted[key])


def deepcopy_linked(obj: Any, arrays: Iterable[np.ndarray]) -> Any:
    """``copy.deepcopy(obj)`` in which the overlapping ones of ``arrays`` (what ``obj`` holds)
    stay views of one copied root, as in ``obj``."""
    linked = Linked(arrays)
    return copy.deepcopy(obj, linked.memo()) if linked else copy.deepcopy(obj)


def carried(grad: np.ndarray, view: np.ndarray, target: np.ndarray) -> np.ndarray | None:
    """The part of ``target``'s gradient that ``grad``, the gradient of ``view``, gives, where
    ``view`` and ``target`` are views of one root array (``target.T`` for ``WT = W.T``):
    ``grad`` laid on the root's elements through ``view``, read back through ``target``. None
    when the two are not views of one root that can be rebuilt (:func:`_relinkable`)."""
    root = _root(view)
    if _root(target) is not root or not _relinkable(root, (view, target)):
        return None
    if grad.shape != view.shape:
        return None
    # a dtype at least as wide as the root's, so that the views' offsets scale by a whole ratio
    scratch = np.zeros_like(root, dtype=np.result_type(grad, root), order="K")
    into = _rebuilt(view, root, scratch)
    into += grad
    return _rebuilt(target, root, scratch).copy()
