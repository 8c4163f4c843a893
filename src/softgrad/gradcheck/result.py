"""The result of a gradient check: one Check per compared quantity, gathered in a
GradcheckResult that prints as a table."""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Check:
    """The comparison of one quantity (an input gradient, a parameter gradient, an identity).

    Attributes
    ----------
    name : str
        What was compared: ``"x"``, ``"W"``, ``"0.W"``, ``"symmetric"`` ...
    shape : tuple of int
    ok : bool
        Every entry satisfies ``|actual - expected| <= atol + rtol * |expected|``.
    max_abs_err : float
        Largest ``|actual - expected|``.
    max_rel_err : float
        Largest ``|actual - expected| / max(|actual|, |expected|)`` over the entries whose
        magnitude exceeds atol (relative error of entries that are numerically zero means
        nothing).
    worst_index : tuple of int
        Index of the entry that is furthest outside (or least inside) its tolerance.
    actual, expected : float
        The two values at ``worst_index`` (analytic and numeric for a gradient).
    note : str
        Why a check failed without numbers (a missing gradient, a wrong shape), else "".
    """

    name: str
    shape: tuple[int, ...]
    ok: bool
    max_abs_err: float
    max_rel_err: float
    worst_index: tuple[int, ...]
    actual: float
    expected: float
    note: str = ""
    excess: float = 0.0  # max(|actual - expected| - tolerance); > 0 means failure


@dataclass(frozen=True)
class SubNodeCheck:
    """A composite's node without parameters, checked alone at the input the composite's
    forward gave it (:mod:`softgrad.gradcheck.sub_node_checks`).

    Attributes
    ----------
    path : str
        Where the composite holds it: ``"self.layers[1]"``, ``"self.act"``.
    ok : bool or None
        Its own check passed (True) or failed (False); None when it could not be checked alone
        (``note`` says why).
    mistakes : tuple of str
        Keys of the mistakes its check named, as :attr:`GradcheckResult.mistakes`.
    diagnosis : str or None
        Its check's diagnosis (None when it passed or was not checked).
    calls : int
        How many times the composite's forward called it (checked at the first call's input).
    note : str
        Why it was not checked alone, else "".
    """

    path: str
    ok: bool | None
    mistakes: tuple[str, ...] = ()
    diagnosis: str | None = None
    calls: int = 1
    note: str = ""

    def as_dict(self) -> dict[str, Any]:
        """A JSON-safe summary (an entry of ``GradcheckResult.as_dict()["sub_nodes"]``)."""
        return {
            "path": self.path,
            "ok": self.ok,
            "mistakes": list(self.mistakes),
            "diagnosis": self.diagnosis,
            "calls": self.calls,
            "note": self.note,
        }


@dataclass(frozen=True)
class GradcheckResult:
    """Outcome of :func:`gradcheck`, :func:`check_adjoint` or :func:`check_softmax_jacobian`.

    Attributes
    ----------
    name : str
        What was checked (a layer's or function's name).
    checks : tuple of Check
        One entry per compared quantity.
    eps, atol, rtol : float
        Settings used (eps is 0 when no finite differences were taken: a forward not finite at
        x, an identity check; the printed first line then leaves it out).
    diagnosis : str or None
        For a failed gradient check: the mistake that reproduces the wrong gradient, named with
        the right formula (one line per failed quantity), or, when no known mistake matches, where
        the error sits (worst entries, rows, diagonal or not). None when the check passed.
    mistakes : tuple of str
        Keys of the named mistakes (``"softmax_diagonal"``, ``"constant_factor"`` ...; see
        :data:`softgrad.gradcheck.mistakes.MISTAKES`), in the order of the failed checks, and of
        the problems said before the table is consulted (``"forward_not_finite"``,
        ``"backward_not_finite"``, ``"differences_not_finite"``, ``"upstream_ignored"``,
        ``"not_linear"``; see :mod:`softgrad.gradcheck.diagnosis`).
    notes : tuple of str
        What the check had to assume or work around (a node that could not be deep-copied,
        arrays taken as constants, a forward that computes in float32).
    warning : str or None
        Why the outcome, ``ok`` or not, is not conclusive (a forward that computes in float16),
        else None. Printed in the first line and after the table.
    sub_nodes : tuple of SubNodeCheck
        For a composite node whose x and parameters failed with no mistake named: each node
        without parameters it holds, checked alone at the input its forward gave it (their
        named mistakes are in ``mistakes`` too, and ``diagnosis`` says which node made them).
        Empty otherwise: a passing check runs nothing more.

    Examples
    --------
    A wrong derivative (sin's VJP written with sin instead of cos) is caught, and printing the
    result shows where:

    >>> from softgrad.gradcheck import gradcheck
    >>> result = gradcheck(np.sin, np.array([0.5, 2.0]), vjp=lambda x, g: g * np.sin(x))
    >>> result.ok, result.failed(), result.worst_index
    (False, ['x'], ('x', (1,)))
    >>> print(result)
    sin: FAILED (eps=1e-06, atol=1e-05, rtol=0.0001)
      check  shape  max_abs_err  max_rel_err  worst_index  actual     expected  status
      x      (2,)   1.75e-01     1.46e+00     (1,)         -0.120123  0.054975  FAIL
    diagnosis:
      no known mistake matches; wrong: x. Where the error is:
      x: worst entries [1] -0.1201 (right 0.05498), [0] 0.06028 (right 0.1103)
          wrong Jacobian entries d y[i] / d x[j]: on the diagonal 2 of 2, off the diagonal 0 of 2
    >>> result.as_dict()["checks"][0]["worst_index"]
    [1]
    """

    name: str
    checks: tuple[Check, ...]
    eps: float
    atol: float
    rtol: float
    diagnosis: str | None = None
    mistakes: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    warning: str | None = None
    sub_nodes: tuple[SubNodeCheck, ...] = ()

    @property
    def ok(self) -> bool:
        """True when every check passed."""
        return all(check.ok for check in self.checks)

    @property
    def max_abs_err(self) -> float:
        """Largest absolute error over all checks."""
        return max((check.max_abs_err for check in self.checks), default=0.0)

    @property
    def max_rel_err(self) -> float:
        """Largest relative error over all checks."""
        return max((check.max_rel_err for check in self.checks), default=0.0)

    @property
    def worst(self) -> Check | None:
        """The check furthest outside (or least inside) its tolerance."""
        return max(self.checks, key=lambda check: check.excess, default=None)

    @property
    def worst_index(self) -> tuple[str, tuple[int, ...]] | None:
        """``(check name, index)`` of the worst entry, e.g. ``("0.W", (2, 1))``."""
        worst = self.worst
        return None if worst is None else (worst.name, worst.worst_index)

    def failed(self) -> list[str]:
        """Names of the checks that failed.

        Returns
        -------
        names : list of str
            In the checks' order; empty when :attr:`ok`.

        Examples
        --------
        >>> from softgrad.gradcheck import gradcheck
        >>> gradcheck(np.sin, np.array([0.5, 2.0]), vjp=lambda x, g: g * np.cos(x)).failed()
        []
        """
        return [check.name for check in self.checks if not check.ok]

    def as_dict(self) -> dict[str, Any]:
        """A JSON-safe summary (for ``--json`` output).

        Returns
        -------
        summary : dict
            The settings, the verdict (``ok``, ``diagnosis``, ``mistakes``, ``notes``), the
            largest errors and one entry per check.

        Examples
        --------
        >>> import json
        >>> from softgrad.gradcheck import gradcheck
        >>> result = gradcheck(np.sin, np.array([0.5, 2.0]), vjp=lambda x, g: g * np.cos(x))
        >>> summary = result.as_dict()
        >>> summary["name"], summary["ok"], json.loads(json.dumps(summary)) == summary
        ('sin', True, True)
        """
        return {
            "name": self.name,
            "ok": self.ok,
            "max_abs_err": self.max_abs_err,
            "max_rel_err": self.max_rel_err,
            "eps": self.eps,
            "atol": self.atol,
            "rtol": self.rtol,
            "diagnosis": self.diagnosis,
            "mistakes": list(self.mistakes),
            "notes": list(self.notes),
            "warning": self.warning,
            "sub_nodes": [sub.as_dict() for sub in self.sub_nodes],
            "checks": [
                {
                    "name": c.name,
                    "shape": list(c.shape),
                    "ok": c.ok,
                    "max_abs_err": c.max_abs_err,
                    "max_rel_err": c.max_rel_err,
                    "worst_index": list(c.worst_index),
                    "actual": c.actual,
                    "expected": c.expected,
                    "note": c.note,
                }
                for c in self.checks
            ],
        }

    def __str__(self) -> str:
        header = (
            "check",
            "shape",
            "max_abs_err",
            "max_rel_err",
            "worst_index",
            "actual",
            "expected",
            "status",
        )
        rows = [
            (
                c.name,
                str(c.shape),
                f"{c.max_abs_err:.2e}",
                f"{c.max_rel_err:.2e}",
                str(c.worst_index),
                f"{c.actual:.6g}",
                f"{c.expected:.6g}",
                "ok" if c.ok else f"FAIL {c.note}".rstrip(),
            )
            for c in self.checks
        ]
        widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
        outcome = "ok" if self.ok else "FAILED"
        if self.warning:
            outcome += ", inconclusive"
        step = f"eps={self.eps:g}, " if self.eps else ""  # 0: no finite differences taken
        title = f"{self.name}: {outcome} ({step}atol={self.atol:g}, rtol={self.rtol:g})"
        table = [
            "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True))
            for row in [header, *rows]
        ]
        lines = [title, *("  " + line.rstrip() for line in table)]
        for note in self.notes:  # wrapped: a note may list many arrays (a composite's)
            lines += textwrap.wrap(note, 100, initial_indent="  note: ", subsequent_indent="    ")
        if self.warning:
            lines.append(f"  warning: {self.warning}")
        if self.diagnosis:
            lines.append("diagnosis:")
            for line in self.diagnosis.splitlines():
                indent = "  " + " " * (len(line) - len(line.lstrip()))
                lines += textwrap.wrap(
                    line.strip(), 100, initial_indent=indent, subsequent_indent=indent + "  "
                )
        return "\n".join(lines)


def compare(name: str, actual: Any, expected: np.ndarray, atol: float, rtol: float) -> Check:
    """Entrywise comparison of ``actual`` with ``expected`` (float64) as a Check."""
    expected = np.asarray(expected, dtype=np.float64)
    if actual is None:
        return failed_check(name, expected.shape, "no gradient was computed")
    actual = np.asarray(actual, dtype=np.float64)
    if actual.shape != expected.shape:
        return failed_check(name, expected.shape, f"shape {actual.shape} != {expected.shape}")
    if expected.size == 0:
        return Check(name, expected.shape, True, 0.0, 0.0, (), 0.0, 0.0, excess=-np.inf)
    diff = np.asarray(np.abs(actual - expected))  # an array even for a 0-d x (a scalar)
    diff[np.isnan(diff)] = np.inf
    excess = diff - (atol + rtol * np.abs(expected))
    worst = np.unravel_index(int(np.argmax(excess)), expected.shape)
    magnitude = np.maximum(np.abs(actual), np.abs(expected))
    meaningful = magnitude > atol
    rel = diff[meaningful] / magnitude[meaningful] if meaningful.any() else np.zeros(1)
    rel[np.isnan(rel)] = np.inf  # inf / inf: an inf entry is infinitely wrong
    return Check(
        name=name,
        shape=expected.shape,
        ok=bool(np.all(excess <= 0)),
        max_abs_err=float(diff.max()),
        max_rel_err=float(rel.max()),
        worst_index=tuple(int(i) for i in worst),
        actual=float(actual[worst]),
        expected=float(expected[worst]),
        excess=float(excess[worst]),
    )


def flat_note(numerics: dict[str, np.ndarray], atol: float) -> str | None:
    """The note for quantities whose right gradient is below atol in every entry: there any
    backward that returns small numbers passes (a softmax saturated by large logits, a ReLU off
    everywhere), so the pass says little.

    Examples
    --------
    >>> print(flat_note({"x": np.array([1e-9, -2e-8]), "W": np.ones(2)}, 1e-5))
    right gradients below atol=1e-05 in every entry of x (forward is flat or saturated at this
    point): a pass there says little about backward; check at another x (smaller logits)
    """
    flat = [name for name, v in numerics.items() if v.size and np.max(np.abs(v)) <= atol]
    if not flat:
        return None
    return (
        f"right gradients below atol={atol:g} in every entry of {', '.join(flat)} (forward is flat "
        "or saturated at this point): a pass there says little about backward; check at another "
        "x (smaller logits)"
    )


def failed_check(name: str, shape: tuple[int, ...], note: str) -> Check:
    """A failed Check without numbers (missing gradient, wrong shape), explained by ``note``."""
    nan = float("nan")
    return Check(name, tuple(shape), False, np.inf, np.inf, (), nan, nan, note, excess=np.inf)


def check_settings(where: str, eps: Any, atol: Any, rtol: Any) -> tuple[Any, Any, Any]:
    """Validate eps (> 0), atol and rtol (>= 0); returns them as floats (None stays None: chosen
    later)."""
    for what, value, positive in (("eps", eps, True), ("atol", atol, False), ("rtol", rtol, False)):
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)):
            raise TypeError(f"{where}: {what} must be a real number; got {value!r}")
        if not np.isfinite(value) or value < 0 or (positive and value == 0):
            expected = "a positive finite number" if positive else "a finite number >= 0"
            raise ValueError(f"{where}: {what} must be {expected}; got {value!r}")
    eps, atol, rtol = (None if value is None else float(value) for value in (eps, atol, rtol))
    return eps, atol, rtol


def as_float64(x: Any, where: str) -> np.ndarray:
    """A float64 copy of ``x``, which must be numeric and finite."""
    try:
        complex_values = np.iscomplexobj(x)
        array = np.array(0.0 if complex_values else x, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"{where}: x must be a numeric array; got {x!r}") from None
    if complex_values:  # a cast to float64 would drop the imaginary parts
        raise TypeError(f"{where}: x must be real; got dtype {np.asarray(x).dtype}")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{where}: x must be finite; got non-finite entries in {x!r}")
    return array


def as_output(y: Any, name: str) -> np.ndarray:
    """The forward output as a float64 array; None, a tuple or a non-numeric value is refused."""
    if y is None:
        raise TypeError(
            f"gradcheck: {name}.forward returned None; it must return its output (is a `return` "
            "missing?)"
        )
    if isinstance(y, tuple):
        raise TypeError(
            f"gradcheck: {name}.forward must return one array; got a {type(y).__name__} of "
            f"{len(y)} items"
        )
    if isinstance(y, (np.ndarray, np.generic)) and y.dtype.kind in "biu":
        # a step function of x: its differences are 0 or a jump, never a derivative (and the
        # precision probe took its flat steps for float16 rounding)
        raise TypeError(
            f"gradcheck: {name}.forward must return floats; got dtype {y.dtype}, whose values "
            "change in steps, so central differences say nothing about a gradient (return the "
            "values before they are rounded or cast)"
        )
    try:
        complex_values = np.iscomplexobj(y)
        array = None if complex_values else np.asarray(y, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"gradcheck: {name}.forward must return an array; got {y!r}") from None
    if array is None:  # a cast to float64 would drop the imaginary parts
        raise TypeError(
            f"gradcheck: {name}.forward must return real numbers; got dtype {np.asarray(y).dtype}"
        )
    return array
