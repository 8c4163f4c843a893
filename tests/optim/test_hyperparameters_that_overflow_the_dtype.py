"""Issue 12: a hyperparameter that is a finite Python float but overflows the parameters' dtype
(lr=1e308 for float32) is refused by name, with its value and the dtype's limit, before any
update; never run as inf, never reported as 'got inf'."""

from __future__ import annotations

import math
import pickle
import warnings

import numpy as np
import pytest

from softgrad.nn import Linear, Sequential, build_mlp
from softgrad.optim import SGD, Adam, AdamW, CosineLR, StepLR


def _params(dtype):
    return {"0.W": np.ones(3, dtype=dtype)}, {"0.W": np.full(3, 0.5, dtype=dtype)}


@pytest.mark.parametrize(
    ("make", "what", "value"),
    [
        (lambda: Adam(lr=1e308), "lr", "1e+308"),
        (lambda: SGD(lr=1e308), "lr", "1e+308"),
        (lambda: AdamW(lr=1e39), "lr", "1e+39"),
        (lambda: SGD(lr=0.1, momentum=1e300), "momentum", "1e+300"),
        (lambda: SGD(lr=0.1, weight_decay=1e39), "weight_decay", "1e+39"),
        (lambda: Adam(eps=1e300), "eps", "1e+300"),
        (lambda: Adam(weight_decay=1e39), "weight_decay", "1e+39"),
        # what the update derives: AdamW's decay factor, Adam's step size lr / (1 - beta1**t)
        (lambda: AdamW(lr=1e20, weight_decay=1e20), "lr * weight_decay (1e+20 * 1e+20)", "1e+40"),
        (lambda: Adam(lr=1e37, betas=(0.99, 0.999)), "lr / (1 - betas[0])", None),
    ],
)
@pytest.mark.parametrize("packed", [False, True], ids=["dicts", "store"])
def test_a_hyperparameter_overflowing_float32_is_named_with_its_value_and_the_limit(
    make, what, value, packed
):
    opt = make()
    if packed:
        net = build_mlp(3, [4], 2, rng=0)
        params, grads = net.named_params(), net.named_grads()
    else:
        params, grads = _params(np.float32)
    before = {key: p.copy() for key, p in params.items()}
    with pytest.raises(ValueError) as info:
        opt.step(params, grads)
    message = str(info.value)
    assert message.startswith(f"{type(opt).__name__}.step: {what}")
    if value is not None:
        assert f"={value} overflows float32 (max 3.4e+38)" in message
    assert "float64" in message and "got inf" not in message
    for key, p in params.items():  # refused before any update
        np.testing.assert_array_equal(p, before[key])


def test_the_same_hyperparameter_trains_float64_parameters():
    params, grads = _params(np.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        SGD(lr=1e300).step(params, grads)
    np.testing.assert_array_equal(params["0.W"], 1.0 - 0.5e300)


def test_a_derived_scalar_beyond_float64_is_refused_too():
    params, grads = _params(np.float64)
    with pytest.raises(ValueError, match=r"lr / \(1 - betas\[0\]\).*=inf overflows float64"):
        Adam(lr=1e308).step(params, grads)


def test_an_lr_set_later_is_checked_at_the_next_step():
    opt = SGD(lr=0.1)
    params, grads = _params(np.float32)
    opt.step(params, grads)
    opt.lr = 1e39
    with pytest.raises(ValueError, match=r"SGD.step: lr=1e\+39 overflows float32"):
        opt.step(params, grads)
    opt.lr = 0.1
    opt.step(params, grads)  # fits again


def test_check_dtype_checks_before_training_with_the_callers_words():
    with pytest.raises(ValueError, match=r"^train: lr=1e\+308 overflows float32.*--dtype$"):
        SGD(lr=1e308).check_dtype("float32", "train", " --dtype")
    SGD(lr=1e308).check_dtype(np.float64)


def test_a_restored_state_is_checked_against_the_dtype_again():
    opt = SGD(lr=0.1)
    params, grads = _params(np.float32)
    opt.step(params, grads)
    state = {**opt.state_dict(), "lr": 1e39}
    opt.load_state_dict(state)
    with pytest.raises(ValueError, match="lr=1e\\+39 overflows float32"):
        opt.step(params, grads)


def test_an_optimizer_pickled_before_the_check_still_steps():
    opt = SGD(lr=0.1)
    old = pickle.loads(pickle.dumps(opt))
    del old.__dict__["_fits"]
    params, grads = _params(np.float32)
    old.step(params, grads)
    np.testing.assert_array_equal(params["0.W"], np.float32(1.0) - np.float32(0.05))


@pytest.mark.parametrize(
    "make",
    [
        lambda opt: StepLR(opt, step_size=1, gamma=1e300),
        lambda opt: StepLR(opt, step_size=1, gamma=1e200),  # gamma ** 2 raises OverflowError
    ],
)
def test_a_schedule_whose_rate_overflows_names_itself_not_inf(make):
    schedule = make(SGD(lr=1e100))
    with pytest.raises(ValueError) as info:
        for _ in range(3):
            schedule.step()
    message = str(info.value)
    assert message.startswith("StepLR: the learning rate at epoch")
    assert "gamma=" in message and "got inf" not in message


def test_cosine_from_an_lr_near_the_float_maximum_stays_finite():
    opt = SGD(lr=1e308)
    schedule = CosineLR(opt, t_max=4)
    schedule.step()
    assert opt.lr == 1e308 * ((1.0 + math.cos(math.pi / 4)) / 2.0)  # CosineLR's own formula
    CosineLR(SGD(lr=0.1), t_max=4, eta_min=1e308).step()  # climbs towards eta_min, finite


@pytest.mark.parametrize("cls", [Adam, AdamW])
@pytest.mark.parametrize("lane", ["dicts", "store"])
def test_an_eps_that_rounds_to_zero_in_float16_is_refused_before_any_update(cls, lane):
    # eps=1e-8 is 0 in float16: a weight whose gradient was 0 became 0 / 0 = NaN on step 1
    net = Sequential(Linear(3, 2, rng=0, dtype=np.float16))
    params, grads = net.named_params(), net.named_grads()
    if lane == "dicts":
        params, grads = dict(params), dict(grads)
    before = {key: value.copy() for key, value in params.items()}
    with pytest.raises(ValueError, match=r"eps must be at least 6e-08 in float16.*got 1e-08"):
        cls().step(params, grads)
    for key, value in params.items():
        np.testing.assert_array_equal(value, before[key])
    cls(eps=1e-7).step(params, grads)  # the smallest float16 above 0 is 6e-8: this one trains
    # scikit-learn's placement adds eps to sqrt(v) as given too: refused alike
    with pytest.raises(ValueError, match=r"eps must be at least 6e-08 in float16.*got 1e-08"):
        cls(fold_bias_correction=True).step(params, grads)
    assert all(np.isfinite(value).all() for value in params.values())
