"""A double quote left open in a CSV file: the reader stays linear in the file's size (it
recounted every quote read so far after each line: 58 s for a 1 MB file) and the refusal names
the line of the quote. A quote inside an unquoted cell (``12"``) is text, and leaves the header
and the blocks their own lines."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from softgrad.datasets import csv as csv_reader
from softgrad.datasets.csv import read_csv
from softgrad.errors import DataFormatError

ROWS = b"1,2,0\n" * 3000  # 18 KB: recounted after each line, 27 MB of quotes scanned


def _bytes_scanned_by_count(read):
    """``read()``'s outcome, and the bytes that ``count`` calls made from the CSV reader
    scanned (for quotes and line ends): each call reported with the object it scanned."""
    scanned = 0

    def profile(frame, event, arg):
        nonlocal scanned
        if event == "c_call" and frame.f_code.co_filename == csv_reader.__file__:
            if getattr(arg, "__name__", "") == "count" and hasattr(arg.__self__, "__len__"):
                scanned += len(arg.__self__)

    sys.setprofile(profile)
    try:
        outcome = read()
    except DataFormatError as exc:
        outcome = exc
    finally:
        sys.setprofile(None)
    return outcome, scanned


@pytest.mark.parametrize("where", ["header", "row"])
def test_a_quote_left_open_is_read_in_linear_time(tmp_path, monkeypatch, where):
    # small blocks, so that the rows after the quote are read one line at a time
    monkeypatch.setattr(csv_reader, "BLOCK_BYTES", 64)
    head = b'a,"b,label\n' if where == "header" else b'a,b,label\n1,2,0\n"1,2,0\n'
    path = tmp_path / "open.csv"
    path.write_bytes(head + ROWS)
    outcome, scanned = _bytes_scanned_by_count(lambda: read_csv(path, "t"))
    assert isinstance(outcome, DataFormatError), outcome
    size = path.stat().st_size
    assert scanned <= 4 * size, f"scanned {scanned} bytes for quotes; the file has {size}"


@pytest.mark.parametrize("engine", ["numpy", "python"])
@pytest.mark.parametrize(
    ("header", "blank", "line"), [("required", b"", 1), ("auto", b"", 1), ("auto", b"\n\n", 3)]
)
def test_a_header_quote_left_open_is_named_by_its_line(tmp_path, engine, header, blank, line):
    # the header swallowed the file: "file must hold at least one data row; got only a header"
    # (and read with header="auto", an empty table); "auto" skips blank lines before it
    path = tmp_path / "open.csv"
    path.write_bytes(blank + b'a,"b,label\n' + b"1,2,0\n" * 5)
    match = (
        rf"^t: header must close its quoted cells; got a double quote on line {line} that the "
        r"file never closes: close it or remove it$"
    )
    with pytest.raises(DataFormatError, match=match):
        read_csv(path, "t", engine=engine, header=header)


def test_a_header_quote_closed_on_a_later_line_still_reads(tmp_path):
    path = tmp_path / "closed.csv"
    path.write_bytes(b'a,"b\nc",label\n1,2,0\n3,4,1\n')
    table = read_csv(path, "t")
    assert table.header == ["a", "b\nc", "label"] and table.lines.tolist() == [3, 4]


@pytest.mark.parametrize("engine", ["numpy", "python"])
def test_a_row_quote_left_open_is_named_where_the_row_starts(tmp_path, engine):
    # the row was named by its last line, 4, with nothing said of the quote
    path = tmp_path / "open.csv"
    path.write_bytes(b'a,b,label\n1,2,0\n"1,2,0\n1,2,0\n')
    match = (
        r"^t: every row must have 3 columns like the header; got 1 on line 3 \(a quoted cell "
        r"runs on from it to line 4: a quote left open\?\)$"
    )
    with pytest.raises(DataFormatError, match=match):
        read_csv(path, "t", engine=engine)


@pytest.mark.parametrize("engine", ["numpy", "python"])
def test_a_row_quote_left_open_over_a_long_file_is_named_by_its_line(tmp_path, engine):
    # the csv module's "field larger than field limit (131072)" named no line
    path = tmp_path / "open.csv"
    path.write_bytes(b'a,b,label\n1,2,0\n"1,2,0\n' + b"1,2,0\n" * 25000)
    match = (
        r"^t: cells must hold at most 131072 characters; got a longer one in the row on line 3 "
        r"\(a quote left open\?\)$"
    )
    with pytest.raises(DataFormatError, match=match):
        read_csv(path, "t", engine=engine)


@pytest.mark.parametrize("engine", ["numpy", "python"])
@pytest.mark.parametrize("later", [b"", b'5,6,7"\n'], ids=["no-other-quote", "quote-in-a-row"])
def test_a_quote_inside_an_unquoted_header_cell_is_text(tmp_path, engine, later):
    # a,b,size" is three cells to the csv module (a quote opens a quoted cell only at its
    # start); the header took the lines after it while its quotes were odd: the rows up to the
    # next odd quote were dropped without a word, and a file without one was refused
    path = tmp_path / "inches.csv"
    path.write_bytes(b'a,b,size"\n' + b"1,2,0\n" * 3 + later + b"3,4,1\n")
    table = read_csv(path, "t", engine=engine)
    assert table.header == ["a", "b", 'size"']
    n_rows = 4 + bool(later)
    assert table.lines.tolist() == list(range(2, 2 + n_rows))
    assert table.X.shape == (n_rows, 2)
    assert table.y.tolist() == ["0", "0", "0", *(['7"'] if later else []), "1"]


def test_a_quote_inside_an_unquoted_header_cell_reads_the_header_alone(tmp_path):
    # the header joined every line after a,size",label up to the end of the file (no other
    # odd quote) and parsed them to find its row's end: 1.7 GB held for a 93 MB file
    import tracemalloc

    from softgrad.datasets.csv import _read_header

    path = tmp_path / "stray.csv"
    path.write_bytes(b'a,size",label\n' + b"1,2,0\n" * 400_000)  # 2.4 MB
    with open(path, "rb") as f:
        tracemalloc.start()
        try:
            cells, n_columns, first_data_line = _read_header(f, "t", "required")
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert f.tell() == len(b'a,size",label\n')
    assert (cells, n_columns, first_data_line) == (["a", 'size"', "label"], 3, 2)
    assert peak < 100_000, f"{peak} bytes held to read a {path.stat().st_size}-byte file's header"


INCHES = b'a,b,c,d,label\n0.1,0.2,0.3,0.4,12"\n'  # a literal quote, and no other odd one
ROW = b"0.123456789,0.987654321,0.555555555,0.333333333,0\n"


def test_a_quote_inside_an_unquoted_label_cell_ends_its_block_at_its_line(tmp_path, monkeypatch):
    # the block took every line after 12" while its quotes were odd: the rest of the file
    from softgrad.datasets.csv import _Blocks

    monkeypatch.setattr(csv_reader, "BLOCK_BYTES", 1024)
    path = tmp_path / "inches.csv"
    path.write_bytes(INCHES + ROW * 2000)  # 100 KB, a hundred blocks
    with open(path, "rb") as f:
        f.readline()
        blocks = [(len(block), line, newlines) for block, line, newlines in _Blocks(f, 2)]
    largest = max(size for size, _, _ in blocks)
    assert largest <= 1024 + len(ROW), f"a block of {largest} bytes; BLOCK_BYTES is 1024"
    starts = [line for _, line, _ in blocks]
    ends = [line + newlines for _, line, newlines in blocks]
    assert starts == [2, *ends[:-1]] and ends[-1] == 2 + 2001, (starts, ends)


@pytest.mark.parametrize("engine", ["numpy", "python"])
def test_a_quote_inside_an_unquoted_label_cell_reads_in_a_few_blocks_of_memory(
    tmp_path, monkeypatch, engine
):
    # the rest of the file was one block: 6.5 MB (numpy) and 16 MB (python) held for 1 MB
    import tracemalloc

    monkeypatch.setattr(csv_reader, "BLOCK_BYTES", 1 << 13)
    path = tmp_path / "inches.csv"
    path.write_bytes(INCHES + ROW * 20_000)  # 1 MB, 122 blocks
    tracemalloc.start()
    try:
        table = read_csv(path, "t", engine=engine)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert table.y.tolist() == ['12"'] + ["0"] * 20_000
    held = table.X.nbytes + table.y.nbytes + table.lines.nbytes
    bound = held + 32 * (1 << 13)
    assert peak <= bound, f"peak {peak} bytes; the table holds {held}, the bound is {bound}"


def _quoted_after_inches(bad: bytes = b"") -> bytes:
    """A ``12"`` label, then rows far from it whose label is a quoted cell over two lines (so
    that some block ends inside one, its quotes odd), then plain rows (a bad cell among them)."""
    two_lines = ROW[: ROW.rindex(b",")] + b',"tall\n5\'11"""\n'
    return INCHES + ROW * 300 + two_lines * 40 + ROW * 100 + bad + ROW * 100


@pytest.mark.parametrize("engine", ["numpy", "python"])
def test_rows_after_a_quote_inside_an_unquoted_label_cell_keep_their_lines(
    tmp_path, monkeypatch, engine
):
    monkeypatch.setattr(csv_reader, "BLOCK_BYTES", 1024)
    path = tmp_path / "inches.csv"
    path.write_bytes(_quoted_after_inches())
    table = read_csv(path, "t", engine=engine)
    # a row over two lines is numbered by its last (both engines: the csv module reads it)
    expected = [*range(2, 303), *range(304, 383, 2), *range(383, 583)]
    assert table.lines.tolist() == expected, "line numbers differ"
    assert table.y.tolist() == ['12"', *["0"] * 300, *["tall\n5'11\""] * 40, *["0"] * 200]
    assert table.X.shape == (541, 4) and (table.X[1:] == table.X[1]).all()


@pytest.mark.parametrize("engine", ["numpy", "python"])
def test_a_bad_cell_after_a_quote_inside_an_unquoted_label_cell_is_named_by_its_line(
    tmp_path, monkeypatch, engine
):
    monkeypatch.setattr(csv_reader, "BLOCK_BYTES", 1024)
    path = tmp_path / "inches.csv"
    path.write_bytes(_quoted_after_inches(bad=b"0.1,oops,0.3,0.4,1\n"))
    match = r"^t: features must be numbers; got 'oops' on line 483, column 2 \('b'\)$"
    with pytest.raises(DataFormatError, match=match):
        read_csv(path, "t", engine=engine)


def _cell_across_a_block_end(block_bytes):
    """A literal quote (12") and a quoted two-line label whose first line crosses the block's
    end: the block's quotes are even, so it ended inside the cell. The label's second line,
    1,2,three", reads as a row of its own: the file was misread, not refused."""
    head = b'a,b,label\n1,2,12"\n'
    cell = b'3,4,"two\n1,2,three"\n'
    fill = block_bytes - 3 - (len(head) - len(b"a,b,label\n"))
    rows = []
    while fill > 12:
        rows.append(b"0,0,x\n")
        fill -= 6
    rows.append(b"0,0," + b"x" * (fill - 5) + b"\n")
    return head + b"".join(rows) + cell + b"5,6,y\n" * 5


@pytest.mark.parametrize("engine", ["numpy", "python"])
def test_a_quoted_cell_that_an_even_count_hid_is_read_whole(tmp_path, monkeypatch, engine):
    import csv
    import io

    monkeypatch.setattr(csv_reader, "BLOCK_BYTES", 1024)
    data = _cell_across_a_block_end(1024)
    header = len(b"a,b,label\n")  # the blocks begin after it
    assert data.index(b'3,4,"two') - header < 1024 <= data.index(b'1,2,three"') - header
    path = tmp_path / "cut.csv"
    path.write_bytes(data)
    table = csv_reader.read_csv(path, "read_csv: 'cut.csv'", engine=engine)
    rows = list(csv.reader(io.StringIO(data.decode())))[1:]
    assert table.y.tolist() == [row[2] for row in rows]
    assert "two\n1,2,three" in table.y.tolist()
    np.testing.assert_array_equal(table.X, np.array([row[:2] for row in rows], dtype=np.float32))


@pytest.mark.parametrize("engine", ["numpy", "python"])
@pytest.mark.parametrize("block", [64, None], ids=["small-blocks", "one-block"])
@pytest.mark.parametrize(
    "text",
    [
        b'a,b,label\n1,2,x\n3,4,"open\n5,6,y\n' + b"7,8,z\n" * 20,
        b'a,b,label\n1,2,x\n3,4,"open',
        b'a,b,label\n1,2,12"\n3,4,"open\n5,6,y\n' + b"7,8,z\n" * 20,  # an even count of quotes
    ],
    ids=["lines-after", "at-the-end", "beside-a-quote-that-is-text"],
)
def test_a_label_quote_never_closed_is_named_by_its_line(
    tmp_path, monkeypatch, engine, block, text
):
    # in the label column the row kept its 3 columns: one label held every line after it
    if block is not None:
        monkeypatch.setattr(csv_reader, "BLOCK_BYTES", block)
    path = tmp_path / "open.csv"
    path.write_bytes(text)
    match = (
        r"^t: rows must close their quoted cells; got a double quote in the row on line 3 that "
        r"the file never closes: close it or remove it$"
    )
    with pytest.raises(DataFormatError, match=match):
        read_csv(path, "t", engine=engine)


@pytest.mark.parametrize("engine", ["numpy", "python"])
@pytest.mark.parametrize("block", [16, None], ids=["small-blocks", "one-block"])
def test_quoted_labels_closed_at_the_files_end_still_read(tmp_path, monkeypatch, engine, block):
    if block is not None:
        monkeypatch.setattr(csv_reader, "BLOCK_BYTES", block)
    path = tmp_path / "closed.csv"
    path.write_bytes(b'a,b,label\n1,2,12"\n3,4,"two\nlines"\n5,6,"end"')
    table = read_csv(path, "t", engine=engine)
    assert table.y.tolist() == ['12"', "two\nlines", "end"]
    assert table.lines.tolist() == [2, 4, 5]
