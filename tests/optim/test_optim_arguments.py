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
