"""The step and tolerances of a gradient check, chosen from the precision forward computes in.

Central differences are taken in float64, but they cannot be more precise than the forward they
difference. A float64 forward is checked at ``eps=1e-6, atol=1e-5, rtol=1e-4``. A forward whose
output is a float32 (or float16) array or NumPy scalar rounds each value to about 6e-8 (5e-4): a
step of 1e-6 is then 8 float32 ulps of 1, and the differences are noise. Its step is near the cube
root of its machine epsilon, where rounding and truncation errors balance, and its tolerances
are set by measurement (``gradcheck`` with these settings on the float32 nodes of the test
gallery, 20 seeds, x of scale 1 and 3):

* float32: eps=1e-2, atol=5e-3, rtol=1e-2. cbrt(1.2e-7) is 4.9e-3; the right nodes' error is
  rounding (it halves from eps=5e-3 to 1e-2), truncation is far below (the softmax at scale 3:
  0.009 of the tolerance), so the step is 1e-2. Right nodes (the softmax shortcut at (4, 10),
  (1, 10), (10,), (32, 3), (2, 3, 5), (16, 100); tanh, sigmoid; a Linear with W and b, 3 to 64
  inputs; the fused softmax cross-entropy up to 1,000 classes) stay within 0.087 of the
  tolerance (the Linear with 64 inputs at scale 3; a margin of 11). Every wrong run fails: the
  softmax diagonal by 6.5 times the tolerance at the least (one row of 10 classes), the sign by
  31, the cross-entropy without its 1/N by 94, x for s by 1,950; each is named (the diagonal
  with one row also matches the wrong axis, as in float64).
* float16: eps=0.1 (cbrt(9.8e-4) = 0.099), atol=0.1, rtol=0.1, at the small shapes float16 can
  be checked at ((4, 10), (1, 10), (10,), (32, 3), a Linear with 3 inputs). No step and
  tolerance separate right from wrong here, so a float16 result carries a warning
  (:func:`precision_warning`) that says so and to check in float32. Measured over the same 20
  seeds and scales 1 and 3, in units of ``1 + |numeric|`` (a tolerance atol = rtol = t passes
  an error below t): right nodes reach 0.037 (the fused cross-entropy, whose float16 loss
  rounds by 1e-3), 0.4 of the tolerance, while the softmax diagonal with 10 classes is off by
  only 0.035, so it passes, as it would at any t that passes the right cross-entropy. The
  step does not help: the worst right node over the worst wrong one is 0.31 at eps=0.03
  (rounding grows as 1/eps), 0.95 at 0.1, 3.4 at 0.3 and 1.4 at 0.5 (truncation grows as
  eps^2: tanh at 0.5 reaches 0.026, and a right x**3 already 0.033 at 0.3, the diagonal's
  size). The sign (0.19), the cross-entropy without its 1/N (0.56) and x for s (19) do fail,
  by 1.9 times the tolerance at the least, but are not named: the differences are good to
  about 0.1 there, too coarse against gradients of 0.25 to tell one mistake from another
  (:func:`match_tolerance`), and the diagnosis says so (:func:`coarse_advice`).

A forward may round x to float32 inside (``x.astype(np.float32)``) and still return float64
(its weights, made float64 by the check, promote the result): :func:`input_precision` sees that
forward's output does not change for a change of x too small for float32, and the float32
settings are used.

Central differences divide forward's rounding by the step: where forward's output is large
(a cross-entropy of logits near 1e3 is near 1e3), that floor (:func:`with_rounding_floor`)
passes the chosen atol, which is raised to it, and where it passes 5% of the gradient's largest
entry no mistake is named (:func:`match_tolerance`).

A gradient is matched to a known mistake (:mod:`softgrad.gradcheck.mistakes`) to float64 rounding
for a float64 forward, and to the check's own tolerance for a narrower one: its central
differences, and the sign or factor fitted to them, are no more precise than that. Two runs of
backward (the linearity probe of :mod:`softgrad.gradcheck.diagnosis`) agree to the precision's
rounding.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from softgrad.gradcheck.forward_ops import SAME_ATOL, SAME_RTOL


@dataclass(frozen=True)
class Settings:
    """A check's step and tolerances, and how close a gradient must be to a mistake's prediction.

    Attributes
    ----------
    eps : float
        The finite-difference step.
    atol, rtol : float
        An entry passes when ``|analytic - numeric| <= atol + rtol * |numeric|``.
    match : tuple of float
        ``(atol, rtol)`` for :func:`softgrad.gradcheck.forward_ops.same` when matching mistakes.
    rounding : tuple of float
        ``(atol, rtol)`` within which two runs of backward agree: the precision's rounding
        (8 machine epsilons of the larger magnitude), for the probes that compare them.
    precision : numpy.dtype or None
        The narrower float forward computes in (float32, float16), None for float64.
    floor : float
        How far rounding in forward can move a central difference (:func:`with_rounding_floor`).
    """

    eps: float
    atol: float
    rtol: float
    match: tuple[float, float] = (SAME_ATOL, SAME_RTOL)
    rounding: tuple[float, float] = (SAME_ATOL, SAME_RTOL)
    precision: np.dtype | None = None
    floor: float = 0.0


FLOAT64 = Settings(1e-6, 1e-5, 1e-4)
NARROW: dict[np.dtype, Settings] = {
    np.dtype(dtype): Settings(eps, atol, rtol, (atol, rtol), (SAME_ATOL, 8 * eps_dtype), dtype)
    for dtype, eps, atol, rtol, eps_dtype in (
        (np.dtype(np.float32), 1e-2, 5e-3, 1e-2, float(np.finfo(np.float32).eps)),
        (np.dtype(np.float16), 0.1, 0.1, 0.1, float(np.finfo(np.float16).eps)),
    )
}


def settings_for(
    y: Any,
    eps: float | None,
    atol: float | None,
    rtol: float | None,
    rounds_to: np.dtype | None = None,
) -> Settings:
    """The settings for forward's raw output y: those given, the rest chosen from y's precision,
    or from ``rounds_to`` (:func:`input_precision`) when forward rounds its input to a narrower
    float than its output's.

    Examples
    --------
    >>> chosen = settings_for(np.float32(2.5), None, None, None)  # a float32 loss
    >>> chosen.eps, chosen.atol, chosen.rtol, chosen.precision
    (0.01, 0.005, 0.01, dtype('float32'))
    >>> given = settings_for(np.ones(3), None, 1e-3, None)
    >>> given.eps, given.atol, given.rtol, given.precision
    (1e-06, 0.001, 0.0001, None)
    """
    dtype = y.dtype if isinstance(y, (np.ndarray, np.generic)) else None
    chosen = FLOAT64 if dtype is None else NARROW.get(dtype, FLOAT64)
    narrower = None if rounds_to is None else NARROW.get(rounds_to)
    # without a dtype of its own, y's settings are FLOAT64's, of no precision: any narrower wins
    if (
        narrower is not None
        and rounds_to is not None
        and (chosen.precision is None or dtype is None or rounds_to.itemsize < dtype.itemsize)
    ):
        chosen = narrower
    return Settings(
        chosen.eps if eps is None else eps,
        chosen.atol if atol is None else atol,
        chosen.rtol if rtol is None else rtol,
        chosen.match,
        chosen.rounding,
        chosen.precision,
    )


# (dtype, a relative change of x it cannot hold, one it holds): below half its spacing at a
# point it represents exactly (2**-12 for float16, 2**-25 for float32), and above a few spacings
INPUT_PROBES = (
    (np.dtype(np.float16), 2.0**-14, 2.0**-8),
    (np.dtype(np.float32), 2.0**-30, 2.0**-16),
)


def input_precision(forward: Callable[[np.ndarray], Any], x: np.ndarray) -> np.dtype | None:
    """The narrower float that forward rounds its input to (``x.astype(np.float32)`` in a node
    whose output is float64 all the same), or None.

    At a point that float holds exactly, a relative change of x too small for it to hold
    leaves forward's output as it was, bit for bit, while a larger one changes it. A float64
    forward sees both changes. Central differences of a forward that rounds x to float32 are
    noise at float64's step (1e-6 is 8 float32 spacings of 1): its step and tolerances must be
    float32's, whatever dtype its output has.

    Examples
    --------
    >>> x = np.array([[0.3, -1.2, 2.5]])
    >>> input_precision(lambda v: np.tanh(v.astype(np.float32)).astype(np.float64), x)
    dtype('float32')
    >>> input_precision(np.tanh, x) is None
    True
    """
    for dtype, unseen, seen in INPUT_PROBES:
        point = x.astype(dtype).astype(np.float64)
        if not (np.all(np.isfinite(point)) and np.any(point)):
            continue
        try:
            y, y_unseen, y_seen = (
                np.asarray(forward(point * (1.0 + step)), dtype=np.float64)
                for step in (0.0, unseen, seen)
            )
        except Exception:  # the checked code refuses the probe's point: judge by its output
            return None
        if np.array_equal(y, y_unseen) and not np.array_equal(y, y_seen, equal_nan=True):
            return dtype
    return None


# central differences divide forward's rounding by the step. A difference in one entry of x
# moves few outputs (a row of a softmax, the one loss), the others round alike and cancel, so
# the rounding that is left is about u * |g * y| over the outputs that move, which their L2
# norm bounds: u * ||g * y|| / eps (u the precision's machine epsilon). Right softmax and
# cross-entropy nodes in float32 (logits of scale 30 to 1e3, 10 seeds, (1, 10) to (16, 100))
# reached 0.51 of it where it passes atol (a loss near 1e3); the margin is 4. float16's settings
# were measured with its rounding in them, and its result is inconclusive anyway: its atol stays
ROUNDING_MARGIN = 4.0


def with_rounding_floor(
    settings: Settings, y: np.ndarray, g: Any, atol_given: float | None
) -> tuple[Settings, str | None]:
    """``settings`` with its ``floor``: how far forward's rounding can move a central difference.

    A chosen atol is raised to the floor (a given one is kept, and float16's), with the note
    saying so: a cross-entropy of logits near 1e3 in float32 is a number near 1e3, rounded to
    6e-5, and its differences at eps=1e-2 are off by up to 1e-2 however right backward is.

    Examples
    --------
    >>> settings = NARROW[np.dtype(np.float32)]
    >>> raised, note = with_rounding_floor(settings, np.float64(1000.0), 1.0, None)
    >>> round(raised.atol, 4), raised.floor == raised.atol
    (0.0477, True)
    >>> with_rounding_floor(settings, np.ones(3), np.ones(3), None)[0].atol
    0.005
    """
    u = float(np.finfo(settings.precision or np.float64).eps)
    size = float(np.sqrt(np.sum((np.asarray(g) * y) ** 2)))
    floor = ROUNDING_MARGIN * u * size / settings.eps
    keep = atol_given is not None or settings.precision == np.float16
    atol = settings.atol if keep else max(settings.atol, floor)
    note = None
    if atol > settings.atol:
        note = (
            f"forward's output is large (||g * y|| = {size:.3g}): its rounding moves central "
            f"differences by up to {floor:.3g}, so atol was raised to that"
        )
    return replace(settings, atol=atol, floor=floor), note


# a gradient is matched to a mistake only where the differences are good to 5% of its largest
# entry: at a coarser point (float32 logits near 1e3: 20%) a gradient divided by N*C matched
# "divided by N twice" and "all zeros" alike
COARSE = 0.05


def match_tolerance(settings: Settings, numeric: np.ndarray) -> tuple[float, float] | None:
    """``(atol, rtol)`` within which a gradient reproduces a mistake, against the central
    differences ``numeric``: the precision's, or their rounding floor relative to their largest
    entry (a mistake's factor of 16 multiplies their error by 16); None where the floor passes
    :data:`COARSE` of that entry, too coarse to tell one mistake from another.

    Examples
    --------
    >>> match_tolerance(FLOAT64, np.array([0.5, -0.25])) == (FLOAT64.match)
    True
    >>> match_tolerance(replace(FLOAT64, floor=0.1), np.array([0.5, -0.25])) is None
    True
    """
    atol, rtol = settings.match
    top = float(np.max(np.abs(numeric), initial=0.0))
    if top == 0.0:  # no entry to be relative to (and none a mistake's factor scales)
        return max(atol, settings.floor), rtol
    if settings.floor > COARSE * top:
        return None
    return max(atol, settings.floor), max(rtol, settings.floor / top)


def coarse_advice(name: str, settings: Settings, numeric: np.ndarray) -> str:
    """The diagnosis line for a quantity whose differences are too coarse to name a mistake:
    forward's rounding (its precision, and the size of its output) against the gradient's
    largest entry, and what makes the check finer.

    Example
    -------
    >>> settings = replace(NARROW[np.dtype(np.float16)], floor=0.098)
    >>> print(coarse_advice("x", settings, np.array([0.24, -0.1])))
    x: central differences here are good to 0.098 only (forward's rounding in float16, of an
    output with ||g * y|| = 2.5, over the step eps = 0.1), against 0.24 for the largest entry:
    no mistake is named at this point; check the node in float64, or at another x, where the
    output is smaller or the gradient larger against it
    """
    top = float(np.max(np.abs(numeric), initial=0.0))
    precision = np.dtype(settings.precision or np.float64)
    u = float(np.finfo(precision).eps)
    size = settings.floor * settings.eps / (ROUNDING_MARGIN * u)  # with_rounding_floor's ||g * y||
    another_x = "at another x, where the output is smaller or the gradient larger against it"
    fix = another_x if settings.precision is None else f"the node in float64, or {another_x}"
    return (
        f"{name}: central differences here are good to {settings.floor:.2g} only (forward's "
        f"rounding in {precision}, of an output with ||g * y|| = {size:.2g}, over the step "
        f"eps = {settings.eps:g}), against {top:.2g} for the largest entry: no mistake is named "
        f"at this point; check {fix}"
    )


def precision_note(settings: Settings, given: tuple[float | None, ...]) -> str | None:
    """The note for a forward narrower than float64, saying which settings were chosen for it.

    Examples
    --------
    >>> print(precision_note(NARROW[np.dtype(np.float32)], (None, None, None)))
    forward computes in float32: the step and tolerances were chosen for it
    >>> print(precision_note(NARROW[np.dtype(np.float32)], (1e-3, None, None)))
    forward computes in float32: atol and rtol were chosen for it (eps was given)
    """
    if settings.precision is None:
        return None
    names = ("eps", "atol", "rtol")
    chosen = [name for name, value in zip(names, given, strict=True) if value is None]
    where = f"forward computes in {settings.precision}"
    kept = [name for name in names if name not in chosen]
    if not kept:
        text = f"{where}: the step and tolerances were chosen for it"
    elif not chosen:
        text = f"{where}: the given eps, atol and rtol were used (leave them out to choose them)"
    else:
        text = (
            f"{where}: {' and '.join(chosen)} {'was' if len(chosen) == 1 else 'were'} chosen for "
            f"it ({' and '.join(kept)} {'was' if len(kept) == 1 else 'were'} given)"
        )
    return text


def precision_warning(settings: Settings) -> str | None:
    """Why a check of a float16 forward is not conclusive, whatever it found; None otherwise.

    Examples
    --------
    >>> precision_warning(FLOAT64) is None
    True
    >>> print(precision_warning(NARROW[np.dtype(np.float16)]))
    float16 is too coarse for a conclusive check: its rounding takes right gradients to 0.4 of
    the tolerance, and a small mistake (the softmax Jacobian reduced to its diagonal) passes;
    check the node in float32
    """
    if settings.precision != np.float16:
        return None
    return (
        "float16 is too coarse for a conclusive check: its rounding takes right gradients to 0.4 "
        "of the tolerance, and a small mistake (the softmax Jacobian reduced to its diagonal) "
        "passes; check the node in float32"
    )
