"""Validation and layout shared by the losses: logits as rows, targets, weights, options.

``Problem`` bundles one validated cross-entropy call.

The losses work on a 2-d view (M, C) of the logits with the class axis moved last; M is the
number of slices (samples). ``Rows`` carries that view and how to put results back.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from softgrad.checks import (
    as_array,
    as_float_array,
    check_fits_rows,
    normalize_axis,
    to_output,
    to_scalar,
)
from softgrad.kernels import get_ops

__all__ = [
    "REDUCTIONS",
    "Problem",
    "Rows",
    "as_target",
    "check_label_smoothing",
    "check_options",
    "class_targets",
    "grad_scale",
    "is_plain_call",
    "prob_targets",
    "reduce_rows",
    "to_rows",
    "weights",
]

REDUCTIONS = ("mean", "sum", "none")


@dataclass
class Rows:
    """Logits as a (M, C) array in the compute dtype, with what is needed to undo the layout."""

    x: np.ndarray  # (M, C), compute dtype
    out_dtype: np.dtype
    axis: int  # normalised class axis of the original array
    shape: tuple[int, ...]  # original logits shape
    lead: tuple[int, ...]  # original shape without the class axis (the target shape)

    @property
    def n_classes(self) -> int:
        return self.x.shape[1]

    def restore(self, r: np.ndarray) -> np.ndarray:
        """(M, C) rows back to the original logits layout (a view when possible)."""
        if self.axis == len(self.shape) - 1:
            return r.reshape(self.shape)
        return np.moveaxis(r.reshape(*self.lead, self.n_classes), -1, self.axis)

    def row_view(self, out: np.ndarray) -> np.ndarray | None:
        """``out`` seen as (M, C) rows without a copy, or None when that is impossible."""
        if out.dtype != self.x.dtype or self.axis != len(self.shape) - 1:
            return None
        if not out.flags.c_contiguous:
            return None
        return out.reshape(len(self.x), self.n_classes)


def to_rows(logits: Any, axis: Any, where: str, name: str = "logits") -> Rows:
    """Validate logits and lay them out as (M, C) rows (a view for the default last axis)."""
    xc, out_dtype = as_float_array(logits, where, name)
    ax = normalize_axis(axis, xc.ndim, where, name)
    lead = xc.shape[:ax] + xc.shape[ax + 1 :]
    n_rows = math.prod(lead)
    if xc.shape[ax] == 0 and n_rows:
        raise ValueError(
            f"{where}: {name} must have at least one class along axis {ax}; got shape {xc.shape}"
        )
    moved = xc if ax == xc.ndim - 1 else np.moveaxis(xc, ax, -1)
    # C-contiguous rows, as the kernels take them (a view for the default layout)
    rows = np.ascontiguousarray(moved.reshape(n_rows, xc.shape[ax]))
    return Rows(rows, out_dtype, ax, xc.shape, lead)


def check_label_smoothing(label_smoothing: Any, where: str) -> float:
    """``label_smoothing`` as a float in [0, 1], for the functions and the loss layers alike
    (a NumPy integer 0 too; not a bool or a string)."""
    if isinstance(label_smoothing, bool) or not isinstance(
        label_smoothing, (int, float, np.integer, np.floating)
    ):
        raise TypeError(
            f"{where}: label_smoothing must be a float in [0, 1]; got {label_smoothing!r}"
        )
    eps = float(label_smoothing)
    if not 0.0 <= eps <= 1.0:
        raise ValueError(
            f"{where}: label_smoothing must be a float in [0, 1]; got {label_smoothing!r}"
        )
    return eps


def check_options(reduction: Any, label_smoothing: Any, ignore_index: Any, where: str) -> float:
    """Check reduction / label_smoothing / ignore_index; return label_smoothing as a float."""
    if not isinstance(reduction, str) or reduction not in REDUCTIONS:
        raise ValueError(
            f"{where}: reduction must be one of 'mean', 'sum', 'none'; got {reduction!r}"
        )
    eps = check_label_smoothing(label_smoothing, where)
    if ignore_index is not None and (
        isinstance(ignore_index, bool) or not isinstance(ignore_index, (int, np.integer))
    ):
        raise TypeError(f"{where}: ignore_index must be an int or None; got {ignore_index!r}")
    return eps


def weights(weight: Any, n_classes: int, dtype: np.dtype, where: str) -> np.ndarray | None:
    """Validate a class-weight vector: shape (C,), finite and non-negative; cast to ``dtype``."""
    if weight is None:
        return None
    w = as_array(weight, where, "weight", fix="weight.filled(value)")
    if w.dtype.kind not in "biuf":
        raise TypeError(f"{where}: weight must be a real array; got dtype {str(w.dtype)!r}")
    if w.shape != (n_classes,):
        raise ValueError(
            f"{where}: weight must have shape ({n_classes},) (one per class); got shape {w.shape}"
        )
    check_fits_rows(w, dtype, where, "weight", of="logits")  # 1e39: finite in float64 only
    w = w.astype(dtype, copy=False)
    if not np.all(np.isfinite(w) & (w >= 0)):
        bad = int(np.flatnonzero(~(np.isfinite(w) & (w >= 0)))[0])
        raise ValueError(
            f"{where}: weight must be finite and non-negative; got {w[bad].item()!r} at index {bad}"
        )
    return w


def as_target(target: Any, where: str) -> np.ndarray:
    """``target`` as an ndarray: a masked array refused (its mask would be ignored, and the
    class its masked entries hide counted), nested lists of unequal lengths named."""
    fix = (
        "target.filled(value); for class indices, target.filled(-100) with ignore_index=-100 "
        "leaves its masked samples out"
    )
    return as_array(target, where, "target", fix=fix)


def class_targets(
    target: np.ndarray, rows: Rows, ignore_index: int | None, where: str
) -> tuple[np.ndarray, np.ndarray | None]:
    """Flatten class-index targets; return ``(safe indices (M,), valid mask (M,) or None)``.

    Ignored entries get index 0 in the safe indices (so they can still be gathered) and False in
    the mask; the mask is None when nothing is ignored.
    """
    if target.dtype.kind not in "iu":
        raise TypeError(
            f"{where}: target must be integer class indices or float class probabilities; "
            f"got dtype {str(target.dtype)!r}"
        )
    if target.shape != rows.lead:
        raise ValueError(
            f"{where}: target (class indices) must have shape {rows.lead} (logits' shape "
            f"without the class axis); got shape {target.shape}"
        )
    # annotated: NumPy 2.2's stubs (the last release for Python 3.10) type reshape(-1) as 1-d
    # and np.where's result below as n-d, and mypy took the first for the variable
    t: np.ndarray = target.reshape(-1)
    if t.dtype.kind == "u" and t.size and int(t.max()) > np.iinfo(np.intp).max:
        # beyond intp, an unsigned index would wrap to a negative one (even to ignore_index)
        i = int(np.argmax(t > np.uint64(np.iinfo(np.intp).max)))
        raise ValueError(
            f"{where}: target must be class indices in [0, {rows.n_classes - 1}] (or "
            f"ignore_index); got {int(t[i])!r} at index {_index(i, rows.lead)}"
        )
    t = t.astype(np.intp, copy=False)
    n = rows.n_classes
    valid = None if ignore_index is None else t != ignore_index
    # seen as unsigned, a negative index is huge: one max() checks both ends; the mask is
    # built only when something is out of range
    if t.size and t.view(np.uintp).max() >= n:
        bad = (t < 0) | (t >= n)
        if valid is not None:
            bad &= valid
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise ValueError(
                f"{where}: target must be class indices in [0, {n - 1}] (or ignore_index); "
                f"got {int(t[i])!r} at index {_index(i, rows.lead)}"
            )
    if valid is not None:
        if valid.all():
            valid = None
        else:
            t = np.where(valid, t, 0)
    return t, valid


def _index(flat: int, shape: tuple[int, ...]) -> tuple[int, ...]:
    """The index in ``shape`` of a flat position (``()`` for a 0-d shape)."""
    return tuple(int(k) for k in np.unravel_index(flat, shape)) if shape else ()


def prob_targets(target: np.ndarray, rows: Rows, where: str) -> np.ndarray:
    """Class-probability targets as (M, C) rows in the compute dtype."""
    if target.shape != rows.shape:
        raise ValueError(
            f"{where}: target (class probabilities) must have the logits' shape {rows.shape}; "
            f"got shape {target.shape}"
        )
    check_fits_rows(target, rows.x.dtype, where, "target", of="logits")  # as the weights
    moved = np.moveaxis(target.astype(rows.x.dtype, copy=False), rows.axis, -1)
    return moved.reshape(len(rows.x), rows.n_classes)


_PLAIN_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def is_plain_call(logits, target, axis, reduction, weight, ignore_index, eps) -> bool:
    """The training step's call, whose checks are a few attribute reads: (N, C) C-contiguous
    float32/64 logits, (N,) integer targets, the class axis last, no weight, ignore_index or
    smoothing. The one place that says so; :class:`Problem` then skips the general layout."""
    return (
        type(logits) is np.ndarray
        and type(target) is np.ndarray
        and logits.ndim == 2
        and target.ndim == 1
        and type(axis) is int
        and (axis == -1 or axis == 1)
        and weight is None
        and ignore_index is None
        and type(eps) is float
        and eps == 0.0
        and type(reduction) is str
        and reduction in REDUCTIONS
        and logits.dtype in _PLAIN_DTYPES
        and target.dtype.kind in "iu"
        and logits.flags.c_contiguous
        and target.shape[0] == logits.shape[0]
    )


class Problem:
    """Validated arguments of one cross-entropy call, in (M, C) row layout."""

    def __init__(self, logits, target, axis, reduction, weight, ignore_index, eps, where):
        if is_plain_call(logits, target, axis, reduction, weight, ignore_index, eps):
            t = target.astype(np.intp, copy=False)
            # seen as unsigned, a negative index is huge: one max() checks both ends; an
            # index out of range goes the general way, which says where
            if not t.size or t.view(np.uintp).max() < logits.shape[1]:
                self.eps, self.reduction, self.w, self.probs = 0.0, reduction, None, False
                self.rows = Rows(logits, logits.dtype, 1, logits.shape, target.shape)
                self.t, self.valid = t, None
                return
        self.eps = check_options(reduction, eps, ignore_index, where)
        self.reduction = reduction
        self.rows: Rows = to_rows(logits, axis, where)
        dtype = self.rows.x.dtype
        self.w = weights(weight, self.rows.n_classes, dtype, where)
        target = as_target(target, where)
        self.probs = target.dtype.kind == "f"
        if self.probs:
            if ignore_index is not None:
                raise ValueError(
                    f"{where}: ignore_index must be None with class-probability (float) targets; "
                    f"got {ignore_index!r}"
                )
            self.t = prob_targets(target, self.rows, where)
            self.valid = None
        else:
            self.t, self.valid = class_targets(target, self.rows, ignore_index, where)

    def class_weights(self) -> tuple[np.ndarray | None, float]:
        """``(w[y_n] with 0 for ignored rows, or None for all ones; the 'mean' divisor)``.

        torch's 'mean' divides by the total weight of the non-ignored targets, for the
        smoothing part too; ``reduce`` turns a zero divisor into a 0.0 loss (torch: NaN).
        """
        wy = None if self.w is None else self.w[self.t]
        if self.valid is not None:
            wy = self.valid.astype(self.rows.x.dtype) if wy is None else wy * self.valid
        divisor = float(self.rows.x.shape[0] if wy is None else np.sum(wy, dtype=np.float64))
        return wy, divisor

    def kernel_target(self) -> tuple[np.ndarray, np.ndarray | None, float]:
        """The call as the cross-entropy kernel takes it: ``(target, row weights, divisor)``.

        Class indices without smoothing stay indices (M,), with ``w[y_n]`` (0 when ignored) as
        row weights (None: all ones). Anything else becomes one target distribution per row,
        (M, C), with the weights folded in: t' = w * ((1 - eps) t + eps / C) for probabilities,
        t' = (1 - eps) w[y] onehot(y) + (eps / C) w for indices (zero rows when ignored).
        """
        n_rows, n_classes = self.rows.x.shape
        if self.probs:
            t = self.t
            if self.eps:
                t = get_ops().smooth_targets(t, self.eps, n_classes)
            if self.w is not None:
                t = t * self.w
            return t, None, float(n_rows)
        wy, divisor = self.class_weights()
        if not self.eps:
            return self.t, wy, divisor
        t = get_ops().smooth_class_targets(
            self.t, self.eps, n_classes, self.rows.x.dtype, self.w, wy, self.valid
        )
        return t, None, divisor

    def grad_scale(self, divisor: float) -> float:
        """r: 1 / divisor for 'mean' (0 when the divisor is 0), else 1."""
        return grad_scale(self.reduction, divisor)

    def reduce(self, per_row: np.ndarray, divisor: float) -> Any:
        return reduce_rows(per_row, self.rows, self.reduction, divisor)


def grad_scale(reduction: str, divisor: float) -> float:
    """r, the gradient's factor: 1 / divisor for 'mean' (0 when the divisor is 0), else 1."""
    if reduction != "mean":
        return 1.0
    return 1.0 / divisor if divisor > 0 else 0.0


def reduce_rows(per_row: np.ndarray, rows: Rows, reduction: str, divisor: float) -> Any:
    """Per-row losses reduced: their float64 sum (over ``divisor`` for 'mean', a zero divisor
    giving 0.0) as a scalar of the output dtype, or for 'none' the losses in the target's
    shape."""
    if reduction == "none":
        return to_output(per_row.reshape(rows.lead), rows.out_dtype)
    total = float(np.sum(per_row, dtype=np.float64))
    if reduction == "mean":
        total = total / divisor if divisor > 0 else 0.0
    return to_scalar(total, rows.out_dtype)
