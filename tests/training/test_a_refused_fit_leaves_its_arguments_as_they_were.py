"""A fit refused while it sets up its run (a resume checkpoint refused for a later entry, a
validation split that leaves a side weighing 0) leaves the model's weights, the optimizer, the
schedule and the caller's generator as they were: fixed and called again, it trains as the same
fit would have without the refused one."""

from __future__ import annotations

import copy
import dataclasses
import threading

import numpy as np
import pytest

from softgrad.nn import CrossEntropyLoss, build_mlp
from softgrad.optim import Adam, StepLR
from softgrad.training import fit
from softgrad.training.checkpoint import load_checkpoint

_X = np.random.default_rng(0).standard_normal((60, 3)).astype(np.float32)
_Y = (_X[:, 0] > 0).astype(np.int64)


def _parts():
    """A model, its optimizer and a schedule over it."""
    optimizer = Adam(lr=0.01)
    return build_mlp(3, [4], 2, rng=7), optimizer, StepLR(optimizer, step_size=1)


def _as_they_are(model, optimizer, schedule, generator):
    return (
        {key: value.copy() for key, value in model.named_params().items()},
        copy.deepcopy(optimizer.state_dict()),
        schedule.state_dict(),
        optimizer.lr,
        copy.deepcopy(generator.bit_generator.state),
    )


def _assert_same(before, after):
    for one, other in zip(before, after, strict=True):
        if isinstance(one, dict):  # the weights, the optimizer's and the schedule's states
            assert one.keys() == other.keys()
            for key in one:
                np.testing.assert_array_equal(one[key], other[key], err_msg=key)
        else:
            assert one == other


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    path = tmp_path_factory.mktemp("run") / "run.ckpt"
    model, optimizer, schedule = _parts()
    fit(model, CrossEntropyLoss(), optimizer, _X, _Y, epochs=2, rng=0, validation_fraction=0.2,
        lr_schedule=schedule, checkpoint=path)  # fmt: skip
    return load_checkpoint(path)


@pytest.mark.parametrize(
    ("entry", "damage"),
    [
        ("val_idx", lambda ckpt: {"val_idx": np.array([0, 999])}),
        ("optimizer", lambda ckpt: {"optimizer": {**ckpt.optimizer, "v.2.b": np.full(2, np.nan)}}),
        ("schedule", lambda ckpt: {"schedule": {**ckpt.schedule, "gamma": 1e300}}),
    ],
)
def test_a_resume_refused_for_a_later_entry_changes_nothing(checkpoint, entry, damage):
    # the weights were the checkpoint's, and the optimizer, the schedule and the generator
    # had taken its state, before the entry was refused
    model, optimizer, schedule = _parts()
    generator = np.random.default_rng(123)
    before = _as_they_are(model, optimizer, schedule, generator)
    bad = dataclasses.replace(checkpoint, **damage(checkpoint))
    with pytest.raises(ValueError, match=rf"entry '{entry}' is malformed"):
        fit(model, CrossEntropyLoss(), optimizer, _X, _Y, epochs=4, rng=generator,
            validation_fraction=0.2, lr_schedule=schedule, resume=bad)  # fmt: skip
    _assert_same(before, _as_they_are(model, optimizer, schedule, generator))


def test_a_split_refused_for_its_weights_draws_nothing_from_the_callers_generator():
    weight = np.zeros(len(_Y))
    weight[0] = 1.0  # one side of any split weighs 0
    model, optimizer, _ = _parts()
    generator = np.random.default_rng(5)
    state = copy.deepcopy(generator.bit_generator.state)
    with pytest.raises(ValueError, match="sample_weight must not be all 0"):
        fit(model, CrossEntropyLoss(), optimizer, _X, _Y, epochs=1, rng=generator,
            validation_fraction=0.5, sample_weight=weight)  # fmt: skip
    assert generator.bit_generator.state == state


class _LockedOrder:
    """A user's batch-order policy that keeps state and cannot be copied (it holds a lock)."""

    def __init__(self) -> None:
        self.lock, self.turns = threading.Lock(), 0

    def order(self, train_idx, generator):
        self.turns += 1
        return np.roll(train_idx, self.turns)

    def state_dict(self):
        return {"turns": self.turns}

    def load_state_dict(self, state):
        self.turns = int(state["turns"])


def test_a_policy_that_cannot_be_copied_still_resumes(tmp_path):
    # the checks load each state into a copy first; what cannot be copied loads as it did
    path = tmp_path / "run.ckpt"
    model, optimizer, _ = _parts()
    fit(model, CrossEntropyLoss(), optimizer, _X, _Y, epochs=2, rng=0, shuffle=_LockedOrder(),
        checkpoint=path)  # fmt: skip
    policy = _LockedOrder()
    model, optimizer, _ = _parts()
    fit(model, CrossEntropyLoss(), optimizer, _X, _Y, epochs=3, rng=0, shuffle=policy,
        resume=path)  # fmt: skip
    assert policy.turns == 3
