"""The two-thread reference (benchmarks/threaded_ref.py) computes NumpyRefPeer's training: the
same shuffles and arithmetic, its batch split in two halves whose gradients are summed, and its
two replicas of the parameters stay bit-identical."""

from __future__ import annotations

import importlib
import threading

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

data = importlib.import_module("data")
peers = importlib.import_module("peers")
threaded_ref = importlib.import_module("threaded_ref")

EPS32 = float(np.finfo(np.float32).eps)


@pytest.fixture(scope="module")
def digits():
    return data.load_digits_split()


@pytest.mark.parametrize(("optimizer", "lr"), [("sgd", 0.03), ("adam", 0.001)])
def test_it_trains_as_the_numpy_reference_does(digits, optimizer, lr):
    # batch 100 over 1,437 rows: 14 whole batches and a last one of 37 (halves of 18 and 19)
    spec = peers.RunSpec(hidden=16, batch_size=100, optimizer=optimizer, lr=lr)
    ref = peers.NumpyRefPeer(spec, digits.X_train, digits.y_train, digits.n_classes)
    ours = peers.PEERS["threads-ref"](spec, digits.X_train, digits.y_train, digits.n_classes)
    assert ours.name == "threads-ref"
    start = [p.copy() for p in ours.replicas[0].params]
    for _ in range(2):
        ref.train_epoch()
        ours.train_epoch()
    first, second = (r.params for r in ours.replicas)
    for a, b in zip(first, second, strict=True):
        assert_array_equal(a, b)  # the same sum, in the same order, on both threads
    # two orders of summation (each half's products, then their sum): float32 rounding apart
    for got, want, before in zip(first, ref.params, start, strict=True):
        assert_allclose(got, want, rtol=64 * EPS32, atol=64 * EPS32)
        assert not np.array_equal(got, before)
    assert ours.accuracy(digits.X_test, digits.y_test) == ref.accuracy(digits.X_test, digits.y_test)


def test_an_error_in_one_thread_ends_the_epoch_with_it(digits, monkeypatch):
    spec = peers.RunSpec(hidden=8, batch_size=64, optimizer="sgd", lr=0.03)
    ours = threaded_ref.ThreadedRefPeer(spec, digits.X_train, digits.y_train, digits.n_classes)
    real = threaded_ref.half_step

    def fails_off_the_main_thread(*args):
        if threading.current_thread() is not threading.main_thread():
            raise MemoryError("the second thread's half")
        return real(*args)

    monkeypatch.setattr(threaded_ref, "half_step", fails_off_the_main_thread)
    with pytest.raises(MemoryError, match="the second thread's half"):
        ours.train_epoch()  # the main thread stops at its next wait instead of waiting on


def test_it_refuses_an_x_it_would_copy(digits):
    spec = peers.RunSpec(hidden=8, batch_size=64, optimizer="sgd", lr=0.03)
    with pytest.raises(ValueError, match="C-contiguous float32 X"):
        threaded_ref.ThreadedRefPeer(
            spec, digits.X_train.astype(np.float64), digits.y_train, digits.n_classes
        )


def test_a_pixel_set_is_held_as_its_bytes_and_trains_as_the_float32_one(digits):
    # values k / 255: held as the bytes k (as softgrad train holds an image set), each gathered
    # row scaled by 1/255, which is k / 255 to float32 rounding
    pixels = (np.rint(digits.X_train * 255) / np.float32(255)).astype(np.float32)
    spec = peers.RunSpec(hidden=16, batch_size=100, optimizer="sgd", lr=0.03)
    ours = threaded_ref.ThreadedRefPeer(spec, pixels, digits.y_train, digits.n_classes)
    assert ours.X.dtype == np.uint8 and ours.x_scale == np.float32(1 / 255)
    assert_array_equal(ours.X, np.rint(pixels * 255))
    ref = peers.NumpyRefPeer(spec, pixels, digits.y_train, digits.n_classes)
    ref.train_epoch()
    ours.train_epoch()
    for got, want in zip(ours.replicas[0].params, ref.params, strict=True):
        assert_allclose(got, want, rtol=64 * EPS32, atol=64 * EPS32)


def test_a_set_that_is_not_pixel_bytes_is_kept_as_it_is(digits):
    X = digits.X_train  # values k / 16: not bytes over 255
    held, scale = threaded_ref.pixel_bytes(X)
    assert held is X and scale == 1.0
    shifted = np.full((3, 2), 2.0, np.float32)  # 510 / 255: out of a byte's range
    assert threaded_ref.pixel_bytes(shifted)[0] is shifted
