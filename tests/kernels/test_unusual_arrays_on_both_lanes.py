"""Arrays a user hands over that the Numba lane's kernels are not compiled for, or that
overlap: each lane gives the NumPy reference's answer, or both refuse by name. The Numba lane
crashed with a typing error, or computed silently wrong, on each case below."""

from __future__ import annotations

import numpy as np
import pytest

from softgrad import functional as F
from softgrad import nn
from softgrad.kernels import get_ops

# np.matrix is what a user may hand over; NumPy warns at each one made
pytestmark = pytest.mark.filterwarnings("ignore:the matrix subclass:PendingDeprecationWarning")

VJPS = [
    (F.relu_vjp, lambda y, g: np.where(y > 0, g, 0)),
    (F.tanh_vjp, lambda y, g: g * (1 - y**2)),
    (F.sigmoid_vjp, lambda y, g: g * y * (1 - y)),
]


@pytest.mark.parametrize(("vjp", "reference"), VJPS, ids=["relu", "tanh", "sigmoid"])
@pytest.mark.parametrize("overlapped", ["g", "y"])
def test_an_out_that_partly_overlaps_an_input_gets_the_right_vjp(
    kernel_lane, vjp, reference, overlapped
):
    # out one element further on in the same buffer: the kernel wrote what it read next
    rng = np.random.default_rng(1)
    y0, g0 = rng.uniform(-1, 1, (2, 3)), rng.standard_normal((2, 3))
    buffer = np.zeros(7)
    shared = buffer[:6].reshape(2, 3)
    shared[:] = g0 if overlapped == "g" else y0
    y, g = (y0, shared) if overlapped == "g" else (shared, g0)
    got = vjp(y, g, out=buffer[1:].reshape(2, 3))
    np.testing.assert_allclose(got, reference(y0, g0), rtol=4 * np.finfo(np.float64).eps)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_a_read_only_cotangent_gets_the_softmax_vjp(kernel_lane, dtype):
    rng = np.random.default_rng(2)
    s = F.softmax(rng.standard_normal((4, 5)).astype(dtype))
    g = rng.standard_normal((4, 5)).astype(dtype)
    expected = s * (g - (s * g).sum(axis=-1, keepdims=True))
    read_only = g.copy()
    read_only.setflags(write=False)
    tol = 8 * float(np.finfo(dtype).eps)
    np.testing.assert_allclose(F.softmax_vjp(s, read_only), expected, rtol=tol, atol=tol)
    row = np.broadcast_to(g[0], g.shape)
    row_expected = s * (row - (s * row).sum(axis=-1, keepdims=True))
    np.testing.assert_allclose(F.softmax_jvp(s, row), row_expected, rtol=tol, atol=tol)
    layer = nn.Softmax()
    layer.forward(np.log(s))
    np.testing.assert_allclose(layer.backward(read_only), expected, rtol=tol, atol=tol)


@pytest.mark.parametrize("in_place", [False, True], ids=["apart", "in place"])
def test_a_read_only_cotangent_takes_the_compiled_vjp(monkeypatch, in_place):
    # a read-only g (a memmap opened 'r') went to the NumPy lane, at 2.4-3x the call's time:
    # the kernel was typed to write g where out is g, in a branch it did not take
    pytest.importorskip("numba")
    from softgrad.kernels.activations import ActivationKernels
    from softgrad.kernels.numba_ops import NumbaOps

    def numpy_lane(self, s, g, out):
        raise AssertionError("the call went to the NumPy lane")

    rng = np.random.default_rng(4)
    s = F.softmax(rng.standard_normal((64, 10)))
    g = rng.standard_normal((64, 10))
    expected = s * (g - (s * g).sum(axis=-1, keepdims=True))
    ops = NumbaOps()
    monkeypatch.setattr(ActivationKernels, "softmax_vjp_rows", numpy_lane)
    if in_place:  # the in-place branch still writes out (g's memory)
        out = ops.softmax_vjp(s, g, out=g)
    else:
        g.setflags(write=False)
        out = ops.softmax_vjp(s, g)
    np.testing.assert_allclose(out, expected, rtol=8 * np.finfo(np.float64).eps, atol=1e-16)


@pytest.mark.parametrize("bias", [">f4", "matrix", "float64"])
def test_the_bias_kernel_takes_a_bias_it_was_not_compiled_for(kernel_lane, bias):
    rng = np.random.default_rng(3)
    y = rng.standard_normal((5, 4)).astype(np.float32)
    b = rng.standard_normal(4).astype(np.float32)
    given = {">f4": b.astype(">f4"), "matrix": np.asmatrix(b), "float64": b.astype(np.float64)}
    expected = np.maximum(y + given[bias], 0).astype(np.float32).reshape(y.shape)
    out = get_ops().bias_activation(y.copy(), given[bias], "relu")
    np.testing.assert_allclose(out, expected, rtol=4 * float(np.finfo(np.float32).eps))


@pytest.mark.parametrize("order", [">i8", ">i4", "<i2"])
def test_class_indices_of_another_byte_order_train_the_fused_loss(kernel_lane, order):
    rng = np.random.default_rng(4)
    logits = rng.standard_normal((6, 3)).astype(np.float32)
    target = np.array([0, 2, 1, 2, 0, 1])
    expected = nn.CrossEntropyLoss().forward_backward(logits, target)
    got = nn.CrossEntropyLoss().forward_backward(logits, target.astype(order))
    assert got.loss == expected.loss
    np.testing.assert_array_equal(got.grad, expected.grad)


def test_a_masked_array_is_refused_not_read_without_its_mask(kernel_lane):
    # np.asarray dropped the mask: the hidden 1e4 took all the probability
    x = np.ma.masked_array([[1.0, 2.0, 1e4]], mask=[[0, 0, 1]])
    for where, name, call in (
        ("softmax", "x", lambda: F.softmax(x)),
        ("cross_entropy", "logits", lambda: F.cross_entropy(x, [0])),
        ("logsumexp", "x", lambda: F.logsumexp(x)),
    ):
        with pytest.raises(
            TypeError, match=rf"^{where}: {name} must not be a masked array .*where=~{name}\.mask"
        ):
            call()
    np.testing.assert_allclose(
        F.softmax(x.data, where=~x.mask), [[0.2689414213699951, 0.7310585786300049, 0.0]]
    )


@pytest.mark.parametrize("kind", ["matrix", "masked"])
def test_an_out_that_is_a_matrix_or_masked_array_is_refused_untouched(kernel_lane, kind):
    rng = np.random.default_rng(5)
    x = rng.standard_normal((6, 4)).astype(np.float32)
    s = F.softmax(x)
    make = {"matrix": np.asmatrix, "masked": np.ma.masked_array}[kind]
    for name, call in (
        ("cross_entropy_grad", lambda out: F.cross_entropy_grad(x, np.arange(6) % 4, out=out)),
        ("softmax_vjp", lambda out: F.softmax_vjp(s, x, out=out)),
        ("sigmoid_vjp", lambda out: F.sigmoid_vjp(s, x, out=out)),
    ):
        out = make(np.zeros((6, 4), np.float32))
        with pytest.raises(TypeError, match=rf"^{name}: out must be a numpy\.ndarray or None"):
            call(out)
        assert not np.asarray(out).any()
