"""CSV files a hostile user could write: the label column named twice, another separator,
old Mac line ends."""

from __future__ import annotations

import pytest

from softgrad.datasets import load_file
from softgrad.datasets.csv import read_csv
from softgrad.errors import DataFormatError


@pytest.mark.parametrize("engine", ["numpy", "python"])
def test_a_label_column_named_twice_is_refused_by_name(tmp_path, engine):
    # the second 'label' was read as a feature: "features must be numbers; got 'y' ... column 4"
    path = tmp_path / "twice.csv"
    path.write_text("a,label,b,Label\n1,x,2,y\n3,y,4,x\n1,x,2,y\n3,y,4,x\n")
    with pytest.raises(
        DataFormatError, match=r"must name the label column once; got 'label' in columns 2, 4"
    ):
        read_csv(path, "t", engine=engine)


def test_other_repeated_names_and_a_second_label_word_still_load(tmp_path):
    # repeated feature names are the user's business; 'target' beside 'label' is a feature
    path = tmp_path / "ok.csv"
    path.write_text("a,a,target,label\n1,2,5,x\n3,4,6,y\n1,2,5,x\n3,4,6,y\n")
    ds = load_file(path)
    assert ds.class_names == ["x", "y"] and ds.n_features == 3


@pytest.mark.parametrize("engine", ["numpy", "python"])
@pytest.mark.parametrize(("sep", "name"), [(";", "semicolons"), ("\t", "tabs"), ("|", "bars")])
def test_a_file_of_another_separator_is_told_to_use_commas(tmp_path, engine, sep, name):
    # a spreadsheet's export in many locales: "header must name at least 2 columns" alone
    path = tmp_path / "semi.csv"
    path.write_text(sep.join("abc") + "\n" + "\n".join(sep.join("120") for _ in range(4)))
    with pytest.raises(
        DataFormatError, match=f"separated by {name}: they must be separated by commas"
    ):
        read_csv(path, "t", engine=engine)


@pytest.mark.parametrize("engine", ["numpy", "python"])
def test_old_mac_line_ends_are_named(tmp_path, engine):
    # Python's csv said "do you need to open the file in universal-newline mode?"
    path = tmp_path / "cr.csv"
    path.write_bytes(b"a,b,label\r1,2,0\r3,4,1\r5,6,0\r7,8,1\r")
    with pytest.raises(DataFormatError, match="lines must end in LF or CRLF; got a lone CR"):
        read_csv(path, "t", engine=engine)
