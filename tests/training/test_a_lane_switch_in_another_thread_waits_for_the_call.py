"""set_kernels is the process's setting, but a fit or a batched prediction already running in
another thread finishes on the lane it started on: each batch read the setting anew, so a
switch meanwhile mixed the lanes' roundings within one result (and one model file's training).
The thread that switches takes the new lane at once, inside a computation of its own too."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from softgrad.kernels import get_ops, registry, set_kernels
from softgrad.kernels.registry import OneLane
from softgrad.model import Model
from softgrad.nn import CrossEntropyLoss, build_mlp
from softgrad.optim import SGD
from softgrad.training import Callback, fit

pytest.importorskip("numba")


@pytest.fixture
def on_numba(monkeypatch):
    """The Numba lane in use, whatever SOFTGRAD_KERNELS says; the setting put back after."""
    from softgrad.kernels.numba_ops import NumbaOps

    monkeypatch.setattr(registry, "_active", {"ops": NumbaOps()})


def _switch_in_another_thread(name: str) -> None:
    thread = threading.Thread(target=set_kernels, args=(name,))
    thread.start()
    thread.join(30)
    assert not thread.is_alive()


def _data(rng):
    X = rng.normal(size=(300, 12)).astype(np.float32)
    return X, (X[:, 0] + X[:, 1] > 0).astype(np.int64) + (X[:, 2] > 1)


def _fit(X, y, callbacks=()):
    model = build_mlp(12, [16], 3, rng=0)
    fit(
        model,
        CrossEntropyLoss(),
        SGD(lr=0.1, momentum=0.9),
        X,
        y,
        epochs=3,
        batch_size=32,
        rng=0,
        callbacks=callbacks,
    )
    return model


class _Lanes(Callback):
    """The lane each batch ran on (read where the batch's kernels read it), and a switch by
    ``switch`` after the first epoch."""

    def __init__(self, switch):
        self.switch, self.lanes = switch, []

    def on_batch_end(self, state):
        self.lanes.append((state.epoch, get_ops().name))

    def on_epoch_end(self, state):
        if state.epoch == 1:
            self.switch("numpy")


def test_fit_finishes_on_its_lane_when_another_thread_switches(rng, on_numba):
    X, y = _data(rng)
    alone = _fit(X, y, [_Lanes(lambda name: None)])  # the same step as below: hooks per batch
    lanes = _Lanes(_switch_in_another_thread)
    switched = _fit(X, y, [lanes])
    assert {lane for _, lane in lanes.lanes} == {"numba"}
    # the same path on the same machine: bit for bit the run no one disturbed
    expected = alone.named_params()
    for name, value in switched.named_params().items():
        np.testing.assert_array_equal(value, expected[name], err_msg=name)
    assert get_ops().name == "numpy"  # the switch took effect for what comes next


def test_a_switch_in_fits_own_thread_takes_effect_at_once(rng, on_numba):
    X, y = _data(rng)
    lanes = _Lanes(set_kernels)  # a callback runs in fit's thread
    _fit(X, y, [lanes])
    assert {lane for epoch, lane in lanes.lanes if epoch == 1} == {"numba"}
    assert {lane for epoch, lane in lanes.lanes if epoch > 1} == {"numpy"}


def test_a_prediction_finishes_on_its_lane_when_another_thread_switches(rng, on_numba):
    model = Model(build_mlp(12, [16], 3, rng=0), ["a", "b", "c"])
    X = rng.normal(size=(1000, 12)).astype(np.float32)
    alone = model.predict_proba(X, batch_size=100)
    seen = []

    def head(z):
        seen.append(get_ops().name)
        if len(seen) == 1:
            _switch_in_another_thread("numpy")
        return z.copy()

    model.map_logits(X, head, batch_size=100)
    assert seen == ["numba"] * 10
    assert get_ops().name == "numpy"
    seen.clear()
    model.map_logits(X, head, batch_size=100)  # the next call takes the new lane
    assert seen == ["numpy"] * 10
    set_kernels("numba")
    np.testing.assert_array_equal(model.predict_proba(X, batch_size=100), alone)


def test_one_hold_object_entered_twice_lets_go_at_its_last_exit(on_numba):
    # the outer exit took the inner entry's lane for its own hold and kept the thread's for
    # good: later switches by other threads never reached this one
    lane = OneLane()
    with lane:
        with lane:
            pass
        _switch_in_another_thread("numpy")
        assert get_ops().name == "numba"  # still held by the outer entry
    assert get_ops().name == "numpy"


def test_a_hold_is_let_go_when_its_computation_raises(on_numba):
    with pytest.raises(ValueError, match="inside"):
        with OneLane():
            raise ValueError("inside")
    _switch_in_another_thread("numpy")
    assert get_ops().name == "numpy"


def test_an_exit_without_its_enter_leaves_the_next_hold_whole(on_numba):
    # the depth went below 0, and the next hold then took no lane (it returned None)
    OneLane().__exit__(None, None, None)
    with OneLane() as ops:
        assert ops is not None and ops.name == "numba"
        _switch_in_another_thread("numpy")
        assert get_ops() is ops
    assert get_ops().name == "numpy"
