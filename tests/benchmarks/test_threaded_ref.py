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
