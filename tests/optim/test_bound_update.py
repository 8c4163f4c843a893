"""The flat update bound once (Optimizer._bind_update, the kernel seam's bind_sgd_update and
bind_adam_update): bit for bit the optimizer's _update on the same lane, rebound when the lane
or a setting changes, the learning rate read at every step, and a subclass's own _update kept."""

from __future__ import annotations

import numpy as np
import pytest

from softgrad.kernels import registry
from softgrad.kernels.numpy_ops import NumpyOps
from softgrad.nn import Linear, ReLU, Sequential
from softgrad.optim import SGD, Adam, AdamW
from softgrad.optim.optimizer import Optimizer

CONFIGS = [
    (SGD, {"lr": 0.05}),
    (SGD, {"lr": 0.05, "momentum": 0.9}),
    (SGD, {"lr": 0.02, "momentum": 0.8, "nesterov": True, "weight_decay": 0.05}),
    (SGD, {"lr": 0.02, "momentum": 0.8, "nesterov": True, "lr_in_velocity": True}),
    (SGD, {"lr": 0.02, "momentum": 1e-50}),  # rounds to 0 in float32: the plain rule
    (Adam, {"lr": 0.01}),
    (Adam, {"lr": 0.01, "weight_decay": 0.1}),
    (AdamW, {"lr": 0.01, "weight_decay": 0.3}),
    (Adam, {"lr": 0.01, "fold_bias_correction": True}),
]
IDS = [f"{cls.__name__}-{'-'.join(map(str, cfg.values()))}" for cls, cfg in CONFIGS]


def _net(dtype, seed=0):
    return Sequential(
        Linear(96, 64, rng=seed, dtype=dtype), ReLU(), Linear(64, 3, rng=seed + 1, dtype=dtype)
    )


def _run(opt, dtype, steps=8, between=None):
    """``steps`` flat steps of random gradients (the learning rate halved after step 3);
    ``between(opt, step)`` runs after each. Returns the parameters and the optimizer state."""
    net, rng = _net(dtype), np.random.default_rng(1)
    params, grads = net.named_params(), net.named_grads()
    for step in range(1, steps + 1):
        for value in grads.values():
            value[...] = rng.standard_normal(value.shape)
        opt.step(params, grads)
        if step == 3:
            opt.lr = opt.lr / 2  # a schedule: the learning rate is read at every step
        if between is not None:
            between(opt, step)
    return {k: v.copy() for k, v in params.items()}, opt.state_dict()


def _unbound(opt):
    """``opt`` with the base class's binding: its _update called at every step."""
    opt._bind_update = lambda *args: Optimizer._bind_update(opt, *args)
    return opt


def _assert_same(one, other):
    for a, b in zip(one, other, strict=True):
        assert a.keys() == b.keys()
        for key, value in a.items():
            if isinstance(value, np.ndarray):
                np.testing.assert_array_equal(value, b[key], err_msg=key)
            else:
                assert value == b[key], key


@pytest.mark.parametrize(("cls", "config"), CONFIGS, ids=IDS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_bound_update_is_the_optimizer_s_update_bit_for_bit(cls, config, dtype, kernel_lane):
    bound = cls(**config)
    result = _run(bound, dtype)
    assert bound._flat.update is not None
    _assert_same(result, _run(_unbound(cls(**config)), dtype))


@pytest.mark.parametrize("cls", [SGD, Adam])
def test_a_setting_changed_mid_run_is_bound_anew(cls):
    def change(opt, step):
        if step == 4:
            opt.weight_decay = 0.2  # drops the flat state, and with it the bound update

    config = {"lr": 0.05, "momentum": 0.9} if cls is SGD else {"lr": 0.01}
    _assert_same(
        _run(cls(**config), np.float32, between=change),
        _run(_unbound(cls(**config)), np.float32, between=change),
    )


def test_a_lane_chosen_mid_run_is_bound_anew(monkeypatch):
    lanes = []

    def switch(opt, step):
        if step == 4:
            monkeypatch.setattr(registry, "_active", {"ops": NumpyOps()})
        lanes.append(opt._flat.update_ops)

    _run(SGD(lr=0.05, momentum=0.9), np.float32, between=switch)
    # bound on the lane in use at the first step, then on the new one from the step after
    assert all(ops is lanes[0] for ops in lanes[:4])
    assert type(lanes[4]) is NumpyOps and lanes[4] is not lanes[0]
    assert all(ops is lanes[4] for ops in lanes[4:])


def test_a_subclass_with_its_own_update_keeps_it():
    calls = []

    class Traced(SGD):
        def _update(self, param, grad, step, slots, scratch):
            calls.append(step)
            super()._update(param, grad, step, slots, scratch)

    _run(Traced(lr=0.05, momentum=0.9), np.float32, steps=5)
    assert calls == [1, 2, 3, 4, 5]
