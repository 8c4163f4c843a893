"""From a failed check's run to the diagnosis: the evidence for every wrong quantity (the
recognised forward, the tolerance to match mistakes at, the other quantities' right gradients),
handed to :func:`softgrad.gradcheck.diagnosis.diagnose`; and the checks that forward left x,
and backward x, grad_y and forward's output, as they were given."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from softgrad.gradcheck.diagnosis import Probe, diagnose
from softgrad.gradcheck.forward_ops import RECOGNISE_RTOL, recognise, same
from softgrad.gradcheck.hints import problem_advice
from softgrad.gradcheck.mistakes import Evidence
from softgrad.gradcheck.precision import Settings, coarse_advice, match_tolerance
from softgrad.gradcheck.result import Check, SubNodeCheck
from softgrad.gradcheck.runners import FunctionRunner
from softgrad.gradcheck.sub_node_checks import CheckAlone, check_sub_nodes, handed_down
from softgrad.gradcheck.user_objects import NodeRunner

GRAD_Y = "grad_y"  # the check that backward left its argument as it was given
FORWARD_X = "forward_x"  # the check that forward left its argument as it was given
BACKWARD_X = "backward_x"  # the check that backward left forward's argument as forward left it
OUTPUT = "output"  # the check that a node's backward left forward's output as it was returned
# check name -> (diagnosis line, mistake key) for an argument changed in place
IN_PLACE = {
    FORWARD_X: (
        "forward_x: forward changed x in place (x -= x.max(...), x *= ...): it is the caller's "
        "array, the layer below's output, which that layer may keep for its own backward. "
        "Compute into a new array: z = x - x.max(...), not x -= ...",
        "x_modified",
    ),
    BACKWARD_X: (
        "backward_x: backward changed x in place (self.x *= 0, self.x -= ... on the x that "
        "forward kept): it is the caller's array, the layer below's output, which that layer may "
        "keep for its own backward (a sigmoid's or a ReLU's output). Compute into a new array; "
        "to free a cache, rebind it (self.x = None), not self.x *= 0",
        "x_modified",
    ),
    GRAD_Y: (
        "grad_y: backward changed grad_y in place (grad_y *= ..., grad_y -= ...): it is the "
        "caller's array, and whatever reads it afterwards (another branch of the network) gets "
        "the changed numbers. Compute into a new array: grad_x = grad_y * ..., not grad_y *= ...",
        "grad_y_modified",
    ),
    OUTPUT: (
        "output: backward changed in place the array forward returned (self.s *= ..., then "
        "return self.s): it is the caller's array, the probabilities, and whatever reads it "
        "after backward (the accuracy, the predictions, the loss) gets the changed numbers. "
        "Compute into a new array: grad_x = self.s * (...), not self.s *= ...",
        "output_modified",
    ),
}


@dataclass
class Run:
    """One check's quantities: the point, the output, the cotangent and every gradient."""

    x: np.ndarray
    y: np.ndarray
    g: np.ndarray
    target: Any
    raws: dict[str, Any]  # what backward produced, by quantity ("x", "W" ...)
    numerics: dict[str, np.ndarray]  # central differences, by quantity
    problems: dict[str, str]  # what is wrong with a gradient before looking at numbers


def _slopes_agree(right: np.ndarray, numeric: np.ndarray, settings: Settings) -> bool:
    """True when an op's right gradient is the measured one, to the tolerance that recognised
    the op's output (a textbook log(y + 1e-7) moves the slope as much as the value) on top of
    the check's own (a float32 forward's differences)."""
    rtol = max(settings.rtol, RECOGNISE_RTOL)
    return same(right, numeric, atol=settings.atol, rtol=rtol)


def diagnose_run(
    runner: FunctionRunner | NodeRunner,
    run: Run,
    checks: list[Check],
    settings: Settings,
    check_alone: CheckAlone | None = None,
) -> tuple[str | None, tuple[str, ...], tuple[SubNodeCheck, ...]]:
    """Evidence for every failed quantity, handed to :func:`diagnose`; and, for a composite
    whose x and parameters are wrong with no mistake named, its nodes without parameters
    checked alone by ``check_alone`` (:mod:`softgrad.gradcheck.sub_node_checks`), their named
    mistakes added to the keys."""
    op = recognise(run.x, run.y, run.g, run.target)
    numeric = run.numerics.get("x")
    if op is not None and numeric is not None and not _slopes_agree(op.right, numeric, settings):
        # the output matched at this one point only (x**2 and tanh are both 0 at x = 0): a
        # function that is the op has its slope too, and central differences measured it
        op = None
    weights = {k: v.copy() for k, v in runner.params.items() if v.ndim == 2}
    advice = [
        problem_advice(name, problem, run.numerics[name].shape)
        for name, problem in run.problems.items()
    ]
    evidence = []
    for check in checks:
        raw = run.raws.get(check.name)
        if check.ok or check.name in run.problems or check.name in IN_PLACE:
            continue
        if raw is None:
            where = runner.grad_names.get(check.name, "its gradient")
            advice.append(f"{check.name}: backward left no gradient for it; set {where}")
            continue
        if np.asarray(raw).dtype.kind in "biu":  # what the check converted to float64
            advice.append(_integer_advice(check.name, np.asarray(raw).dtype))
        param = runner.params.get(check.name)
        match = match_tolerance(settings, run.numerics[check.name])
        if match is None:
            advice.append(coarse_advice(check.name, settings, run.numerics[check.name]))
        evidence.append(
            Evidence(
                check.name,
                np.asarray(raw, dtype=np.float64),
                run.numerics[check.name],
                run.x,
                np.asarray(run.g),
                op if check.name == "x" else None,
                None if param is None else param.copy(),
                weights,
                match or settings.match,
                nameable=match is not None,
                others={k: v for k, v in run.numerics.items() if k != check.name},
            )
        )

    def vjp(cotangent: Any) -> Any:
        return runner.gradients(run.x.copy(), cotangent)[0]

    probe = Probe(runner.forward, vjp, run.x, run.y, settings.eps, settings.rounding)
    passed = [check.name for check in checks if check.ok]
    text, keys = diagnose(evidence, advice, probe, settings.atol, settings.rtol, passed)
    subs: tuple[SubNodeCheck, ...] = ()
    free, unchecked = _handed_down(runner, checks)
    if not keys and (free or unchecked):
        if check_alone is not None and isinstance(runner, NodeRunner):
            subs = check_sub_nodes(runner, run.x, check_alone)
        later = handed_down(free, subs, unchecked)
        keys = tuple(dict.fromkeys(key for sub in subs for key in sub.mistakes))
        if keys and text:  # the composite's own lines locate what the node's mistake made
            text = f"the composite's own gradients, which that makes wrong: {text}"
        # a mistake named in a node comes first, as every named mistake does
        text = "\n".join(line for line in ((later, text) if keys else (text, later)) if line)
    changed = [IN_PLACE[check.name] for check in checks if check.name in IN_PLACE]
    text = "\n".join(line for line in (*(line for line, _ in changed), text) if line)
    # x_modified once, whether forward or backward changed x (or both: both lines say)
    return text, (*dict.fromkeys(key for _, key in changed), *keys), subs


def _handed_down(
    runner: FunctionRunner | NodeRunner, checks: list[Check]
) -> tuple[list[str], list[str]]:
    """The nodes without parameters of a composite whose x and parameters are wrong with no
    mistake named, and the nodes with parameters it shares with the user's object (their
    parameters were not checked); none otherwise: a right backward of a parameter's node returns
    wrong gradients when a later node hands it a wrong grad_y, and nothing but x checks those."""
    free = getattr(runner, "parameter_free", [])
    unchecked = getattr(runner, "shared_with_parameters", [])
    failed = {check.name for check in checks if not check.ok}
    if not (free or unchecked) or "x" not in failed or not failed & set(runner.params):
        return [], []
    return list(free), list(unchecked)


def _integer_advice(name: str, dtype: np.dtype) -> str:
    """The diagnosis line for a wrong gradient held in integers (or booleans)."""
    where = "backward returned" if name == "x" else "its gradient is"
    return (
        f"{name}: {where} an array of dtype {dtype}: a gradient holds real numbers, which "
        "integers cut off (np.zeros_like of an integer array, an .astype(int), a boolean mask "
        "returned as it is); make it float"
    )
