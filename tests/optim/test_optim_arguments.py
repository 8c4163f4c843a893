"""What an optimizer is given: the hyperparameters when built, the two dicts in order at each
step."""

from __future__ import annotations

import numpy as np
import pytest

from softgrad import optim
from softgrad.nn import build_mlp
from softgrad.optim import SGD, Adam, AdamW


def _trained_net():
    net = build_mlp(3, [4], 2, rng=0)
    net.backward(net.forward(np.ones((2, 3), dtype=np.float32)))
    return net


@pytest.mark.parametrize("opt", [SGD(lr=0.1), Adam(), AdamW()], ids=repr)
def test_params_and_grads_swapped_are_refused_and_nothing_moves(opt):
    # swapped, the step updated the gradients with the parameters as their gradient
    net = _trained_net()
    params, grads = net.named_params(), net.named_grads()
    before = (params.flat.copy(), grads.flat.copy())
    with pytest.raises(ValueError, match=r"got named_grads\(\) and named_params\(\)"):
        opt.step(grads, params)
    with pytest.raises(ValueError, match=r"got named_params\(\) and named_params\(\)"):
        opt.step(params, params)
    np.testing.assert_array_equal(params.flat, before[0])
    np.testing.assert_array_equal(grads.flat, before[1])


def test_a_plain_dict_given_as_its_own_gradients_is_refused():
    params = {"0.W": np.ones(3)}
    with pytest.raises(ValueError, match="grads must be the gradients; got the params dict"):
        SGD().step(params, params)
    with pytest.raises(ValueError, match=r"grads\['0.W'\] must be the gradient"):
        SGD().step(params, dict(params))
    np.testing.assert_array_equal(params["0.W"], np.ones(3))


@pytest.mark.parametrize("cls", [SGD, Adam, AdamW])
@pytest.mark.parametrize("given", ["network", "dict", "list"])
def test_parameters_given_to_the_constructor_say_where_they_go(cls, given):
    net = build_mlp(3, [4], 2, rng=0)
    first = {"network": net, "dict": net.named_params(), "list": list(net.named_params().values())}
    with pytest.raises(TypeError, match=r"pass them to each step\(net.named_params\(\)"):
        cls(first[given])


@pytest.mark.parametrize(
    "make",
    [
        lambda opt: optim.StepLR(opt, step_size=2),
        lambda opt: optim.ConstantLR(opt, factor=0.5, total_iters=2),
        lambda opt: optim.CosineLR(opt, t_max=3),
        lambda opt: optim.InvScalingLR(opt),
        lambda opt: optim.ReduceLROnPlateau(opt),
        lambda opt: optim.AdaptiveLR(opt),
    ],
)
def test_a_schedule_refuses_a_state_with_keys_it_does_not_know(make):
    # a misspelt key ("last_epochs") loaded silently while the optimizers refuse one
    schedule = make(SGD(lr=0.1))
    state = {**schedule.state_dict(), "last_epochs": 7}
    before = schedule.state_dict()
    with pytest.raises(
        ValueError, match=r"state must hold only 'type' and .*; got \['last_epochs'\]"
    ):
        schedule.load_state_dict(state)
    assert schedule.state_dict() == before


@pytest.mark.parametrize("cls", [Adam, AdamW])
def test_adam_takes_its_betas_as_an_array_of_two(cls):
    assert cls(betas=np.array([0.8, 0.99])).betas == (0.8, 0.99)
    with pytest.raises(TypeError, match="betas must be a pair"):
        cls(betas=np.array([0.8, 0.9, 0.99]))


@pytest.mark.filterwarnings("ignore:the matrix subclass:PendingDeprecationWarning")
@pytest.mark.parametrize("what", ["params", "grads"])
@pytest.mark.parametrize("kind", ["matrix", "masked"])
def test_a_matrix_or_masked_array_is_refused_before_any_update(kernel_lane, what, kind):
    # a square matrix's * is a matrix product: Adam's update came out 0.019 off, no error
    make = {"matrix": np.asmatrix, "masked": np.ma.masked_array}[kind]
    params = {"w": np.eye(3) + 1.0}
    grads = {"w": np.full((3, 3), 0.5)}
    {"params": params, "grads": grads}[what]["w"] = make(
        {"params": params, "grads": grads}[what]["w"]
    )
    before = np.array(params["w"])
    with pytest.raises(
        TypeError,
        match=rf"^Adam\.step: {what}\['w'\] must be a floating-point .*(matrix|MaskedArray)",
    ):
        Adam(lr=0.1).step(params, grads)
    np.testing.assert_array_equal(np.asarray(params["w"]), before)


@pytest.mark.parametrize("make", [AdamW, Adam, SGD])
def test_a_gradient_sharing_memory_with_its_parameter_is_refused(kernel_lane, make):
    # AdamW's decoupled decay moved the parameter, then read its own view as the gradient
    p = np.array([0.3, -0.7, 1.0, -1.2])
    with pytest.raises(ValueError, match=r"grads\['w'\] must not share memory with params\['w'\]"):
        make(lr=0.1).step({"w": p}, {"w": p[::-1]})
    np.testing.assert_array_equal(p, [0.3, -0.7, 1.0, -1.2])
    halves = np.zeros(8)  # side by side in one buffer, not overlapping: taken
    make(lr=0.1).step({"w": halves[:4]}, {"w": halves[4:]})


@pytest.mark.parametrize("make", [AdamW, Adam, SGD])
@pytest.mark.parametrize("shared", ["the same array", "overlapping views"])
def test_parameters_sharing_memory_are_refused_before_any_update(kernel_lane, make, shared):
    # each was updated twice (torch warns and does so): w ended at 0.8 after one step of 0.1
    buffer = np.ones(6)
    if shared == "the same array":
        params = {"a": buffer, "b": buffer}
        message = "are the same array"
    else:
        params = {"a": buffer[:4], "b": buffer[2:]}
        message = "are views of one array that overlap"
    grads = {key: np.ones(value.shape) for key, value in params.items()}
    optimizer = make(lr=0.1)
    with pytest.raises(ValueError) as caught:
        optimizer.step(params, grads)
    assert str(caught.value) == (
        f"{type(optimizer).__name__}.step: params must be apart; params['a'] and params['b'] "
        f"{message}, which each step would update twice"
    )
    np.testing.assert_array_equal(buffer, np.ones(6))
    interleaved = np.zeros(8)  # within one span, no element shared: taken, and again
    apart = {"a": interleaved[::2], "b": interleaved[1::2]}
    for _ in range(2):
        optimizer.step(apart, {key: np.ones(4) for key in apart})
    assert np.all(interleaved == interleaved[0]) and interleaved[0] < 0


def test_the_parameters_are_compared_again_when_they_change():
    optimizer, buffer = SGD(lr=0.1), np.zeros(4)
    optimizer.step({"a": buffer[:2], "b": buffer[2:]}, {"a": np.ones(2), "b": np.ones(2)})
    with pytest.raises(ValueError, match="are views of one array that overlap"):
        optimizer.step({"a": buffer[:3], "b": buffer[2:]}, {"a": np.ones(3), "b": np.ones(2)})


@pytest.mark.parametrize("make", [lambda: SGD(lr=0.1, momentum=0.9), Adam, AdamW])
def test_a_float32_gradient_moves_a_float64_parameter_in_float64(kernel_lane, make):
    grad32 = np.array([0.1, 0.2, 0.3], np.float32)
    a, b = np.array([1.0, 2.0, 3.0]), np.array([1.0, 2.0, 3.0])
    opt_a, opt_b = make(), make()
    for _ in range(3):
        opt_a.step({"w": a}, {"w": grad32})
        opt_b.step({"w": b}, {"w": grad32.astype(np.float64)})  # the same values, in float64
    np.testing.assert_array_equal(a, b)  # the same path: the cast comes first
