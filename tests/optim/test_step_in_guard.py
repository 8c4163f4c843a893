"""fit's untrusted training steps call the optimizer through ``step_in_guard``: Optimizer's own
step without its underflow guard (fit already ignores underflow; the second errstate cost
1.2 us a step), and a step a subclass or the instance replaced, as it is."""

from __future__ import annotations

import numpy as np
import pytest

from softgrad import nn, optim
from softgrad.optim.optimizer import step_in_guard
from softgrad.training import fit


def _data(rng):
    return rng.standard_normal((48, 4)).astype(np.float32), np.arange(48) % 3


@pytest.mark.parametrize("make", [lambda: optim.SGD(lr=0.1, momentum=0.9), optim.Adam])
def test_the_unguarded_step_is_the_step(rng, make):
    nets = [nn.Sequential(nn.Linear(4, 3, rng=0)) for _ in range(2)]
    opts = [make(), make()]
    for _ in range(3):
        grads = rng.standard_normal((3, 3)).astype(np.float32)  # W's rows 0..2, and b
        for net in nets:
            net.named_grads()["0.W"][:3] = grads
            net.named_grads()["0.b"][...] = grads[0]
        opts[0].step(nets[0].named_params(), nets[0].named_grads())
        step_in_guard(opts[1], nets[1].named_params(), nets[1].named_grads())
    for key, value in nets[0].named_params().items():
        np.testing.assert_array_equal(value, nets[1].named_params()[key])  # same path


def test_a_step_replaced_on_the_class_or_the_instance_is_the_one_fit_calls(rng):
    X, y = _data(rng)
    calls = []

    class Counted(optim.Adam):
        def step(self, params, grads):
            calls.append("class")
            super().step(params, grads)

    net = nn.Sequential(nn.Linear(4, 3, rng=0))
    # sample weights: the untrusted step, which calls the optimizer's step
    weights = np.ones(len(y))
    fit(
        net,
        nn.CrossEntropyLoss(),
        Counted(),
        X,
        y,
        epochs=1,
        batch_size=16,
        rng=0,
        sample_weight=weights,
    )
    assert calls == ["class"] * 3
    opt = optim.Adam()
    plain = opt.step
    opt.step = lambda params, grads: (calls.append("instance"), plain(params, grads))
    fit(
        net, nn.CrossEntropyLoss(), opt, X, y, epochs=1, batch_size=16, rng=0, sample_weight=weights
    )
    assert calls[3:] == ["instance"] * 3
