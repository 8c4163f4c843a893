"""``softgrad evaluate --split all`` scores the training and the test rows as the data set holds
them, without joining them into a copy of the whole set (Fashion-MNIST: 308 -> 253 MB at peak),
and names a bad row by its number among all samples."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture
def data_file(tmp_path, rng):
    y = np.arange(90) % 3
    X = rng.normal(size=(90, 4)) + y[:, None]
    path = tmp_path / "data.npz"
    np.savez(path, X=X, y=y, X_test=X[:30] + 0.1, y_test=y[:30])
    return path, X, y


@pytest.fixture
def model(cli, tmp_path, data_file):
    path = tmp_path / "m.npz"
    assert cli("train", "--data", data_file[0], "--out", path, "--quiet").code == 0
    return path


def test_all_samples_score_as_the_rows_joined(cli, tmp_path, data_file, model):
    path, X, y = data_file
    joined = tmp_path / "joined.npz"  # the same rows as one array: no test set of its own
    np.savez(joined, X=np.concatenate([X, X[:30] + 0.1]), y=np.concatenate([y, y[:30]]))
    parts = cli("evaluate", "--model", model, "--data", path, "--split", "all", "--json")
    whole = cli("evaluate", "--model", model, "--data", joined, "--split", "all", "--json")
    assert parts.code == whole.code == 0, parts.err
    got, want = parts.json(), whole.json()
    assert got["n_samples"] == want["n_samples"] == 120
    assert got["confusion_matrix"] == want["confusion_matrix"]
    # the float32 logits of a batch of 90 and one of 30 rows differ from those of one batch of
    # 120 in their last places (the BLAS blocks the rows by their count): a float32 tolerance
    # (the loss, once rounded to float32, hid that, and would not at a rounding boundary)
    assert got["loss"] == pytest.approx(want["loss"], rel=16 * float(np.finfo(np.float32).eps))


@pytest.mark.parametrize(("part", "row", "named"), [("X", 7, 7), ("X_test", 4, 94)])
def test_a_row_that_overflows_is_named_among_all_samples(
    usage_error, tmp_path, data_file, model, part, row, named
):
    # finite in the file (the loader refuses NaN and inf itself), inf times the weights
    _, X, y = data_file
    arrays = {"X": X.copy(), "y": y, "X_test": X[:30] + 0.1, "y_test": y[:30]}
    arrays[part][row] = 3e38
    bad = tmp_path / "bad.npz"
    np.savez(bad, **arrays)
    line = usage_error("evaluate", "--model", model, "--data", bad, "--split", "all")
    assert f"(all samples, row {named}): values must stay finite" in line, line


def test_all_samples_are_the_data_sets_own_arrays_not_a_copy(data_file):
    from types import SimpleNamespace

    from softgrad.cli.evaluate import _split

    _, X, y = data_file
    data = SimpleNamespace(X_train=X, y_train=y, X_test=X[:30] + 0.1, y_test=y[:30])
    parts, labels, split = _split(data, "all")
    assert split == "all samples" and len(parts) == 2
    assert parts[0] is data.X_train and parts[1] is data.X_test
    np.testing.assert_array_equal(labels, np.concatenate([y, y[:30]]))


@pytest.mark.parametrize("split", [["--split", "all"], []])  # auto: all of another file
def test_every_sample_of_a_file_too_small_to_split_is_scored(cli, tmp_path, model, split):
    # two samples of two classes: no class could give one to a test set, and the loader's
    # refusal to split (train needs a test set) refused to score them all
    rows = np.array([[0.0, 0.0, 0.0, 0.0], [2.0, 2.0, 2.0, 2.0]])
    small = tmp_path / "small.npz"
    np.savez(small, X=rows, y=np.array([0, 2]))
    result = cli("evaluate", "--model", model, "--data", small, *split, "--json")
    assert result.code == 0, result.err
    report = result.json()
    assert report["split"] == "all samples" and report["n_samples"] == 2
    assert sum(map(sum, report["confusion_matrix"])) == 2


def test_the_test_set_of_a_file_too_small_to_split_is_still_refused(usage_error, tmp_path, model):
    small = tmp_path / "small.npz"
    np.savez(small, X=np.zeros((2, 4)), y=np.array([0, 2]))
    line = usage_error("evaluate", "--model", model, "--data", small, "--split", "test")
    assert "data must have at least 2 samples of some class to hold out a test set" in line
