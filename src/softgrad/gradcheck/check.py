"""gradcheck: a backward against float64 central differences, with the mistake named."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import numpy as np

from softgrad.gradcheck.diagnosis import forward_not_finite
from softgrad.gradcheck.evidence import BACKWARD_X, FORWARD_X, GRAD_Y, OUTPUT, Run, diagnose_run
from softgrad.gradcheck.finite_differences import central_differences
from softgrad.gradcheck.hints import gradient_problem
from softgrad.gradcheck.precision import (
    input_precision,
    precision_note,
    precision_warning,
    settings_for,
    with_rounding_floor,
)
from softgrad.gradcheck.result import (
    GradcheckResult,
    SubNodeCheck,
    as_float64,
    as_output,
    check_settings,
    compare,
    failed_check,
    flat_note,
)
from softgrad.gradcheck.runners import FunctionRunner
from softgrad.gradcheck.sub_node_checks import CheckAlone
from softgrad.gradcheck.sub_nodes import is_node, is_node_class
from softgrad.gradcheck.user_objects import NodeRunner
from softgrad.nn.layer import Layer, Seed, as_generator
from softgrad.nn.loss import Loss


def gradcheck(
    f: Any,
    x: Any,
    *,
    target: Any = None,
    vjp: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None,
    eps: float | None = None,
    atol: float | None = None,
    rtol: float | None = None,
    rng: Seed = None,
    check_params: bool = True,
    name: str | None = None,
) -> GradcheckResult:
    """Compare analytic gradients with float64 central differences, and name the mistake.

    With a random cotangent g (standard normal, the shape of f's output; 1 for a scalar output)
    the scalar ``phi = sum(g * f(x))`` has gradient ``vjp(g)``; each entry is compared with
    ``(phi(x + eps e_i) - phi(x - eps e_i)) / (2 eps)``, for x and (``check_params``) every
    parameter. When a check fails, the wrong gradient is compared with a table of classic
    mistakes (:mod:`softgrad.gradcheck.mistakes`) and ``result.diagnosis`` names the one that
    reproduces it, with the right formula.

    Parameters
    ----------
    f : Layer, object with forward/backward, or callable
        An object with ``forward(x)`` and ``backward(grad_y)`` (a softgrad layer or network, a
        subclass of Layer, or your own node: no base class needed) is checked through its
        ``backward`` on float64 deep copies (a Layer made float64 by its ``astype``); its
        parameters are found in a ``params``/``grads`` dict pair and in attribute pairs
        ``W``/``dW``, ``W``/``d_W``, ``W``/``grad_W``, on f and on the nodes it holds
        (attributes, lists, tuples and dicts of nodes), each named by its path
        (``"self.out.W"``, ``"self.layers[1].W"``; see
        :mod:`softgrad.gradcheck.user_objects`). f is never modified, nor any node it holds,
        even when f cannot be deep-copied (it holds a lock: only the lock is shared with its
        copies; a node that cannot be copied at all is shared, restored afterwards, and named
        in a note). A plain callable ``f(x) -> y`` must come with ``vjp``.
    x : array_like of shape S
        The point at which to check (finite; converted to float64).
    target : array_like, optional
        A loss's target: ``f.forward(x, target)``. Required for a softgrad loss layer.
    vjp : callable, optional
        For a plain callable: ``vjp(x, g) -> grad_x`` of shape S.
    eps : float, optional
        Finite-difference step. None (the default) chooses it from the precision of forward's
        output: 1e-6 for float64 (and anything but a narrower float), 1e-2 for float32, 0.1 for
        float16 (see :mod:`softgrad.gradcheck.precision`, where the choice was measured); or
        from the precision forward rounds x to, when narrower (``x.astype(np.float32)`` inside
        a forward whose output is float64).
    atol, rtol : float, optional
        An entry passes when ``|analytic - numeric| <= atol + rtol * |numeric|``. None (the
        default) chooses them as eps: 1e-5 and 1e-4 for float64, 5e-3 and 1e-2 for float32,
        0.1 and 0.1 for float16; a chosen atol is raised to the rounding floor of the central
        differences where forward's output is large (a float32 loss near 1e3), with a note.
        Values given are used as they are. A float16 forward's result,
        whatever the settings, carries ``result.warning``: float16 cannot tell a small mistake
        from rounding, so check such a node in float32.
    rng : numpy.random.Generator or int or None
        Source of g. None means a fixed seed (0), so that a report is reproducible. A g nearly
        parallel to x (|cosine| > 0.9: x drawn from the same seed, ``default_rng(0)``) is drawn
        again, since a backward that reads x where grad_y belongs would then pass.
    check_params : bool, default True
        Also check every parameter gradient (``"W"``, ``"b"``; ``"0.W"`` ... for a
        Sequential; ``"self.out.W"`` ... for a node that f holds).
    name : str, optional
        Name shown in the report (default: the class or function name).

    Returns
    -------
    GradcheckResult
        ``.ok``, the worst errors, one Check per quantity (``"x"`` first, then the parameters),
        ``.diagnosis`` (None when ok) and ``.mistakes`` (keys of the named mistakes).

    Raises
    ------
    softgrad.errors.UserCodeError
        The node's own forward or backward (a plain function's f or vjp) raised; the message
        quotes its exception.
    TypeError
        forward returned None (a `return` missing), a tuple or something that is not numbers;
        f is a node's class instead of an object of it; vjp cannot be called as vjp(x, g); a
        node's backward cannot be called as backward(grad_y) (a loss's, of a scalar output, as
        backward(1.0) or backward()).

    Notes
    -----
    Each evaluation runs on a fresh copy, so a node with randomness draws the same numbers every
    time and state kept between forward and backward starts from the same place. The number of
    forward passes is 2 * (x.size + number of parameters): keep the checked shapes small. A
    backward that returns None, a tuple, a list that is not one array of numbers (``[dx, None]``)
    or the wrong shape fails its check with that message; so does a parameter gradient that is not
    an array of numbers. A plain (nested) list of numbers is taken as an array.

    NaN and inf are reported, never matched against the table of mistakes: a forward that is not
    finite at x fails without finite differences (``result.mistakes == ("forward_not_finite",)``);
    a backward that returns NaN or inf, or central differences that are not (forward not finite
    within eps of x), fail with that said (``"backward_not_finite"``,
    ``"differences_not_finite"``). NumPy's floating-point warnings are silenced while the checked
    code runs, since the result reports what they would warn about.

    Where the central differences are too coarse to tell mistakes apart (their rounding floor
    beyond 5% of the largest right entry), no mistake is named; where every right entry of a
    quantity is below atol (a saturated softmax), a note says that a pass says little.

    forward must leave x, and backward x and grad_y, as they were given: the caller's array is
    read again by whatever else needs it. A forward that changes x in place (``x -= x.max(...)``)
    fails an extra check named ``"forward_x"`` (mistake ``"x_modified"``), a backward that
    changes x (through the cache forward kept: ``self.x = x`` then ``self.x *= 0``; a vjp that
    changes its x) one named ``"backward_x"`` (also ``"x_modified"``), a backward that
    changes grad_y (``grad_y *= s``) one named ``"grad_y"`` (``"grad_y_modified"``), and a
    node's backward that changes the array its forward returned (``self.s *= ...; return
    self.s``: the caller's probabilities) one named ``"output"`` (``"output_modified"``), even
    when the gradient is right; these come first in ``result.mistakes``.

    Examples
    --------
    >>> from softgrad.nn import Linear
    >>> result = gradcheck(Linear(3, 2, rng=0), np.ones((4, 3)), rng=0)
    >>> result.ok, [check.name for check in result.checks], result.diagnosis
    (True, ['x', 'W', 'b'], None)
    >>> gradcheck(np.sin, np.array([0.5, 1.0]), vjp=lambda x, g: g * np.cos(x)).ok
    True

    Your own node, with the classic softmax mistake (only the diagonal of the Jacobian):

    >>> class MySoftmax:
    ...     def forward(self, x):
    ...         e = np.exp(x - x.max(axis=-1, keepdims=True))
    ...         self.s = e / e.sum(axis=-1, keepdims=True)
    ...         return self.s
    ...     def backward(self, g):
    ...         return g * self.s * (1 - self.s)
    >>> result = gradcheck(MySoftmax(), np.arange(6.0).reshape(2, 3))
    >>> result.ok, result.mistakes
    (False, ('softmax_diagonal',))
    """
    where = "gradcheck"
    eps, atol, rtol = check_settings(where, eps, atol, rtol)
    x64 = as_float64(x, where)
    g_rng = as_generator(0 if rng is None else rng, where)
    runner = _runner(f, target, vjp, name, check_params, where)
    given = (eps, atol, rtol)

    def check_alone(node: Any, x: np.ndarray, target: Any, name: str) -> GradcheckResult:
        # a composite's node without parameters, alone: the nodes without parameters it holds
        # are the composite's too, each checked alone already, so none is checked again
        alone = _runner(node, target, None, name, check_params, where)
        return _run(alone, as_float64(x, where), target, g_rng, given, None)

    return _run(runner, x64, target, g_rng, given, check_alone)


def _run(
    runner: FunctionRunner | NodeRunner,
    x64: np.ndarray,
    target: Any,
    g_rng: np.random.Generator,
    given: tuple[float | None, float | None, float | None],
    check_alone: CheckAlone | None,
) -> GradcheckResult:
    try:
        with np.errstate(all="ignore"):  # NaN and inf are reported in the result
            return _check(runner, x64, target, g_rng, given, check_alone)
    finally:
        runner.close()


def _runner(
    f: Any, target: Any, vjp: Any, name: str | None, check_params: bool, where: str
) -> FunctionRunner | NodeRunner:
    """The runner for what f is: a softgrad Layer, a node with forward/backward, a function."""
    is_loss = isinstance(f, Loss)
    if is_loss and target is None:
        raise ValueError(f"{where}: target must be given for a loss layer; got None")
    if isinstance(f, Layer) or is_node(f):
        if vjp is not None:
            raise ValueError(f"{where}: vjp must be None for a layer (its backward is checked)")
        if isinstance(f, Layer) and not is_loss and target is not None:
            raise ValueError(
                f"{where}: target must be None unless f is a loss layer; got {target!r}"
            )
        label = name or type(f).__name__
        # a Layer converts itself (astype: a Sequential keeps its parameter store); the
        # arrays it keeps outside params, a user layer's W/dW pair included, as any node's
        return NodeRunner(f, target, label, check_params, as_float64_layer)
    if isinstance(f, type) and (issubclass(f, Layer) or is_node_class(f)):
        raise TypeError(
            f"{where}: f is the class {f.__name__}, not one of its objects; pass an instance: "
            f"gradcheck({f.__name__}(...), x)"
        )
    if not callable(f):
        raise TypeError(
            f"{where}: f must be a Layer, an object with forward(x) and backward(grad_y) methods, "
            f"or a callable with vjp=; got {f!r}"
        )
    if target is not None:
        raise ValueError(f"{where}: target must be None for a plain function; got {target!r}")
    if not callable(vjp):
        raise TypeError(
            f"{where}: vjp must be a callable vjp(x, g) for a plain function; got {vjp!r}"
        )
    check_takes(vjp, 2, f"{where}: vjp is called as vjp(x, g) and must take both")
    check_takes(f, 1, f"{where}: f is called as f(x) and must take one argument")
    label = str(
        name or getattr(f, "__name__", None) or getattr(getattr(f, "func", None), "__name__", "f")
    )
    return FunctionRunner(f, vjp, label)


def check_takes(function: Callable[..., Any], count: int, usage: str) -> None:
    """Refuse a ``function`` that cannot be called with ``count`` positional arguments, the
    message starting with ``usage``; one without a signature (a builtin, a ufunc) passes."""
    try:
        inspect.signature(function).bind(*(None,) * count)
    except TypeError:
        name = getattr(function, "__qualname__", None) or repr(function)
        hint = ""
        if getattr(function, "__name__", None) == "backward" and inspect.ismethod(function):
            owner = type(function.__self__).__name__
            hint = f"; to check your node's backward, pass the node itself: gradcheck({owner}(), x)"
        signature = inspect.signature(function)
        raise TypeError(f"{usage}; {name} takes {signature}{hint}") from None
    except ValueError:  # no signature to read: the call says
        return


# a cotangent within this |cosine| of x is drawn again (REDRAWS times at most): drawn from the
# seed x came from (np.random.default_rng(0) for both: gradcheck's default seed is 0), g would be
# x itself, and a backward that reads x where grad_y belongs would pass
PARALLEL_COSINE = 0.9
REDRAWS = 8


def draw_cotangent(rng: np.random.Generator, y: np.ndarray, x: np.ndarray) -> Any:
    """The cotangent g of a check: standard normal of y's shape (1.0 for a scalar output),
    drawn again from ``rng`` while it is nearly parallel to ``x`` (``PARALLEL_COSINE``)."""
    if not y.ndim:
        return np.float64(1.0)
    g = rng.standard_normal(y.shape)
    norm_x = float(np.linalg.norm(x)) if x.shape == y.shape and x.size > 1 else 0.0
    for _ in range(REDRAWS):
        if norm_x == 0.0 or abs(float(np.vdot(g, x))) <= PARALLEL_COSINE * norm_x * float(
            np.linalg.norm(g)
        ):
            break
        g = rng.standard_normal(y.shape)
    return g


def as_float64_layer(node: Any, top: bool) -> Any:
    """The float64 copy of a softgrad layer in the check (the checked node, ``top``, or one it
    holds): its parameters and gradients converted by ``astype``, which a Sequential needs to
    keep its flat parameter store. A layer inside whose arrays are float64 already is left as
    it is (a Sequential's layers, converted by its astype: a second astype would copy them out
    of its store), and so is any node that is not a softgrad Layer."""
    if not isinstance(node, Layer):
        return node
    arrays = (*node.params.values(), *node.grads.values())
    if top or any(np.asarray(a).dtype != np.float64 for a in arrays):
        return node.astype(np.float64)
    return node


def _check(
    runner: FunctionRunner | NodeRunner,
    x64: np.ndarray,
    target: Any,
    g_rng: np.random.Generator,
    given: tuple[float | None, float | None, float | None],
    check_alone: CheckAlone | None,
) -> GradcheckResult:
    given_x = x64.copy()  # compared with x64 once forward has run
    raw_y = runner.forward(given_x)
    y = as_output(raw_y, runner.name)
    finite = y.size > 0 and bool(np.all(np.isfinite(y)))
    rounds_to = input_precision(runner.forward, x64) if finite else None
    settings = settings_for(raw_y, *given, rounds_to)
    eps, atol, rtol = settings.eps, settings.atol, settings.rtol
    precision = [note] if (note := precision_note(settings, given)) else []
    if y.size == 0:  # phi = sum(g * y) is 0 whatever x: a pass would mean nothing
        precision.append(
            f"forward's output has no entries (shape {y.shape}, at x of shape {x64.shape}): every "
            "right gradient is 0, so a pass shows only that backward returned zeros"
        )
    if not np.all(np.isfinite(y)):  # no gradient to compare: say where and why
        check = failed_check("x", x64.shape, "forward is not finite at x")
        text, key = forward_not_finite(y)
        notes = (*runner.notes, *precision)
        return GradcheckResult(
            runner.name, (check,), 0.0, atol, rtol, text, key, notes, precision_warning(settings)
        )
    g = draw_cotangent(g_rng, y, x64)
    settings, floor_note = with_rounding_floor(settings, y, g, given[1])
    atol = settings.atol
    precision += [floor_note] if floor_note else []
    given_g = g.copy() if y.ndim else 1.0  # compared with g after backward
    raw_x, raw_params = runner.gradients(x64.copy(), given_g)
    notes = (*runner.notes, *precision)  # the runner's, once backward has run

    def phi() -> float:
        return float(np.sum(g * as_output(runner.forward(x64.copy()), runner.name)))

    method = "vjp" if isinstance(runner, FunctionRunner) else "backward"
    problems = {"x": gradient_problem(raw_x, f"{method} returned")}
    for name, raw in raw_params.items():
        if raw is not None:  # a gradient never set is said by compare and _diagnosis
            problems[name] = gradient_problem(raw, f"{runner.grad_names[name]} is")
    found = {name: problem for name, problem in problems.items() if problem}
    run = Run(x64, y, g, target, {"x": raw_x, **raw_params}, {}, found)
    checks = []
    for name, array in {"x": x64, **runner.params}.items():
        run.numerics[name] = central_differences(phi, array, eps)
        if name in run.problems:
            checks.append(failed_check(name, array.shape, run.problems[name]))
        else:
            checks.append(compare(name, run.raws.get(name), run.numerics[name], atol, rtol))
    if not np.array_equal(given_x, x64, equal_nan=True):
        checks.append(failed_check(FORWARD_X, x64.shape, "forward changed x in place"))
    if runner.x_changed:
        checks.append(failed_check(BACKWARD_X, x64.shape, "backward changed x in place"))
    if y.ndim and not np.array_equal(given_g, g):
        checks.append(failed_check(GRAD_Y, g.shape, "backward changed grad_y in place"))
    if runner.output_changed:
        checks.append(failed_check(OUTPUT, y.shape, "backward changed forward's output in place"))
    mistakes: tuple[str, ...] = ()
    diagnosis = None
    subs: tuple[SubNodeCheck, ...] = ()
    if not all(check.ok for check in checks):
        diagnosis, mistakes, subs = diagnose_run(runner, run, checks, settings, check_alone)
    notes += (flat,) if (flat := flat_note(run.numerics, atol)) else ()
    warning = precision_warning(settings)
    return GradcheckResult(
        runner.name, tuple(checks), eps, atol, rtol, diagnosis, mistakes, notes, warning, subs
    )
