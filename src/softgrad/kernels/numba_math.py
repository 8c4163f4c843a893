"""Numba: an exp, a log and a log1p that LLVM vectorises (float32 and float64) and a tanh
(float32), for the kernels' loops, and a vectorised test of a row for NaN and infinity
(:func:`holds_nonfinite`).

Numba compiles ``np.exp`` on a float32 to a call of the C library's ``expf`` per element (Numba
has no vector math library without Intel's SVML), and a call in a loop keeps the loop scalar.
:func:`exp` is the same function written as arithmetic, so a loop over it runs 8 lanes wide on
AVX2 (Cephes' ``expf``, as NumPy's own SIMD exp does it):

    k = round(x / ln 2),   r = x - k ln 2   (ln 2 in two parts, so r is exact)
    exp(x) = 2^k * p(r),   p a degree-7 polynomial on |r| <= ln(2) / 2
    2^k = 2^(k - k//2) * 2^(k//2), each factor built from its exponent bits

The two factors keep both normal down to the smallest subnormal result, so the subnormal range
rounds once, like a correctly rounded exp.

Accuracy, measured over every float32 in [-104, 89] (2.24e9 values, by hand;
``tests/kernels/test_numba_math.py`` checks every 997th of them on every run): at most 1 ulp
from exp in float64 rounded to float32, against 3 ulps for ``np.exp`` in float32 on this
machine; +inf above ln(FLT_MAX), 0 below the smallest subnormal, NaN for NaN, exactly like
``np.exp``.

The polynomial may be contracted into fused multiply-adds (fast-math ``contract`` on this
function alone, nothing else), which a CPU with FMA runs: 20% faster here. The 1 ulp bound
was checked over every float32 both ways, with FMA and without. The last bit of a result can
then differ between a CPU with FMA and one without; on one machine it is the same every run.

Speed (this machine, float32): 10,240 values in 8.2 us against 18.2 us for ``np.exp`` on the
array and 29.6 us for ``np.exp`` called per element in Numba; 2^20 values in 0.79, 1.85 and
3.04 ms.

float64 takes the same steps (fdlibm's ln 2 in two parts, exact for every k here) with exp(r)
as 1 + r + r^2 q(r), q the Taylor polynomial of degree 11 (the truncation is 4e-18 of the
result), and the two roundings a plain evaluation makes near 1 kept instead: r's (the part of
k ln 2 beyond its high half) and 1 + r's, each as a second float64, so the sum rounds once.
Evaluated plainly it was an ulp away on 9% of values, which unshifted log-softmax rows showed
(a row of one finite entry 1.0 gave -1.6e-16, not 0). It was the C library's exp, called per
element, which kept every float64 loop scalar: the Numba lane's float64 softmax took 2 to 4
times the NumPy lane's time on rows of 10 classes and more (2.3 against 0.77 ms at 512 x 1000).
A table of 2^(j / 128) (glibc's method: 0.07% of values an ulp away) was 15% slower still in a
plain loop and stayed scalar in the kernels' loops (its lookups are gathers): 136 against 51
us over 40,960 values read through a reshaped slice. Accuracy, measured over 4e8 random float64
(uniform over [-745.2, 709.8], [-50, 0], [-1, 1] and [-745.2, -700], subnormal results
included; by hand against exp in long double rounded to float64;
``tests/kernels/test_numba_math.py`` checks 2e6 of them on every run): at most 1 ulp from the
correctly rounded exp, with fused multiply-adds and without; an ulp away on 1.1-1.6% of values
(the C library's 0.07%, NumPy's AVX-512 exp 4%); +inf above ln(DBL_MAX), 0 below ln of half the
smallest subnormal, NaN for NaN, as ``np.exp``. Speed (this machine): 2^20 values in 1.13 ms
against 4.46 ms for the C library's exp per element and 0.83 ms for ``np.exp`` on the array.
NumPy's own ``np.exp`` is another implementation on some CPUs (its AVX-512 exp, on an AMD Zen
5: an ulp away on about 5% of values), so the two lanes' float64 exps may differ by an ulp.

:func:`tanh` is Cephes' ``tanhf`` on the same terms: ``x + x^3 q(x^2)`` for ``|x| < 0.625``,
``sign(x) (1 - 2 / (exp(2|x|) + 1))`` above (with the exp above), both computed and one
selected, so the loop stays vectorised. Accuracy, measured over every float32 in (-10, 10)
(2.19e9 values, by hand, with fused multiply-adds and without; beyond, tanh rounds to +-1):
at most 1 ulp from tanh in float64 rounded to float32, as ``np.tanh`` here. -0.0, subnormals
(tanh(x) = x), +-inf (+-1) and NaN as ``np.tanh``. Speed: 12,800 values in 17 us against
38 us for ``np.tanh``; the bias + tanh kernel at 128 x 100 takes 26 us, where the bias pass
plus ``np.tanh`` took 41. float64 goes to ``np.tanh`` in Numba, the C library's tanh, one call
per element (up to 2 ulps; NumPy's own within 1): the Numba lane takes a float64 tanh
activation to NumPy instead (numba_activations.bias_kernel), 6.2 against 0.7 ms at 4096 x 100.

:func:`log` is fdlibm's (musl's ``logf`` and ``log`` before their tables), without a table, so
a loop over it stays vectorised::

    x = 2^k m,   m in [sqrt(2)/2, sqrt(2)) from x's bits (a subnormal x scaled by 2^25 first,
                 2^54 in float64)
    f = m - 1,   s = f / (2 + f),   log(x) = k ln 2 + f - f^2/2 + s (f^2/2 + R(s^2))

R a minimax polynomial (degree 4 in s^2 in float32, 7 in float64), ln 2 in two parts; 0,
negative numbers, +inf and NaN are selected at the end as ``np.log`` gives them.
:func:`log1p` is ``log(u) - ((u - 1) - x) / u`` for u = 1 + x (the rounding of u taken back),
x itself where u rounds to 1 (-0.0 and subnormals kept), log1p(-1) = -inf and log1p(inf) =
inf. Accuracy, measured by hand against the correctly rounded function (float32: in float64
rounded to float32; float64: in long double rounded to float64), with fused multiply-adds:
at most 1 ulp over every positive float32 (an ulp away: 0.6% of logs, 2.8% of log1p's) and
every float32 of (-1, 0] for log1p (3.8%); float64 over 1.4e7 random values (exps of the whole
range, [0.5, 2], (-1, 1e4], exps of [-745, 0]): at most 1 ulp (7.6% of logs near 1, 23% of
log1p's on [0, 1], where the C library's are correctly rounded nearly always);
``tests/kernels/test_numba_math.py`` checks every 997th float32 and 1.5e6 float64 on every run.
Speed (2^20 values in [0.1, 10], this machine): float32 0.73 ms against 2.9 ms for the C
library's ``logf`` per element (NumPy's AVX-512 ``np.log`` on the array: 0.44 ms); float64 1.19
against 3.9 ms (``np.log``: 0.89). softplus (softgrad.kernels.numba_logistic) takes them.
"""

from __future__ import annotations

import math

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic, overload

__all__ = ["exp", "holds_nonfinite", "log", "log1p", "tanh"]

_F = np.float32
_LOG2E = _F(1.44269504088896341)
_LN2_HI = _F(0.693359375)  # ln 2 = _LN2_HI + _LN2_LO; k * _LN2_HI is exact for |k| < 2^9
_LN2_LO = _F(-2.12194440e-4)
# Cephes expf's minimax coefficients of (exp(r) - 1 - r) / r^2
_P0, _P1, _P2 = _F(1.9875691500e-4), _F(1.3981999507e-3), _F(8.3334519073e-3)
_P3, _P4, _P5 = _F(4.1665795894e-2), _F(1.6666665459e-1), _F(5.0000001201e-1)
_HALF, _ONE, _INF, _ZERO = _F(0.5), _F(1.0), _F(np.inf), _F(0.0)
_HIGH = _F(88.72283935546875)  # ln(FLT_MAX) rounded down: above it exp overflows
_LOW = _F(-103.972084)  # below ln of half the smallest subnormal, exp rounds to 0


def _bitcast(source_type, result_type, ir_type):
    """An intrinsic: the ``result_type`` (``ir_type`` in LLVM) with the IEEE bits of the
    ``source_type`` argument, a float's bits as an integer or back (a register move, no
    memory)."""

    @intrinsic
    def bitcast(typingctx, value):
        def codegen(context, builder, signature, args):
            return builder.bitcast(args[0], ir_type)

        return result_type(source_type), codegen

    return bitcast


_from_bits = _bitcast(types.int32, types.float32, ir.FloatType())
_float64_from_bits = _bitcast(types.int64, types.float64, ir.DoubleType())
_bits = _bitcast(types.float32, types.int32, ir.IntType(32))
_bits64 = _bitcast(types.float64, types.int64, ir.IntType(64))


def exp(x):
    """e**x; in Numba code, float32 and float64 take the vectorisable form (module
    docstring)."""
    return np.exp(x)


def _exp_float32(x):
    # clamped so the exponent arithmetic stays in range; the selects below restore the limits
    xc = min(max(x, _LOW), _HIGH)
    k = np.floor(xc * _LOG2E + _HALF)
    r = xc - k * _LN2_HI
    r = r - k * _LN2_LO
    p = (((((_P0 * r + _P1) * r + _P2) * r + _P3) * r + _P4) * r + _P5) * (r * r) + r + _ONE
    k_int = np.int32(k)
    half_k = k_int >> 1
    # below _LOW the second factor is 0, not 2^-75: p 2^-75 2^-75 underflowed to 0, which this
    # CPU finishes in microcode (exps of -inf, a mask's, 1.6x the time); 6% more elsewhere
    low = _from_bits((k_int - half_k + 127) << 23)
    y = p * _from_bits((half_k + 127) << 23) * (_ZERO if x < _LOW else low)
    y = _INF if x > _HIGH else y
    return x if x != x else y


_D = np.float64
_LOG2E_64 = _D(1.4426950408889634)
_LN2_HI_64 = _D(6.93147180369123816490e-01)  # fdlibm's: k * _LN2_HI_64 is exact for |k| < 2^20
_LN2_LO_64 = _D(1.90821492927058770002e-10)
# 1 / n! for n = 2 .. 13: exp(r) = 1 + r + r^2 (1/2! + r/3! + ... + r^11/13!)
_E2, _E3, _E4, _E5, _E6, _E7 = (_D(1.0 / math.factorial(n)) for n in range(2, 8))
_E8, _E9, _E10, _E11, _E12, _E13 = (_D(1.0 / math.factorial(n)) for n in range(8, 14))
_HALF_64, _ONE_64, _INF_64, _ZERO_64 = _D(0.5), _D(1.0), _D(np.inf), _D(0.0)
_HIGH_64 = _D(709.782712893384)  # ln(DBL_MAX) rounded down: above it exp overflows
_LOW_64 = _D(-745.1332191019411)  # ln of half the smallest subnormal: below it exp rounds to 0


def _exp_float64(x):
    # _exp_float32's steps, with r and 1 + r carried as two float64 each (module docstring)
    xc = min(max(x, _LOW_64), _HIGH_64)
    k = np.floor(xc * _LOG2E_64 + _HALF_64)
    r_high = xc - k * _LN2_HI_64  # exact
    r_cut = k * _LN2_LO_64
    r = r_high - r_cut
    r_rest = (r_high - r) - r_cut  # what r's rounding lost (exact where it matters)
    q = (((((_E13 * r + _E12) * r + _E11) * r + _E10) * r + _E9) * r + _E8) * r + _E7
    q = (((((q * r + _E6) * r + _E5) * r + _E4) * r + _E3) * r) + _E2
    one_r = _ONE_64 + r
    one_r_rest = (_ONE_64 - one_r) + r  # exact: |r| < 1
    p = one_r + ((q * (r * r) + one_r_rest) + r_rest)  # exp(r), one rounding of its sum
    k_int = np.int64(k)
    half_k = k_int >> 1
    y = p * _float64_from_bits((half_k + 1023) << 52)
    low = _float64_from_bits((k_int - half_k + 1023) << 52)
    y = y * (_ZERO_64 if x < _LOW_64 else low)  # as _exp_float32's
    y = _INF_64 if x > _HIGH_64 else y
    return x if x != x else y


# fdlibm's log (musl's logf and log before their tables): x = 2^k m, m in [sqrt(2)/2, sqrt(2)),
# f = m - 1, s = f / (2 + f), log(m) = f - f^2/2 + s (f^2/2 + R(s^2)), R a minimax polynomial
_LG1, _LG2 = _F(0.66666662693), _F(0.40000972152)
_LG3, _LG4 = _F(0.28498786688), _F(0.24279078841)
_LN2_HI_LOG = _F(6.9313812256e-01)  # ln 2 in two parts: k * _LN2_HI_LOG is exact for |k| < 2^8
_LN2_LO_LOG = _F(9.0580006145e-06)
_TINY = _F(np.finfo(np.float32).tiny)  # below it (subnormals), x is scaled by 2^25 first
_SUBNORMAL_SCALE = _F(2.0**25)
_NAN = _F(np.nan)
_SQRT_HALF_BITS = 0x3F3504F3  # the bits of sqrt(2)/2 in float32


def log(x):
    """The natural logarithm; in Numba code, float32 and float64 take the vectorisable form
    (module docstring)."""
    return np.log(x)


def log1p(x):
    """log(1 + x); in Numba code, float32 and float64 take the vectorisable form (module
    docstring)."""
    return np.log1p(x)


def _log_float32(x):
    # every step for every element, and selects for the limits, so a loop stays vectorised
    subnormal = x < _TINY
    scaled = x * _SUBNORMAL_SCALE if subnormal else x
    bits = _bits(scaled) + (0x3F800000 - _SQRT_HALF_BITS)  # m's exponent moved to k's
    k = (bits >> 23) - 0x7F - (25 if subnormal else 0)
    f = _from_bits((bits & 0x007FFFFF) + _SQRT_HALF_BITS) - _ONE
    s = f / (_TWO + f)
    z = s * s
    w = z * z
    r = z * (_LG1 + w * _LG3) + w * (_LG2 + w * _LG4)
    half_f2 = _HALF * f * f
    dk = _F(k)
    y = s * (half_f2 + r) + dk * _LN2_LO_LOG - half_f2 + f + dk * _LN2_HI_LOG
    y = -_INF if x == _ZERO else y
    y = _NAN if x < _ZERO else y
    y = _INF if x == _INF else y
    return x if x != x else y


_LG1_64, _LG2_64 = _D(6.666666666666735130e-01), _D(3.999999999940941908e-01)
_LG3_64, _LG4_64 = _D(2.857142874366239149e-01), _D(2.222219843214978396e-01)
_LG5_64, _LG6_64 = _D(1.818357216161805012e-01), _D(1.531383769920937332e-01)
_LG7_64 = _D(1.479819860511658591e-01)
_TINY_64 = _D(np.finfo(np.float64).tiny)
_SUBNORMAL_SCALE_64 = _D(2.0**54)
_NAN_64, _TWO_64 = _D(np.nan), _D(2.0)
_SQRT_HALF_BITS_64 = 0x3FE6A09E << 32  # the high bits of sqrt(2)/2 in float64


def _log_float64(x):
    # _log_float32's steps (fdlibm's log: the same ln 2 in two parts as _exp_float64)
    subnormal = x < _TINY_64
    scaled = x * _SUBNORMAL_SCALE_64 if subnormal else x
    bits = _bits64(scaled) + ((0x3FF00000 << 32) - _SQRT_HALF_BITS_64)
    k = (bits >> 52) - 0x3FF - (54 if subnormal else 0)
    f = _float64_from_bits((bits & 0x000FFFFFFFFFFFFF) + _SQRT_HALF_BITS_64) - _ONE_64
    half_f2 = _HALF_64 * f * f
    s = f / (_TWO_64 + f)
    z = s * s
    w = z * z
    r = z * (_LG1_64 + w * (_LG3_64 + w * (_LG5_64 + w * _LG7_64)))
    r = r + w * (_LG2_64 + w * (_LG4_64 + w * _LG6_64))
    dk = _D(k)
    y = s * (half_f2 + r) + dk * _LN2_LO_64 - half_f2 + f + dk * _LN2_HI_64
    y = -_INF_64 if x == _ZERO_64 else y
    y = _NAN_64 if x < _ZERO_64 else y
    y = _INF_64 if x == _INF_64 else y
    return x if x != x else y


def _log1p_float32(x):
    # log(u) for u = 1 + x, less what u's rounding added: log(u) - (u - 1 - x) / u
    u = _ONE + x
    y = log(u) - ((u - _ONE) - x) / u
    y = x if u == _ONE else y  # |x| below half an ulp of 1 (and -0.0): log1p(x) = x
    y = -_INF if x == -_ONE else y
    return _INF if x == _INF else y


def _log1p_float64(x):
    u = _ONE_64 + x
    y = log(u) - ((u - _ONE_64) - x) / u
    y = x if u == _ONE_64 else y
    y = -_INF_64 if x == -_ONE_64 else y
    return _INF_64 if x == _INF_64 else y


# Cephes tanhf: tanh(x) = x + x^3 q(x^2) for |x| < 0.625, q its minimax polynomial; above,
# 1 - 2 / (exp(2|x|) + 1) with the sign of x, whose cancellation costs under 1 ulp there
_TANH_SMALL = _F(0.625)
_Q0, _Q1, _Q2 = _F(-5.70498872745e-3), _F(2.06390887954e-2), _F(-5.37397155531e-2)
_Q3, _Q4 = _F(1.33314422036e-1), _F(-3.33332819422e-1)
_TWO = _F(2.0)


def tanh(x):
    """tanh(x); in Numba code, float32 takes the vectorisable form (module docstring)."""
    return np.tanh(x)


def _tanh_float32(x):
    # both branches for every element and a select, so a loop over it stays vectorised
    a = np.abs(x)
    large = _ONE - _TWO / (exp(a + a) + _ONE)  # exp(2|x|) = inf above 44: exactly 1
    large = -large if x < 0 else large
    z = x * x
    small = ((((_Q0 * z + _Q1) * z + _Q2) * z + _Q3) * z + _Q4) * z * x + x
    small = x if z == 0 else small  # tanh(x) = x where x * x underflows; keeps -0.0
    return large if a >= _TANH_SMALL else small  # NaN fails the test: small gives NaN


def _vector_forms(function, forms, numpy_function):
    """In Numba code, ``function`` of a float of a type in ``forms`` is that form (its
    polynomial may contract into fused multiply-adds: fast-math ``contract`` on it alone); of
    another float, ``numpy_function``."""

    @overload(function, jit_options={"fastmath": {"contract"}})
    def _overload(x):
        if x in forms:
            return forms[x]
        if isinstance(x, types.Float):
            return lambda x: numpy_function(x)
        return None


_vector_forms(exp, {types.float32: _exp_float32, types.float64: _exp_float64}, np.exp)
_vector_forms(tanh, {types.float32: _tanh_float32}, np.tanh)
_vector_forms(log, {types.float32: _log_float32, types.float64: _log_float64}, np.log)
_vector_forms(log1p, {types.float32: _log1p_float32, types.float64: _log1p_float64}, np.log1p)


# A sum of x * 0 (+-0 for a finite x, NaN for +-inf or NaN, whose sum is NaN in any order; no
# term can overflow, unlike a sum of the values or their squares). Fast-math ``reassoc`` on this
# function alone lets LLVM vectorise the sum (a strict float sum is one long chain); the
# reordering changes nothing here. Called, not inlined by Numba, so the flag stays on its own
# instructions when LLVM inlines it into a kernel: 1,024 x 100 float32 rows read in a bias +
# ReLU pass took 12 us more with it, where a count of ``x != x`` stayed scalar (27 us more).
@njit(fastmath={"reassoc"})
def holds_nonfinite(row):
    """Whether the 1-D array ``row`` holds a NaN or an infinity (in Numba code)."""
    zero = row.dtype.type(0)
    total = zero
    for h in range(row.size):
        total += row[h] * zero
    return total != zero
