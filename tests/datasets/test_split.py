"""stratified_split: disjoint, complete, per-class shares, deterministic."""

import numpy as np
import pytest

from softgrad.datasets import stratified_split


def _labels(counts):
    return np.repeat(np.arange(len(counts)), counts)


@pytest.mark.parametrize("fraction", [0.1, 0.2, 0.5, 0.9])
@pytest.mark.parametrize("counts", [[10, 10, 10], [50, 7, 3, 100], [2, 2], [1, 5, 9]])
def test_split_is_a_stratified_partition(rng, counts, fraction):
    y = rng.permutation(_labels(counts))
    train_idx, test_idx = stratified_split(y, fraction, rng=3)

    assert np.intersect1d(train_idx, test_idx).size == 0
    np.testing.assert_array_equal(np.sort(np.concatenate([train_idx, test_idx])), np.arange(y.size))
    assert np.all(np.diff(train_idx) > 0) and np.all(np.diff(test_idx) > 0)
    test_counts = np.bincount(y[test_idx], minlength=len(counts))
    for c, n in enumerate(counts):
        expected = int(np.rint(n * fraction))
        expected = min(max(expected, 1 if n >= 2 else 0), n - 1)  # at least one on each side
        assert test_counts[c] == expected, (c, n, test_counts[c], expected)


def test_same_seed_same_split_different_seed_different_split():
    y = _labels([40, 40, 40])
    first = stratified_split(y, 0.25, rng=7)
    again = stratified_split(y, 0.25, rng=np.random.default_rng(7))
    other = stratified_split(y, 0.25, rng=8)
    np.testing.assert_array_equal(first[1], again[1])
    assert not np.array_equal(first[1], other[1])


def test_single_sample_class_stays_in_training():
    y = np.array([0, 0, 0, 0, 1])
    train_idx, test_idx = stratified_split(y, 0.5, rng=0)
    assert 4 in train_idx
    assert np.all(y[test_idx] == 0)


def test_empty_labels():
    train_idx, test_idx = stratified_split(np.zeros(0, dtype=np.int64), 0.2, rng=0)
    assert train_idx.size == 0 and test_idx.size == 0


@pytest.mark.parametrize("fraction", [0.0, 1.0, -0.1, 1.5])
def test_fraction_must_be_strictly_between_0_and_1(fraction):
    with pytest.raises(ValueError, match="test_fraction must be in"):
        stratified_split(np.array([0, 1, 0, 1]), fraction)


@pytest.mark.parametrize("y", [np.array([0.0, 1.0]), np.array([-1, 0]), np.zeros((2, 2), int)])
def test_labels_must_be_non_negative_integers(y):
    with pytest.raises(ValueError, match="y must be 1-D non-negative integers"):
        stratified_split(y, 0.5)
