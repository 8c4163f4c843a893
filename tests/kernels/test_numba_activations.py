"""The Numba lane's bias + activation and activation VJPs against the NumPy lane
(softgrad.functional's relu/tanh/sigmoid and their VJPs from the output)."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("numba", reason="the Numba lane needs numba (pip install numba)")

from softgrad import functional as F
from softgrad.kernels import numba_activations
from softgrad.kernels.numba_ops import NumbaOps
from softgrad.kernels.numba_threads import PARALLEL_MIN

OPS = NumbaOps()
# the NumPy side of every comparison runs on the NumPy lane, whatever the default
pytestmark = pytest.mark.usefixtures("numpy_lane")
DTYPES = [np.float32, np.float64]
# (N, H): serial and threaded loops, the training step's 128 x 100 hidden layer
SHAPES = [(0, 100), (1, 1), (5, 3), (128, 100), (512, 256)]
FORWARD = {
    "identity": lambda x: x,
    "relu": F.relu,
    "tanh": F.tanh,
    "sigmoid": F.sigmoid,
}
# activation -> (NumPy lane, Numba lane) VJP from the output
BACKWARD = {
    "relu": (F.relu_vjp, OPS.relu_vjp),
    "tanh": (F.tanh_vjp, OPS.tanh_vjp),
    "sigmoid": (F.sigmoid_vjp, OPS.sigmoid_vjp),
}
# roundings: the bias add, and numba_math's tanh / exp (1 ulp), which may differ from NumPy's
# (1 ulp for tanh, 3 for exp in float32) in opposite directions
N_OPS = 4
SPECIAL = [np.inf, -np.inf, np.nan, -0.0, 0.0, 1e4, -1e4, 88.0, -88.0, 20.0]


def _inputs(rng, shape, dtype, special):
    y = (rng.standard_normal(shape) * 3).astype(dtype)
    b = rng.standard_normal(shape[1]).astype(dtype)
    if special and y.size >= len(SPECIAL):
        y.ravel()[: len(SPECIAL)] = SPECIAL
    return y, b


@pytest.mark.parametrize("special", [False, True], ids=["finite", "special"])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("activation", list(FORWARD))
def test_bias_activation_matches_the_numpy_lane(activation, shape, dtype, special, rng, agree):
    y, b = _inputs(rng, shape, dtype, special)
    expected = FORWARD[activation](y + b)
    out = OPS.bias_activation(y, b, activation)
    assert out is y  # in place
    agree(y, expected, N_OPS, f"{activation}(y + b)")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
def test_the_identity_is_np_adds_bias_add_bit_for_bit(shape, dtype, rng):
    # Linear's forward adds its bias with this kernel (nn.linear._forward_rows): one rounding,
    # the very one of np.add, special values and the sign of zeros included
    y, b = _inputs(rng, shape, dtype, special=True)
    if y.size:
        b[: min(2, b.size)] = [-0.0, np.inf][: min(2, b.size)]
    with np.errstate(invalid="ignore"):  # inf + -inf is NaN in both
        expected = np.add(y, b)
    OPS.bias_activation(y, b, "identity")
    np.testing.assert_array_equal(y, expected)
    assert np.array_equal(np.signbit(y), np.signbit(expected))


@pytest.mark.parametrize("activation", list(FORWARD))
def test_no_bias_is_the_plain_activation(activation, rng, agree):
    y, _ = _inputs(rng, (16, 10), np.float32, True)
    expected = FORWARD[activation](y.copy())
    agree(OPS.bias_activation(y, None, activation), expected, N_OPS, activation)


def test_relu_treats_nan_and_negative_zero_as_numpys_maximum():
    y = np.array([[np.nan, -0.0, -1.0, 2.0]], dtype=np.float32)
    OPS.bias_activation(y, None, "relu")
    expected = np.maximum(np.array([[np.nan, -0.0, -1.0, 2.0]], dtype=np.float32), 0.0)
    np.testing.assert_array_equal(y.view(np.uint32), expected.view(np.uint32))


@pytest.mark.parametrize("in_place", [False, True], ids=["fresh", "out=grad_y"])
@pytest.mark.parametrize("special", [False, True], ids=["finite", "special"])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("activation", list(BACKWARD))
def test_vjps_match_the_numpy_lane(activation, shape, dtype, special, in_place, rng, agree):
    x, _ = _inputs(rng, shape, dtype, special)
    with np.errstate(invalid="ignore", over="ignore"):
        y = FORWARD[activation](x)
    grad_y = rng.standard_normal(shape).astype(dtype)
    if special and grad_y.size >= 3:
        grad_y.ravel()[-3:] = [np.inf, np.nan, -np.inf]
    numpy_vjp, numba_vjp = BACKWARD[activation]
    with np.errstate(invalid="ignore", over="ignore"):  # inf * 0 in the NumPy lane too
        expected = numpy_vjp(y, grad_y)
    out = grad_y if in_place else None
    result = numba_vjp(y, grad_y, out=out)
    assert result is grad_y if in_place else result is not grad_y
    agree(result, expected, N_OPS, f"{activation} backward")


# rows of 1024 at the two thread thresholds: the threaded compile runs from PARALLEL_MIN
# elements for tanh and the logistic, from CHEAP_PARALLEL_MIN for the identity, ReLU and every
# backward (each kernel's parallel_min)
THREADED_SHAPES = [
    (PARALLEL_MIN // 1024, 1024),
    (numba_activations.CHEAP_PARALLEL_MIN // 1024 + 1, 1024),
]


@pytest.mark.parametrize("shape", THREADED_SHAPES, ids=["PARALLEL_MIN", "CHEAP_PARALLEL_MIN"])
@pytest.mark.parametrize("activation", list(FORWARD))
def test_the_threaded_kernels_match_the_numpy_lane(activation, shape, rng, agree):
    y, b = _inputs(rng, shape, np.float32, True)
    expected = FORWARD[activation](y + b)
    kind = numba_activations.ACTIVATIONS[activation]
    kernel = numba_activations.BIAS_ACTIVATION[kind]
    OPS.bias_activation(y, b, activation)
    agree(y, expected, N_OPS, f"threaded {activation}(y + b)")
    if y.size >= kernel.parallel_min:  # else its calling-thread twin ran
        assert kernel.dispatcher.signatures, "the threaded compile did not run"
    if activation in BACKWARD:
        grad_y = rng.standard_normal(shape).astype(np.float32)
        numpy_vjp, numba_vjp = BACKWARD[activation]
        expected = numpy_vjp(y, grad_y)
        agree(numba_vjp(y, grad_y, out=grad_y), expected, N_OPS, f"threaded {activation} VJP")
        backward = numba_activations.ACTIVATION_BACKWARD[kind]
        if y.size >= backward.parallel_min:
            assert backward.dispatcher.signatures, "the threaded backward did not run"


def test_a_network_compiles_the_kernels_of_its_activations_alone(first_compiles):
    # one kernel per activation, the kind a constant: a ReLU network's first run compiles no
    # tanh, exp or logistic code, and no other activation's kernel
    compiled = first_compiles(
        "import numpy as np\n"
        "from softgrad.kernels import numba_activations as na\n"
        "y = np.ones((4, 3), np.float32)\n"
        "na.bias_activation(y, np.ones(3, np.float32), na.RELU)\n"
        "na.activation_backward(y.ravel(), y.ravel().copy(), na.RELU, y.ravel())\n"
    )
    assert {"bias_relu_serial", "relu_backward_serial"} <= compiled
    relu = {"bias_relu", "relu_backward"}  # their threaded compiles: not below PARALLEL_MIN
    kernels = numba_activations.BIAS_ACTIVATION + numba_activations.ACTIVATION_BACKWARD
    others = {k.__name__ + t for k in kernels if k.__name__ not in relu for t in ("", "_serial")}
    assert not compiled & (others | relu), "another kernel compiled"
    assert not compiled & {"_exp_float32", "_tanh_float32"}, "a ReLU network compiled exp/tanh"


@pytest.mark.parametrize("activation", list(FORWARD))
def test_the_same_inputs_give_bit_identical_results(activation, rng):
    y, b = _inputs(rng, (512, 256), np.float32, True)
    first, again = y.copy(), y.copy()
    OPS.bias_activation(first, b, activation)
    OPS.bias_activation(again, b, activation)
    np.testing.assert_array_equal(first, again)
    if activation in BACKWARD:
        g = rng.standard_normal(y.shape).astype(np.float32)
        back = [BACKWARD[activation][1](first, g) for _ in range(2)]
        np.testing.assert_array_equal(back[0], back[1])


@pytest.mark.parametrize("dtype", DTYPES)
def test_the_kernels_own_tanh_matches_numpys(dtype, rng, agree):
    # the kernel's float32 tanh is numba_math's (within 1 ulp), float64's np.tanh (below)
    y, b = _inputs(rng, (128, 100), dtype, True)
    expected = np.tanh(y + b)
    numba_activations.bias_activation(y, b, numba_activations.TANH)
    agree(y, expected, N_OPS, "kernel tanh(y + b)")


@pytest.mark.parametrize("bias", [True, False], ids=["bias", "no bias"])
def test_a_float64_tanh_is_numpys_bit_for_bit(bias, rng):
    # Numba code has only the C library's tanh, one call per element (up to 2 ulps, where
    # np.tanh keeps 1; a third of these values an ulp apart) at 9x np.tanh's time: the lane
    # adds the bias in its kernel and takes the tanh to NumPy
    y, b = _inputs(rng, (128, 100), np.float64, True)
    bias_or_none = b if bias else None
    expected = np.tanh(y + b) if bias else np.tanh(y)
    plain, checked, bound = y.copy(), y.copy(), y.copy()
    np.testing.assert_array_equal(OPS.bias_activation(plain, bias_or_none, "tanh"), expected)
    OPS.bias_activation_finite(checked, bias_or_none, "tanh")
    np.testing.assert_array_equal(checked, expected)
    OPS.bind_bias_activation(bound, bias_or_none, "tanh")()  # the training step's bound call
    np.testing.assert_array_equal(bound, expected)
    np.testing.assert_array_equal(OPS.tanh(y), np.tanh(y))


# any shape: 0-d and 1-d arrays are one row, others rows along the last axis; empty ones too
ELEMENTWISE_SHAPES = [(), (7,), (0,), (5, 0), (3, 4, 5), (128, 100)]


@pytest.mark.parametrize("where", ["fresh", "out", "in place"])
@pytest.mark.parametrize("special", [False, True], ids=["finite", "special"])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", ELEMENTWISE_SHAPES)
@pytest.mark.parametrize("activation", ["sigmoid", "tanh"])
def test_elementwise_activations_match_the_numpy_lane(
    activation, shape, dtype, special, where, rng, agree
):
    x = np.asarray(rng.standard_normal(shape) * 3, dtype=dtype)
    if special and x.size >= len(SPECIAL):
        x.ravel()[: len(SPECIAL)] = SPECIAL
    expected = FORWARD[activation](x)  # the NumPy lane (numpy_lane fixture)
    function = getattr(OPS, activation)
    if where == "fresh":
        result = function(x)
        assert result is not x
    elif where == "out":
        out = np.full_like(x, np.nan)
        assert function(x, out=out) is out
        result = out
    else:
        result = function(x, out=x)
        assert result is x
    agree(result, expected, N_OPS, activation)


@pytest.mark.parametrize("activation", ["sigmoid", "tanh"])
def test_other_layouts_and_dtypes_take_the_numpy_lane(activation, rng):
    from softgrad.kernels import NumpyOps

    reference = getattr(NumpyOps(), activation)
    function = getattr(OPS, activation)
    base = (rng.standard_normal((8, 10)) * 3).astype(np.float32)
    strided = base[:, ::2]
    np.testing.assert_array_equal(function(strided), reference(strided))
    half = base.astype(np.float16)
    np.testing.assert_array_equal(function(half), reference(half))
    # an output that partly overlaps the input: NumPy's ufuncs buffer it
    buffer = base.ravel().copy()
    expected = reference(buffer[:-1].copy())
    np.testing.assert_array_equal(function(buffer[:-1], out=buffer[1:]), expected)


@pytest.mark.parametrize("activation", ["sigmoid", "tanh"])
def test_elementwise_activations_run_the_kernel_once(activation, rng, monkeypatch):
    calls = []
    kernel = numba_activations.bias_activation

    def counted(y, b, kind, check=False):
        calls.append((y.shape, b.size, kind))
        return kernel(y, b, kind, check)

    monkeypatch.setattr(numba_activations, "bias_activation", counted)
    getattr(OPS, activation)(rng.standard_normal((2, 3, 4)).astype(np.float32))
    assert calls == [((6, 4), 0, numba_activations.ACTIVATIONS[activation])]


def _with_bad_rows(rng, shape, dtype, bad_rows):
    """y, b of ``_inputs`` with one NaN, +inf or -inf in each of ``bad_rows`` (in turn), and
    rows of the largest finite values elsewhere (which must not count)."""
    y, b = _inputs(rng, shape, dtype, False)
    for index, row in enumerate(bad_rows):
        y[row, rng.integers(shape[1])] = (np.nan, np.inf, -np.inf)[index % 3]
    good = [r for r in range(shape[0]) if r not in bad_rows][:2]
    y[good] = np.finfo(dtype).max  # a sum of the values (or of their squares) would overflow
    return y, b


@pytest.mark.parametrize("bias", [True, False], ids=["bias", "no bias"])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    "shape", [(5, 3), (128, 100), *THREADED_SHAPES], ids=["5x3", "128x100", "PAR", "CHEAP_PAR"]
)
@pytest.mark.parametrize("activation", list(FORWARD))
def test_the_checked_pass_counts_the_rows_that_held_nan_or_inf(activation, shape, dtype, bias, rng):
    # inference's finite check of the first product, read in the bias + activation pass: the
    # count of rows holding NaN or +-inf before it, on the calling thread and on the threads
    bad_rows = [0, 3, shape[0] - 1]
    y, b = _with_bad_rows(rng, shape, dtype, bad_rows)
    b = b if bias else np.empty(0, dtype)
    kind = numba_activations.ACTIVATIONS[activation]
    unchecked = y.copy()
    with np.errstate(all="ignore"):
        assert numba_activations.bias_activation(y, b, kind, True) == len(bad_rows)
        assert numba_activations.bias_activation(unchecked, b, kind) == 0
    np.testing.assert_array_equal(y, unchecked)  # the check changes no value


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("activation", list(FORWARD))
def test_bias_activation_finite_agrees_with_the_numpy_lane(activation, dtype, rng, agree):
    from softgrad.kernels.numpy_ops import NumpyOps

    numpy_ops = NumpyOps()
    for bad_rows in ([], [7], [0, 127]):
        y, b = _with_bad_rows(rng, (128, 100), dtype, bad_rows)
        expected = y.copy()
        with np.errstate(all="ignore"):
            finite = numpy_ops.bias_activation_finite(expected, b, activation)
            assert OPS.bias_activation_finite(y, b, activation) is finite is (not bad_rows)
        agree(y, expected, N_OPS, f"checked {activation}(y + b)")
