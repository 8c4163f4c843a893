"""``train --resume`` of a checkpoint written before checkpoints recorded their settings (the
format of softgrad before stop 17: the same file without its "settings" entry).

The run is checked against what the checkpoint's state proves (layers, dropout or not, dtype,
optimizer, learning rate, momentum, weight decay, schedule, a validation split or not); what
it cannot prove and the run depends on must be given, never guessed; a note and the model's
metadata name what was used unchecked.
"""

from __future__ import annotations

import numpy as np
import pytest

import softgrad
from softgrad.cli import main
from softgrad.serialization import read_npz, write_npz
from softgrad.training.checkpoint import load_checkpoint

STARTED = {
    "--hidden": "16,8",
    "--activation": "tanh",
    "--lr": "0.002",
    "--seed": "3",
    "--batch-size": "16",
    "--label-smoothing": "0.1",
    "--lr-schedule": "constant",
    "--optimizer": "sgd",
    "--momentum": "0.5",
    "--weight-decay": "0.001",
}
# what the state cannot prove and the run depends on: the user gives it again
UNPROVEN = ["--activation", "tanh", "--batch-size", "16", "--label-smoothing", "0.1"]


def _argv(options):
    return [part for pair in options.items() for part in pair]


def _strip_settings(path, old):
    """The checkpoint at ``path`` in the format written before the settings record."""
    arrays, meta = read_npz(path, what="checkpoint")
    del meta["settings"]
    write_npz(old, arrays, meta, kind="checkpoint")
    assert load_checkpoint(old).settings is None


@pytest.fixture(scope="module")
def old_checkpoint(tmp_path_factory):
    folder = tmp_path_factory.mktemp("legacy")
    argv = ["train", "--epochs", "2", "--quiet", "--out", str(folder / "started.npz")]
    assert main([*argv, "--checkpoint", str(folder / "ck.npz"), *_argv(STARTED)]) == 0
    _strip_settings(folder / "ck.npz", folder / "old.npz")
    return folder / "old.npz"


def test_an_old_checkpoint_without_the_settings_it_cannot_prove_is_refused_naming_them(
    usage_error, old_checkpoint, tmp_path
):
    out = tmp_path / "resumed.npz"
    line = usage_error("train", "--resume", old_checkpoint, "--out", out, "--quiet")
    assert f"--resume {str(old_checkpoint)!r} predates the settings record" in line
    assert "cannot tell --activation, --batch-size, --label-smoothing" in line
    assert "pass the original run's values" in line
    assert not out.exists()


@pytest.mark.parametrize(
    ("option", "given", "proven"),
    [
        ("--hidden", "32", "16,8"),
        ("--dropout", "0.2", "0"),
        ("--dtype", "float64", "float32"),
        ("--optimizer", "adam", "sgd"),
        ("--lr", "0.5", "0.002"),
        ("--lr-schedule", "step", "constant"),
        ("--momentum", "0.9", "0.5"),
        ("--weight-decay", "0", "0.001"),
    ],
)
def test_an_old_checkpoint_refuses_a_setting_its_state_proves_otherwise(
    usage_error, old_checkpoint, tmp_path, option, given, proven
):
    out = tmp_path / "resumed.npz"
    line = usage_error(
        "train", "--resume", old_checkpoint, "--out", out, "--quiet", *UNPROVEN, option, given
    )
    assert f"train: {option} must be {proven} to resume {str(old_checkpoint)!r}" in line
    assert not out.exists()


def test_an_old_checkpoint_resumes_bit_identically_and_records_what_was_unchecked(
    cli, old_checkpoint, tmp_path
):
    resumed, straight = tmp_path / "resumed.npz", tmp_path / "straight.npz"
    result = cli(
        "train", "--resume", old_checkpoint, "--epochs", "4", "--out", resumed, "--quiet",
        *UNPROVEN,
    )  # fmt: skip
    assert result.code == 0, result.err
    (note,) = result.err.splitlines()
    assert note.startswith(f"softgrad: note: --resume {str(old_checkpoint)!r} continues a run")
    assert "--activation tanh, --label-smoothing 0.1, --batch-size 16" in note
    assert "--val-fraction 0.1, --seed 0" in note  # the defaults, used as given
    assert cli("train", "--epochs", "4", "--out", straight, "--quiet", *_argv(STARTED)).code == 0
    a, b = softgrad.load(resumed), softgrad.load(straight)
    for key, value in b.network.named_params().items():
        np.testing.assert_array_equal(a.network.named_params()[key], value, err_msg=key)
    settings = a.metadata["settings"]
    assert settings["hidden"] == [16, 8] and settings["optimizer"] == "sgd"
    assert settings["momentum"] == 0.5 and settings["lr"] == 0.002
    assert settings["activation"] == "tanh" and settings["batch_size"] == 16
    assert settings["unverified"] == [
        "activation",
        "label_smoothing",
        "batch_size",
        "val_fraction",
        "seed",
    ]


def test_a_checkpoint_of_a_run_resumed_from_an_old_one_keeps_the_unverified_list(
    cli, old_checkpoint, tmp_path
):
    ck = tmp_path / "ck.npz"
    argv = ["train", "--resume", old_checkpoint, "--epochs", "3", "--quiet", *UNPROVEN]
    assert cli(*argv, "--out", tmp_path / "a.npz", "--checkpoint", ck).code == 0
    result = cli("train", "--resume", ck, "--epochs", "4", "--quiet", "--out", tmp_path / "b.npz")
    assert result.code == 0, result.err
    assert "predates the settings record" in result.err
    assert "unverified" in softgrad.load(tmp_path / "b.npz").metadata["settings"]


def test_an_old_checkpoint_with_dropout_needs_a_dropout_share(usage_error, cli, tmp_path):
    argv = ["train", "--epochs", "1", "--quiet", "--dropout", "0.2", "--val-fraction", "0"]
    argv += ["--lr-schedule", "constant"]
    assert cli(*argv, "--out", tmp_path / "m.npz", "--checkpoint", tmp_path / "ck.npz").code == 0
    _strip_settings(tmp_path / "ck.npz", tmp_path / "old.npz")
    base = ["train", "--resume", tmp_path / "old.npz", "--quiet", "--out", tmp_path / "r.npz"]
    base += ["--activation", "relu", "--batch-size", "32", "--label-smoothing", "0"]
    line = usage_error(*base)
    assert "cannot tell --dropout" in line
    line = usage_error(*base, "--dropout", "0")
    assert "its network holds dropout layers: --dropout must be above 0; got 0" in line
    # no validation split in the checkpoint: --val-fraction is proven to be 0
    line = usage_error(*base, "--dropout", "0.2", "--val-fraction", "0.1")
    assert "--val-fraction must be 0 to resume" in line
    result = cli(*base, "--dropout", "0.2", "--epochs", "2")
    assert result.code == 0, result.err
    assert "dropout" in softgrad.load(tmp_path / "r.npz").metadata["settings"]["unverified"]


def test_an_old_checkpoint_not_written_by_train_is_refused_by_name(usage_error, tmp_path):
    from softgrad.nn import CrossEntropyLoss, build_mlp
    from softgrad.optim import SGD
    from softgrad.training import fit

    X = np.random.default_rng(0).normal(size=(40, 64)).astype(np.float32)
    y = np.arange(40) % 10
    ck = tmp_path / "python.npz"
    fit(build_mlp(64, [8], 10, rng=0), CrossEntropyLoss(), SGD(lr=0.1), X, y, epochs=1,
        rng=0, checkpoint=ck)  # fmt: skip
    line = usage_error("train", "--resume", ck, "--quiet", "--out", tmp_path / "r.npz")
    assert "must hold what softgrad train writes" in line and "softgrad.training.fit" in line
