"""benchmarks/profile_step.py's stage breakdown times the steps fit runs: the trusted steps stay
on, and SGD's folded backward and its update show as stages of their own."""

from __future__ import annotations

import importlib
import types

import numpy as np
import pytest

profile_step = importlib.import_module("profile_step")
peers = importlib.import_module("peers")


@pytest.fixture
def ticking_clock(monkeypatch):
    """profile_step's clock made a counter that moves 1 s a reading: every stage the profile
    wraps and calls measures a whole number of seconds > 0, on any machine and any clock."""
    readings = iter(range(10**9))
    monkeypatch.setattr(
        profile_step, "time", types.SimpleNamespace(perf_counter=lambda: next(readings))
    )


def _breakdown(optimizer, warmup=1):
    rng = np.random.default_rng(0)
    X = rng.random((1000, 20), dtype=np.float32)
    y = rng.integers(0, 3, 1000)
    spec = peers.RunSpec(8, 32, optimizer, 0.01)  # 31 full batches of 32 and a short one
    return profile_step.stage_breakdown(X, y, 3, spec, warmup=warmup)


def test_sgd_is_timed_on_its_folded_trusted_steps(ticking_clock):
    epoch, stages = _breakdown("sgd")
    assert {"gather batch", "plan: forward + loss", "plan: backward (gradients folded)",
            "optimizer step", "rest of the loop"} <= set(stages)  # fmt: skip
    assert sum(stages.values()) == pytest.approx(epoch)
    assert all(seconds > 0 for name, seconds in stages.items() if name != "rest of the loop")


def test_adam_is_timed_on_its_trusted_steps_unfolded():
    _, stages = _breakdown("adam")
    assert "plan: backward (gradients folded)" not in stages
    assert {"gather batch", "plan: forward + loss", "plan: backward", "optimizer step"} <= set(
        stages
    )


def test_the_profile_leaves_the_trusted_step_as_it_was():
    from softgrad.training import trusted_step

    before = trusted_step.TrustedStep.__init__
    _breakdown("sgd")
    assert trusted_step.TrustedStep.__init__ is before


def test_adams_update_is_timed_once_however_many_epochs_ran(monkeypatch, ticking_clock):
    # the flat state outlives each epoch's trusted step: wrapping its update on the state
    # itself wrapped the last epoch's wrapper again, and the measured epoch counted the update
    # once per epoch run (an Adam profile's "rest of the loop" came out negative)
    made = []

    class Recorded(peers.SoftgradPeer):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            made.append(self)

    monkeypatch.setattr(profile_step, "SoftgradPeer", Recorded)
    _, stages = _breakdown("adam", warmup=3)
    state = made[0].opt._flat
    assert "advance" not in vars(state)  # the state is as fit left it
    assert stages["optimizer step"] > 0 and stages["rest of the loop"] > 0
