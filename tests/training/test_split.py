import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from softgrad.training import stratified_split


@pytest.mark.parametrize("fraction", [0.1, 0.2, 0.25, 0.5, 0.77])
def test_split_is_stratified_disjoint_and_covering(fraction, rng):
    target = np.repeat([0, 1, 2, 3], [400, 100, 37, 3])
    rng.shuffle(target)
    train_idx, val_idx = stratified_split(target, fraction, np.random.default_rng(0))
    n = len(target)
    assert len(val_idx) == int(np.ceil(fraction * n))
    assert np.array_equal(np.sort(np.concatenate([train_idx, val_idx])), np.arange(n))
    assert np.all(np.diff(train_idx) > 0) and np.all(np.diff(val_idx) > 0)
    expected = np.bincount(target) * len(val_idx) / n
    got = np.bincount(target[val_idx], minlength=4)
    # each class gets floor or ceil of its exact share
    assert np.all(np.abs(got - expected) < 1.0), (got, expected)


def test_split_depends_only_on_the_generator_state():
    target = np.arange(100) % 3
    a = stratified_split(target, 0.3, np.random.default_rng(5))
    b = stratified_split(target, 0.3, np.random.default_rng(5))
    c = stratified_split(target, 0.3, np.random.default_rng(6))
    assert np.array_equal(a[1], b[1])
    assert not np.array_equal(a[1], c[1])


def test_split_works_for_non_contiguous_labels():
    target = np.array([7] * 10 + [42] * 30)
    _, val_idx = stratified_split(target, 0.25, np.random.default_rng(0))
    # exact shares 2.5 and 7.5 tie on the fractional part: the larger class gets the extra one
    assert np.count_nonzero(target[val_idx] == 7) == 2
    assert np.count_nonzero(target[val_idx] == 42) == 8


@pytest.mark.parametrize("fraction", [0.0, 1.0, -0.1, 1.5])
def test_split_rejects_fractions_outside_the_open_interval(fraction):
    with pytest.raises(ValueError, match=r"validation_fraction must be in \(0, 1\)"):
        stratified_split(np.zeros(10, dtype=int), fraction, np.random.default_rng(0))


def test_split_must_leave_a_training_sample():
    with pytest.raises(ValueError, match="at least one training sample"):
        stratified_split(np.zeros(3, dtype=int), 0.9, np.random.default_rng(0))


@settings(max_examples=50)
@given(
    labels=st.lists(st.integers(0, 5), min_size=2, max_size=200),
    fraction=st.floats(0.01, 0.99),
    seed=st.integers(0, 2**32 - 1),
)
def test_split_properties(labels, fraction, seed):
    target = np.array(labels)
    n = len(target)
    n_val = int(np.ceil(fraction * n))
    if n_val >= n:
        with pytest.raises(ValueError, match="at least one training sample"):
            stratified_split(target, fraction, np.random.default_rng(seed))
        return
    train_idx, val_idx = stratified_split(target, fraction, np.random.default_rng(seed))
    assert len(val_idx) == n_val
    assert np.array_equal(np.sort(np.concatenate([train_idx, val_idx])), np.arange(n))
    counts = np.bincount(target, minlength=6)
    got = np.bincount(target[val_idx], minlength=6)
    exact = counts * n_val / n
    assert np.all(got >= np.floor(exact)) and np.all(got <= np.ceil(exact)), (got, exact)
