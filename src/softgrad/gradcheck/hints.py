"""Where a wrong gradient is wrong, when no known mistake reproduces it: the worst entries, the
rows, and for the input gradient which Jacobian entries (diagonal, off the diagonal within a
sample, across samples); and what is wrong with a gradient that is not an array of numbers or
has the wrong shape."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from softgrad.gradcheck.finite_differences import central_jacobian
from softgrad.gradcheck.mistakes import Evidence

if TYPE_CHECKING:
    from softgrad.gradcheck.diagnosis import Probe

# the Jacobian hint costs y.size backward and 2 * x.size forward passes: small cases only
_MAX_JACOBIAN_ENTRIES = 40_000
_MAX_OUTPUTS = 400


def gradient_problem(raw: Any, returned: str) -> str | None:
    """What is wrong with a gradient before looking at its numbers, said after ``returned``
    (``"backward returned"``, ``"dW is"``): None, a tuple, a list that is not one array of
    numbers, anything else that is not numbers."""
    if raw is None:
        return f"{returned} None"
    if isinstance(raw, tuple) or (isinstance(raw, list) and not _numbers(raw)):
        return f"{returned} a {type(raw).__name__} of {len(raw)} items"
    if not isinstance(raw, (np.ndarray, np.generic, float, int, list)):
        return f"{returned} a {type(raw).__name__}"
    if not _numbers(raw):
        return f"{returned} an array of dtype {np.asarray(raw).dtype}"
    return None


def _numbers(raw: Any) -> bool:
    """True when ``raw`` converts to one float64 array (a nested list of numbers does) without
    losing anything (complex numbers would lose their imaginary parts)."""
    try:
        return not np.iscomplexobj(raw) and np.asarray(raw, dtype=np.float64) is not None
    except (TypeError, ValueError):
        return False


def problem_advice(name: str, problem: str, shape: tuple[int, ...]) -> str:
    """The diagnosis line for a gradient that is not an array of numbers (``gradient_problem``)."""
    if "an array of dtype" in problem:  # one array, of the wrong kind of values (complex, str)
        return f"{name}: {problem}; it must be an array of real numbers of {name}'s shape {shape}"
    if name != "x":
        return f"{name}: {problem}; it must be an array of {name}'s shape {shape}"
    if problem.endswith("None"):
        return (
            f"x: {problem}; it must return grad_x, the gradient with respect to its input, an "
            f"array of x's shape {shape} (is a `return` missing?)"
        )
    return (
        f"x: {problem}; it must return grad_x alone, an array of x's shape {shape}, and keep "
        "parameter gradients as attributes (dW or grad_W next to W) or in a grads dict"
    )


def shape_hint(ev: Evidence) -> str:
    """``"x: backward returned shape (10,); it must have x's shape (4, 10) (...)"``."""
    got, want = ev.analytic.shape, ev.numeric.shape
    what = "backward returned" if ev.name == "x" else "the gradient has"
    text = f"{ev.name}: {what} shape {got}; it must have {ev.name}'s shape {want}"
    if got == want[::-1] and len(want) == 2:
        return text + " (transposed?)"
    for axis in range(len(want)):
        if got == want[:axis] + want[axis + 1 :]:
            role = " (the batch)" if axis == 0 and len(want) >= 2 else ""
            return text + f" (summed over axis {axis}{role}?)"
    return text


def _rows_text(wrong: np.ndarray) -> str:
    if wrong.ndim < 2:
        return ""
    rows = np.unique(np.nonzero(wrong)[0])
    total = wrong.shape[0]
    if len(rows) == total:
        return f"wrong in every row (all {total})"
    shown = ", ".join(str(r) for r in rows[:8]) + (", ..." if len(rows) > 8 else "")
    return f"wrong in rows {shown} of {total}"


def describe_error(ev: Evidence, probe: Probe, atol: float, rtol: float) -> str:
    """One line (or two) saying where ``ev.analytic`` differs from ``ev.numeric``.

    Examples
    --------
    >>> ev = Evidence("W", np.array([[1.0, 2.0], [3.0, 5.0]]), np.array([[1.0, 2.0], [3.0, 4.0]]),
    ...               np.ones((2, 2)), np.ones((2, 2)))
    >>> print(describe_error(ev, None, 1e-5, 1e-4))
    W: worst entries [1, 1] 5 (right 4)
        wrong in rows 1 of 2
    """
    if ev.analytic.shape != ev.numeric.shape:
        return shape_hint(ev)
    analytic, numeric = np.atleast_1d(ev.analytic), np.atleast_1d(ev.numeric)  # 0-d: one entry
    diff = np.abs(analytic - numeric)
    diff[np.isnan(diff)] = np.inf
    wrong = diff > atol + rtol * np.abs(numeric)
    order = np.argsort(-diff, axis=None, kind="stable")[: min(3, int(wrong.sum()))]
    entries = []
    for flat in order:
        index = np.unravel_index(int(flat), diff.shape)
        where = "[" + ", ".join(str(int(i)) for i in index) + "] " if ev.analytic.ndim else ""
        entries.append(f"{where}{analytic[index]:.4g} (right {numeric[index]:.4g})")
    label = "worst entries " if ev.analytic.size > 1 else "backward's " if ev.name == "x" else ""
    parts = [f"{ev.name}: {label}" + ", ".join(entries)]
    rows = _rows_text(wrong)
    if rows:
        parts.append(rows)
    if ev.name == "x" and probe is not None:
        jacobian = _jacobian_hint(probe, atol, rtol)
        if jacobian:
            parts.append(jacobian)
    return "\n    ".join(parts)


def _jacobian_hint(probe: Probe, atol: float, rtol: float) -> str | None:
    """Which entries d y[i] / d x[j] of the Jacobian the backward gets wrong."""
    x, y = probe.x, probe.y
    if y.ndim == 0 or y.size > _MAX_OUTPUTS or x.size * y.size > _MAX_JACOBIAN_ENTRIES:
        return None
    point = x.copy()
    right = central_jacobian(lambda: probe.forward(point.copy()), point, probe.eps)
    rows = []
    for j in range(y.size):
        basis = np.zeros(y.size)
        basis[j] = 1.0
        row = np.asarray(probe.vjp(basis.reshape(y.shape)), dtype=np.float64)
        if row.shape != x.shape:
            return None
        rows.append(row.reshape(-1))
    wrong = np.abs(np.stack(rows) - right) > atol + rtol * np.abs(right)
    if not wrong.any():
        return None
    out_index = np.array(list(np.ndindex(y.shape))).reshape(y.size, -1)
    in_index = np.array(list(np.ndindex(x.shape))).reshape(x.size, -1)
    regions = {}
    batched = y.ndim >= 2 and x.ndim >= 2 and y.shape[0] == x.shape[0]
    same_sample = out_index[:, :1] == in_index[:, :1].T if batched else np.ones_like(wrong)
    if y.shape == x.shape:
        diagonal = np.eye(y.size, dtype=bool)
        regions["on the diagonal"] = diagonal
        within = " within a sample" if batched else ""
        regions[f"off the diagonal{within}"] = same_sample & ~diagonal
    if batched:
        regions["across samples (backward mixes the batch)"] = ~same_sample
    if not regions:
        return None
    counts = ", ".join(
        f"{name} {int((wrong & mask).sum())} of {int(mask.sum())}" for name, mask in regions.items()
    )
    return f"wrong Jacobian entries d y[i] / d x[j]: {counts}"
