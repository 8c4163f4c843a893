"""predict on many rows holds the rows as stored and writes one prediction at a time: a .npy of
uint8 images is not copied to float64 (60,000 Fashion-MNIST images took 828 MB at peak, now
251), and --json no longer builds every prediction as Python objects before printing them
(902 -> 252 MB). The output is the same text."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from sklearn.datasets import load_digits

from softgrad.cli.inputs import read_inputs
from softgrad.cli.output import print_json, print_json_items
from softgrad.model import load


@pytest.fixture(scope="module")
def digit_rows():
    return load_digits().data[:40].astype(np.uint8)  # 0..16, as the training rows


def test_one_file_is_used_as_stored(tmp_path, digits_model, digit_rows):
    path = tmp_path / "rows.npy"
    np.save(path, digit_rows)
    parts, names, notes = read_inputs([str(path)], load(digits_model))
    assert len(parts) == 1 and parts[0].dtype == np.uint8  # not a float64 copy 8 times its size
    np.testing.assert_array_equal(parts[0], digit_rows)
    assert names[3] == f"{path}[3]" and notes == []


def test_files_of_other_types_are_each_kept_as_stored(tmp_path, digits_model, digit_rows):
    # not joined: the joined copy held every row twice
    np.save(tmp_path / "a.npy", digit_rows[:10])
    np.save(tmp_path / "b.npy", digit_rows[10:].astype(np.float32))
    parts, names, _ = read_inputs(
        [str(tmp_path / "a.npy"), str(tmp_path / "b.npy")], load(digits_model)
    )
    assert [part.dtype for part in parts] == [np.uint8, np.float32]
    np.testing.assert_array_equal(np.concatenate(parts), digit_rows)
    assert names[10] == f"{tmp_path / 'b.npy'}[0]"


@pytest.mark.parametrize("flags", [[], ["--json", "--top", "3"]])
def test_several_files_predict_as_their_rows_in_one_file(
    cli, tmp_path, digits_model, digit_rows, flags
):
    np.save(tmp_path / "a.npy", digit_rows[:10])
    np.save(tmp_path / "b.npy", digit_rows[10:].astype(np.float32))
    np.save(tmp_path / "all.npy", digit_rows.astype(np.float64))
    files = cli("predict", "--model", digits_model, *flags, tmp_path / "a.npy", tmp_path / "b.npy")
    one = cli("predict", "--model", digits_model, *flags, tmp_path / "all.npy")
    assert files.code == one.code == 0
    if flags:
        got, want = files.json()["predictions"], one.json()["predictions"]
        # batches of other rows: the BLAS may round each product another way (float32)
        tolerance = 64 * float(np.finfo(np.float32).eps)  # 64 features a product
        for k, (g, w) in enumerate(zip(got, want, strict=True)):
            assert [t["class"] for t in g["top"]] == [t["class"] for t in w["top"]], k
            for t, u in zip(g["top"], w["top"], strict=True):
                assert t["probability"] == pytest.approx(u["probability"], abs=tolerance), k
    else:
        got = [line.split(None, 1)[1] for line in files.out.splitlines()]
        want = [line.split(None, 1)[1] for line in one.out.splitlines()]
        assert got == want


@pytest.mark.parametrize("flags", [[], ["--top", "3"], ["--json"], ["--json", "--top", "2"]])
def test_uint8_rows_predict_as_their_float64_values(cli, tmp_path, digits_model, digit_rows, flags):
    np.save(tmp_path / "rows.npy", digit_rows)
    small = cli("predict", "--model", digits_model, *flags, tmp_path / "rows.npy")
    np.save(tmp_path / "rows.npy", digit_rows.astype(np.float64))
    wide = cli("predict", "--model", digits_model, *flags, tmp_path / "rows.npy")
    assert small.code == wide.code == 0
    assert small.out == wide.out
    if "--json" in flags:
        predictions = json.loads(small.out)["predictions"]
        assert len(predictions) == len(digit_rows)
        assert predictions[0]["top"][0]["class"] == predictions[0]["class"]


@pytest.mark.parametrize("n_items", [0, 1, 3])
def test_json_items_print_as_the_whole_document_would(n_items):
    items = [
        {"input": f"x.npy[{k}]", "class": "cat", "probability": 0.25 * k, "top": [{"a": [1, 2]}]}
        for k in range(n_items)
    ]
    head = {"model": "m [1].npz", "note": []}  # an empty list before the items' own
    whole, streamed = io.StringIO(), io.StringIO()
    print_json({**head, "predictions": items}, whole)
    print_json_items(head, "predictions", iter(items), streamed)
    assert streamed.getvalue() == whole.getvalue()
