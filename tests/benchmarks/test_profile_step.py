"""benchmarks/profile_step.py's stage breakdown times the steps fit runs: the trusted steps stay
on, and SGD's folded backward and its update show as stages of their own."""

from __future__ import annotations

import importlib

import numpy as np
import pytest

profile_step = importlib.import_module("profile_step")
peers = importlib.import_module("peers")


def _breakdown(optimizer):
    rng = np.random.default_rng(0)
    X = rng.random((1000, 20), dtype=np.float32)
    y = rng.integers(0, 3, 1000)
    spec = peers.RunSpec(8, 32, optimizer, 0.01)  # 31 full batches of 32 and a short one
    return profile_step.stage_breakdown(X, y, 3, spec)


def test_sgd_is_timed_on_its_folded_trusted_steps():
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
