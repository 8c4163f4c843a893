"""The stopping and batch-order policies refuse a state before they load any of it, naming the
entry: a bad ``wait`` had left ``best`` and ``best_epoch`` loaded (with a bare ``int()`` error
or a KeyError), and a bad ``order`` was refused by NumPy after the RandomState had taken the
state."""

from __future__ import annotations

import numpy as np
import pytest

from softgrad.training import EarlyStopping, ReshuffleEachEpoch


@pytest.mark.parametrize(
    ("bad", "error", "message"),
    [
        ({"best": 0.25, "best_epoch": 7, "wait": "two"}, TypeError, r"state\['wait'\] must be an"),
        ({"best": 0.25, "best_epoch": 7}, ValueError, r"state must hold .*; missing \['wait'\]"),
        ({"best": "low", "best_epoch": 7, "wait": 1}, TypeError, r"state\['best'\] must be"),
        ({"best": 0.25, "best_epoch": -1, "wait": 1}, ValueError, r"state\['best_epoch'\] must be"),
        (
            {"best": 0.25, "best_epoch": 7, "wait": 1, "best.0.W": np.array(["a"])},
            TypeError,
            r"state\['best.0.W'\] must be an array of floats",
        ),
    ],
    ids=["wait", "missing", "best", "best_epoch", "best weights"],
)
def test_early_stopping_refuses_a_state_before_loading_any_of_it(bad, error, message):
    stopper = EarlyStopping(patience=3)
    before = stopper.state_dict()
    with pytest.raises(error, match=rf"^EarlyStopping.load_state_dict: {message}"):
        stopper.load_state_dict(bad)
    assert stopper.state_dict() == before
    good = {"best": 0.25, "best_epoch": 7, "wait": 1, "best.0.W": np.ones(2)}
    stopper.load_state_dict(good)
    assert stopper.best_params["0.W"].tolist() == [1.0, 1.0] and stopper.wait == 1


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"order": ["a", "b"]}, r"state\['order'\] must be None or a 1-D array of sample indices"),
        ({"keys": np.zeros(3)}, r"state must hold a RandomState's state"),
    ],
    ids=["order", "keys"],
)
def test_reshuffle_each_epoch_refuses_a_state_before_loading_any_of_it(change, message):
    random_state = np.random.RandomState(0)
    policy = ReshuffleEachEpoch(random_state)
    before = random_state.get_state()
    state = {**ReshuffleEachEpoch(np.random.RandomState(99)).state_dict(), **change}
    with pytest.raises(ValueError, match=rf"^ReshuffleEachEpoch.load_state_dict: {message}"):
        policy.load_state_dict(state)
    after = random_state.get_state()
    assert after[0] == before[0] and np.array_equal(after[1], before[1]) and after[2:] == before[2:]
