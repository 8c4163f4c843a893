"""``--lr-schedule step`` multiplies the rate by 0.1 after each third of the run's epochs, as
``--help`` and docs/cli.md say: twice in a run of 5 epochs (its step size ``epochs // 3`` was 1
there, four decays), twice in one of 10 (three, the last epoch at a thousandth)."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize(
    ("epochs", "decays"),
    [
        (3, [0, 1, 2]),
        (5, [0, 0, 1, 1, 2]),
        (7, [0, 0, 0, 1, 1, 1, 2]),
        (10, [0, 0, 0, 0, 1, 1, 1, 1, 2, 2]),
        (4, [0, 0, 1, 1]),  # no step size gives 4 epochs two decays: ceil(4 / 3) = 2 gives one
    ],
)
def test_the_step_schedule_decays_after_each_third_of_the_epochs(cli, tmp_path, epochs, decays):
    result = cli(
        "train",
        "--epochs",
        epochs,
        "--lr-schedule",
        "step",
        "--optimizer",
        "sgd",
        "--lr",
        "0.05",
        "--hidden",
        "8",
        "--json",
        "--quiet",
        "--out",
        tmp_path / "m.npz",
    )
    assert result.code == 0, result.err
    rates = result.json()["history"]["lr"]
    assert rates == pytest.approx([0.05 * 0.1**k for k in decays], rel=1e-12)
