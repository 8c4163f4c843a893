"""A model trained on a CSV file reads a CSV file's columns by their names (cli/csv_columns):
predict dropped the first column named label, target, class or y whatever the model was trained
on, so a file of its features x, y lost y and a training-format file predicted from its label;
a header of pandas' column numbers was read as a sample."""

from __future__ import annotations

import re

import numpy as np
import pytest

from softgrad.errors import DataFormatError
from softgrad.model import load


@pytest.fixture
def rows(tmp_path, csv_rows):
    def read(text, n_features, names=None):
        (tmp_path / "rows.csv").write_text(text)
        return csv_rows(tmp_path / "rows.csv", n_features, names)

    return read


@pytest.mark.parametrize(
    "text",
    [
        "x,y\n1,2\n3,4\n",
        "y,x\n2,1\n4,3\n",
        "x,y,label\n1,2,a\n3,4,b\n",
        "label,y,x\n0,2,1\n1,4,3\n",
        "class,x,y\n9,1,2\n9,3,4\n",  # a feature's name or not, "class" is the other column
        " x , y \n1,2\n3,4\n",
        "1,2\n3,4\n",  # no header: in order
    ],
    ids=["same", "swapped", "label-last", "label-first-swapped", "other", "spaces", "no-header"],
)
def test_a_model_with_names_reads_its_columns_by_name(rows, text):
    X = rows(text, 2, ["x", "y"])
    np.testing.assert_array_equal(X, [[1.0, 2.0], [3.0, 4.0]])


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "x,z\n1,2\n",
            "header must name the model's feature columns; missing 'y' (the model "
            "was trained on 'x', 'y')",
        ),
        (
            "id,x,y,label\n1,1,2,0\n",
            "columns must be the model's 2 features and at most one other "
            "(such as the label); got 2 others: 'id', 'label' (drop all but one)",
        ),
        ("x,y,x\n1,2,3\n", "header must name each feature column once; got 'x' 2 times"),
    ],
    ids=["missing", "two-others", "repeated"],
)
def test_columns_that_do_not_fit_the_models_names_are_named(rows, text, message):
    with pytest.raises(DataFormatError, match=re.escape(message)):
        rows(text, 2, ["x", "y"])


def test_without_names_a_feature_named_y_is_a_feature(rows):
    # as wide as the model: nothing is dropped, whatever the names
    np.testing.assert_array_equal(rows("x,y\n1,2\n", 2), [[1.0, 2.0]])
    # one wider: the label by its name's rank (label, target, class, y), not by its place
    np.testing.assert_array_equal(rows("class,x,label\n5,1,0\n", 2), [[5.0, 1.0]])
    np.testing.assert_array_equal(rows("y,x,target\n5,1,0\n", 2), [[5.0, 1.0]])


def test_pandas_column_numbers_are_a_header_not_a_sample(rows):
    # DataFrame(X).to_csv(index=False) writes 0,1,2 as its first line
    X = rows("0,1,2\n7,8,9\n4,5,6\n", 3)
    np.testing.assert_array_equal(X, [[7.0, 8.0, 9.0], [4.0, 5.0, 6.0]])
    # a first row of other numbers stays a row
    X = rows("0,1,3\n7,8,9\n", 3)
    np.testing.assert_array_equal(X, [[0.0, 1.0, 3.0], [7.0, 8.0, 9.0]])


@pytest.fixture(scope="module")
def xy_model(tmp_path_factory):
    """A model trained on a CSV file of columns x, y, label (the label: x * y > 0)."""
    from softgrad.cli import main

    folder = tmp_path_factory.mktemp("xy")
    rng = np.random.default_rng(0)
    X = rng.uniform(-1, 1, (300, 2))
    lines = "".join(f"{a:.4f},{b:.4f},{int(a * b > 0)}\n" for a, b in X)
    (folder / "xy.csv").write_text("x,y,label\n" + lines)
    model = folder / "xy.npz"
    argv = ["train", "--data", folder / "xy.csv", "--epochs", "20", "--quiet", "--out", model]
    code = main([str(a) for a in argv])
    assert code == 0
    return folder, model


def test_train_saves_the_feature_names_and_predict_reads_any_order(xy_model, cli, tmp_path):
    folder, model = xy_model
    assert load(model).metadata["feature_names"] == ["x", "y"]
    rows = (folder / "xy.csv").read_text().splitlines()[1:6]
    cells = [row.split(",") for row in rows]
    files = {
        "train-format.csv": "x,y,label\n" + "".join(f"{r}\n" for r in rows),
        "features.csv": "x,y\n" + "".join(f"{c[0]},{c[1]}\n" for c in cells),
        "swapped.csv": "y,x\n" + "".join(f"{c[1]},{c[0]}\n" for c in cells),
    }
    answers = []
    for name, text in files.items():
        (tmp_path / name).write_text(text)
        result = cli("predict", "--model", model, tmp_path / name, "--json")
        assert result.code == 0, result.err
        predictions = result.json()["predictions"]
        answers.append([(row["class"], row["probability"]) for row in predictions])
    assert answers[0] == answers[1] == answers[2]


def test_evaluate_reorders_a_data_files_columns_by_name(xy_model, cli, tmp_path):
    folder, model = xy_model
    rows = [row.split(",") for row in (folder / "xy.csv").read_text().splitlines()[1:]]
    (tmp_path / "swapped.csv").write_text(
        "label,y,x\n" + "".join(f"{r[2]},{r[1]},{r[0]}\n" for r in rows)
    )
    same = cli(
        "evaluate", "--model", model, "--data", folder / "xy.csv", "--split", "all", "--json"
    )
    swapped = cli("evaluate", "--model", model, "--data", tmp_path / "swapped.csv", "--json")
    assert same.code == swapped.code == 0, (same.err, swapped.err)
    assert swapped.json()["accuracy"] == same.json()["accuracy"]
    (tmp_path / "other.csv").write_text(
        "label,x,z\n" + "".join(f"{r[2]},{r[0]},{r[1]}\n" for r in rows)
    )
    result = cli("evaluate", "--model", model, "--data", tmp_path / "other.csv")
    assert (
        result.code == 2
        and "feature columns must be the model's; missing 'y', not the model's 'z'" in result.err
    )


def test_malformed_feature_names_in_a_model_are_named(xy_model, usage_error, tmp_path):
    from softgrad.serialization import read_npz, write_npz

    _, model = xy_model
    arrays, meta = read_npz(model)
    meta["metadata"]["feature_names"] = ["x", "x"]
    write_npz(tmp_path / "bad.npz", arrays, meta)
    (tmp_path / "rows.csv").write_text("x,y\n1,2\n")
    line = usage_error("predict", "--model", tmp_path / "bad.npz", tmp_path / "rows.csv")
    assert (
        "metadata 'feature_names' must be 2 distinct column names, one per feature; got ['x', 'x']"
        in line
    )
