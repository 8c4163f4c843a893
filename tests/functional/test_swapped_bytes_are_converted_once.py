"""An array in the other byte order (a big-endian file's float32 rows, '>f4') is converted to the
machine's order once, as NumPy's ufuncs return it: it was kept as given, so that every kernel
pass read swapped bytes (the compiled lane takes native arrays alone and passed the call on),
at 1.5-3x the call's time, and the result came back in the swapped order too."""

from __future__ import annotations

import numpy as np
import pytest

import softgrad.functional as F

CALLS = {
    "softmax": lambda x, g, y: F.softmax(x),
    "log_softmax": lambda x, g, y: F.log_softmax(x),
    "logsumexp": lambda x, g, y: F.logsumexp(x, axis=-1),
    "softmax_vjp": lambda x, g, y: F.softmax_vjp(F.softmax(x), g),
    "log_softmax_vjp": lambda x, g, y: F.log_softmax_vjp(F.log_softmax(x), g),
    "cross_entropy": lambda x, g, y: np.asarray(F.cross_entropy(x, y, reduction="none")),
    "relu": lambda x, g, y: F.relu(x),
    "tanh_vjp": lambda x, g, y: F.tanh_vjp(F.tanh(x), g),
}


@pytest.mark.parametrize("name", CALLS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_swapped_bytes_give_the_native_result_in_native_order(name, dtype, kernel_lane, rng):
    x = (rng.normal(size=(300, 12)) * 3).astype(dtype)
    g = rng.normal(size=(300, 12)).astype(dtype)
    y = rng.integers(0, 12, 300)
    swapped = np.dtype(dtype).newbyteorder("S")
    native = CALLS[name](x, g, y)
    got = CALLS[name](x.astype(swapped), g.astype(swapped), y)
    assert got.dtype == native.dtype and got.dtype.isnative
    np.testing.assert_array_equal(got, native)


@pytest.mark.parametrize("name", ["softmax", "log_softmax", "relu", "tanh", "sigmoid"])
def test_a_swapped_array_may_be_its_own_out(name, kernel_lane, rng):
    # converted to the machine's order, x no longer had out's dtype: out=x was refused
    x = (rng.normal(size=(30, 7)) * 3).astype(np.float32)
    expected = getattr(F, name)(x)
    swapped = x.astype(">f4")
    got = getattr(F, name)(swapped, out=swapped)
    assert got is swapped
    np.testing.assert_array_equal(got.astype(np.float32), expected)


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
@pytest.mark.parametrize(
    "name", ["softmax_vjp", "log_softmax_vjp", "softmax_jvp", "relu_vjp", "sigmoid_vjp"]
)
def test_a_swapped_cotangent_may_be_its_own_out(name, dtype, kernel_lane, rng):
    x = (rng.normal(size=(30, 7)) * 3).astype(dtype)
    y = (
        F.log_softmax if name.startswith("log") else F.sigmoid if "sigmoid" in name else F.softmax
    )(x)
    g = rng.normal(size=x.shape).astype(dtype)
    expected = getattr(F, name)(y, g)
    swapped = g.astype(np.dtype(dtype).newbyteorder("S"))
    got = getattr(F, name)(y, swapped, out=swapped)
    assert got is swapped
    np.testing.assert_array_equal(got.astype(dtype), expected)


def test_the_logistic_loss_takes_logits_as_every_layer_does(kernel_lane):
    from softgrad.nn import LogisticLoss

    y = np.array([1, 0, 1])
    loss = LogisticLoss()
    expected = loss.forward(np.array([[2.0], [-1.0], [0.0]]), y)
    for given in (np.array([[2], [-1], [0]]), [[2], [-1], [0]]):  # integers: as float64
        assert loss.forward(given, y) == expected and loss.backward().dtype == np.float64
    for bad, dtype in (
        (np.zeros((3, 1), np.longdouble), "float128"),
        (np.zeros((3, 1), complex), "complex128"),
    ):
        with pytest.raises(
            TypeError,
            match=rf"^LogisticLoss.forward: logits must be a real array .*; got dtype '{dtype}'",
        ):
            loss.forward(bad, y)


def test_the_logistic_loss_reads_a_swapped_array_in_native_order(kernel_lane, rng):
    # its forward took the logits as given: its buffers and gradient came back swapped
    from softgrad.nn import LogisticLoss

    logits = rng.normal(size=(50, 1))
    y = rng.integers(0, 2, 50)
    loss = LogisticLoss()
    expected, expected_grad = loss.forward(logits, y), loss.backward()
    got = loss.forward(logits.astype(">f8"), y)
    grad = loss.backward()
    assert got == expected and grad.dtype.isnative
    np.testing.assert_array_equal(grad, expected_grad)
