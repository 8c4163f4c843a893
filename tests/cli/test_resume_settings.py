"""``train --resume`` with changed settings: each setting is honoured or refused, never ignored,
and the model's metadata records the settings the run was trained with."""

from __future__ import annotations

import numpy as np
import pytest

import softgrad
from softgrad.cli import main, train_config
from softgrad.training.checkpoint import load_checkpoint

# the run every test resumes: settings away from the digits defaults, so that a resumed run
# that fell back to a default would show in its metadata
STARTED = {
    "--hidden": "16",
    "--lr": "0.002",
    "--seed": "3",
    "--batch-size": "16",
    "--val-fraction": "0.2",
    "--lr-schedule": "constant",
    "--optimizer": "sgd",
    "--momentum": "0.5",
    "--weight-decay": "0.001",
}
STARTED_ARGV = [part for pair in STARTED.items() for part in pair]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    folder = tmp_path_factory.mktemp("resume")
    argv = ["train", "--epochs", "2", "--quiet", "--out", str(folder / "started.npz")]
    argv += ["--checkpoint", str(folder / "ck.npz")]
    for option, value in STARTED.items():
        argv += [option, value]
    assert main(argv) == 0
    return folder / "ck.npz"


def test_every_train_setting_is_either_honoured_or_refused_on_resume():
    honoured, refused = set(train_config.RESUME_HONOURED), set(train_config.RESUME_REFUSED)
    assert not honoured & refused
    assert honoured | refused == set(train_config.DEFAULTS["digits"])


def test_checkpoint_stores_the_settings_of_its_run(checkpoint):
    settings = load_checkpoint(checkpoint).settings
    assert settings["hidden"] == [16] and settings["lr"] == 0.002 and settings["seed"] == 3
    assert settings["optimizer"] == "sgd" and settings["batch_size"] == 16


@pytest.mark.parametrize(
    ("option", "given", "saved"),
    [
        ("--hidden", "32", "16"),
        ("--activation", "tanh", "relu"),
        ("--dropout", "0.2", "0"),
        ("--dtype", "float64", "float32"),
        ("--optimizer", "adam", "sgd"),
        ("--lr", "0.5", "0.002"),
        ("--lr-schedule", "step", "constant"),
        ("--momentum", "0.9", "0.5"),
        ("--weight-decay", "0", "0.001"),
        ("--label-smoothing", "0.1", "0"),
        ("--batch-size", "64", "16"),
        ("--val-fraction", "0.3", "0.2"),
        ("--seed", "9", "3"),
    ],
)
def test_resume_refuses_a_changed_setting_naming_both_values(
    usage_error, checkpoint, tmp_path, option, given, saved
):
    out = tmp_path / "resumed.npz"
    line = usage_error("train", "--resume", checkpoint, "--out", out, "--quiet", option, given)
    resumed = f"to resume {str(checkpoint)!r}, the checkpoint's value"
    assert f"train: {option} must be {saved} {resumed}" in line
    assert f"got {given} (leave {option} out to continue that run" in line
    assert not out.exists()


def test_resume_accepts_a_refused_setting_given_the_checkpoints_value(cli, checkpoint, tmp_path):
    out = tmp_path / "resumed.npz"
    result = cli("train", "--resume", checkpoint, "--out", out, "--quiet", *STARTED_ARGV)
    assert result.code == 0, result.err


def test_resumed_model_metadata_records_the_checkpoints_settings_not_the_defaults(
    cli, checkpoint, tmp_path
):
    out = tmp_path / "resumed.npz"
    result = cli("train", "--resume", checkpoint, "--epochs", "3", "--out", out, "--quiet")
    assert result.code == 0, result.err
    settings = softgrad.load(out).metadata["settings"]
    assert settings == {**load_checkpoint(checkpoint).settings, "epochs": 3}
    assert settings["lr"] == 0.002 and settings["batch_size"] == 16 and settings["seed"] == 3
    assert settings["val_fraction"] == 0.2 and settings["hidden"] == [16]


def test_resume_honours_epochs_and_patience_and_records_them(cli, checkpoint, tmp_path):
    out = tmp_path / "resumed.npz"
    argv = ["--epochs", "4", "--patience", "1", "--out", out, "--quiet", "--json"]
    result = cli("train", "--resume", checkpoint, *argv)
    assert result.code == 0, result.err
    assert result.json()["epochs_run"] <= 4
    settings = softgrad.load(out).metadata["settings"]
    assert settings["epochs"] == 4 and settings["patience"] == 1


def test_resume_without_patience_goes_on_with_the_runs_early_stopping(cli, tmp_path):
    # left out, --patience was None: early stopping off, and the resumed run ended on its last
    # weights where the uninterrupted one restored its best
    argv = ["train", "--quiet", "--lr-schedule", "constant", "--lr", "0.01", "--threads", "1"]
    full, resumed, ck = tmp_path / "full.npz", tmp_path / "resumed.npz", tmp_path / "ck.npz"
    assert cli(*argv, "--epochs", "12", "--patience", "20", "--out", full).code == 0
    part = ["--epochs", "4", "--patience", "20", "--out", tmp_path / "part.npz"]
    assert cli(*argv, *part, "--checkpoint", ck).code == 0
    assert cli("train", "--resume", ck, "--epochs", "12", "--out", resumed, "--quiet").code == 0
    expected, got = softgrad.load(full), softgrad.load(resumed)
    assert got.metadata["settings"]["patience"] == 20
    for key, weights in expected.network.named_params().items():
        assert np.array_equal(got.network.named_params()[key], weights), key


def test_resume_of_an_adam_run_refuses_momentum_as_a_new_run_does(cli, usage_error, tmp_path):
    # adam does not use --momentum: it was accepted here (and a new run recorded it in the
    # model's metadata without using it); both are refused now, naming --optimizer
    ckpt, out = tmp_path / "ck.npz", tmp_path / "m.npz"
    argv = ["--hidden", "8", "--quiet", "--lr-schedule", "constant", "--out", out]
    assert cli("train", "--epochs", "1", "--checkpoint", ckpt, *argv).code == 0
    line = usage_error("train", "--epochs", "2", "--resume", ckpt, "--momentum", "0.3", *argv)
    assert line == (
        "softgrad: error: train: --momentum is SGD's, so --optimizer must be sgd; got the "
        "checkpoint's --optimizer adam (drop --momentum: adam keeps moment estimates of its own)"
    )
    assert len(softgrad.load(out).metadata["history"]["train_loss"]) == 1  # the first run's


def test_resume_refuses_fewer_epochs_than_the_checkpoint_has_trained(
    usage_error, checkpoint, tmp_path
):
    # fit would train nothing and the metadata would record 1 epoch for a 2-epoch model
    out = tmp_path / "resumed.npz"
    line = usage_error("train", "--resume", checkpoint, "--out", out, "--quiet", "--epochs", "1")
    assert f"train: --epochs must be at least 2 to resume {str(checkpoint)!r}, the epochs" in line
    assert "the total, not the epochs to add" in line
    assert not out.exists()


def test_resume_without_epochs_finishes_the_checkpoint_runs_total(cli, tmp_path):
    argv = ["train", "--quiet", "--lr-schedule", "constant", "--hidden", "8"]
    ck = tmp_path / "ck.npz"
    assert cli(*argv, "--epochs", "3", "--out", tmp_path / "a.npz", "--checkpoint", ck).code == 0
    assert cli(*argv, "--epochs", "5", "--out", tmp_path / "b.npz", "--checkpoint", ck).code == 0
    # the checkpoint of a 5-epoch run, left after epoch 5: resumed without --epochs it is
    # already finished (5, not the digits default of 30)
    result = cli("train", "--quiet", "--resume", ck, "--out", tmp_path / "c.npz")
    assert result.code == 0, result.err
    assert softgrad.load(tmp_path / "c.npz").metadata["settings"]["epochs"] == 5


def test_resume_reads_the_checkpoints_arrays_once(cli, checkpoint, tmp_path, monkeypatch):
    # the CLI read the whole file to check its settings, then fit read it all again
    import softgrad.serialization

    real, read = softgrad.serialization.read_npz, []

    def spy(path, *args, **kwargs):
        read.append(str(path))
        return real(path, *args, **kwargs)

    monkeypatch.setattr(softgrad.serialization, "read_npz", spy)
    result = cli("train", "--resume", checkpoint, "--epochs", "3", "--out", tmp_path / "r.npz")
    assert result.code == 0, result.err
    assert read.count(str(checkpoint)) == 1, read


def test_resume_with_a_larger_patience_takes_on_a_run_that_stopped_early(cli, tmp_path):
    # the stop was the checkpoint's: the resumed run trained 0 epochs where a run started
    # with --patience 8 goes on to epoch 26
    argv = ["train", "--quiet", "--json", "--hidden", "128", "--threads", "1", "--dtype"]
    argv += ["float64", "--optimizer", "adam", "--lr", "0.02", "--lr-schedule", "constant"]
    ck = tmp_path / "ck.npz"
    stopped = cli(*argv, "--epochs", "40", "--patience", "4", "--out", tmp_path / "a.npz",
                  "--checkpoint", ck).json()  # fmt: skip
    assert stopped["stopped_early"] and stopped["epochs_run"] < 20
    full = cli(*argv, "--epochs", "40", "--patience", "8", "--out", tmp_path / "f.npz").json()
    resumed = cli("train", "--resume", ck, "--epochs", "40", "--patience", "8", "--quiet",
                  "--json", "--out", tmp_path / "r.npz").json()  # fmt: skip
    assert resumed["epochs_run"] > stopped["epochs_run"]
    assert (resumed["epochs_run"], resumed["best_epoch"]) == (
        full["epochs_run"],
        full["best_epoch"],
    )
    expected, got = softgrad.load(tmp_path / "f.npz"), softgrad.load(tmp_path / "r.npz")
    for key, weights in expected.network.named_params().items():
        assert np.array_equal(got.network.named_params()[key], weights), key
