"""``softgrad train --resume`` continues a run on the data it was trained on. Another data set
of the same shape was trained on without a word (its epochs appended to the first run's
history, the model naming only the new data); one of another shape was refused in fit's words,
naming neither option."""

from __future__ import annotations

import numpy as np
import pytest

import softgrad


def _npz(path, seed):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((120, 5)).astype(np.float32)
    y = np.arange(120) % 3
    X[:, 0] += y
    np.savez(path, X=X, y=y)
    return path


@pytest.fixture
def checkpoint(cli, tmp_path):
    ckpt = tmp_path / "ck.npz"
    argv = ["--data", _npz(tmp_path / "a.npz", 0), "--epochs", "1", "--hidden", "8"]
    result = cli(
        "train",
        *argv,
        "--lr-schedule",
        "constant",
        "--quiet",
        "--checkpoint",
        ckpt,
        "--out",
        tmp_path / "first.npz",
    )
    assert result.code == 0, result.err
    return ckpt


def test_another_data_set_of_the_same_shape_is_refused(usage_error, checkpoint, tmp_path):
    other, out = _npz(tmp_path / "b.npz", 1), tmp_path / "resumed.npz"
    line = usage_error(
        "train", "--resume", checkpoint, "--data", other, "--epochs", "2", "--out", out
    )
    assert line.startswith(
        f"softgrad: error: train: --data must be the data set --resume {str(checkpoint)!r} was "
        "trained on; got other values of X or y than the checkpoint was written for (checksums "
    )
    assert line.endswith(", in data of the same shape (pass that run's --data)")
    assert not out.exists()


def test_a_forgotten_data_option_is_named(usage_error, checkpoint, tmp_path):
    out = tmp_path / "resumed.npz"
    line = usage_error("train", "--resume", checkpoint, "--epochs", "2", "--out", out)
    assert line.startswith(
        f"softgrad: error: train: --data must be the data set --resume {str(checkpoint)!r} was "
        "trained on; the checkpoint was written for {"
    )
    assert "'n_features': 5" in line  # the checkpoint's data; the digits' (the default) below
    assert line.endswith(
        "got {'n_samples': 1437, 'n_features': 64, 'validation': 'fraction'} (pass that run's "
        "--data)"
    )
    assert not out.exists()


def test_the_same_data_resumes(cli, checkpoint, tmp_path):
    out = tmp_path / "resumed.npz"
    result = cli(
        "train",
        "--resume",
        checkpoint,
        "--data",
        tmp_path / "a.npz",
        "--epochs",
        "2",
        "--quiet",
        "--out",
        out,
    )
    assert result.code == 0, result.err
    assert len(softgrad.load(out).metadata["history"]["train_loss"]) == 2
