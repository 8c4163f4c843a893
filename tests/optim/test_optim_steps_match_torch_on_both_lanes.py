"""Optimizer steps on a network's parameter store against torch.optim, on both kernel lanes, in
float32 and float64, with gradients holding zeros, subnormals and values of 1e4.

Tolerance: a float64 replay of torch's formulas carries, entry by entry, a first-order bound on
how far an implementation rounding in the dtype may be from the exact trajectory (each rounded
operation adds eps times the size of its result; errors already made are carried with the
update's derivatives: momentum scales the buffer's, Adam's step m / (sqrt(v) + eps) takes
dm / den and |m| dv / (2 sqrt(v) den^2)). Two implementations within the bound differ by at
most twice it.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from softgrad.nn import Linear, ReLU, Sequential
from softgrad.optim import SGD, Adam, AdamW

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.oracle

CONFIGS = [
    ("SGD", {"lr": 0.1}),
    ("SGD", {"lr": 0.05, "momentum": 0.9, "weight_decay": 0.01}),
    ("SGD", {"lr": 0.02, "momentum": 0.8, "nesterov": True}),
    ("SGD", {"lr": 0.02, "momentum": 0.5, "nesterov": True, "weight_decay": 0.1}),
    ("Adam", {"lr": 0.01}),
    ("Adam", {"lr": 0.003, "betas": (0.5, 0.9), "eps": 1e-3, "weight_decay": 0.1}),
    ("AdamW", {"lr": 0.01, "weight_decay": 0.3}),
    ("AdamW", {"lr": 0.001, "betas": (0.0, 0.99), "eps": 1e-12, "weight_decay": 0.01}),
]


def draw_gradient(rng, shape, dtype):
    """Normal values times 1, 1e4 or a subnormal, a fifth of them exactly 0."""
    scale = rng.choice([1.0, 1e4, float(np.finfo(dtype).smallest_normal) / 64], size=shape)
    g = (scale * rng.standard_normal(shape)).astype(dtype)
    g[rng.random(shape) < 0.2] = 0
    return g


class Replay:
    """torch's rule replayed in float64, with a first-order rounding bound on every entry."""

    def __init__(self, name, config, w, dtype):
        self.name, self.config, self.t = name, config, 0
        self.u, self.eta = float(np.finfo(dtype).eps), float(np.finfo(dtype).smallest_subnormal)
        self.w, self.bw = w.astype(np.float64), np.zeros(w.shape)
        self.m, self.bm, self.v, self.bv = (np.zeros(w.shape) for _ in range(4))

    def step(self, g):
        c, u, eta = self.config, self.u, self.eta
        lr, decay = c["lr"], c.get("weight_decay", 0.0)
        g = g.astype(np.float64)
        self.t += 1
        if self.name == "AdamW":  # W *= 1 - lr * weight_decay, then the plain gradient
            self.w, self.bw = self.w * (1 - lr * decay), self.bw + 2 * u * np.abs(self.w) + eta
            decay = 0.0
        gb = decay * self.bw + 2 * u * (np.abs(g) + decay * np.abs(self.w))
        g = g + decay * self.w
        if self.name == "SGD":
            d, db = self._sgd_direction(g, gb)
            step, sb = lr * d, lr * db + u * lr * np.abs(d)
        else:
            step, sb = self._adam_step(g, gb)
        self.w = self.w - step
        self.bw = self.bw + sb + 2 * u * (np.abs(self.w) + np.abs(step)) + eta

    def _sgd_direction(self, g, gb):
        c, u, momentum = self.config, self.u, self.config.get("momentum", 0.0)
        if momentum == 0.0:
            return g, gb
        first = self.t == 1
        self.bm = (
            gb
            if first
            else momentum * self.bm + gb + 2 * u * (momentum * np.abs(self.m) + np.abs(g))
        )
        self.m = g if first else momentum * self.m + g
        if not c.get("nesterov", False):
            return self.m, self.bm
        return g + momentum * self.m, gb + momentum * self.bm + 2 * u * (
            np.abs(g) + momentum * np.abs(self.m)
        )

    def _adam_step(self, g, gb):
        c, u, eta, t = self.config, self.u, self.eta, self.t
        beta1, beta2 = c.get("betas", (0.9, 0.999))
        eps = c.get("eps", 1e-8)
        self.bm = (
            beta1 * self.bm + (1 - beta1) * gb + 4 * u * (beta1 * np.abs(self.m) + np.abs(g)) + eta
        )
        self.m = beta1 * self.m + (1 - beta1) * g
        self.bv = (
            beta2 * self.bv
            + 2 * (1 - beta2) * np.abs(g) * gb
            + 5 * u * (beta2 * self.v + g * g)
            + eta
        )
        self.v = beta2 * self.v + (1 - beta2) * g * g
        root2 = math.sqrt(1 - beta2**t)
        den = np.sqrt(self.v) / root2 + eps
        # sqrt is 1/2-Hoelder at 0: a v within bv of 0 moves sqrt(v) by up to sqrt(bv)
        rootb = np.minimum(self.bv / (2 * np.sqrt(np.maximum(self.v, 1e-300))), np.sqrt(self.bv))
        denb = rootb / root2 + 4 * u * den
        step = lr_t = c["lr"] / (1 - beta1**t)
        with np.errstate(divide="ignore", invalid="ignore"):
            step = np.where(den > 0, lr_t * self.m / den, 0.0)
            sb = lr_t * np.where(den > 0, self.bm / den + np.abs(self.m) * denb / den**2, np.inf)
        return step, np.where(self.m == 0, 0.0, sb) + 8 * u * np.abs(step)


def network(dtype, rng):
    """A Sequential whose store holds a weight, a bias and a bias-less layer's weight."""
    net = Sequential(
        Linear(40, 30, rng=rng, dtype=dtype),
        ReLU(),
        Linear(30, 5, bias=False, rng=rng, dtype=dtype),
    )
    net.params["0.b"][...] = rng.standard_normal(30)
    return net


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(("name", "config"), CONFIGS, ids=str)
def test_steps_on_the_store_match_torch(name, config, dtype, kernel_lane):
    rng = np.random.default_rng(17)
    net = network(dtype, rng)
    params, grads = net.named_params(), net.named_grads()
    leaves = {key: torch.tensor(value.copy(), requires_grad=True) for key, value in params.items()}
    replays = {key: Replay(name, config, value, dtype) for key, value in params.items()}
    opt = {"SGD": SGD, "Adam": Adam, "AdamW": AdamW}[name](**config)
    ref = getattr(torch.optim, name)(list(leaves.values()), **config)
    for step in range(6):
        for key, leaf in leaves.items():
            grads[key][...] = draw_gradient(rng, grads[key].shape, dtype)
            leaf.grad = torch.tensor(grads[key].copy())
            replays[key].step(grads[key])
        opt.step(params, grads)
        ref.step()
        for key, leaf in leaves.items():
            actual, expected = params[key].astype(np.float64), leaf.detach().numpy()
            error, allowed = np.abs(actual - expected), 2 * replays[key].bw
            assert actual.dtype == np.float64 and params[key].dtype == dtype
            bad = ~(error <= allowed)
            at = np.unravel_index(np.argmax(bad), bad.shape)
            assert not bad.any(), (
                f"{name} {config} step {step} {key}{list(at)}: softgrad {actual[at]!r} != torch "
                f"{expected[at]!r}, |difference| {error[at]:.3g} > 2 * bound {allowed[at]:.3g}"
            )
