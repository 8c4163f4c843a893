"""A NUL byte in a CSV file is refused, naming its offset: NumPy's strings dropped it at the end
of a label, so ``x`` and ``x\\0`` trained as one class without a word, and a UTF-16 file
without a byte-order mark (every other byte NUL) was refused as rows of the wrong width."""

from __future__ import annotations

import pytest

from softgrad.datasets import load_file
from softgrad.datasets.csv import read_csv
from softgrad.errors import DataFormatError

ROWS = b"a,b,label\n" + b"0.1,0.2,x\n0.3,0.4,y\n" * 4


@pytest.mark.parametrize("engine", ["numpy", "python"])
def test_nul_at_the_end_of_a_label_is_refused_not_merged(tmp_path, engine):
    path = tmp_path / "labels.csv"
    path.write_bytes(ROWS + b"0.5,0.6,x\0\n")
    offset = len(ROWS) + len(b"0.5,0.6,x")
    with pytest.raises(DataFormatError, match=rf"NUL byte .* on line 10, at offset {offset} "):
        read_csv(path, "load_file: 'labels.csv'", engine=engine)


@pytest.mark.parametrize("engine", ["numpy", "python"])
def test_nul_inside_a_number_is_refused(tmp_path, engine):
    path = tmp_path / "cells.csv"
    path.write_bytes(ROWS + b"0.\x005,0.6,x\n")
    with pytest.raises(DataFormatError, match=rf"NUL byte .* at offset {len(ROWS) + 2} "):
        read_csv(path, "load_file: 'cells.csv'", engine=engine)


def test_nul_in_the_header_is_refused(tmp_path):
    path = tmp_path / "header.csv"
    path.write_bytes(b"a,b\0,label\n" + ROWS[len(b"a,b,label\n") :])
    with pytest.raises(DataFormatError, match=r"NUL byte .* on line 1, at offset 3 "):
        load_file(path)


@pytest.mark.parametrize("codec", ["utf-16-le", "utf-16-be"])
def test_utf16_without_byte_order_mark_is_named(tmp_path, codec):
    path = tmp_path / "wide.csv"
    path.write_bytes(ROWS.decode().encode(codec))
    with pytest.raises(DataFormatError) as info:
        load_file(path)
    message = str(info.value)
    assert message.startswith(f"load_file: {str(path)!r}: file must be UTF-8 text; got a NUL")
    assert "(a UTF-16 file?): save it as UTF-8" in message
    assert f"at offset {0 if codec == 'utf-16-be' else 1} " in message


def test_file_without_nul_still_reads(tmp_path):
    path = tmp_path / "fine.csv"
    path.write_bytes(ROWS + b"0.5,0.6,x\n")
    table = read_csv(path, "load_file: 'fine.csv'")
    assert table.y.tolist() == ["x", "y"] * 4 + ["x"]
