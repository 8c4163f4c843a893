"""``softgrad evaluate`` on the data set a model records says so when that set's test split is
not the one the model was scored on at training (an earlier softgrad split the digits 1,438 /
359, so a model of then was scored on a sample it trained on, silently; a CSV may change after
training). The model file records the test split's size and a checksum of its labels."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import softgrad


def _evaluate(cli, model, *more):
    result = cli("evaluate", "--model", model, *more)
    assert result.code == 0, result.err
    return result


def test_the_test_set_the_model_was_scored_on_is_recorded_and_unremarked(cli, digits_model):
    recorded = softgrad.load(digits_model).metadata["test_split"]
    assert recorded["n"] == 360 and len(recorded["labels"]) == 8
    result = _evaluate(cli, digits_model)
    assert "note" not in result.err
    assert "test set (360 samples)" in result.out


@pytest.mark.parametrize(
    ("changed", "sizes"),
    [
        ({"n": 359, "labels": "0badc0de"}, "360 samples now, 359 then"),
        ({"n": 360, "labels": "0badc0de"}, "360 samples now, 360 then"),
    ],
)
def test_another_test_set_of_the_recorded_data_is_noted(
    cli, digits_model, tmp_path, changed, sizes
):
    model = softgrad.load(digits_model)
    model.metadata["test_split"] = changed
    path = tmp_path / "old.npz"
    model.save(path)
    for more in ([], ["--json"]):
        result = _evaluate(cli, path, *more)
        assert result.err == (
            f"softgrad: note: the test set of 'digits' is not the one the model was scored on "
            f"when it was trained ({sizes}): its data changed since, or a softgrad of another "
            "version split it otherwise, and the score may count samples the model trained on\n"
        )
    # all samples are scored on purpose, and another data set is not the recorded one
    assert "note" not in _evaluate(cli, path, "--split", "all").err


def test_a_model_that_records_no_test_set_is_not_remarked(cli, digits_model, tmp_path):
    model = softgrad.load(digits_model)
    del model.metadata["test_split"]  # trained before it was recorded
    path = tmp_path / "older.npz"
    model.save(path)
    assert "note" not in _evaluate(cli, path).err


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_a_report_that_cannot_be_written_prints_its_error_alone(digits_model, tmp_path):
    # the note went out before stdout failed: two stderr lines for a refused command
    model = softgrad.load(digits_model)
    model.metadata["test_split"] = {"n": 359, "labels": "0badc0de"}
    path = tmp_path / "old.npz"
    model.save(path)
    command = [sys.executable, "-m", "softgrad", "evaluate", "--model", str(path), "--json"]
    with open("/dev/full", "w") as full:
        run = subprocess.run(command, stdout=full, stderr=subprocess.PIPE, text=True, timeout=300)
    assert run.returncode == 2
    assert run.stderr.splitlines() == [
        "softgrad: error: could not write the report to stdout (No space left on device)"
    ]
