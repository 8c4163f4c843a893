"""The Numba lane's sigmoid cross-entropy (softgrad.kernels.numba_logistic: softplus, the
per-sample losses with the softplus they write, and the gradient) against the NumPy lane's
(softgrad.kernels.logistic)."""

from __future__ import annotations

import math

import numpy as np
import pytest

pytest.importorskip("numba", reason="the Numba lane needs numba (pip install numba)")

from softgrad.kernels import numba_logistic
from softgrad.kernels.numba_exp_rows import SUM_BLOCK
from softgrad.kernels.numba_ops import NumbaOps
from softgrad.kernels.numba_threads import PARALLEL_MIN
from softgrad.kernels.numpy_ops import NumpyOps

NUMBA, NUMPY = NumbaOps(), NumpyOps()
DTYPES = [np.float32, np.float64]
# (N, K): one output (the binary classifier: the loss's flat loop), the gradient's threshold on
# both sides, a float64 row past SUM_BLOCK (summed in compensated blocks), empty batches
SHAPES = [
    (1, 1),
    (200, 1),
    (7, 3),
    (128, 10),
    (numba_logistic.GRAD_MIN // 8 - 1, 8),
    (numba_logistic.GRAD_MIN // 8, 8),
    (5, SUM_BLOCK + 44),
    (0, 4),
    (3, 0),
]
# the limits of softplus and its gradient: +-inf, NaN, signed zeros, where exp(-|z|) is
# subnormal or 0 in either dtype, and where log1p(e) is below half an ulp of max(z, 0)
SPECIAL = [np.inf, -np.inf, np.nan, 0.0, -0.0, 1e4, -1e4, 90.0, -90.0, 720.0, -720.0, 30.0, -17.0]


def _logits(rng, shape, dtype, scale=4.0):
    return (rng.standard_normal(shape) * scale).astype(dtype)


def _targets(rng, shape, dtype):
    # probabilities: 0, 1 and values between (multilabel indicators and smoothed targets)
    t = rng.uniform(size=shape)
    hard = rng.uniform(size=shape) < 0.6
    t[hard] = rng.integers(0, 2, size=np.count_nonzero(hard))
    return t.astype(dtype)


def _close(actual, expected, n_ops, what):
    """Each finite entry within ``n_ops`` roundings of its own magnitude (softplus is positive
    and well conditioned: no cancellation), and the specials at the same places."""
    assert actual.dtype == expected.dtype and actual.shape == expected.shape, what
    for special in (np.isnan, np.isposinf, np.isneginf):
        np.testing.assert_array_equal(special(actual), special(expected), err_msg=what)
    finite = np.isfinite(expected)
    eps = np.finfo(expected.dtype).eps
    a, e = actual[finite].astype(np.float64), expected[finite].astype(np.float64)
    tiny = np.finfo(expected.dtype).smallest_subnormal
    assert np.all(np.abs(a - e) <= n_ops * eps * np.abs(e) + tiny), what


@pytest.mark.parametrize("special", [False, True], ids=["finite", "special"])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
def test_softplus_matches_the_numpy_lane(shape, dtype, special, rng):
    z = _logits(rng, shape, dtype)
    if special and z.size >= len(SPECIAL):
        z.ravel()[: len(SPECIAL)] = SPECIAL
    with np.errstate(invalid="ignore"):  # NaN through NumPy's ufuncs warns
        expected = NUMPY.softplus(z)
    got = NUMBA.softplus(z)
    # exp and log1p within 1 ulp each here, np.exp within 3 in float32, and the sum
    _close(got, expected, 4, "softplus")
    out = np.empty_like(z)
    assert NUMBA.softplus(z, out=out) is out
    np.testing.assert_array_equal(out, got)
    assert NUMBA.softplus(z, out=z) is z  # in place
    np.testing.assert_array_equal(z, got)


@pytest.mark.parametrize("special", [False, True], ids=["finite", "special"])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
def test_the_losses_and_the_gradient_match_the_numpy_lane(shape, dtype, special, rng, agree):
    z, t = _logits(rng, shape, dtype), _targets(rng, shape, dtype)
    if special and z.size >= len(SPECIAL):
        z.ravel()[: len(SPECIAL)] = SPECIAL
    expected_softplus, softplus = np.empty_like(z), np.full_like(z, -1.0)
    with np.errstate(invalid="ignore"):  # NumPy warns of NaN, and of +inf's inf - inf
        expected = NUMPY.sigmoid_cross_entropy(z, t, expected_softplus)
        got = NUMBA.sigmoid_cross_entropy(z, t, softplus)
        expected_grad = NUMPY.sigmoid_cross_entropy_grad(z, t, expected_softplus, np.empty_like(z))
        out = np.empty_like(z)
        assert NUMBA.sigmoid_cross_entropy_grad(z, t, softplus, out) is out
    _close(softplus, expected_softplus, 4, "the softplus the loss wrote")
    if shape[1] == 0:
        np.testing.assert_array_equal(got, np.zeros(shape[0], dtype))
    if special:  # the limits' places (their values: test_limits_of_the_gradient_are_sigmoids)
        for where in (np.isnan, np.isposinf, np.isneginf):
            np.testing.assert_array_equal(where(got), where(expected))
            np.testing.assert_array_equal(where(out), where(expected_grad))
    # a row's terms cancel (t = 1 on a large logit: softplus(z) - z is small): the roundings
    # of the NumPy lane's pairwise dtype sum, relative to the row's largest sum of |terms|
    with np.errstate(invalid="ignore"):  # 0 * inf
        terms = np.abs(expected_softplus.astype(np.float64)) + np.abs(t.astype(np.float64) * z)
    finite = np.isfinite(terms)
    magnitude = float(np.where(finite, terms, 0).sum(axis=1).max()) if terms.size else 1.0
    n_ops = 2 * math.ceil(math.log2(max(shape[1], 2))) + 6
    agree(got, expected, n_ops, "per-sample losses", magnitude=magnitude)
    # exp(z - softplus(z)): the difference cancels relative to |z| (numba_math's exp 1 ulp,
    # NumPy's 3 in float32, softplus's own 4), then - t
    largest = float(np.abs(z[np.isfinite(z)]).max(initial=1.0))
    agree(out, expected_grad, 8, "gradient", magnitude=largest)


@pytest.mark.parametrize("dtype", DTYPES)
def test_limits_of_the_gradient_are_sigmoids(dtype, rng):
    shape = (numba_logistic.GRAD_MIN // 16, 16)  # the gradient's kernel
    z, t = _logits(rng, shape, dtype), _targets(rng, shape, dtype)
    z[: len(SPECIAL), 3] = SPECIAL
    softplus = np.empty_like(z)
    NUMBA.sigmoid_cross_entropy(z, t, softplus)
    grad = NUMBA.sigmoid_cross_entropy_grad(z, t, softplus, np.empty_like(z))
    # sigmoid(-inf) - t, sigmoid(+-1e4) - t, sigmoid(0) - t exactly (+inf: inf - inf, NaN)
    column, t = grad[: len(SPECIAL), 3], t[: len(SPECIAL), 3]
    assert column[1] == -t[1] and column[5] == 1 - t[5] and column[6] == -t[6]
    assert column[3] == 0.5 - t[3] and np.isnan(column[0]) and np.isnan(column[2])


def test_a_subnormal_sigmoid_is_taken_in_one_pass_without_numpys_slow_exp(rng):
    # float64 logits near -720: sigmoid(z) = exp(z - softplus(z)) is subnormal there, which
    # NumPy's float64 exp computes on a slow path; the kernel's exp gives it within 1 ulp
    z = rng.uniform(-740.0, -705.0, size=(numba_logistic.GRAD_MIN // 8, 8))
    t = np.zeros_like(z)
    softplus = np.empty_like(z)
    NUMBA.sigmoid_cross_entropy(z, t, softplus)
    grad = NUMBA.sigmoid_cross_entropy_grad(z, t, softplus, np.empty_like(z))
    with np.errstate(under="ignore"):
        exact = np.exp(z.astype(np.longdouble)).astype(np.float64)  # sigmoid(z) = e^z here
    assert np.all(grad > 0)
    np.testing.assert_allclose(grad, exact, rtol=2 * np.finfo(np.float64).eps, atol=5e-324)


@pytest.mark.parametrize("ops", [NUMPY, NUMBA], ids=["numpy", "numba"])
@pytest.mark.parametrize("rows", [7, numba_logistic.GRAD_MIN // 4], ids=["small", "GRAD_MIN"])
def test_outputs_may_be_any_input(ops, rows, rng, agree):
    # softplus written into the logits or the targets, the gradient into any input: the
    # results of separate arrays (the NumPy lane read the target after writing the gradient
    # over it, and the logits after writing softplus over them). The Numba lane sends a loss
    # whose softplus_out is an input to the NumPy lane's method (its dtype sums: a few
    # roundings apart from the kernel's)
    z, t = _logits(rng, (rows, 4), np.float64), _targets(rng, (rows, 4), np.float64)
    softplus = np.empty_like(z)
    losses = ops.sigmoid_cross_entropy(z, t, softplus)
    grad = ops.sigmoid_cross_entropy_grad(z, t, softplus, np.empty_like(z))
    for name in ("logits", "target"):
        arrays = {"logits": z.copy(), "target": t.copy()}
        got = ops.sigmoid_cross_entropy(arrays["logits"], arrays["target"], arrays[name])
        magnitude = float((np.abs(softplus) + np.abs(t * z)).sum(axis=1).max())
        agree(got, losses, 0 if ops is NUMPY else 8, f"into the {name}", magnitude=magnitude)
        np.testing.assert_array_equal(arrays[name], softplus)
    for name in ("logits", "target", "softplus"):
        arrays = {"logits": z.copy(), "target": t.copy(), "softplus": softplus.copy()}
        out = arrays[name]
        got = ops.sigmoid_cross_entropy_grad(
            arrays["logits"], arrays["target"], arrays["softplus"], out
        )
        assert got is out
        np.testing.assert_array_equal(got, grad, err_msg=f"the gradient into the {name}")


def test_integer_logits_are_taken_as_float64_as_np_logaddexp_took_them():
    for ops in (NUMPY, NUMBA):
        got = ops.softplus(np.array([[1, 2, -3]], dtype=np.int8))
        assert got.dtype == np.float64
        np.testing.assert_allclose(got, np.logaddexp(0.0, [[1.0, 2.0, -3.0]]), rtol=1e-15)
        assert ops.softplus(np.array([True, False])).dtype == np.float64


def test_the_threaded_kernels_match_the_numpy_lane(rng):
    shape = (PARALLEL_MIN // 512 + 1, 512)
    z, t = _logits(rng, shape, np.float32), _targets(rng, shape, np.float32)
    softplus = NUMBA.softplus(z)
    assert numba_logistic.softplus_kernel.dispatcher.signatures, "no threaded compile ran"
    _close(softplus, NUMPY.softplus(z), 4, "threaded softplus")
    grad = NUMBA.sigmoid_cross_entropy_grad(z, t, softplus, np.empty_like(z))
    assert numba_logistic.logistic_grad.dispatcher.signatures
    expected = NUMPY.sigmoid_cross_entropy_grad(z, t, softplus, np.empty_like(z))
    np.testing.assert_allclose(grad, expected, atol=5 * np.finfo(np.float32).eps * 20)
    again = NUMBA.sigmoid_cross_entropy_grad(z, t, softplus, np.empty_like(z))
    np.testing.assert_array_equal(grad, again)  # the same bits on the same path
    for width in (1, 512):  # the loss's flat loop and its blocks of rows, on the threads
        z, t = _logits(rng, (PARALLEL_MIN // width + 1, width), np.float32), None
        t = _targets(rng, z.shape, np.float32)
        written, expected_softplus = np.empty_like(z), np.empty_like(z)
        losses = NUMBA.sigmoid_cross_entropy(z, t, written)
        assert numba_logistic.logistic_losses.dispatcher.signatures
        expected = NUMPY.sigmoid_cross_entropy(z, t, expected_softplus)
        _close(written, expected_softplus, 4, f"threaded softplus of the loss, K = {width}")
        magnitude = float((np.abs(expected_softplus) + np.abs(t * z)).sum(axis=1).max())
        np.testing.assert_allclose(losses, expected, rtol=0, atol=16 * 1.2e-7 * magnitude)
        np.testing.assert_array_equal(losses, NUMBA.sigmoid_cross_entropy(z, t, written))


def test_other_layouts_dtypes_and_overlaps_take_the_numpy_lane(rng, agree):
    base = _logits(rng, (8, 40), np.float32)
    strided = base[:, ::2]
    np.testing.assert_array_equal(NUMBA.softplus(strided), NUMPY.softplus(strided))
    half = base.astype(np.float16)
    np.testing.assert_array_equal(NUMBA.softplus(half), NUMPY.softplus(half))
    scalar = np.array(1.5)
    assert NUMBA.softplus(scalar) == NUMPY.softplus(scalar)
    # an output that partly overlaps the input: NumPy's ufunc buffers it
    buffer = base.ravel().copy()
    expected = NUMPY.softplus(buffer[:-1].copy())
    np.testing.assert_array_equal(NUMBA.softplus(buffer[:-1], out=buffer[1:]), expected)
    t = _targets(rng, base.shape, np.float32)
    for z, target, softplus in (
        (strided, t[:, ::2], np.empty_like(strided)),
        (base, t.astype(np.float64), np.empty_like(base)),
        (base, t, np.empty_like(base)[:, ::-1]),  # a reversed view to write into
    ):
        expected = NUMPY.sigmoid_cross_entropy(z, target, np.empty_like(z))
        got = NUMBA.sigmoid_cross_entropy(z, target, softplus)
        # the NumPy lane's method, which takes the Numba lane's softplus where it can (in the
        # logits' float32 with float64 targets)
        magnitude = float(np.abs(z).sum(axis=1).max())
        agree(got.astype(z.dtype), expected.astype(z.dtype), 8, "losses", magnitude=magnitude)
    sp = NUMPY.softplus(base)
    big = _logits(rng, (numba_logistic.GRAD_MIN // 40, 40), np.float32)
    t, sp = _targets(rng, big.shape, np.float32), NUMPY.softplus(big)
    flat = np.empty(big.size + 1, np.float32)  # out shifted by one entry over the logits
    flat[1:] = big.ravel()
    expected = NUMPY.sigmoid_cross_entropy_grad(big, t, sp, np.empty_like(big))
    got = NUMBA.sigmoid_cross_entropy_grad(
        flat[1:].reshape(big.shape), t, sp, flat[:-1].reshape(big.shape)
    )
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("dtype", DTYPES)
def test_the_gradient_kernel_runs_from_grad_min_elements(dtype, rng, monkeypatch):
    calls = []
    kernel = numba_logistic.logistic_grad

    def counted(*args):
        calls.append(args[0].size)
        return kernel(*args)

    monkeypatch.setattr(numba_logistic, "logistic_grad", counted)
    for n in (numba_logistic.GRAD_MIN - 1, numba_logistic.GRAD_MIN):
        z, t = _logits(rng, (n, 1), dtype), _targets(rng, (n, 1), dtype)
        NUMBA.sigmoid_cross_entropy_grad(z, t, NUMBA.softplus(z), np.empty_like(z))
    assert calls == [numba_logistic.GRAD_MIN]
