"""A step, or a schedule's load, that is refused leaves the optimizer, the schedule and the
parameters as they were: the caller fixes the input and goes on from the same state (a refusal
midway kept what it had done before the check, and the next call went on from there)."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from softgrad.optim import SGD, Adam, AdamW, InvScalingLR, StepLR


@pytest.mark.parametrize(
    "make",
    [lambda: SGD(lr=0.1, momentum=0.9), lambda: Adam(lr=0.1), lambda: AdamW(lr=0.1)],
    ids=["SGD", "Adam", "AdamW"],
)
def test_a_step_refused_for_its_last_parameters_state_updates_no_parameter(make):
    # the first two parameters were updated, their moments moved and their steps counted
    # before the third's state (of another shape) was refused
    opt = make()
    params = {name: np.ones(3) for name in "abc"}
    grads = {name: np.full(3, 0.5) for name in "abc"}
    opt.step(params, grads)
    params["c"], grads["c"] = np.ones(4), np.full(4, 0.5)  # the third, of another shape
    before, state = copy.deepcopy(params), copy.deepcopy(opt.state_dict())
    with pytest.raises(ValueError, match=r"state of 'c' must have the parameter's shape \(4,\)"):
        opt.step(params, grads)
    for name in params:
        np.testing.assert_array_equal(params[name], before[name])
    after = opt.state_dict()
    assert after.keys() == state.keys()
    for key, value in state.items():
        np.testing.assert_array_equal(after[key], value, err_msg=key)


@pytest.mark.parametrize(
    ("make", "refused"),
    [
        (lambda opt: StepLR(opt, step_size=1, gamma=1e300), lambda s: s.step()),
        (lambda opt: InvScalingLR(opt, power_t=0.5), lambda s: s.step(t=10**400)),
    ],
    ids=["StepLR", "InvScalingLR"],
)
def test_a_schedule_step_refused_for_its_rate_keeps_its_epoch(make, refused):
    # StepLR(gamma=1e300) went on counting epochs at every refused step; InvScalingLR kept
    # the sample count its rate was refused for
    opt = SGD(lr=1.0)
    schedule = make(opt)
    schedule.step()  # 1e300: still finite
    state, lr = schedule.state_dict(), opt.lr
    for _ in range(2):
        with pytest.raises(ValueError, match=r"the learning rate at epoch \d+ must be finite"):
            refused(schedule)
        assert schedule.state_dict() == state and opt.lr == lr


@pytest.mark.parametrize(
    ("make", "changes"),
    [
        (lambda opt: StepLR(opt, step_size=1, gamma=0.5), {"gamma": 1e300, "last_epoch": 5}),
        (lambda opt: InvScalingLR(opt, power_t=0.5), {"t": 10**400, "last_epoch": 7}),
    ],
    ids=["StepLR", "InvScalingLR"],
)
def test_a_schedule_state_refused_for_its_rate_loads_nothing(make, changes):
    # the state's settings and counters were all in place before its rate was refused
    opt = SGD(lr=1.0)
    schedule = make(opt)
    schedule.step()
    state, lr = schedule.state_dict(), opt.lr
    with pytest.raises(ValueError, match=r"the learning rate at epoch \d+ must be finite"):
        schedule.load_state_dict({**state, **changes})
    assert schedule.state_dict() == state and opt.lr == lr
