"""``softgrad train`` refuses options that cannot act together, before it loads anything:
``--momentum`` with adam or adamw was ignored while the model's metadata recorded it, and
``--lr-schedule plateau`` with a ``--patience`` of 3 or less trained as the constant schedule
(early stopping ends the run after the 3 epochs without improvement that the schedule waits)."""

from __future__ import annotations

import pytest

import softgrad


@pytest.mark.parametrize("optimizer", ["adam", "adamw"])
def test_momentum_with_an_adam_optimizer_is_refused(usage_error, tmp_path, optimizer):
    out = tmp_path / "m.npz"
    line = usage_error(
        "train", "--optimizer", optimizer, "--momentum", "0.5", "--epochs", "1", "--out", out
    )
    assert line == (
        f"softgrad: error: train: --momentum is SGD's, so --optimizer must be sgd; got "
        f"--optimizer {optimizer} (drop --momentum: {optimizer} keeps moment estimates of its own)"
    )
    assert not out.exists()


def test_momentum_with_the_default_optimizer_says_the_optimizer_is_the_default(
    usage_error, tmp_path
):
    # "got --optimizer adam" read as if the user had typed it
    line = usage_error("train", "--momentum", "0.5", "--epochs", "1", "--out", tmp_path / "m.npz")
    assert line == (
        "softgrad: error: train: --momentum is SGD's, so --optimizer must be sgd; got the default "
        "--optimizer adam (drop --momentum: adam keeps moment estimates of its own)"
    )


@pytest.mark.parametrize("optimizer", ["adam", "adamw"])
def test_an_adam_model_records_no_momentum_it_did_not_use(cli, tmp_path, optimizer):
    # its settings held the default momentum 0.9, as if adam had used it
    out = tmp_path / "m.npz"
    argv = ["--epochs", "1", "--hidden", "8", "--quiet", "--json", "--out", out]
    result = cli("train", "--optimizer", optimizer, *argv)
    assert result.code == 0, result.err
    assert "momentum" not in result.json()["settings"]
    assert "momentum" not in softgrad.load(out).metadata["settings"]
    assert result.json()["settings"]["optimizer"] == optimizer


@pytest.mark.parametrize("patience", ["1", "3"])
def test_a_plateau_schedule_that_early_stopping_would_end_first_is_refused(
    usage_error, tmp_path, patience
):
    out = tmp_path / "m.npz"
    line = usage_error(
        "train", "--lr-schedule", "plateau", "--patience", patience, "--epochs", "1", "--out", out
    )
    assert line == (
        "softgrad: error: train: --lr-schedule plateau halves the learning rate after 3 epochs "
        "without improvement, so --patience must be above 3, or early stopping ends the run "
        f"first; got --patience {patience} (pass a larger --patience, or another --lr-schedule)"
    )
    assert not out.exists()


def test_sgd_momentum_and_a_plateau_with_room_train(cli, tmp_path):
    argv = ["--epochs", "1", "--hidden", "8", "--quiet", "--json", "--out", tmp_path / "m.npz"]
    result = cli("train", "--optimizer", "sgd", "--momentum", "0.5", *argv)
    assert result.code == 0, result.err
    assert result.json()["settings"]["momentum"] == 0.5
    result = cli("train", "--lr-schedule", "plateau", "--patience", "4", *argv)
    assert result.code == 0, result.err


def test_a_plateau_resume_is_told_to_pass_a_larger_patience(cli, usage_error, tmp_path):
    # the checkpoint's schedule cannot change on a resume: "or another --lr-schedule" was refused
    ckpt, out = tmp_path / "ck.npz", tmp_path / "m.npz"
    argv = ["--hidden", "8", "--quiet", "--out", out]
    result = cli(
        "train",
        "--lr-schedule",
        "plateau",
        "--patience",
        "5",
        "--epochs",
        "1",
        "--checkpoint",
        ckpt,
        *argv,
    )
    assert result.code == 0, result.err
    line = usage_error("train", "--resume", ckpt, "--patience", "3", "--epochs", "2", *argv)
    assert line.endswith("got --patience 3 (pass a larger --patience)")
