"""softgrad.checks: the shared rules, where their callers do not already show every branch."""

from __future__ import annotations

import numpy as np
import pytest

from softgrad.checks import check_sample_weight


def test_sample_weights_come_back_as_floats_in_the_dtype_asked_for():
    assert check_sample_weight([1, 0, 2], (3,), "f").dtype == np.float64
    assert check_sample_weight(np.ones(3, np.float32), (3,), "f").dtype == np.float32
    w = check_sample_weight([True, False], (2,), "f", dtype=np.float32)
    assert w.dtype == np.float32 and w.tolist() == [1.0, 0.0]
    assert check_sample_weight(np.ones((2, 3)), None, "f").shape == (2, 3)  # no shape rule


def test_a_batch_may_weigh_zero_but_a_fit_may_not():
    assert check_sample_weight(np.zeros(4), (4,), "f").sum() == 0
    assert check_sample_weight(np.zeros(0), (0,), "f").size == 0
    with pytest.raises(ValueError, match=r"^fit: w must be finite, >= 0 and not all 0; got va"):
        check_sample_weight(np.zeros(4), (4,), "fit", "w", may_all_be_zero=False)
    with pytest.raises(ValueError, match=r"not all 0; got no weights$"):
        check_sample_weight(np.zeros(0), (0,), "fit", may_all_be_zero=False)
    # the sum is taken in float64: float32 weights near float32's maximum overflow their own
    big = np.full(4, 3e38, np.float32)
    assert check_sample_weight(big, (4,), "fit", may_all_be_zero=False) is not None


@pytest.mark.parametrize(
    ("weight", "error", "words"),
    [
        ([1e300, 1.0], ValueError, r"^fit: sample_weight must fit in float32 .* row 0"),
        (["1", "2"], TypeError, r"^fit: sample_weight must hold real numbers; got dtype <U1"),
        ([1 + 1j, 1], TypeError, "must hold real numbers; got dtype complex128"),
        ([[1.0, 2.0]], ValueError, r"must have shape \(2,\), one weight per sample; got shape"),
        ([1.0, np.nan], ValueError, "must be finite and >= 0; got values from nan to nan"),
    ],
)
def test_bad_sample_weights_are_named(weight, error, words):
    with pytest.raises(error, match=words):
        check_sample_weight(weight, (2,), "fit", dtype=np.float32)
