"""The diagnosis of a failed gradient check: the mistake named with its right formula, or, when no
known mistake reproduces the wrong gradient, where the error sits.

NaN and inf are said before the table of mistakes is consulted (it matches numbers), each with a
key in ``GradcheckResult.mistakes`` next to the mistakes' own (:data:`~softgrad.gradcheck.
mistakes.MISTAKES`):

* ``"forward_not_finite"``: forward returned NaN or inf at the checked point (no finite
  differences were taken); the usual causes are named.
* ``"backward_not_finite"``: backward returned NaN or inf entries (or set them in a parameter
  gradient).
* ``"differences_not_finite"``: the central differences are NaN or inf: forward is not finite
  within eps of the checked point.

A backward must be linear in grad_y; the table and the Jacobian breakdown of the hints assume it.
A wrong input gradient of an array output is first probed with ``2 * grad_y`` (exact in floating
point):

* ``"upstream_ignored"``: backward(2 g) is backward(g), not zero: grad_y is not used (the
  chain rule forgotten).
* ``"not_linear"``: backward(2 g) is not 2 backward(g) (grad_y added where it multiplies ...).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from softgrad.gradcheck.forward_ops import SAME_ATOL, SAME_RTOL, same
from softgrad.gradcheck.hints import describe_error, shape_hint
from softgrad.gradcheck.mistakes import (
    Evidence,
    exact_for_another_forward,
    gradient_of,
    matching_mistakes,
    rows_of,
)


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
    rounding : tuple of float
        ``(atol, rtol)`` within which two runs of vjp agree (the forward's precision).
    """

    forward: Callable[[np.ndarray], Any]
    vjp: Callable[[Any], Any]
    x: np.ndarray
    y: np.ndarray
    eps: float
    rounding: tuple[float, float] = (SAME_ATOL, SAME_RTOL)


def right_formula(ev: Evidence, key: str) -> str:
    """The right gradient, as the sentence that follows the named mistake."""
    shape, grad = ev.numeric.shape, gradient_of(ev.name)
    if ev.param is not None and key in ("bias_not_summed", "wrong_axis"):
        return (
            f"The right {grad.removeprefix('the ')} sums grad_y over the batch: "
            f"grad_y.sum(axis=0), shape {shape}."
        )
    if ev.param is not None and key == "transposed_weight":
        return (
            f"{_capitalized(grad)} must have {ev.name}'s shape {shape}: x.T @ grad_y when "
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
    if op.name == "log_softmax":
        axis = -1 if op.axis == ev.x.ndim - 1 else op.axis
        return (
            f"The right gradient is g - exp(y) * sum(g, axis={axis}, keepdims=True), with "
            "y = log_softmax(x) the output, from J = I - 1 s^T (s = exp(y)): J^T g."
        )
    if op.name == "sigmoid":
        return "The right gradient is g * s * (1 - s), with s = sigmoid(x) the output."
    if op.name == "tanh":
        return "The right gradient is g * (1 - s**2), with s = tanh(x) the output."
    rows = f" the {rows_of(ev.x)}" if ev.x.ndim >= 3 else ""
    return (
        "The right gradient of the mean loss is (softmax(x) - onehot(target)) / N, "
        f"N = {op.n_rows}{rows}."
    )


def _listed(names: Sequence[str], most: int = 6) -> str:
    """``"x, W, b"``; past ``most`` names (a composite's many parameters), their count, which
    the table shows one by one.

    Examples
    --------
    >>> _listed(["x", "W", "b"]), _listed([f"self.layers[{i}].W" for i in range(9)])
    ('x, W, b', 'the other 9 (see the table)')
    """
    return ", ".join(names) if len(names) <= most else f"the other {len(names)} (see the table)"


def _capitalized(text: str) -> str:
    """``"the gradient of ..."`` at the start of a sentence; ``"dW"`` as it is."""
    return "The" + text[3:] if text.startswith("the ") else text


def _not_finite(array: np.ndarray) -> str:
    """``"1 NaN and 2 inf of 40 entries, the first at [0, 3]"``."""
    nan, inf = int(np.isnan(array).sum()), int(np.isinf(array).sum())
    counts = " and ".join(f"{n} {kind}" for n, kind in ((nan, "NaN"), (inf, "inf")) if n)
    if array.ndim == 0:
        return counts
    first = np.unravel_index(int(np.argmax(~np.isfinite(array))), array.shape)
    where = ", ".join(str(int(i)) for i in first)
    return f"{counts} of {array.size} entries, the first at [{where}]"


def forward_not_finite(y: np.ndarray) -> tuple[str, tuple[str, ...]]:
    """The diagnosis of a forward whose output at the checked point has NaN or inf.

    Examples
    --------
    >>> print(forward_not_finite(np.array([[0.5, np.nan], [np.inf, 0.1]]))[0])
    forward returned NaN or inf at the checked point (1 NaN and 1 inf of 4 entries, the first at
      [0, 1]), so there is no gradient to check. The usual causes: an exp that overflows (subtract
      each row's max first: np.exp(x - x.max(axis=-1, keepdims=True))); a log of 0 or of a negative
      number (a log of logits where probabilities belong).
    """
    text = (
        f"forward returned NaN or inf at the checked point ({_not_finite(y)}), so there is no "
        "gradient to check.\n  The usual causes: an exp that overflows (subtract each row's max "
        "first: np.exp(x - x.max(axis=-1, keepdims=True))); a log of 0 or of a negative number "
        "(a log of logits where probabilities belong)."
    )
    return text, ("forward_not_finite",)


def _non_finite_lines(ev: Evidence, eps: float) -> tuple[list[str], list[str]]:
    """What is said of NaN or inf in ev's gradient or central differences, and the keys."""
    lines, keys = [], []
    if not np.all(np.isfinite(ev.analytic)):
        what = "backward returned" if ev.name == "x" else "backward set its gradient to"
        lines.append(
            f"{ev.name}: {what} NaN or inf ({_not_finite(ev.analytic)}) where forward is "
            "finite: look for a division by something that can be 0 (a count, a probability) or "
            "an exp that overflows."
        )
        keys.append("backward_not_finite")
    if not np.all(np.isfinite(ev.numeric)):
        lines.append(
            f"{ev.name}: central differences are NaN or inf ({_not_finite(ev.numeric)}): forward "
            f"is not finite within eps={eps:g} of the checked point (an exp that overflows, a log "
            "of 0 or of a negative number)."
        )
        keys.append("differences_not_finite")
    return lines, keys


def _not_linear(ev: Evidence, probe: Probe) -> tuple[str, str] | None:
    """What backward(2 g) shows about an input gradient that is not linear in g, and its key."""
    doubled = probe.vjp(2 * ev.g)
    try:
        doubled = np.asarray(doubled, dtype=np.float64)
    except (TypeError, ValueError):
        return None
    if doubled.shape != ev.analytic.shape:
        return None
    # to the forward's rounding: a float16 backward's subnormals do not scale with grad_y
    nonzero = not same(ev.analytic, np.zeros_like(ev.analytic), *probe.rounding)
    if nonzero and same(doubled, ev.analytic, *probe.rounding):
        right = right_formula(ev, "upstream_ignored")
        text = (
            "x: backward does not use grad_y: backward(2 * grad_y) returns what backward(grad_y) "
            "does. Multiply by the upstream gradient (the chain rule): grad_x is grad_y times the "
            "local derivative."
        )
        return (f"{text}\n  {right}" if right else text), "upstream_ignored"
    if not same(doubled, 2 * ev.analytic, *probe.rounding):
        text = (
            "x: backward is not linear in grad_y: backward(2 * grad_y) is not 2 * "
            "backward(grad_y). grad_x must be grad_y times the local derivative, with nothing "
            "added to grad_y, no power of it, and no cached array overwritten in place (dx = "
            "self.s; dx *= g changes self.s too)."
        )
        return text, "not_linear"
    return None


def _another_forward(ev: Evidence) -> str:
    """The line for a backward that is the exact gradient of the function its forward was
    recognised as, while the forward computes something slightly else."""
    worst = float(np.max(np.abs(ev.analytic - ev.numeric)))
    assert ev.op is not None  # exact_for_another_forward found the op's gradient
    what = {"cross_entropy": "softmax + cross-entropy"}.get(ev.op.name, ev.op.name)
    return (
        f"{ev.name}: backward computes the exact gradient of {what}, but forward does not "
        f"compute exactly {what}: its central differences are up to {worst:.3g} away. Look "
        "at forward: a constant added inside a log (log(y + 1e-7)) or an exp, or a clipped "
        "value, changes its gradient; backward is right for the function without it."
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
    text = f"{ev.name}: matches several known mistakes: {listed}"
    if ev.x.ndim > 1 and ev.x.shape[0] == 1:  # at one sample, the batch axis's are alike
        text += " (they agree at one sample: check at an x of several rows, e.g. (4, 10))"
    return text, keys


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
        not_finite, not_finite_keys = _non_finite_lines(ev, probe.eps)
        if not_finite:
            lines += not_finite
            keys += not_finite_keys
            continue
        # a scalar loss's backward takes no grad_y; a wrong shape is said by its hint
        if ev.name == "x" and ev.g.ndim > 0 and ev.analytic.shape == ev.numeric.shape:
            nonlinear = _not_linear(ev, probe)
            if nonlinear:
                lines.append(nonlinear[0])
                keys.append(nonlinear[1])
                continue
        named = _named(ev)
        if named is None and exact_for_another_forward(ev):
            lines.append(_another_forward(ev))
            continue
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
        right = f"; right: {_listed(passed)}" if passed else ""
        lines.append(f"no known mistake matches; wrong: {wrong}{right}. Where the error is:")
        lines += [describe_error(ev, probe, atol, rtol) for ev in unexplained]
        if all(ev.numeric.size == 1 for ev in unexplained):
            lines.append(
                "  (one entry fits many wrong formulas: check at an x of several entries, "
                "e.g. shape (4, 10), to tell them apart)"
            )
    return ("\n".join(lines) if lines else None), tuple(keys)
