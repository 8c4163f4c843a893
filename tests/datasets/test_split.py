"""stratified_split: disjoint, complete, exact total, per-class largest remainder, deterministic."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from softgrad.datasets import stratified_split
from softgrad.datasets.split import held_out_per_class


def _labels(counts):
    return np.repeat(np.arange(len(counts)), counts)


def _assert_shares(counts, got, n_held):
    """Largest remainder, but for a class's last sample: held out only when every class gives
    all it can spare (M > N - C); a share beyond its ceiling only when no class that can spare
    one is below its own."""
    counts, got = np.asarray(counts), np.asarray(got)
    got, counts = got[counts > 0], counts[counts > 0]
    n = counts.sum()
    exact = counts * n_held / n
    spare = counts - 1
    assert got.sum() == n_held and np.all(got <= counts), (got, counts)
    assert np.all(got >= np.minimum(np.floor(exact), spare)), (got, exact)
    if np.any(got == counts):
        assert n_held > n - len(counts) and np.all(got >= spare), (got, counts)
    if np.any(got > np.ceil(exact)):
        assert np.all(got >= np.minimum(np.ceil(exact), spare)), (got, exact)


def _assert_partition(train_idx, held_idx, n):
    assert np.intersect1d(train_idx, held_idx).size == 0
    np.testing.assert_array_equal(np.sort(np.concatenate([train_idx, held_idx])), np.arange(n))
    assert np.all(np.diff(train_idx) > 0) and np.all(np.diff(held_idx) > 0)


@pytest.mark.parametrize("fraction", [0.1, 0.2, 0.5, 0.9])
@pytest.mark.parametrize("counts", [[10, 10, 10], [50, 7, 3, 100], [2, 2], [1, 5, 9]])
def test_split_is_a_stratified_partition(rng, counts, fraction):
    y = rng.permutation(_labels(counts))
    n_held = math.ceil(fraction * y.size)
    if n_held == y.size:  # [2, 2] at 0.9: ceil(3.6) = 4 would leave nothing to train on
        with pytest.raises(ValueError, match="must leave at least one training sample"):
            stratified_split(y, fraction, rng=3)
        return
    train_idx, held_idx = stratified_split(y, fraction, rng=3)

    _assert_partition(train_idx, held_idx, y.size)
    assert len(held_idx) == n_held
    _assert_shares(counts, np.bincount(y[held_idx], minlength=len(counts)), n_held)


@pytest.mark.parametrize("fraction", [0.1, 0.2, 0.25, 0.5, 0.77])
def test_split_is_stratified_disjoint_and_covering(fraction, rng):
    target = np.repeat([0, 1, 2, 3], [400, 100, 37, 3])
    rng.shuffle(target)
    train_idx, held_idx = stratified_split(target, fraction, np.random.default_rng(0))
    n = len(target)
    assert len(held_idx) == int(np.ceil(fraction * n))
    _assert_partition(train_idx, held_idx, n)
    expected = np.bincount(target) * len(held_idx) / n
    got = np.bincount(target[held_idx], minlength=4)
    # each class gets floor or ceil of its exact share
    assert np.all(np.abs(got - expected) < 1.0), (got, expected)


def test_digits_sized_split_holds_out_ceil_of_the_fraction():
    # 1797 samples: ceil(0.2 * 1797) = ceil(359.4) = 360 held out, 1437 kept
    y = np.arange(1797) % 10
    train_idx, held_idx = stratified_split(y, 0.2, rng=0)
    assert (len(train_idx), len(held_idx)) == (1437, 360)
    # shares 180 * 360 / 1797 = 36.06 (classes 0..6) and 179 * 360 / 1797 = 35.86 (7..9):
    # floors 36 and 35 sum to 357, the 3 missing go to the largest remainders (classes 7, 8, 9)
    assert np.bincount(y[held_idx]).tolist() == [36] * 10


def test_same_seed_same_split_different_seed_different_split():
    y = _labels([40, 40, 40])
    first = stratified_split(y, 0.25, rng=7)
    again = stratified_split(y, 0.25, rng=np.random.default_rng(7))
    other = stratified_split(y, 0.25, rng=8)
    np.testing.assert_array_equal(first[1], again[1])
    assert not np.array_equal(first[1], other[1])


def test_split_depends_only_on_the_generator_state():
    target = np.arange(100) % 3
    a = stratified_split(target, 0.3, np.random.default_rng(5))
    b = stratified_split(target, 0.3, np.random.default_rng(5))
    c = stratified_split(target, 0.3, np.random.default_rng(6))
    assert np.array_equal(a[1], b[1])
    assert not np.array_equal(a[1], c[1])


def test_a_generator_is_advanced_by_one_permutation():
    generator = np.random.default_rng(9)
    stratified_split(np.arange(30) % 3, 0.2, generator)
    reference = np.random.default_rng(9)
    reference.permutation(30)
    assert generator.random() == reference.random()


def test_split_works_for_non_contiguous_labels():
    target = np.array([7] * 10 + [42] * 30)
    _, held_idx = stratified_split(target, 0.25, np.random.default_rng(0))
    # exact shares 2.5 and 7.5 tie on the fractional part: the larger class gets the extra one
    assert np.count_nonzero(target[held_idx] == 7) == 2
    assert np.count_nonzero(target[held_idx] == 42) == 8


def test_single_sample_class_stays_in_training():
    # N = 5, M = ceil(2.5) = 3; shares 2.4 and 0.6: the singleton has the larger remainder, but
    # the missing sample goes to the class with two or more samples
    y = np.array([0, 0, 0, 0, 1])
    train_idx, held_idx = stratified_split(y, 0.5, rng=0)
    assert 4 in train_idx
    assert np.all(y[held_idx] == 0) and len(held_idx) == 3


def test_single_sample_classes_are_held_out_only_to_reach_the_total():
    # N = 7, M = ceil(3.5) = 4; shares 16/7 = 2.29 and 4/7 = 0.57 three times: floors sum to 2,
    # class 0 takes one missing sample (its ceiling, 3), the last goes to singleton class 1
    # (equal remainders, smaller label)
    y = np.array([0, 0, 0, 0, 1, 2, 3])
    _, held_idx = stratified_split(y, 0.5, rng=0)
    assert np.bincount(y[held_idx], minlength=4).tolist() == [3, 1, 0, 0]


def test_only_singletons_still_give_the_exact_total():
    train_idx, held_idx = stratified_split(np.array([0, 1, 2]), 0.2, rng=0)
    assert len(held_idx) == 1 and len(train_idx) == 2


@pytest.mark.parametrize("y", [np.zeros(0, dtype=np.int64), np.array([3])])
def test_fewer_than_two_samples_cannot_be_split(y):
    with pytest.raises(ValueError, match=r"stratified_split: y must have at least 2 samples"):
        stratified_split(y, 0.2, rng=0)


@pytest.mark.parametrize("fraction", [0.0, 1.0, -0.1, 1.5, float("nan")])
def test_fraction_must_be_strictly_between_0_and_1(fraction):
    with pytest.raises(ValueError, match=r"stratified_split: fraction must be in \(0, 1\)"):
        stratified_split(np.array([0, 1, 0, 1]), fraction)


@pytest.mark.parametrize("fraction", ["0.2", None, True])
def test_fraction_must_be_a_real_number(fraction):
    with pytest.raises(TypeError, match="stratified_split: fraction must be a real number"):
        stratified_split(np.array([0, 1, 0, 1]), fraction)


def test_split_must_leave_a_training_sample():
    with pytest.raises(ValueError, match="stratified_split: fraction must leave at least one"):
        stratified_split(np.zeros(3, dtype=int), 0.9, np.random.default_rng(0))


@pytest.mark.parametrize("y", [np.array([0.0, 1.0]), np.array([-1, 0]), np.zeros((2, 2), int)])
def test_labels_must_be_non_negative_integers(y):
    with pytest.raises(ValueError, match="stratified_split: y must be 1-D non-negative integers"):
        stratified_split(y, 0.5)


def test_rng_must_be_a_generator_an_int_or_none():
    with pytest.raises(TypeError, match=r"stratified_split: rng must be a numpy\.random"):
        stratified_split(np.array([0, 1, 0, 1]), 0.5, rng=0.5)


@settings(max_examples=50)
@given(
    labels=st.lists(st.integers(0, 5), min_size=2, max_size=200),
    fraction=st.floats(0.01, 0.99),
    seed=st.integers(0, 2**32 - 1),
)
def test_split_properties(labels, fraction, seed):
    target = np.array(labels)
    n = len(target)
    n_held = int(np.ceil(fraction * n))
    if n_held >= n:
        with pytest.raises(ValueError, match="at least one training sample"):
            stratified_split(target, fraction, np.random.default_rng(seed))
        return
    train_idx, held_idx = stratified_split(target, fraction, np.random.default_rng(seed))
    assert len(held_idx) == n_held
    _assert_partition(train_idx, held_idx, n)
    _assert_shares(
        np.bincount(target, minlength=6), np.bincount(target[held_idx], minlength=6), n_held
    )


def test_a_single_sample_stays_in_training_where_whole_shares_leave_one_over():
    # 100 samples each of two classes and five of one: M = ceil(0.2 * 205) = 41, the two large
    # classes' shares are exactly 20, and the remainders alone sent the 41st, a class's only
    # sample, to the test set (a class never learnt and always wrong); a large class gives 21
    y = np.repeat(np.arange(7), [100, 100, 1, 1, 1, 1, 1])
    train_idx, held_idx = stratified_split(y, 0.2, rng=0)
    assert np.bincount(y[held_idx], minlength=7).tolist() == [21, 20, 0, 0, 0, 0, 0]
    assert set(y[train_idx]) == set(range(7))


def test_a_ceiling_that_would_take_a_class_whole_goes_to_a_class_that_can_spare_it():
    # shares at 0.9 of [50, 7, 3, 100]: 45, 6.3, 2.7, 90; the ceilings of the 7 and the 3 would
    # leave them nothing to train on: the largest class gives the missing one
    y = np.repeat(np.arange(4), [50, 7, 3, 100])
    _, held_idx = stratified_split(y, 0.9, rng=0)
    assert np.bincount(y[held_idx]).tolist() == [45, 6, 2, 91]


def test_held_out_per_class_is_what_the_split_holds_out(rng):
    y = rng.permutation(np.repeat([0, 1, 3, 4], [40, 9, 1, 2]))
    for fraction in (0.05, 0.2, 0.5, 0.9):
        _, held_idx = stratified_split(y, fraction, rng=1)
        np.testing.assert_array_equal(
            held_out_per_class(y, fraction), np.bincount(y[held_idx], minlength=5)
        )


def test_samples_beyond_the_ceilings_are_shared_in_proportion():
    # 60 single samples leave 19 of 109 to the three large classes, beyond their whole shares:
    # all on the largest held out 47% of it and 31% of the two one sample smaller
    y = np.repeat(np.arange(63), [101, 100, 100] + [1] * 60)
    _, held_idx = stratified_split(y, 0.3, rng=0)
    assert np.bincount(y[held_idx], minlength=63)[:3].tolist() == [37, 36, 36]


def test_counts_whose_products_pass_int64_are_refused():
    # M * N_c wrapped past 2**63 - 1: the shares came out negative and the split never ended
    from softgrad.datasets.split import MAX_SAMPLES, _allocate

    counts = np.array([2, 10**9, 10**9, 10**9, 10**9], dtype=np.int64)
    with pytest.raises(ValueError, match=r"y must hold at most 3,037,000,499 samples"):
        _allocate(counts, int(counts.sum()) - 5)
    assert MAX_SAMPLES**2 <= 2**63 - 1 < (MAX_SAMPLES + 1) ** 2
