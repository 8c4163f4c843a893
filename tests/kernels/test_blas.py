"""The routines of softgrad.kernels.blas, NumPy's own BLAS and the np.matmul stand-in used where
it is not found: alpha A^T B + beta C, alpha A^T x + beta y and y += alpha x against NumPy's
products, to a tolerance from the dtype (the same BLAS, another order of the scaling and the
sum)."""

from pathlib import Path

import numpy as np
import pytest

from softgrad.kernels import blas as blas_module
from softgrad.kernels.routines import MatmulRoutines

DTYPES = [np.float32, np.float64]


def _blas():
    found = blas_module.numpy_blas()
    if found is None:  # a NumPy built against a BLAS that cannot be told apart: no folding
        pytest.skip(f"NumPy's BLAS not usable here: {blas_module.why_unavailable()}")
    return found


@pytest.fixture(params=["NumPy's BLAS", "np.matmul"])
def routines(request):
    """Each implementation of the bind_* calls: the same contract."""
    if request.param == "np.matmul":
        return MatmulRoutines("a test")
    return _blas()


def _tolerance(dtype, k):
    return 4 * (k + 2) * np.finfo(dtype).eps


def _bundled_openblas():
    """The OpenBLAS a NumPy wheel bundles in its numpy.libs folder (scipy-openblas in NumPy
    2, openblas64_ in 1.x, whose np.__config__ has no CONFIG to name it), or None."""
    libs = Path(np.__file__).resolve().parent.parent / "numpy.libs"
    found = sorted(p.name for p in libs.glob("*openblas*")) if libs.is_dir() else []
    return found[0] if found else None


def test_numpys_own_bundled_blas_is_found():
    bundled = _bundled_openblas()
    if bundled is None:
        pytest.skip("this NumPy bundles no OpenBLAS (built against the system's BLAS)")
    found = blas_module.numpy_blas()
    assert found is not None, blas_module.why_unavailable()
    assert "gemm" in found.description and blas_module.why_unavailable() is None
    assert found.description.startswith(bundled), (bundled, found.description)


def test_the_thread_count_is_the_one_threadpool_limits_sets():
    from threadpoolctl import threadpool_limits

    found = _blas()
    if found.threads() is None:
        pytest.skip(f"this BLAS does not report its threads: {found.description}")
    for limit in (1, 2, 3):
        with threadpool_limits(limits=limit, user_api="blas"):
            assert found.threads() == limit


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(1, 1, 1), (128, 784, 100), (33, 17, 5), (2, 300, 1)])
@pytest.mark.parametrize("alpha, beta", [(1.0, 0.9), (-0.03, 1.0), (1.0, 0.0), (0.5, -2.0)])
def test_gemm_tn_is_alpha_at_b_plus_beta_c(dtype, shape, alpha, beta, routines):
    k, m, n = shape
    rng = np.random.default_rng(k * m + n)
    a = rng.standard_normal((k, m)).astype(dtype)
    b = rng.standard_normal((k, n)).astype(dtype)
    c = rng.standard_normal((m, n)).astype(dtype)
    want = alpha * (a.astype(np.float64).T @ b) + beta * c.astype(np.float64)
    run = routines.bind_gemm_tn(a, b, c)
    run(alpha, beta)
    scale = np.abs(a).T.astype(np.float64) @ np.abs(b) * abs(alpha) + abs(beta) * np.abs(want)
    assert np.all(np.abs(c - want) <= _tolerance(dtype, k) * (scale + 1))


@pytest.mark.parametrize("dtype", DTYPES)
def test_gemm_with_beta_0_overwrites_what_c_held_even_a_nan(dtype, routines):
    rng = np.random.default_rng(1)
    a = rng.standard_normal((9, 4)).astype(dtype)
    b = rng.standard_normal((9, 3)).astype(dtype)
    c = np.full((4, 3), np.nan, dtype)
    routines.bind_gemm_tn(a, b, c)(1.0, 0.0)
    np.testing.assert_allclose(c, a.T @ b, rtol=_tolerance(dtype, 9), atol=_tolerance(dtype, 9))


@pytest.mark.parametrize("dtype", DTYPES)
def test_a_bound_gemm_reads_its_arrays_contents_at_each_call(dtype, routines):
    rng = np.random.default_rng(2)
    a = rng.standard_normal((6, 4)).astype(dtype)
    b = rng.standard_normal((6, 2)).astype(dtype)
    c = np.zeros((4, 2), dtype)
    run = routines.bind_gemm_tn(a, b, c)
    run(1.0, 0.0)
    a *= 2  # the same arrays, new contents
    run(1.0, 1.0)  # c = 2 a^T b + a^T b
    np.testing.assert_allclose(c, 1.5 * (a.T @ b), rtol=_tolerance(dtype, 6), atol=1e-12)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("alpha, beta", [(1.0, 0.9), (-0.1, 1.0), (1.0, 0.0)])
def test_gemv_t_is_alpha_at_x_plus_beta_y(dtype, alpha, beta, routines):
    rng = np.random.default_rng(3)
    a = rng.standard_normal((128, 100)).astype(dtype)
    x = np.ones(128, dtype)  # the column sums: a bias gradient
    y = rng.standard_normal(100).astype(dtype)
    want = alpha * a.astype(np.float64).sum(axis=0) + beta * y.astype(np.float64)
    routines.bind_gemv_t(a, x, y)(alpha, beta)
    scale = np.abs(a).sum(axis=0) * abs(alpha) + abs(beta) * np.abs(want) + 1
    assert np.all(np.abs(y - want) <= _tolerance(dtype, 128) * scale)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("size", [1, 7, 79_510])  # the last long enough for OpenBLAS's threads
@pytest.mark.parametrize("alpha", [-0.03, 1.0])
def test_axpy_adds_alpha_x_to_y_elementwise(dtype, size, alpha, routines):
    rng = np.random.default_rng(size)
    x = rng.standard_normal(size).astype(dtype)
    y = rng.standard_normal(size).astype(dtype)
    want = y.astype(np.float64) + alpha * x.astype(np.float64)
    routines.bind_axpy(x, y)(alpha)
    # one product and one sum, each rounded at most once
    assert np.all(np.abs(y - want) <= 2 * np.finfo(dtype).eps * (np.abs(want) + abs(alpha * x)))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("size", [7, 79_510])
def test_axpy_onto_itself_adds_its_own_multiple(dtype, size, routines):
    # a fold's decay term W += (-lr s) W: each element read before it is written
    x = np.random.default_rng(size).standard_normal(size).astype(dtype)
    want = x.astype(np.float64) * (1.0 - 1e-3)
    routines.bind_axpy(x, x)(-1e-3)
    assert np.all(np.abs(x - want) <= np.finfo(dtype).eps * np.abs(want))


def test_axpy_runs_on_arrays_of_any_shape_as_their_elements(rng, routines):
    x = rng.standard_normal((784, 100)).astype(np.float32)
    y = np.zeros((784, 100), np.float32)
    routines.bind_axpy(x, y)(1.0)
    np.testing.assert_array_equal(y, x)


def test_arrays_it_cannot_hand_to_blas_are_refused_by_name(routines):
    a = np.ones((4, 3), np.float32)
    with pytest.raises(ValueError, match="gemm: every array must be C-contiguous float32"):
        routines.bind_gemm_tn(a, np.ones((4, 2), np.float64), np.ones((3, 2), np.float32))
    with pytest.raises(ValueError, match="C-contiguous"):
        routines.bind_gemm_tn(np.ones((3, 4), np.float32).T, np.ones((4, 2), np.float32),
                           np.ones((3, 2), np.float32))  # fmt: skip
    with pytest.raises(ValueError, match="gemm_tn: shapes"):
        routines.bind_gemm_tn(a, np.ones((5, 2), np.float32), np.ones((3, 2), np.float32))
    with pytest.raises(ValueError, match="gemv_t: shapes"):
        routines.bind_gemv_t(a, np.ones(3, np.float32), np.ones(3, np.float32))
    with pytest.raises(ValueError, match="axpy: shapes"):
        routines.bind_axpy(np.ones(3, np.float32), np.ones(4, np.float32))
    with pytest.raises(ValueError, match="axpy: every array must be C-contiguous float32"):
        routines.bind_axpy(np.ones(3, np.float64), np.ones(3, np.float32))
    with pytest.raises(ValueError, match="float32 or float64"):
        half = np.ones((4, 3), np.float16)
        routines.bind_gemm_tn(half, np.ones((4, 2), np.float16), np.ones((3, 2), np.float16))


def test_no_blas_to_be_found_is_none_with_the_reason_and_np_matmul_stands_in(monkeypatch):
    def nothing():
        raise RuntimeError("no BLAS library inside NumPy's package and 2 others loaded")

    monkeypatch.setattr(blas_module, "_found", {})
    monkeypatch.setattr(blas_module, "_numpy_library", nothing)
    assert blas_module.numpy_blas() is None
    assert blas_module.why_unavailable().startswith("no BLAS library inside NumPy's package")
    routines = blas_module.blas_routines()
    assert isinstance(routines, MatmulRoutines) and routines.threads() == 1
    assert routines.description == (
        "np.matmul and NumPy's elementwise passes (no BLAS library inside NumPy's package and 2 "
        "others loaded)"
    )
    assert blas_module.blas_routines() is routines  # once per process


def test_the_routines_are_numpys_blas_where_it_is_found():
    found = _blas()
    assert blas_module.blas_routines() is found


def test_a_blas_that_disagrees_with_numpy_is_not_used(monkeypatch):
    found = _blas()

    class Wrong(blas_module.NumpyBlas):
        def bind_gemm_tn(self, a, b, c):
            run = super().bind_gemm_tn(a, b, c)
            return lambda alpha, beta: run(alpha * 2, beta)  # a wrong product

    monkeypatch.setattr(blas_module, "_found", {})
    monkeypatch.setattr(blas_module, "NumpyBlas", Wrong)
    assert blas_module.numpy_blas() is None
    assert "disagrees with np.matmul" in blas_module.why_unavailable()
    assert found is not None


def _spy_on_calls(monkeypatch, limit):
    """The BLAS's integer limit set to ``limit`` (a 32-bit-integer BLAS stood in for on NumPy's
    own), and the list that gets the integer arguments of every call bound to the BLAS."""
    monkeypatch.setattr(blas_module, "_int_max", lambda fn: limit)
    bound, real_bind = [], blas_module._bind

    def spy(fn, args, scalars, keep):
        bound.append([value for value in args if isinstance(value, int)])
        return real_bind(fn, args, scalars, keep)

    monkeypatch.setattr(blas_module, "_bind", spy)
    return bound


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("aliased", [False, True])
def test_an_axpy_longer_than_the_blas_integers_runs_in_pieces(dtype, aliased, monkeypatch):
    # a 32-bit-integer BLAS (conda-forge's OpenBLAS) took n modulo 2**32 through ctypes: an
    # update over more than 2**31 - 1 weights moved a part of them, or none
    found = _blas()
    bound = _spy_on_calls(monkeypatch, 1000)
    rng = np.random.default_rng(3)
    y = rng.standard_normal((25, 101)).astype(dtype)  # 2,525: three pieces, the last short
    x = y if aliased else rng.standard_normal(y.shape).astype(dtype)
    want = (y + 0.5 * x).copy()
    found.bind_axpy(x, y)(0.5)
    assert [args[0] for args in bound] == [1000, 1000, 525]
    np.testing.assert_allclose(y, want, rtol=np.finfo(dtype).eps, atol=0)


@pytest.mark.parametrize("call", ["gemm", "gemv"])
def test_a_product_dimension_past_the_blas_integers_is_left_to_numpy(call, monkeypatch):
    found = _blas()
    bound = _spy_on_calls(monkeypatch, 5)
    rng = np.random.default_rng(4)
    a = rng.standard_normal((7, 3))  # K = 7 > 5
    if call == "gemm":
        b, out = rng.standard_normal((7, 2)), rng.standard_normal((3, 2))
        want = 2.0 * a.T @ b + 0.5 * out
        found.bind_gemm_tn(a, b, out)(2.0, 0.5)
    else:
        b, out = rng.standard_normal(7), rng.standard_normal(3)
        want = 2.0 * a.T @ b + 0.5 * out
        found.bind_gemv_t(a, b, out)(2.0, 0.5)
    assert bound == []  # no size the BLAS would wrap was handed to it
    np.testing.assert_allclose(out, want, rtol=_tolerance(np.float64, 7), atol=0)
