"""Softmax / log-softmax / logsumexp derivatives checked three ways.

1. float64 central differences of the forward function against the VJP (and the Jacobian);
2. the adjoint identity sum(u * jvp(v)) == sum(vjp(u) * v);
3. the explicit Jacobian: vjp == g @ J, jvp == J @ v, J symmetric (softmax), J @ 1 == 0,
   J == diag(s) - s s^T (softmax) / I - 1 s^T (log-softmax), built here independently.
Over shapes (C,), (N, C), (N, T, C), every axis, float32 and float64.
"""

from __future__ import annotations

import numpy as np
import pytest

from softgrad.functional import (
    log_softmax,
    log_softmax_jacobian,
    log_softmax_jvp,
    log_softmax_vjp,
    logsumexp,
    softmax,
    softmax_jacobian,
    softmax_jvp,
    softmax_vjp,
)

SHAPES = [(5,), (3, 4), (2, 3, 4)]
CASES = [(shape, axis) for shape in SHAPES for axis in range(-len(shape), len(shape))]
# each dtype's tolerance (rtol, atol) beside it; central differences are float64 in both cases
DTYPES = [(np.float64, 1e-7, 1e-9), (np.float32, 2e-5, 2e-6)]


def _inputs(rng, shape, dtype):
    x = (rng.normal(size=shape) * 2).astype(dtype)
    g = rng.normal(size=shape).astype(dtype)
    v = rng.normal(size=shape).astype(dtype)
    return x, g, v


def _along_last(a, axis):
    return np.moveaxis(np.asarray(a, dtype=np.float64), axis, -1)


@pytest.mark.parametrize(("dtype", "rtol", "atol"), DTYPES)
@pytest.mark.parametrize(("shape", "axis"), CASES)
def test_softmax_vjp_matches_central_differences(
    rng, close, central_diff, shape, axis, dtype, rtol, atol
):
    x, g, _ = _inputs(rng, shape, dtype)
    expected = central_diff(lambda z: softmax(z, axis), x, g.astype(np.float64))
    actual = softmax_vjp(softmax(x, axis), g, axis)
    assert actual.dtype == dtype
    close(actual, expected, rtol=max(rtol, 1e-6), atol=max(atol, 1e-8), what="softmax_vjp vs FD")


@pytest.mark.parametrize(("dtype", "rtol", "atol"), DTYPES)
@pytest.mark.parametrize(("shape", "axis"), CASES)
def test_log_softmax_vjp_matches_central_differences(
    rng, close, central_diff, shape, axis, dtype, rtol, atol
):
    x, g, _ = _inputs(rng, shape, dtype)
    expected = central_diff(lambda z: log_softmax(z, axis), x, g.astype(np.float64))
    actual = log_softmax_vjp(log_softmax(x, axis), g, axis)
    assert actual.dtype == dtype
    close(
        actual, expected, rtol=max(rtol, 1e-6), atol=max(atol, 1e-8), what="log_softmax_vjp vs FD"
    )


@pytest.mark.parametrize(("dtype", "rtol", "atol"), DTYPES)
@pytest.mark.parametrize(("shape", "axis"), CASES)
def test_logsumexp_gradient_is_softmax(rng, close, central_diff, shape, axis, dtype, rtol, atol):
    x, _, _ = _inputs(rng, shape, dtype)
    ones = np.ones(np.delete(np.array(shape), axis % len(shape)).tolist())
    expected = central_diff(lambda z: logsumexp(z, axis), x, ones)
    close(softmax(x, axis), expected, rtol=max(rtol, 1e-6), atol=max(atol, 1e-8), what="d lse/dx")


@pytest.mark.parametrize(("dtype", "rtol", "atol"), DTYPES)
@pytest.mark.parametrize(("shape", "axis"), CASES)
@pytest.mark.parametrize(
    ("forward", "vjp", "jvp"),
    [(softmax, softmax_vjp, softmax_jvp), (log_softmax, log_softmax_vjp, log_softmax_jvp)],
    ids=["softmax", "log_softmax"],
)
def test_adjoint_identity(rng, shape, axis, dtype, rtol, atol, forward, vjp, jvp):
    x, u, v = _inputs(rng, shape, dtype)
    y = forward(x, axis)
    lhs = np.sum(u.astype(np.float64) * jvp(y, v, axis))
    rhs = np.sum(vjp(y, u, axis) * v.astype(np.float64))
    assert abs(lhs - rhs) <= atol * 10 + rtol * abs(lhs), (
        f"<u, J v> = {lhs!r} but <J^T u, v> = {rhs!r}"
    )


@pytest.mark.parametrize(("dtype", "rtol", "atol"), DTYPES)
@pytest.mark.parametrize(("shape", "axis"), CASES)
def test_softmax_jacobian_invariants(rng, close, shape, axis, dtype, rtol, atol):
    x, g, v = _inputs(rng, shape, dtype)
    jac = softmax_jacobian(x, axis)
    n = shape[axis]
    lead = tuple(d for i, d in enumerate(shape) if i != axis % len(shape))
    assert jac.shape == (*lead, n, n)
    assert jac.dtype == dtype
    s = _along_last(softmax(x, axis), axis)
    built = np.zeros((*lead, n, n))
    for idx in np.ndindex(*lead):  # diag(s) - s s^T, one slice at a time
        built[idx] = np.diag(s[idx]) - np.outer(s[idx], s[idx])
    close(jac, built, rtol, atol, what="J vs diag(s) - s s^T")
    close(jac, np.swapaxes(jac, -1, -2), rtol, atol, what="J symmetric")
    close(jac @ np.ones(n, dtype), np.zeros((*lead, n)), rtol, atol * 10, what="J @ 1")
    vjp = _along_last(softmax_vjp(softmax(x, axis), g, axis), axis)
    close(vjp, np.einsum("...i,...ij->...j", _along_last(g, axis), jac), rtol, atol * 10, "g @ J")
    jvp = _along_last(softmax_jvp(softmax(x, axis), v, axis), axis)
    close(jvp, np.einsum("...ij,...j->...i", jac, _along_last(v, axis)), rtol, atol * 10, "J @ v")


@pytest.mark.parametrize(("dtype", "rtol", "atol"), DTYPES)
@pytest.mark.parametrize(("shape", "axis"), CASES)
def test_log_softmax_jacobian_invariants(rng, close, shape, axis, dtype, rtol, atol):
    x, g, v = _inputs(rng, shape, dtype)
    jac = log_softmax_jacobian(x, axis)
    n = shape[axis]
    s = _along_last(softmax(x, axis), axis)
    assert jac.dtype == dtype
    close(jac, np.eye(n) - s[..., None, :], rtol, atol, what="J vs I - 1 s^T")
    close(jac @ np.ones(n, dtype), np.zeros(s.shape), rtol, atol * 10, what="J @ 1")
    logp = log_softmax(x, axis)
    vjp = _along_last(log_softmax_vjp(logp, g, axis), axis)
    close(vjp, np.einsum("...i,...ij->...j", _along_last(g, axis), jac), rtol, atol * 10, "g @ J")
    jvp = _along_last(log_softmax_jvp(logp, v, axis), axis)
    close(jvp, np.einsum("...ij,...j->...i", jac, _along_last(v, axis)), rtol, atol * 10, "J @ v")


@pytest.mark.parametrize(
    ("jacobian", "forward"), [(softmax_jacobian, softmax), (log_softmax_jacobian, log_softmax)]
)
@pytest.mark.parametrize(("shape", "axis"), [((4,), 0), ((2, 3), 0), ((2, 3, 4), 1)])
def test_jacobian_matches_central_differences(
    rng, close, central_diff, jacobian, forward, shape, axis
):
    x = rng.normal(size=shape)
    jac = jacobian(x, axis)  # (..., i, j) = d y_i / d x_j
    n = shape[axis]
    for i in range(n):
        g = np.zeros(shape)
        np.moveaxis(g, axis, -1)[..., i] = 1.0  # picks output i of every slice
        row = _along_last(central_diff(lambda z: forward(z, axis), x, g), axis)
        close(jac[..., i, :], row, rtol=1e-6, atol=1e-8, what=f"J[..., {i}, :] vs FD")


def test_vjp_never_builds_a_jacobian_large_slice(rng, close):
    # C = 20000 would need a 3.2 GB float64 Jacobian; the VJP is O(C)
    x = rng.normal(size=(2, 20000))
    g = rng.normal(size=x.shape)
    s = softmax(x)
    expected = s * (g - np.sum(g * s, axis=-1, keepdims=True))
    close(softmax_vjp(s, g), expected, rtol=1e-12, atol=1e-18, what="large-C vjp")


@pytest.mark.parametrize("fn", [softmax_vjp, softmax_jvp, log_softmax_vjp, log_softmax_jvp])
def test_vjp_jvp_reject_shape_mismatch_and_bad_axis(fn):
    with pytest.raises(
        ValueError, match=rf"^{fn.__name__}: .* must have the same shape as .*; got shape \(3, 5\)"
    ):
        fn(np.zeros((3, 4)), np.zeros((3, 5)))
    with pytest.raises(
        ValueError, match=rf"^{fn.__name__}: axis must be in \[-2, 1\] for 2-d input; got 2$"
    ):
        fn(np.zeros((3, 4)), np.zeros((3, 4)), axis=2)
    with pytest.raises(TypeError, match=rf"^{fn.__name__}: axis must be an int; got 1.0$"):
        fn(np.zeros((3, 4)), np.zeros((3, 4)), axis=1.0)


@pytest.mark.parametrize("fn", [softmax_vjp, log_softmax_vjp])
def test_vjp_out_buffer_and_overlap(rng, close, fn):
    y = log_softmax(rng.normal(size=(4, 6)).astype(np.float32))
    if fn is softmax_vjp:
        y = np.exp(y)
    g = rng.normal(size=y.shape).astype(np.float32)
    expected = fn(y, g)
    out = np.empty_like(g)
    assert fn(y, g, out=out) is out
    close(out, expected, 0, 0, what="out=")
    g_copy = g.copy()
    assert fn(y, g_copy, out=g_copy) is g_copy  # writing over the input is safe
    close(g_copy, expected, 0, 0, what="out=g")
    with pytest.raises(TypeError, match=r"out must have dtype 'float32'; got 'float64'"):
        fn(y, g, out=np.empty(y.shape))


def test_vjp_mixed_dtypes_follow_numpy_promotion():
    s = softmax(np.zeros(3, np.float32))
    assert softmax_vjp(s, np.ones(3, np.float32)).dtype == np.float32
    assert softmax_vjp(s, np.ones(3, np.float64)).dtype == np.float64
    assert softmax_vjp(s.astype(np.float16), np.ones(3, np.float16)).dtype == np.float16
    assert softmax_vjp(s, np.ones(3, np.int64)).dtype == np.float64


def test_vjp_without_vecdot_uses_matmul(rng, close, monkeypatch):
    # NumPy < 2 has no np.vecdot: the stacked-matmul row dot must give the same result
    s = softmax(rng.normal(size=(6, 5)))
    g = rng.normal(size=s.shape)
    expected = softmax_vjp(s, g)
    monkeypatch.setattr("softgrad.kernels.rows._VECDOT", None)
    close(softmax_vjp(s, g), expected, rtol=1e-14, atol=1e-16, what="matmul row dot")
