"""The table of known wrong backwards, each a small function that computes what that mistake
would return from the same forward quantities (x, the output s, the cotangent g, the parameters).

A failed quantity is compared with every prediction of every :class:`Mistake` in
:data:`MISTAKES`; :func:`matching_mistakes` returns those that reproduce the user's gradient. A
mistake may *supersede* a more generic one that necessarily matches as well (a gradient missing
the 1/N of a mean loss is also "off by a factor N"), so that each wrong backward is named once.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np

from softgrad.gradcheck.factors import factor_name, readable_factor
from softgrad.gradcheck.forward_ops import SAME_ATOL, SAME_RTOL, Op, same


@dataclass(frozen=True)
class Evidence:
    """Everything the table may look at for one checked quantity.

    Attributes
    ----------
    name : str
        ``"x"`` for the input gradient, else the parameter's name (``"W"``, ``"b"``).
    analytic : ndarray
        What the user's backward produced (any shape: a shape mistake is evidence too).
    numeric : ndarray
        The right gradient, from central differences.
    x : ndarray
        The checked point (float64).
    g : ndarray
        The cotangent (of the output's shape; 1.0 for a scalar loss).
    op : Op or None
        The recognised forward function (softmax, log-softmax, sigmoid, tanh, cross-entropy).
    param : ndarray or None
        The parameter's value (None for x).
    weights : mapping of str to ndarray
        Every 2-d parameter, by name (for an input gradient written with W where W.T belongs).
    match : tuple of float
        ``(atol, rtol)`` within which two gradients are the same (:meth:`same`): float64
        rounding, or the check's tolerance for a forward in float32 or float16.
    nameable : bool
        False where central differences are too coarse to tell mistakes apart
        (:func:`softgrad.gradcheck.precision.match_tolerance`): no mistake is matched.
    others : mapping of str to ndarray
        The right gradients (central differences) of the other checked quantities, by name.
    """

    name: str
    analytic: np.ndarray
    numeric: np.ndarray
    x: np.ndarray
    g: np.ndarray
    op: Op | None = None
    param: np.ndarray | None = None
    weights: Mapping[str, np.ndarray] = field(default_factory=dict)
    match: tuple[float, float] = (SAME_ATOL, SAME_RTOL)
    nameable: bool = True
    others: Mapping[str, np.ndarray] = field(default_factory=dict)

    def same(self, a: np.ndarray, b: np.ndarray) -> bool:
        """True when the gradients a and b agree to this evidence's precision."""
        return same(a, b, *self.match)

    @property
    def n_samples(self) -> int:
        """N: the length of the batch axis (:meth:`axis_name`; 1 for a 1-d x)."""
        return self.x.shape[self._batch_axis()] if self.x.ndim >= 2 else 1

    def _batch_axis(self) -> int:
        # the first axis that does not hold the classes (those of the recognised softmax, else
        # the last axis)
        return 1 if self.op is not None and self.op.axis == 0 else 0

    def axis_name(self, axis: int | None) -> str:
        """``"axis 0 (the batch)"``, ``"axis -1 (the classes)"``, ``"every axis"``: the
        classes lie along the recognised softmax's axis (the last one without it), the batch
        along the first other axis."""
        if axis is None:
            return "every axis (one total)"
        ndim = self.x.ndim
        classes = ndim - 1 if self.op is None else self.op.axis
        batch = None if ndim < 2 else self._batch_axis()
        shown = axis - ndim if axis == ndim - 1 else axis
        role = "the classes" if axis == classes else "the batch" if axis == batch else ""
        return f"axis {shown} ({role})" if role else f"axis {shown}"


# what a mistaken backward returns, and how it was written
Prediction = tuple[np.ndarray, str]


@dataclass(frozen=True)
class Mistake:
    """One known wrong backward.

    Attributes
    ----------
    key : str
        Stable identifier (``"softmax_diagonal"``), listed in ``GradcheckResult.mistakes``.
    title : str
        What went wrong, in a few words.
    predict : callable
        ``predict(evidence) -> list of (array, formula)``: what this mistake would return, or
        an empty list when it cannot apply (another forward, another kind of quantity).
    supersedes : tuple of str
        Keys of generic mistakes that match whenever this one does.
    """

    key: str
    title: str
    predict: Callable[[Evidence], list[Prediction]]
    supersedes: tuple[str, ...] = ()


def gradient_of(name: str) -> str:
    """How a parameter's gradient is called: ``"dW"`` for a plain name, ``"the gradient of
    self.out.W"`` for a path (``"dself.out.W"`` reads as nothing)."""
    return f"d{name}" if name.isidentifier() else f"the gradient of {name}"


# the ops whose x holds classes along their axis
_CLASSES = ("softmax", "log_softmax", "cross_entropy")


def _on_x(ev: Evidence, *names: str) -> Op | None:
    """The recognised op of an input gradient, if it is one of ``names``; else None."""
    if ev.name == "x" and ev.op is not None and ev.op.name in names:
        return ev.op
    return None


def _softmax_diagonal(ev: Evidence) -> list[Prediction]:
    op = _on_x(ev, "softmax")
    if op is None:
        return []
    s, g = op.s, ev.g
    return [(g * s * (1 - s), "g * s * (1 - s)")]


def _log_softmax_diagonal(ev: Evidence) -> list[Prediction]:
    op = _on_x(ev, "log_softmax")
    if op is None:
        return []
    return [(ev.g * (1 - op.s), "g * (1 - s), s = exp(y)")]


def _log_softmax_as_softmax(ev: Evidence) -> list[Prediction]:
    op = _on_x(ev, "log_softmax")
    if op is None:
        return []
    s, g, axis = op.s, ev.g, op.axis
    return [(s * (g - np.sum(g * s, axis=axis, keepdims=True)), "s * (g - sum(g * s))")]


def _log_for_probabilities(ev: Evidence) -> list[Prediction]:
    op = _on_x(ev, "log_softmax")
    if op is None:
        return []
    g, axis = ev.g, op.axis
    with np.errstate(divide="ignore"):
        y = np.log(op.s)
    return [(g - y * np.sum(g, axis=axis, keepdims=True), "g - y * sum(g), with y = log(s)")]


def _jacobian_untransposed(ev: Evidence) -> list[Prediction]:
    op = _on_x(ev, "log_softmax")
    if op is None:  # the softmax's Jacobian is symmetric: J g is J^T g
        return []
    s, g, axis = op.s, ev.g, op.axis
    return [(g - np.sum(g * s, axis=axis, keepdims=True), "g - sum(g * s), which is J g")]


def _input_for_output(ev: Evidence) -> list[Prediction]:
    op = _on_x(ev, "softmax", "sigmoid", "tanh")
    if op is None:
        return []
    x, g = ev.x, ev.g
    if op.name == "tanh":
        return [(g * (1 - x**2), "g * (1 - x**2)")]
    diagonal = (g * x * (1 - x), "g * x * (1 - x)")
    if op.name == "sigmoid":
        return [diagonal]
    axis = op.axis
    full = x * (g - np.sum(g * x, axis=axis, keepdims=True))
    return [(full, "x * (g - sum(g * x)), with x where s belongs"), diagonal]


def _wrong_axis(ev: Evidence) -> list[Prediction]:
    if (op := _on_x(ev, "softmax")) is not None:
        s, g, right = op.s, ev.g, op.axis
        axes = [a for a in range(ev.x.ndim) if a != right] + [None]
        return [
            (
                s * (g - np.sum(g * s, axis=a, keepdims=True)),
                f"sum(g * s) over {ev.axis_name(a)} instead of {ev.axis_name(right)}",
            )
            for a in axes
        ]
    if (op := _on_x(ev, "log_softmax")) is not None:
        s, g, right = op.s, ev.g, op.axis
        axes = [a for a in range(ev.x.ndim) if a != right] + [None]
        return [
            (
                g - s * np.sum(g, axis=a, keepdims=True),
                f"sum(g) over {ev.axis_name(a)} instead of {ev.axis_name(right)}",
            )
            for a in axes
        ]
    if _is_bias(ev):
        return [
            (np.sum(ev.g, axis=-1), "grad_y summed over axis -1 (the features)"),
            (np.sum(ev.g, axis=-1, keepdims=True), "grad_y summed over axis -1 (the features)"),
        ]
    return []


def _is_bias(ev: Evidence) -> bool:
    """The parameter is added to every row of the output: its gradient is g summed over rows."""
    if ev.param is None or ev.g.ndim < 2 or ev.param.size != ev.g.shape[-1]:
        return False
    summed = np.sum(ev.g, axis=tuple(range(ev.g.ndim - 1)))
    return ev.same(ev.numeric, summed.reshape(ev.numeric.shape))


def _bias_not_summed(ev: Evidence) -> list[Prediction]:
    return [(ev.g, "grad_y itself, one row per sample")] if _is_bias(ev) else []


def _transposed_weight(ev: Evidence) -> list[Prediction]:
    if ev.param is not None:
        if ev.param.ndim == 2:
            return [
                (
                    ev.numeric.T,
                    f"the transpose of {gradient_of(ev.name)}, shape {ev.numeric.T.shape}",
                )
            ]
        return []
    if ev.name != "x" or ev.g.ndim != 2 or ev.x.ndim != 2:
        return []
    predictions = []
    for name, w in ev.weights.items():
        # y = x @ W  gives grad_x = g @ W.T;  y = x @ W.T  gives grad_x = g @ W
        for right, wrong, formula in ((w.T, w, f"g @ {name}"), (w, w.T, f"g @ {name}.T")):
            if ev.g.shape[1] == right.shape[0] == wrong.shape[0]:
                if ev.same(ev.numeric, ev.g @ right):
                    predictions.append((ev.g @ wrong, f"{formula}, with {name} transposed"))
    return predictions


def _ce_missing_mean(ev: Evidence) -> list[Prediction]:
    op = _on_x(ev, "cross_entropy")
    if op is None or op.sum_grad is None:  # a cross-entropy's op always has it
        return []
    return [(op.sum_grad, "softmax(x) - onehot(target), without the 1/N of the mean")]


def _ce_mean_twice(ev: Evidence) -> list[Prediction]:
    op = _on_x(ev, "cross_entropy")
    if op is None:
        return []
    n = op.n_rows
    return [(op.right / n, f"(softmax(x) - onehot(target)) / N / N, N = {n}")]


def _target_indexing(ev: Evidence) -> list[Prediction]:
    op = _on_x(ev, "cross_entropy")
    if op is None or op.target is None or ev.x.ndim != 2:
        return []
    s, y, scale = op.s, op.target, float(ev.g) / op.n_rows
    columns = np.zeros_like(s)
    columns[:, np.unique(y)] = 1.0  # what d[:, y] -= 1 subtracts: column y of every row
    return [
        (
            scale * (s - columns),
            "d[:, y] -= 1, which takes 1 from column y of every row, where "
            "d[np.arange(N), y] -= 1 belongs",
        ),
        (
            scale * (s - y[:, None]),
            "softmax(x) - y[:, None], the class indices where their one-hot rows belong",
        ),
    ]


def _wrong_argument(ev: Evidence) -> list[Prediction]:
    predictions = [
        (right, f"the gradient with respect to {name}, not {ev.name}")
        for name, right in ev.others.items()
        if right.shape == ev.numeric.shape
    ]
    op = _on_x(ev, "cross_entropy")
    if op is not None and op.sum_grad is not None and ev.g.ndim == 0:
        # d loss / d softmax(x): -target / (N * p), where backward owes d loss / d x
        p, target = op.s, op.s - op.sum_grad / float(ev.g)
        with np.errstate(divide="ignore", invalid="ignore"):
            probs = -target / (op.n_rows * p)
        if np.all(np.isfinite(probs)):
            formula = "-onehot(target) / (N * softmax(x)), with respect to the probabilities"
            predictions.append((float(ev.g) * probs, f"{formula}, not the logits x"))
    return predictions


def _sign_flipped(ev: Evidence) -> list[Prediction]:
    predictions = [(-ev.numeric, "minus the right gradient")]
    # the differences' own rounding can move every entry the same way (a log-softmax of logits
    # near 1e3): -numeric then misses the user's -right by more than the match, where the
    # fitted factor, -1 to its precision, does not (it was named "-1 times the right gradient")
    fitted = _fitted_factor(ev)
    if fitted is not None and abs(fitted[0] + 1.0) <= fitted[1]:
        predictions.append((fitted[0] * ev.numeric, "minus the right gradient"))
    return predictions


# "all zeros" is what backward returns, not what a float32 check's tolerance cannot tell from
# zero: the gradient a tenth of the right one (1.7e-3 against atol=5e-3) matched it
ZERO_FRACTION = 1e-3


def _zero(ev: Evidence) -> list[Prediction]:
    top = float(np.max(np.abs(ev.numeric), initial=0.0))
    if float(np.max(np.abs(ev.analytic), initial=0.0)) > ZERO_FRACTION * top:
        return []
    return [(np.zeros_like(ev.numeric), "all zeros")]


def _one_magnitude(ev: Evidence) -> bool:
    """Whether the entries of the right gradient that matter at the evidence's precision (the
    others match any factor's) all have one magnitude, or there is at most one."""
    magnitudes = np.abs(ev.numeric).ravel()
    atol, rtol = ev.match
    largest = float(magnitudes.max()) if magnitudes.size else 0.0
    magnitudes = magnitudes[magnitudes > atol + rtol * largest]
    return magnitudes.size <= 1 or float(np.ptp(magnitudes)) <= atol + rtol * largest


def _fitted_factor(ev: Evidence) -> tuple[float, float] | None:
    """``(factor, rtol)``: the least-squares factor from the right gradient to the user's, and
    how well it is known (the fit's residual, relative: the differences' rounding, about 1e-5
    with a float32 forward), from 1e-6 (float64) to 1e-3; None where there is none to fit."""
    if ev.analytic.shape != ev.numeric.shape:
        return None
    if not (np.isfinite(ev.analytic).all() and np.isfinite(ev.numeric).all()):
        return None  # NaN or inf: no factor to fit
    norm = float(np.sum(ev.numeric * ev.numeric))
    if norm == 0.0 or not np.isfinite(norm):
        return None
    factor = float(np.sum(ev.analytic * ev.numeric)) / norm
    if abs(factor) < 1e-9 or not np.isfinite(factor):
        return None
    residual = float(np.linalg.norm(ev.analytic - factor * ev.numeric))
    return factor, min(1e-3, max(1e-6, residual / (abs(factor) * norm**0.5)))


def _constant_factor(ev: Evidence) -> list[Prediction]:
    fitted = _fitted_factor(ev)
    if fitted is None:
        return []
    factor, rtol = fitted
    n = ev.n_samples
    # x holds classes only in a recognised softmax or cross-entropy (along its axis): elsewhere
    # (a Linear's features, a weight gradient) a factor of its size is no mistake with classes
    op = ev.op if ev.op is not None and ev.op.name in _CLASSES else None
    classes = op is not None
    c = ev.x.shape[op.axis] if op is not None and ev.x.ndim else 1
    # the entries of x a mean over them all divides by (a mean squared error's N * C), named
    # where x holds no classes (a softmax's or cross-entropy's mean is over its rows)
    entries = ev.x.size if ev.name == "x" and not classes else 1
    if op is not None and op.name == "cross_entropy" and ev.name == "x" and ev.x.ndim >= 3:
        rows = _rows_divisor(ev, factor, rtol)
        if rows is not None:  # a mean over some of the rows' axes: N is no single axis here
            return [(factor * ev.numeric, rows)]
    name = factor_name(factor, n, c, rtol, entries)
    if _one_magnitude(ev) and not readable_factor(factor, n, c, rtol, entries):
        # one entry, or entries of one size (softmax + cross-entropy at one sample of 2
        # classes: [a, -a]), are always some multiple of the right ones: 0.623 says nothing,
        # 2 or 1/N does
        return []
    cause = {
        "(= N,": "; a 1/N (a mean over the batch) is missing",
        "(= 1/N,": "; divided by N once too often",
        "(= E,": "; a 1/E (a mean over every entry, as a mean squared error's) is missing",
        "(= 1/E,": "; divided by the entries E once too often",
    }
    why = next((text for label, text in cause.items() if label in name), "")
    return [(factor * ev.numeric, f"{name} times the right gradient{why}")]


def _rows_divisor(ev: Evidence, factor: float, rtol: float) -> str | None:
    """For a cross-entropy over x of 3 or more axes, whose mean is over all its rows (every axis
    but the classes: B * T of a sequence), a factor that comes from dividing by the length of
    some of those axes only (the batch B): ``"5 times the right gradient: it divides by 4
    (axis 0's length) where the mean over all N = 20 rows of x (4 x 5, every axis but the
    classes) divides by 20"``."""
    assert ev.op is not None  # a cross-entropy's (the caller's test)
    lead, n_rows = ev.x.shape[:-1], ev.op.n_rows
    divisor = n_rows / factor
    for mask in range(1, 2 ** len(lead) - 1):  # the proper, non-empty sets of the rows' axes
        axes = [i for i in range(len(lead)) if mask >> i & 1]
        lengths = [lead[i] for i in axes]
        size = int(np.prod(lengths))
        if size == n_rows or abs(divisor - size) > rtol * size:
            continue
        named = (
            f"axis {axes[0]}'s length"
            if len(axes) == 1
            else f"the lengths of axes {', '.join(map(str, axes))}: "
            + " x ".join(map(str, lengths))
        )
        return (
            f"{factor_name(factor, 1, 1, rtol)} times the right gradient: it divides by "
            f"{size} ({named}) where the mean over all N = {n_rows} {rows_of(ev.x)} divides by "
            f"{n_rows}"
        )
    return None


def rows_of(x: np.ndarray) -> str:
    """``"rows of x (4 x 5, every axis but the classes)"``: what a cross-entropy's N counts."""
    return f"rows of x ({' x '.join(map(str, x.shape[:-1]))}, every axis but the classes)"


MISTAKES: tuple[Mistake, ...] = (
    Mistake("softmax_diagonal", "the softmax Jacobian reduced to its diagonal", _softmax_diagonal),
    Mistake(
        "log_softmax_diagonal",
        "the log-softmax Jacobian reduced to its diagonal",
        _log_softmax_diagonal,
    ),
    Mistake(
        "log_softmax_as_softmax",
        "the softmax's backward where the log-softmax's belongs",
        _log_softmax_as_softmax,
    ),
    Mistake(
        "log_for_probabilities",
        "the output y = log(s) written where the probabilities s = exp(y) belong",
        _log_for_probabilities,
    ),
    Mistake(
        "jacobian_untransposed",
        "the Jacobian applied untransposed (J g where backward owes J^T g)",
        _jacobian_untransposed,
    ),
    Mistake(
        "input_for_output",
        "the derivative written with the input x where the output s belongs",
        _input_for_output,
    ),
    Mistake("wrong_axis", "summed over the wrong axis", _wrong_axis),
    Mistake("transposed_weight", "a weight or weight gradient transposed", _transposed_weight),
    Mistake(
        "ce_missing_mean",
        "the softmax + cross-entropy gradient is missing its 1/N",
        _ce_missing_mean,
        supersedes=("constant_factor",),
    ),
    Mistake(
        "ce_mean_twice",
        "the softmax + cross-entropy gradient is divided by N twice",
        _ce_mean_twice,
        supersedes=("constant_factor",),
    ),
    Mistake(
        "target_indexing",
        "the one-hot targets subtracted wrongly",
        _target_indexing,
        supersedes=("constant_factor",),
    ),
    Mistake("bias_not_summed", "the bias gradient not summed over the batch", _bias_not_summed),
    Mistake("wrong_argument", "the gradient with respect to another argument", _wrong_argument),
    Mistake("sign_flipped", "the sign is flipped", _sign_flipped, supersedes=("constant_factor",)),
    Mistake("zero_gradient", "the gradient is zero", _zero, supersedes=("constant_factor",)),
    Mistake("constant_factor", "off by a constant factor", _constant_factor),
)


def reproduces(ev: Evidence, predicted: np.ndarray) -> bool:
    """True when ``predicted`` is the user's gradient and is not the right one."""
    return ev.same(ev.analytic, predicted) and not ev.same(ev.numeric, predicted)


def exact_for_another_forward(ev: Evidence) -> bool:
    """True when the user's gradient is the exact gradient of the recognised forward function
    (softmax, sigmoid, tanh, softmax + cross-entropy) and the central differences of their
    forward are not: forward computes something slightly else (``log(y + 1e-7)``, a clip)."""
    return ev.op is not None and ev.same(ev.analytic, ev.op.right)


def matching_mistakes(ev: Evidence) -> list[tuple[Mistake, str]]:
    """The mistakes of :data:`MISTAKES` that reproduce ``ev.analytic``, with the formula each
    reads as, after dropping those superseded by a more specific match.

    Examples
    --------
    >>> x = np.array([[0.5, -1.0, 2.0]])
    >>> ev = Evidence("x", -2 * x, 2 * x, x, np.ones((1, 3)))  # backward of x**2 with a minus
    >>> [(mistake.key, formula) for mistake, formula in matching_mistakes(ev)]
    [('sign_flipped', 'minus the right gradient')]
    """
    found: dict[str, tuple[Mistake, str]] = {}
    # a gradient that is the recognised forward's exact one makes no backward mistake (at one
    # sample, a missing 1/N is none): its forward is what differs (exact_for_another_forward)
    if not ev.nameable or exact_for_another_forward(ev):
        return []
    for mistake in MISTAKES:
        for predicted, formula in mistake.predict(ev):
            if reproduces(ev, predicted):
                found.setdefault(mistake.key, (mistake, formula))
    superseded = {key for mistake, _ in found.values() for key in mistake.supersedes}
    return [found[key] for key in found if key not in superseded]
