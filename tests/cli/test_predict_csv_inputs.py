"""predict's .csv inputs go through the one CSV reader (softgrad.datasets.csv.read_csv): a header
is optional, the model's feature columns are read (by name where the model has their names, else
in order, a named label column dropped from a file one column wider), and a bad file gets the
data loader's one-line messages naming the file and the line (and column) of the problem."""

import numpy as np
import pytest

from softgrad.datasets import csv as csv_reader
from softgrad.datasets import csv_blocks
from softgrad.errors import DataFormatError

ROWS = [[1.0, 2.5, -3.0], [4.0, 0.0, 6e-3]]


@pytest.mark.parametrize(
    "text",
    [
        "1,2.5,-3\n4,0,6e-3\n",
        "a,b,c\n1,2.5,-3\n4,0,6e-3\n",
        "\ufeffa,b,c\r\n1,2.5,-3\r\n\r\n4,0,6e-3\r\n",
        'a,"b, quoted",c\n"1",2.5,-3\n4,"0",6e-3\n',
        "a,Class,b,c\n1,cat,2.5,-3\n4,dog,0,6e-3\n",
        "label,a,b,c\n0,1,2.5,-3\n1,4,0,6e-3\n",
        "\n\n1,2.5,-3\n   \n4,0,6e-3",
    ],
    ids=["no-header", "header", "bom-crlf-blank", "quoted", "class-column", "label-first", "blank"],
)
def test_rows_are_read_with_or_without_a_header(csv_rows, tmp_path, text):
    path = tmp_path / "rows.csv"
    path.write_bytes(text.encode("utf-8"))
    X = csv_rows(path)
    assert X.dtype == np.float64  # predict checks overflow in the model's dtype itself
    np.testing.assert_array_equal(X, ROWS)


def test_predict_reads_through_the_data_loaders_block_reader(csv_rows, tmp_path, monkeypatch):
    blocks = []
    real = csv_blocks.BlockParser.parse

    def parse(self, block, first_line, newlines):
        blocks.append(first_line)
        return real(self, block, first_line, newlines)

    monkeypatch.setattr(csv_blocks.BlockParser, "parse", parse)
    monkeypatch.setattr(csv_reader, "BLOCK_BYTES", 16)
    path = tmp_path / "rows.csv"
    path.write_text("a,b\n" + "".join(f"{i},{2 * i}\n" for i in range(20)))
    np.testing.assert_array_equal(csv_rows(path, 2)[:, 1], 2 * np.arange(20))
    assert len(blocks) > 1 and blocks[0] == 2


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("1,2,3\n4,five,6\n", "features must be numbers; got 'five' on line 2, column 2"),
        ("a,b,c\n1,2,3\n\n4,,6\n", r"got '' on line 4, column 2 \('b'\)"),
        ("1,2,3\n4,5\n", "every row must have 3 columns like the first row; got 2 on line 2"),
        ("a,b,c\n1,2,3\n4,5,6,7\n", "3 columns like the header; got 4 on line 3"),
        ("a,b\n1,2\0\n", r"got a NUL byte \(b'\\x00'\) on line 2, at offset 7 "),
    ],
    ids=["word", "blank-cell", "short-row-no-header", "long-row", "nul"],
)
def test_a_bad_row_is_named_by_file_and_line(csv_rows, tmp_path, text, message):
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(DataFormatError, match=message) as info:
        csv_rows(path)
    assert str(info.value).startswith(f"predict: {str(path)!r}: ")
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("block_bytes", [4, 1 << 20], ids=["later-block", "one-block"])
def test_a_latin_1_file_is_named_with_the_byte_and_its_offset(
    csv_rows, tmp_path, monkeypatch, block_bytes
):
    monkeypatch.setattr(csv_reader, "BLOCK_BYTES", block_bytes)
    path = tmp_path / "caf\xe9.csv"
    path.write_bytes("a,b\n1,2\n3,caf\xe9\n".encode("latin-1"))
    with pytest.raises(DataFormatError) as info:
        csv_rows(path)
    assert str(info.value) == (
        f"predict: {str(path)!r}: file must be UTF-8 text; got byte b'\\xe9' at offset 13 "
        "(invalid continuation byte): save it as UTF-8"
    )


@pytest.mark.parametrize("text", ["", "\n\n", "a,b,c\n", "a,b,c\n\n"])
def test_a_file_without_rows_holds_no_samples(usage_error, digits_model, tmp_path, text):
    (tmp_path / "empty.csv").write_text(text)
    line = usage_error("predict", "--model", digits_model, tmp_path / "empty.csv")
    assert line == f"softgrad: error: predict: {str(tmp_path / 'empty.csv')!r} holds no samples"


def test_the_cli_gives_the_readers_message_in_one_line(usage_error, digits_model, tmp_path):
    (tmp_path / "rows.csv").write_text("1," * 63 + "1\n" + "1," * 62 + "x,1\n")
    line = usage_error("predict", "--model", digits_model, tmp_path / "rows.csv")
    assert line == (
        f"softgrad: error: predict: {str(tmp_path / 'rows.csv')!r}: features must be numbers; "
        "got 'x' on line 2, column 63"
    )
