"""softgrad under a caller's ``np.seterr(all="raise")``: an exp, product or cast that underflows
to 0 is the right answer in the softmax calculus, so it raises nothing, on either kernel lane
(compiled kernels raise no NumPy flags: ``softmax([0, -800])`` raised FloatingPointError on the
NumPy lane and not on the Numba one). Overflow and invalid operations still reach the caller."""

from __future__ import annotations

import numpy as np
import pytest

import softgrad
from softgrad import functional as F
from softgrad import nn, optim

WIDE = np.array([[0.0, -800.0, 3.0], [1.0, -1000.0, 0.0]])
TARGET = np.array([2, 0])


@pytest.fixture
def raising():
    """Every NumPy floating-point flag raises, as a strict caller sets it."""
    with np.errstate(all="raise"):
        yield


CALLS = {
    "softmax": lambda x: F.softmax(x),
    "log_softmax": lambda x: F.log_softmax(x),
    "logsumexp": lambda x: F.logsumexp(x, axis=-1),
    "softmax_vjp": lambda x: F.softmax_vjp(F.softmax(x), np.ones_like(x)),
    "softmax_jvp": lambda x: F.softmax_jvp(F.softmax(x), np.ones_like(x)),
    "log_softmax_vjp": lambda x: F.log_softmax_vjp(F.log_softmax(x), np.ones_like(x)),
    "log_softmax_jvp": lambda x: F.log_softmax_jvp(F.log_softmax(x), np.ones_like(x)),
    "softmax_jacobian": lambda x: F.softmax_jacobian(x),
    "log_softmax_jacobian": lambda x: F.log_softmax_jacobian(x),
    "cross_entropy": lambda x: F.cross_entropy(x, TARGET, label_smoothing=0.1),
    "cross_entropy_grad": lambda x: F.cross_entropy_grad(x, TARGET),
    "nll_loss": lambda x: F.nll_loss(F.log_softmax(x), TARGET, reduction="none"),
    "sigmoid": lambda x: F.sigmoid(x),
    # the smallest normal gradient, whose products underflow (1e-300 underflowed in the cast to
    # float32 itself, which NumPy 1.x raises under the test's errstate, before the call)
    "sigmoid_vjp": lambda x: F.sigmoid_vjp(F.sigmoid(x), np.full_like(x, np.finfo(x.dtype).tiny)),
    "CrossEntropyLoss": lambda x: _loss_round_trip(nn.CrossEntropyLoss(), x, TARGET),
    "LogisticLoss": lambda x: _loss_round_trip(nn.LogisticLoss(), x[:, :1], TARGET[:, None] % 2),
}


def _loss_round_trip(loss, x, target):
    return loss.forward(x, target), loss.backward()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", list(CALLS))
def test_an_underflow_is_no_error(kernel_lane, name, dtype):
    x = WIDE.astype(dtype)
    expected = CALLS[name](x)
    with np.errstate(all="raise"):
        got = CALLS[name](x)
    pairs = zip(got, expected, strict=True) if isinstance(got, tuple) else [(got, expected)]
    for a, b in pairs:
        np.testing.assert_array_equal(a, b)  # the same path, on the same machine


def test_a_network_trains_and_predicts_with_tiny_values(kernel_lane, raising, rng):
    # products of tiny inputs and weights underflow in the matmul itself
    X = (rng.standard_normal((32, 6)) * 1e-30).astype(np.float32)
    y = np.arange(32) % 3
    net = nn.Sequential(nn.Linear(6, 8, rng=0), nn.Tanh(), nn.Linear(8, 3, rng=1))
    loss = nn.CrossEntropyLoss()
    value = loss.forward(net.forward(X), y)
    net.backward(loss.backward())
    assert np.isfinite(value)
    softgrad.fit(net, loss, optim.Adam(lr=1e-3), X, y, epochs=2, batch_size=8, rng=0)
    assert softgrad.training.predict_proba(net, X).shape == (32, 3)


OPTIMIZERS = {
    "SGD": lambda: optim.SGD(lr=0.1, momentum=0.9, nesterov=True, weight_decay=1e-4),
    "Adam": lambda: optim.Adam(lr=1e-3),
    "AdamW": lambda: optim.AdamW(lr=1e-3, weight_decay=1e-2),
}


@pytest.mark.parametrize("packed", [False, True], ids=["plain dicts", "a Sequential's store"])
@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_an_optimizer_step_on_tiny_gradients_is_no_error(kernel_lane, name, packed):
    # Adam squares a gradient of 1e-30: 0 in float32, the right second moment. Called outside
    # fit (the README's own loop), the step raised FloatingPointError on the NumPy lane only
    def tiny_step():
        if packed:
            net = nn.Sequential(nn.Linear(4, 3, rng=0))
            params, grads = net.named_params(), net.named_grads()
        else:
            params = {"W": np.ones((4, 3), np.float32), "b": np.ones(3, np.float32)}
            grads = {key: np.empty_like(value) for key, value in params.items()}
        for grad in grads.values():
            grad[...] = 1e-30
        opt = OPTIMIZERS[name]()
        for _ in range(2):
            opt.step(params, grads)
        return {key: value.copy() for key, value in params.items()}

    expected = tiny_step()
    with np.errstate(all="raise"):
        got = tiny_step()
    for key in expected:
        np.testing.assert_array_equal(got[key], expected[key])  # the same path, same machine


def test_the_callers_setting_is_left_as_it_was(kernel_lane, raising):
    F.softmax(WIDE)
    nn.CrossEntropyLoss().forward(WIDE, TARGET)
    assert np.geterr() == {"divide": "raise", "over": "raise", "under": "raise", "invalid": "raise"}


def test_an_overflow_still_reaches_a_caller_who_asked(raising):
    # softgrad's own guards are on underflow only where it is the right answer: a caller's
    # product that overflows is still theirs to hear of
    with pytest.raises(FloatingPointError, match="overflow"):
        np.float32(3e38) * np.float32(10)
