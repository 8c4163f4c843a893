"""``softgrad train`` checks its validation share class by class, as the split shares it: a
count of samples against classes let a class of 1 in 10,000 go unvalidated without a word, and
took a share that held 2,040 classes out whole (following its own hint)."""

from __future__ import annotations

import numpy as np


def _npz(tmp_path, counts, name="data.npz"):
    y = np.repeat(np.arange(len(counts)), counts)
    X = np.random.default_rng(0).standard_normal((len(y), 3)).astype(np.float32)
    X[:, 0] += y  # learnable
    # a test set of its own: the training part is all of X
    np.savez(tmp_path / name, X=X, y=y, X_test=X[:4], y_test=y[:4])
    return tmp_path / name


def test_a_class_of_one_training_sample_is_named_in_a_note(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = _npz(tmp_path, [300, 1, 200])
    result = cli("train", "--data", path, "--epochs", "1", "--quiet", "--json")
    assert result.code == 0, result.err
    assert result.json()["validation_note"] == (
        "validation holds no sample of 1 class with a single training sample ['1']: "
        "validation's loss and accuracy leave them out"
    )
    assert result.json()["history"]["val_loss"][0] is not None  # validation still ran


def test_a_share_that_holds_classes_out_whole_is_refused(usage_error, tmp_path, monkeypatch):
    # 6 classes of 2: 0.7 holds out ceil(8.4) = 9 of 12, so 3 classes would leave training
    monkeypatch.chdir(tmp_path)
    path = _npz(tmp_path, [2] * 6)
    line = usage_error("train", "--data", path, "--val-fraction", "0.7")
    assert line == (
        "softgrad: error: train: --val-fraction needs a validation set with at least one sample "
        "per class; got 0.7 of 12 training samples holds out every training sample of 3 "
        "classes: pass --val-fraction from 0.42 to 0.5 to hold out one sample per class and "
        "keep one"
    )
    assert not (tmp_path / "model.npz").exists()


def test_the_hint_names_a_share_finer_than_a_percent_where_only_such_works(
    cli, tmp_path, monkeypatch
):
    # 300 classes of 2 and 500 of 1: every class of 2 validated and kept needs exactly 300 of
    # the 1,100 training samples held out, which no whole percent gives (0.272 does: ceil(299.2))
    monkeypatch.chdir(tmp_path)
    path = _npz(tmp_path, [2] * 300 + [1] * 500)
    result = cli("train", "--data", path, "--epochs", "1", "--quiet", "--json")
    assert result.code == 0, result.err
    note = result.json()["validation_note"]
    assert note.startswith("validation skipped: 0.1 of 1100 training samples is fewer than one ")
    assert note.endswith(
        "; pass --val-fraction 0.272 to hold out one sample per class and keep one"
    )
