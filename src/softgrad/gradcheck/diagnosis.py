"""The diagnosis of a failed gradient check: the mistake named with its right formula, or, when no
known mistake reproduces the wrong gradient, where the error sits."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from softgrad.gradcheck.hints import describe_error, shape_hint
from softgrad.gradcheck.mistakes import Evidence, matching_mistakes


@dataclass(frozen=True)
class Probe:
    """Re-runs of the checked thing, for the hints that need more than one cotangent.

    Attributes
    ----------
    forward : callable
        ``forward(x) -> y`` on a fresh copy.
    vjp : callable
        ``vjp(g) -> grad_x`` (raw, as backward returned it) at the checked point.
    x : ndarray
        The checked point.
    y : ndarray
        The output at x.
    eps : float
        The finite-difference step.
    """

    forward: Callable[[np.ndarray], Any]
    vjp: Callable[[Any], Any]
    x: np.ndarray
    y: np.ndarray
    eps: float


def right_formula(ev: Evidence, key: str) -> str:
    """The right gradient, as the sentence that follows the named mistake."""
    shape = ev.numeric.shape
    if ev.param is not None and key in ("bias_not_summed", "wrong_axis"):
        return (
            f"The right d{ev.name} sums grad_y over the batch: grad_y.sum(axis=0), shape {shape}."
        )
    if ev.param is not None and key == "transposed_weight":
        return (
            f"d{ev.name} must have {ev.name}'s shape {shape}: x.T @ grad_y when "
            f"y = x @ {ev.name} (grad_y.T @ x when y = x @ {ev.name}.T)."
        )
    if key == "transposed_weight":
        return "The right grad_x uses the weight as forward does: g @ W.T when y = x @ W."
    op = ev.op
    if op is None:
        return ""
    if op.name == "softmax":
        axis = -1 if op.axis == ev.x.ndim - 1 else op.axis
        return (
            f"The right gradient is s * (g - sum(g * s, axis={axis}, keepdims=True)), "
            "from J = diag(s) - s s^T."
        )
    if op.name == "sigmoid":
        return "The right gradient is g * s * (1 - s), with s = sigmoid(x) the output."
    if op.name == "tanh":
        return "The right gradient is g * (1 - s**2), with s = tanh(x) the output."
    return (
        "The right gradient of the mean loss is (softmax(x) - onehot(target)) / N, "
        f"N = {op.n_rows}."
    )


def _named(ev: Evidence) -> tuple[str, tuple[str, ...]] | None:
    """The line naming the mistake(s) that reproduce ev.analytic, and their keys."""
    found = matching_mistakes(ev)
    if not found:
        return None
    keys = tuple(mistake.key for mistake, _ in found)
    if len(found) == 1:
        mistake, formula = found[0]
        text = f"{ev.name}: {mistake.title}: backward computes {formula}."
        right = right_formula(ev, mistake.key)
        return (f"{text}\n  {right}" if right else text), keys
    listed = "; ".join(f"{mistake.title} ({formula})" for mistake, formula in found)
    return f"{ev.name}: matches several known mistakes: {listed}", keys


def diagnose(
    evidence: Sequence[Evidence],
    advice: Sequence[str],
    probe: Probe,
    atol: float,
    rtol: float,
    passed: Sequence[str] = (),
) -> tuple[str | None, tuple[str, ...]]:
    """The diagnosis text and the keys of the named mistakes.

    Parameters
    ----------
    evidence : sequence of Evidence
        One per failed quantity that has a gradient array.
    advice : sequence of str
        Lines already written for failures without numbers (None or a tuple returned, a
        gradient never set).
    probe : Probe
        For the hints on the input gradient (its Jacobian, entry by entry).
    atol, rtol : float
        The check's tolerance (which entries count as wrong in the hints).
    passed : sequence of str
        The quantities whose gradient was right (named in the hints: input or parameters).

    Returns
    -------
    (str or None, tuple of str)
    """
    lines = list(advice)
    keys: list[str] = []
    unexplained = []
    for ev in evidence:
        named = _named(ev)
        if named is None:
            if ev.analytic.shape != ev.numeric.shape:
                lines.append(shape_hint(ev))
            else:
                unexplained.append(ev)
            continue
        lines.append(named[0])
        keys += named[1]
    if unexplained:
        wrong = ", ".join(ev.name for ev in unexplained)
        right = f"; right: {', '.join(passed)}" if passed else ""
        lines.append(f"no known mistake matches; wrong: {wrong}{right}. Where the error is:")
        lines += [describe_error(ev, probe, atol, rtol) for ev in unexplained]
    return ("\n".join(lines) if lines else None), tuple(keys)
