"""A feature the float32 scaling cannot standardise is named as the data names it: the data set
and the feature (its number from 1, with its column's name). The message was the scaler's, "X's
feature 0", with neither the file nor the column (docs/cli.md: the line names the input)."""

from __future__ import annotations

import numpy as np
import pytest

from softgrad.datasets import Dataset, load_file


@pytest.mark.parametrize(("low", "high"), [("0", "1e-40"), ("-3e38", "3e38")], ids=["tiny", "huge"])
def test_a_csv_column_beyond_the_float32_scaling_is_named(tmp_path, low, high):
    # standard deviations of 5e-41 and 3e38
    lines = ["a,b,label"] + [f"{k % 3},{high if k % 2 else low},{k % 2}" for k in range(40)]
    path = tmp_path / "odd.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    data = load_file(path)
    with pytest.raises(ValueError) as caught:
        data.fit_scaler()
    message = str(caught.value)
    assert message.startswith(
        "Dataset.fit_scaler: training features of 'odd.csv' must each have a standard deviation "
        "from 2.94e-39 to 8.51e+37 for the float32 scaling; got "
    )
    assert message.endswith(" in feature 2 ('b') (rescale it)")


def test_unnamed_columns_are_numbered_from_one(rng):
    X = rng.standard_normal((20, 3)).astype(np.float32)
    X[:, 2] *= np.float32(1e-40)
    data = Dataset(X, np.arange(20) % 2, X[:0], np.arange(0), ["0", "1"], name="arrays")
    with pytest.raises(ValueError, match=r"got [0-9.e+-]+ in feature 3 \(rescale it\)$"):
        data.fit_scaler()


def test_a_label_column_first_leaves_the_feature_named_by_its_column(tmp_path):
    # 'b' is the file's third column and the second feature: its name says which it is
    lines = ["label,a,b"] + [f"{k % 2},{k % 3},{'3e38' if k % 2 else '-3e38'}" for k in range(40)]
    path = tmp_path / "first.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r" in feature 2 \('b'\) \(rescale it\)$"):
        load_file(path).fit_scaler()
