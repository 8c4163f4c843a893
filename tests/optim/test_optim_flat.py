"""The optimizer step over a packed Sequential (softgrad.optim.flat): one update, same results."""

from __future__ import annotations

import numpy as np
import pytest

from softgrad.nn import Linear, ReLU, Sequential
from softgrad.optim import SGD, Adam, AdamW

CONFIGS = [
    (SGD, {"lr": 0.05}),
    (SGD, {"lr": 0.05, "momentum": 0.9}),
    (SGD, {"lr": 0.02, "momentum": 0.8, "nesterov": True, "weight_decay": 0.05}),
    (Adam, {"lr": 0.01}),
    (Adam, {"lr": 0.01, "weight_decay": 0.1}),
    (AdamW, {"lr": 0.01, "weight_decay": 0.3}),
]
IDS = [f"{cls.__name__}-{'-'.join(map(str, cfg.values()))}" for cls, cfg in CONFIGS]


def _net(seed=0):
    # 96 x 64 = 6,144 weights (BLAS on the per-array path too), a small bias and output layer
    return Sequential(
        Linear(96, 64, rng=seed, dtype=np.float64),
        ReLU(),
        Linear(64, 3, rng=seed + 1, dtype=np.float64),
    )


def _grads(net, rng):
    return {k: rng.standard_normal(v.shape) for k, v in net.named_params().items()}


def _run(opt, net, grad_seq, packed):
    """Step ``opt`` through ``grad_seq`` on the packed dicts, or on plain copies of them."""
    params, grads = net.named_params(), net.named_grads()
    if not packed:
        params, grads = dict(params), dict(grads)
    for step_grads in grad_seq:
        for key, value in step_grads.items():
            grads[key][...] = value
        opt.step(params, grads)
    return params


@pytest.mark.parametrize(("cls", "config"), CONFIGS, ids=IDS)
def test_the_flat_update_is_the_per_array_update(cls, config):
    rng = np.random.default_rng(0)
    grad_seq = [_grads(_net(), rng) for _ in range(12)]
    flat_opt, plain_opt = cls(**config), cls(**config)
    flat = _run(flat_opt, _net(), grad_seq, packed=True)
    plain = _run(plain_opt, _net(), grad_seq, packed=False)
    assert flat_opt._flat is not None and plain_opt._flat is None
    for key in plain:  # BLAS may fuse a multiply-add that NumPy rounds twice
        np.testing.assert_allclose(flat[key], plain[key], rtol=1e-13, atol=1e-15, err_msg=key)
    flat_state, plain_state = flat_opt.state_dict(), plain_opt.state_dict()
    assert flat_state.keys() == plain_state.keys()
    for key, value in plain_state.items():
        if isinstance(value, np.ndarray):
            np.testing.assert_allclose(flat_state[key], value, rtol=1e-13, atol=1e-15, err_msg=key)
        else:
            assert flat_state[key] == value, key


@pytest.mark.parametrize(("cls", "config"), CONFIGS, ids=IDS)
def test_the_state_is_views_of_flat_buffers_and_the_gaps_stay_zero(cls, config):
    net, opt = _net(), cls(**config)
    _run(opt, net, [_grads(net, np.random.default_rng(1)) for _ in range(3)], packed=True)
    params = net.named_params()
    covered = np.zeros(params.flat.size, dtype=bool)
    base = params.flat.__array_interface__["data"][0]
    for value in params.values():
        start = (value.__array_interface__["data"][0] - base) // value.itemsize
        covered[start : start + value.size] = True
    assert not covered.all()  # the layout has gaps (alignment)
    assert not params.flat[~covered].any()
    for name, flat in opt._flat.slots.items():
        assert not flat[~covered].any()
        for key in params:
            assert opt._slots[key][name].base is flat


@pytest.mark.parametrize(("cls", "config"), CONFIGS, ids=IDS)
def test_resuming_a_packed_run_is_bit_identical(cls, config):
    rng = np.random.default_rng(2)
    grad_seq = [_grads(_net(), rng) for _ in range(10)]
    straight = _run(cls(**config), _net(), grad_seq, packed=True)

    net, first = _net(), cls(**config)
    _run(first, net, grad_seq[:4], packed=True)
    resumed_net = _net(seed=7)
    for key, value in net.named_params().items():
        resumed_net.named_params()[key][...] = value
    second = cls(**config)
    second.load_state_dict(first.state_dict())
    resumed = _run(second, resumed_net, grad_seq[4:], packed=True)
    assert second._flat is not None
    for key in straight:
        np.testing.assert_array_equal(resumed[key], straight[key], err_msg=key)


def test_a_state_from_the_per_array_path_carries_over():
    rng = np.random.default_rng(3)
    grad_seq = [_grads(_net(), rng) for _ in range(8)]
    reference = _run(Adam(lr=0.01), _net(), grad_seq, packed=False)
    net, opt = _net(), Adam(lr=0.01)
    _run(opt, net, grad_seq[:3], packed=False)  # per array first
    mixed = _run(opt, net, grad_seq[3:], packed=True)  # then flat, from that state
    assert opt._flat is not None
    for key in reference:
        np.testing.assert_allclose(mixed[key], reference[key], rtol=1e-13, atol=1e-15)


def test_parameters_at_different_steps_go_array_by_array():
    rng = np.random.default_rng(4)
    net, opt = _net(), SGD(lr=0.1, momentum=0.9)
    params, grads = net.named_params(), net.named_grads()
    grads["0.W"][...] = 1.0
    opt.step({"0.W": params["0.W"]}, {"0.W": grads["0.W"]})  # one key ahead of the others
    _run(opt, net, [_grads(net, rng)], packed=True)
    assert opt._flat is None
    assert opt.state_dict()["step.0.W"] == 2 and opt.state_dict()["step.2.b"] == 1


def test_a_network_unpacked_mid_run_continues_array_by_array():
    rng = np.random.default_rng(5)
    grad_seq = [_grads(_net(), rng) for _ in range(6)]
    reference = _run(SGD(lr=0.05, momentum=0.9), _net(), grad_seq, packed=False)
    net, opt = _net(), SGD(lr=0.05, momentum=0.9)
    _run(opt, net, grad_seq[:3], packed=True)
    net.layers[2].params["b"] = net.layers[2].params["b"].copy()  # no longer the packed view
    assert type(net.named_params()) is dict
    result = _run(opt, net, grad_seq[3:], packed=True)
    for key in reference:
        np.testing.assert_allclose(result[key], reference[key], rtol=1e-13, atol=1e-15)
