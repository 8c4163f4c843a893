"""The log_softmax VJP's and JVP's Numba kernels give the NumPy lane's results:
g - exp(logp) * sum(g) and v - sum(exp(logp) * v), exactly 0 where logp is -inf (a masked
entry), whose g or v leaves the sum.

The lane took both to NumPy, whose float64 exp takes a slow path for a subnormal result (a
log-probability below -708) and for -inf: 33x the time at 512 x 1000. Its kernels
(numba_softmax.log_softmax_vjp_rows, log_softmax_jvp_rows) are held here to the NumPy lane
within a few roundings, on ordinary and far-out log-probabilities, masks, NaN and infinite
cotangents, in place and apart; what they do not take (another axis, another layout or dtype,
out as logp) is the NumPy lane's own.
"""

from __future__ import annotations

import numpy as np
import pytest

import softgrad.functional as F
from softgrad.kernels.numpy_ops import NumpyOps

pytest.importorskip("numba")

from softgrad.kernels.numba_ops import NumbaOps

# rows the kernels take (PRODUCT_MIN_CLASSES = 32 classes and more), three axes, and empty ones:
# one of three axes has no rows view, which the dispatch must not ask for
SHAPES = [(300, 32), (100, 64), (64, 1000), (3, 4000), (4, 3, 40), (0, 50), (2, 3, 0)]


def _inputs(rng, shape, dtype, offset):
    x = (rng.standard_normal(shape) * 3).astype(dtype)
    logp = F.log_softmax(x) - dtype(offset)  # offset 720: probabilities below the normals
    g = rng.standard_normal(shape).astype(dtype)
    if shape[0] > 6:
        logp[1, 0] = -np.inf  # a masked entry, whose cotangent is infinite
        g[1, 0] = np.inf
        logp[2] = -np.inf  # a row masked whole
        logp[3, -1] = np.nan
        g[4, 0] = np.nan
        g[5, -1] = np.inf
    return logp, g


@pytest.mark.parametrize("product", ["log_softmax_vjp", "log_softmax_jvp"])
@pytest.mark.parametrize("in_place", [False, True], ids=["apart", "in place"])
@pytest.mark.parametrize("offset", [0.0, 720.0])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_the_products_are_the_numpy_lanes(shape, dtype, offset, in_place, product, rng, agree):
    if dtype == np.float32 and offset:
        offset = 90.0  # float32's subnormal probabilities
    logp, g = _inputs(rng, shape, dtype, offset)
    with np.errstate(all="ignore"):
        expected = getattr(NumpyOps(), product)(logp, g)
        cotangent = g.copy()
        got = getattr(NumbaOps(), product)(logp, cotangent, out=cotangent if in_place else None)
    assert (got is cotangent) == in_place
    magnitude = float(np.abs(g[np.isfinite(g)]).sum(axis=-1).max()) if g.size > 1 else 1.0
    agree(got, expected, 4, product, magnitude)
    if shape[0] > 6:
        assert got[1, 0] == 0 and np.all(got[2] == 0)  # masked: exactly 0


@pytest.mark.parametrize(
    "layout", ["other axis", "Fortran order", "float16", "a slice", "out is logp", "narrow rows"]
)
def test_what_the_kernel_does_not_take_is_the_numpy_lanes(layout, rng):
    logp, g = _inputs(rng, (12, 7 if layout == "narrow rows" else 40), np.float32, 0.0)
    axis, out = -1, None
    if layout == "other axis":
        axis = 0
    elif layout == "Fortran order":
        logp, g = np.asfortranarray(logp), np.asfortranarray(g)
    elif layout == "float16":
        logp, g = logp.astype(np.float16), np.nan_to_num(g, posinf=1.0).astype(np.float16)
    elif layout == "a slice":
        logp, g = logp[:, ::2], g[:, ::2]
    with np.errstate(all="ignore"):
        if layout == "out is logp":
            expected = NumpyOps().log_softmax_vjp(logp, g, out=logp.copy())
            got = NumbaOps().log_softmax_vjp(logp, g, out=logp)
        else:
            got = NumbaOps().log_softmax_vjp(logp, g, axis, out)
            expected = NumpyOps().log_softmax_vjp(logp, g, axis, out)
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("product", ["log_softmax_vjp", "log_softmax_jvp"])
def test_on_the_threads_a_rows_bits_are_its_own(product, rng):
    # from PARALLEL_MIN elements the threaded compile runs (the JVP's rows split in shares):
    # each row's result is the one it gets alone
    from softgrad.kernels.numba_threads import PARALLEL_MIN

    logp, g = _inputs(rng, (PARALLEL_MIN // 100 + 3, 100), np.float32, 0.0)
    ops = NumbaOps()
    with np.errstate(all="ignore"):
        whole = getattr(ops, product)(logp, g)
        for n in [*range(8), *range(len(logp) - 8, len(logp))]:
            alone = getattr(ops, product)(logp[n : n + 1], g[n : n + 1])
            np.testing.assert_array_equal(whole[n : n + 1], alone)
