"""load_digits: the embedded default data set and its fixed split."""

import numpy as np
from sklearn.datasets import load_digits as sklearn_digits

from softgrad.datasets import digits as digits_module
from softgrad.datasets import load_digits


def test_shapes_dtypes_and_hints():
    ds = load_digits()
    assert ds.X_train.shape == (1437, 64) and ds.X_test.shape == (360, 64)
    assert ds.X_train.dtype == np.uint8  # stored as the images are: read scaled per batch
    assert ds.y_train.dtype == np.int64
    assert ds.image_shape == (8, 8)
    assert ds.scale == 16.0
    assert ds.class_names == [str(k) for k in range(10)]
    assert ds.name == "digits"
    assert ds.X_train.max() == 16


def test_split_is_deterministic():
    a, b = load_digits(), load_digits()
    np.testing.assert_array_equal(a.X_test, b.X_test)
    np.testing.assert_array_equal(a.y_train, b.y_train)


def test_split_is_stratified_20_percent():
    ds = load_digits()
    total = np.bincount(np.concatenate([ds.y_train, ds.y_test]))
    assert total.tolist() == [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]
    # ceil(0.2 * 1797) = 360 held out; the shares total * 360 / 1797 floor to
    # [35, 36, 35, 36, 36, 36, 36, 35, 34, 36] (355), and the 5 missing go to the largest
    # remainders: 7 (.860), 8 (.858), 3 (.661), 0 (.659), then 1 and 5 tie at .461 (both 182
    # images): the smaller label, 1
    exact = total * 360 / 1797
    got = np.bincount(ds.y_test)
    assert got.tolist() == [36, 37, 35, 37, 36, 36, 36, 36, 35, 36]
    assert np.all((np.floor(exact) <= got) & (got <= np.ceil(exact))), (got, exact)


def test_split_is_a_partition_of_sklearn_data():
    ds = load_digits()
    bunch = sklearn_digits()
    mine = np.concatenate(
        [np.column_stack([ds.X_train, ds.y_train]), np.column_stack([ds.X_test, ds.y_test])]
    )
    theirs = np.column_stack([bunch.data, bunch.target]).astype(np.int64)
    # same multiset of (pixels, label) rows: sort both lexicographically
    mine = mine[np.lexsort(mine.T[::-1])]
    theirs = theirs[np.lexsort(theirs.T[::-1])]
    np.testing.assert_array_equal(mine, theirs)


def test_the_file_read_without_scikit_learn_is_its_load_digits():
    X, y = digits_module._digits_arrays()
    bunch = sklearn_digits()
    assert X.dtype == np.uint8 and y.dtype == np.int64
    np.testing.assert_array_equal(X, bunch.data)
    np.testing.assert_array_equal(y, bunch.target)


def test_where_the_file_moved_scikit_learn_reads_it(monkeypatch):
    expected = digits_module._digits_arrays()
    monkeypatch.setattr(digits_module, "_DIGITS_FILE", ("datasets", "data", "moved.csv.gz"))
    X, y = digits_module._digits_arrays()
    np.testing.assert_array_equal(X, expected[0])
    np.testing.assert_array_equal(y, expected[1])
