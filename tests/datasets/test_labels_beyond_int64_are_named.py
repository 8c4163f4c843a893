"""uint64 labels past int64's range are refused for what they are: they were refused as
"whole numbers (below 2**53 in size)", which int64 labels of 2**60 are not held to."""

import numpy as np
import pytest

from softgrad.datasets.labels import encode_labels
from softgrad.errors import DataFormatError


def _locate(part, i):
    return f"y[{i}]"


def test_uint64_labels_past_int64_are_refused_by_their_range():
    y = np.arange(6, dtype=np.uint64) % 3
    y[4] += np.uint64(2**63)
    match = (
        r"^load_file: 'd\.npz': labels must be integers below 2\*\*63 \(int64's range\) or class "
        r"names; got 9223372036854775809 at y\[4\] \(store them as strings to keep them as names\)$"
    )
    with pytest.raises(DataFormatError, match=match):
        encode_labels([y], "load_file: 'd.npz'", _locate)


@pytest.mark.parametrize("dtype", [np.uint64, np.int64])
def test_integer_labels_within_int64_keep_every_digit(dtype):
    y = (np.arange(6) % 3 + 2**60 + 1).astype(dtype)  # beyond float64's integers
    (codes,), names = encode_labels([y], "load_file: 'd.npz'", _locate)
    assert names == [str(2**60 + 1), str(2**60 + 2), str(2**60 + 3)]
    np.testing.assert_array_equal(codes, np.arange(6) % 3)
