"""``softgrad train`` on a data set too small for the default validation share."""

from __future__ import annotations

import numpy as np
import pytest

import softgrad
from softgrad.datasets.idx import save_idx


def _idx_folder(folder, rng, n_train=60, n_test=20, n_classes=10):
    # one bright pixel per class on a 4x4 image, plus noise: learnable from a handful of samples
    def images(n):
        y = np.arange(n) % n_classes
        X = rng.integers(0, 40, (n, 4, 4)).astype(np.uint8)
        X.reshape(n, 16)[np.arange(n), y] = 255
        return X, y.astype(np.uint8)

    X_train, y_train = images(n_train)
    X_test, y_test = images(n_test)
    save_idx(folder / "train-images-idx3-ubyte", X_train)
    save_idx(folder / "train-labels-idx1-ubyte", y_train)
    save_idx(folder / "t10k-images-idx3-ubyte", X_test)
    save_idx(folder / "t10k-labels-idx1-ubyte", y_test)
    return folder


def test_sixty_samples_of_ten_classes_train_and_say_validation_was_skipped(
    cli, tmp_path, monkeypatch, rng
):
    # 10% of 60 training samples is 6 validation samples for 10 classes: fewer than one each
    monkeypatch.chdir(tmp_path)
    _idx_folder(tmp_path, rng)
    result = cli("train", "--data", str(tmp_path), "--epochs", "3", "--quiet")
    assert result.code == 0, result.err
    assert (
        "validation skipped: 0.1 of 60 training samples is fewer than one per class "
        "(10 classes); pass --val-fraction from 0.16 to 0.83 to hold out one sample per class "
        "and keep one"
    ) in result.out
    model = softgrad.load(tmp_path / "model.npz")
    assert model.metadata["settings"]["val_fraction"] == 0.0  # the model records what ran
    assert model.metadata["history"]["val_loss"] in ([], [None] * 3)


def test_the_json_summary_carries_the_note(cli, tmp_path, monkeypatch, rng):
    monkeypatch.chdir(tmp_path)
    _idx_folder(tmp_path, rng)
    result = cli("train", "--data", str(tmp_path), "--epochs", "1", "--quiet", "--json")
    assert result.code == 0, result.err
    assert result.json()["validation_note"].startswith("validation skipped: 0.1 of 60")


def test_the_suggested_share_trains_with_validation(cli, tmp_path, monkeypatch, rng):
    monkeypatch.chdir(tmp_path)
    _idx_folder(tmp_path, rng)
    result = cli(
        "train", "--data", str(tmp_path), "--epochs", "1", "--val-fraction", "0.16", "--json"
    )
    assert result.code == 0, result.err
    assert result.json()["validation_note"] is None
    assert result.json()["settings"]["val_fraction"] == 0.16


@pytest.mark.parametrize("n_train, option", [(48, ["--val-fraction", "0.2"]), (95, [])])
def test_a_share_that_holds_out_one_sample_per_class_is_used(
    cli, tmp_path, monkeypatch, rng, n_train, option
):
    # the split holds out ceil(fraction * N): 0.2 of 48 and 0.1 of 95 are 10 samples for 10
    # classes, but the check read fraction * N (9.6, 9.5) and refused the first and skipped
    # validation for the second, the default
    monkeypatch.chdir(tmp_path)
    _idx_folder(tmp_path, rng, n_train=n_train)
    result = cli("train", "--data", str(tmp_path), "--epochs", "1", *option, "--json")
    assert result.code == 0, result.err
    assert result.json()["validation_note"] is None
    assert result.json()["history"]["val_loss"][0] is not None


def test_a_share_the_user_chose_is_never_changed(usage_error, tmp_path, monkeypatch, rng):
    monkeypatch.chdir(tmp_path)
    _idx_folder(tmp_path, rng)
    line = usage_error("train", "--data", str(tmp_path), "--val-fraction", "0.1")
    assert line == (
        "softgrad: error: train: --val-fraction needs a validation set with at least one sample "
        "per class; got 0.1 of 60 training samples is fewer than one per class (10 classes): "
        "pass --val-fraction from 0.16 to 0.83 to hold out one sample per class and keep one"
    )
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.endswith(".npz")) == []


def test_early_stopping_needs_validation(usage_error, tmp_path, monkeypatch, rng):
    monkeypatch.chdir(tmp_path)
    _idx_folder(tmp_path, rng)
    line = usage_error("train", "--data", str(tmp_path), "--patience", "3")
    assert "train: --patience needs a validation set with at least one sample per class" in line


def test_an_idx_label_far_beyond_the_samples_is_one_class_not_a_million(
    cli, tmp_path, monkeypatch, rng
):
    # the folder loader sized the model by the largest label: 10**6 built 1,000,001 classes
    monkeypatch.chdir(tmp_path)
    _idx_folder(tmp_path, rng)
    y_train = np.arange(60) % 10
    y_train[0] = 10**6
    save_idx(tmp_path / "train-labels-idx1-ubyte", y_train.astype(np.int32))
    result = cli("train", "--data", ".", "--epochs", "1", "--quiet", "--json")
    assert result.code == 0, result.err
    assert result.json()["architecture"] == "16-100-11 relu"
    classes = softgrad.load(tmp_path / "model.npz").classes.tolist()
    assert classes == [str(k) for k in range(10)] + ["1000000"]


def test_a_one_epoch_summary_says_one_epoch(cli, tmp_path, monkeypatch, rng):
    # "trained 16-100-10 relu on ...: 1 epochs in 0.1 s"
    monkeypatch.chdir(tmp_path)
    _idx_folder(tmp_path, rng)
    result = cli("train", "--data", str(tmp_path), "--epochs", "1", "--quiet")
    assert result.code == 0, result.err
    assert ": 1 epoch in " in result.out.splitlines()[0], result.out


def test_a_share_that_leaves_no_training_sample_names_the_option(usage_error, tmp_path, rng):
    # fit's own words named its Python argument: "fit: validation_fraction must leave ..."
    _idx_folder(tmp_path, rng, n_train=40, n_classes=4)
    line = usage_error("train", "--data", str(tmp_path), "--val-fraction", "0.98")
    assert line == (
        "softgrad: error: train: --val-fraction must leave at least one training sample; got "
        "0.98 of 40 training samples, which holds out 40: pass a smaller --val-fraction"
    )
