"""softgrad.checks.first_beyond_dtype, the one scan behind the API's range check
(check_fits_rows: NaN and inf passed over) and the data files' (first_bad_value: refused)."""

from __future__ import annotations

import numpy as np
import pytest

from softgrad.checks import first_beyond_dtype
from softgrad.datasets.features import first_bad_value


@pytest.mark.parametrize(
    ("cells", "nonfinite", "expected"),
    [
        ({}, True, None),
        ({(2, 1): 1e39}, False, (2, 1)),
        ({(2, 1): -1e39, (1, 3): 1e300}, False, (1, 3)),  # row order, not magnitude
        ({(0, 0): np.nan, (3, 2): 1e39}, False, (3, 2)),  # NaN left to the finiteness checks
        ({(0, 0): np.nan, (3, 2): 1e39}, True, (0, 0)),
        ({(1, 0): -np.inf}, False, None),
        ({(1, 0): -np.inf}, True, (1, 0)),
        ({(1, 2): np.finfo(np.float32).max}, True, None),  # the maximum itself fits
    ],
)
def test_the_first_value_beyond_float32_in_row_order(cells, nonfinite, expected):
    rows = np.ones((4, 5))
    for at, value in cells.items():
        rows[at] = value
    assert first_beyond_dtype(rows, np.float32, nonfinite) == expected


def test_float16_rows_compare_in_their_own_dtype_and_empty_rows_have_nothing():
    # float32's maximum is inf in float16: the bound is float16's own, without a warning
    rows = np.array([[1.0, 65504.0], [np.inf, 2.0]], dtype=np.float16)
    assert first_beyond_dtype(rows, np.float32, False) is None
    assert first_beyond_dtype(rows, np.float32, True) == (1, 0)
    assert first_beyond_dtype(np.empty((0, 3)), np.float32, True) is None
    assert first_beyond_dtype(np.array([[1e300, 1.0]]), np.float64, True) is None


def test_the_data_files_check_is_the_scan_with_nan_and_inf_refused():
    rows = np.array([[1.0, 2.0], [3.0, np.nan], [1e39, 0.0]])
    assert first_bad_value(rows) == first_beyond_dtype(rows, np.float32, True) == (1, 1)
