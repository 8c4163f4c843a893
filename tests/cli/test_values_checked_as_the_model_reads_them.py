"""``softgrad predict`` and ``evaluate`` read the values of their input for NaN and inf once, batch
by batch as the model reads them, not in a pass of their own over all of it first (the model
checked each batch again); the errors name the file or data set and the row as before.

Order of the errors: every INPUT file of ``predict`` is read and its shape checked before any
values are; ``evaluate`` checks the data's shape and matches its classes to the model's before
its values (a class the model does not know is named before a NaN)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import load_digits


@pytest.fixture
def whole_checks(monkeypatch):
    """The row counts of the CLI's own finite checks (predict's and evaluate's)."""
    from softgrad.checks import check_finite_rows
    from softgrad.cli import evaluate, inputs

    seen = []

    def record(x, *args, **kwargs):
        seen.append(len(x))
        return check_finite_rows(x, *args, **kwargs)

    monkeypatch.setattr(inputs, "check_finite_rows", record)
    monkeypatch.setattr(evaluate, "check_finite_rows", record)
    return seen


@pytest.fixture(scope="module")
def rows():
    return load_digits().data[:40].astype(np.float32)  # 0..16, as the training rows


def test_predict_reads_finite_rows_only_through_the_model(
    cli, tmp_path, digits_model, rows, whole_checks
):
    np.save(tmp_path / "rows.npy", rows)
    assert cli("predict", "--model", digits_model, tmp_path / "rows.npy").code == 0
    assert whole_checks == []


@pytest.mark.parametrize("bad", [np.nan, np.inf])
@pytest.mark.parametrize(("file", "row"), [(0, 0), (0, 39), (1, 7)])
def test_predict_names_the_file_and_row_of_a_bad_value(
    usage_error, tmp_path, digits_model, rows, whole_checks, bad, file, row
):
    arrays = [rows.copy(), rows[:10].copy()]
    arrays[file][row, 5] = bad
    paths = [tmp_path / "a.npy", tmp_path / "b.npy"]
    for path, array in zip(paths, arrays, strict=True):
        np.save(path, array)
    line = usage_error("predict", "--model", digits_model, *paths)
    assert line == (
        f"softgrad: error: predict: {paths[file]}: features must be finite; "
        f"got NaN or inf in row {row}"
    )


def test_predict_reads_every_file_before_any_values(usage_error, tmp_path, digits_model, rows):
    bad = rows.copy()
    bad[3, 1] = np.nan
    np.save(tmp_path / "nan.npy", bad)
    line = usage_error(
        "predict", "--model", digits_model, tmp_path / "nan.npy", tmp_path / "no.npy"
    )
    assert line == f"softgrad: error: INPUT: file {str(tmp_path / 'no.npy')!r} does not exist"


@pytest.fixture
def nan_data(monkeypatch):
    """evaluate's data set with a NaN in a given row (the loaders refuse one in a file)."""
    from softgrad.cli import progress

    load = progress.load_data_with_progress
    where = {}

    def loaded(spec, quiet=False, hold_out=True, **options):
        data = load(spec, quiet, hold_out, **options)
        if "row" in where:
            data.X_test = data.X_test.astype(np.float64)
            data.X_test[where["row"], 2] = np.nan
        if "labels" in where:
            data.y_test = data.y_test.copy()
            data.y_test[0] = len(data.class_names)
            data.class_names = [*data.class_names, "unknown"]
        return data

    monkeypatch.setattr(progress, "load_data_with_progress", loaded)
    return where


def test_evaluate_reads_finite_rows_only_through_the_model(cli, digits_model, whole_checks):
    assert cli("evaluate", "--model", digits_model, "--data", "digits").code == 0
    assert whole_checks == []


@pytest.mark.parametrize("row", [0, 100, 359])
def test_evaluate_names_the_row_of_a_bad_value(usage_error, digits_model, nan_data, row):
    nan_data["row"] = row
    line = usage_error("evaluate", "--model", digits_model, "--data", "digits")
    assert line.endswith(f": features must be finite; got NaN or inf in row {row}"), line
    assert line.startswith("softgrad: error: evaluate: 'digits'"), line


def test_evaluate_names_an_unknown_class_before_a_bad_value(usage_error, digits_model, nan_data):
    nan_data["row"] = 5
    nan_data["labels"] = True
    line = usage_error("evaluate", "--model", digits_model, "--data", "digits")
    assert "classes must be ones the model knows" in line, line
