"""softgrad._blas: NumPy's own BLAS axpy, and the NumPy fallback beside it."""

from __future__ import annotations

import ctypes
import dataclasses
import sys
from pathlib import Path

import numpy as np
import pytest

from softgrad import _blas


def _numpy_wheel_openblas() -> bool:
    config = np.show_config(mode="dicts")
    blas = config.get("Build Dependencies", {}).get("blas", {})
    return sys.platform == "linux" and "openblas" in str(blas.get("name", ""))


@pytest.mark.skipif(not _numpy_wheel_openblas(), reason="NumPy is not linked against OpenBLAS")
def test_the_library_is_the_one_numpy_loaded():
    assert _blas.available()
    path = Path(_blas.library_path())
    numpy_dir = Path(np.__file__).resolve().parent
    assert path.parent in (numpy_dir, numpy_dir.parent / "numpy.libs", numpy_dir / ".dylibs")
    assert str(path) in _blas._mapped_blas_files()  # already mapped: the same pool, no copy


@pytest.fixture(params=["blas", "numpy"])
def path(request, monkeypatch):
    """Each implementation in turn: NumPy's BLAS (when found) and the NumPy fallback."""
    if request.param == "numpy":
        monkeypatch.setattr(_blas, "_library", lambda: None)
    elif not _blas.available():
        pytest.skip("NumPy's BLAS was not found here")
    return request.param


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("size", [7, 5000, 100_003])
@pytest.mark.parametrize("alpha", [1.0, -0.37, 0.0])
def test_axpy_adds_alpha_times_x(path, dtype, size, alpha):
    rng = np.random.default_rng(size)
    x = rng.standard_normal(size).astype(dtype)
    y = rng.standard_normal(size).astype(dtype)
    expected = y.astype(np.float64) + alpha * x.astype(np.float64)
    _blas.axpy(alpha, x, y)
    eps = np.finfo(dtype).eps
    # one or two roundings (BLAS may fuse the multiply-add): within 2 ulps of each term's size
    np.testing.assert_allclose(y, expected, rtol=0, atol=2 * eps * (abs(alpha) + 1) * 6)
    assert y.dtype == dtype


def test_a_two_dimensional_array_is_updated_as_a_whole(path):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((96, 64)).astype(np.float32)
    y = np.zeros((96, 64), dtype=np.float32)
    _blas.axpy(2.0, x, y)
    np.testing.assert_array_equal(y, 2 * x)


@pytest.mark.parametrize(
    "make",
    [
        lambda: (np.ones(10_000, dtype=np.float64), np.ones(10_000, dtype=np.float32)),
        lambda: (np.ones(20_000, dtype=np.float32)[::2], np.ones(10_000, dtype=np.float32)),
        lambda: (np.ones(10_000, dtype=np.float32), np.ones(20_000, dtype=np.float32)[::2]),
        lambda: (np.ones(10_000, dtype=np.float16), np.ones(10_000, dtype=np.float16)),
    ],
    ids=["mixed-dtypes", "strided-x", "strided-y", "float16"],
)
def test_what_blas_cannot_take_goes_through_numpy(path, make):
    x, y = make()
    _blas.axpy(0.5, x, y)
    np.testing.assert_array_equal(y, np.full(10_000, 1.5, dtype=y.dtype))
    assert np.all(x == 1)  # x is never written


def test_a_read_only_target_is_refused_as_numpy_refuses_it(path):
    y = np.ones(10_000, dtype=np.float32)
    y.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        _blas.axpy(1.0, np.ones_like(y), y)


def test_a_build_whose_integer_width_disagrees_with_numpys_config_is_not_used(monkeypatch):
    # NumPy says its BLAS takes 32-bit integers: the 64-bit entry points must not be bound
    if not _blas.available():
        pytest.skip("NumPy's BLAS was not found here")
    lib = ctypes.CDLL(_blas.library_path())
    monkeypatch.setattr(_blas, "_declared_ilp64", lambda: False)
    bound = _blas._bind(lib, _blas.library_path())
    assert bound is None or all(f.argtypes[0] is ctypes.c_int32 for f in bound.axpy.values())


def test_alpha_zero_computes_zero_times_x_like_numpy(path):
    # BLAS skips the update when alpha == 0; NumPy (and torch) compute 0 * x, NaN for NaN
    y = np.ones(10_000, dtype=np.float32)
    x = np.full(10_000, np.nan, dtype=np.float32)
    _blas.axpy(0.0, x, y)
    assert np.isnan(y).all()


def test_byte_swapped_arrays_are_updated_by_numpy(path):
    y = np.ones(10_000, dtype=">f4")
    _blas.axpy(0.5, np.ones(10_000, dtype=">f4"), y)
    np.testing.assert_array_equal(y, 1.5)
    assert y.dtype == np.dtype(">f4")


def test_a_size_beyond_the_librarys_integer_type_goes_through_numpy():
    if not _blas.available():
        pytest.skip("NumPy's BLAS was not found here")
    small_ints = dataclasses.replace(_blas._library(), max_size=9_999)
    x = np.ones(10_000, dtype=np.float32)
    assert not _blas._direct(small_ints, 1.0, x, x.copy())
    assert _blas._direct(_blas._library(), 1.0, x, x.copy())
