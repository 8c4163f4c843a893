"""Parsing one block of CSV text into float64 cells, labels and line numbers: the two engines of
:func:`softgrad.datasets.csv.read_csv` (NumPy's C reader, and the csv module that names a bad
line and column), and storing a block's features into the table in its dtype."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import Any

import numpy as np

from softgrad.datasets.features import bad_value_error, first_bad_value
from softgrad.errors import DataFormatError

__all__ = ["BlockParser", "RowRunsOn", "checked_rows", "column_name", "decode"]


class RowRunsOn(Exception):
    """A block's last row ends inside a quoted cell (its block ended there: an even count of
    quotes, one of them text such as ``12"``, hid the cell running on). ``parsed`` is what the
    csv module made of the block, which holds the cell cut at the block's end, and ``line``
    the line its last row starts on; the reader extends the block to the row's end and parses
    it again (where the file ends in the cell, the quote was never closed)."""

    def __init__(self, parsed: tuple[np.ndarray, np.ndarray | None, np.ndarray], line: int) -> None:
        super().__init__("a quoted cell runs on past the block's end")
        self.parsed, self.line = parsed, line


def decode(
    data: bytes | bytearray,
    where: str,
    offset: int,
    encoding: str = "utf-8",
    first_line: int | None = None,
) -> str:
    """``data`` (found at byte ``offset`` of the file, on line ``first_line`` when given) as
    text, or an error naming the byte, its offset, and its line when ``first_line`` is given.

    A NUL byte is valid UTF-8 but no text's: it is refused too. Python's csv module keeps it
    inside a cell and NumPy's strings drop it at a cell's end, so labels ``x`` and ``x\\0``
    trained as one class; and it is what a UTF-16 file without a byte-order mark is read as,
    which was refused as rows of the wrong width.
    """
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as exc:
        bad = bytes(data[exc.start : exc.start + 1])
        raise DataFormatError(
            f"{where}: file must be UTF-8 text; got byte {bad!r} at offset {offset + exc.start} "
            f"({exc.reason}): save it as UTF-8"
        ) from None
    if "\0" in text:
        at = data.find(b"\0")
        lines_before = data.count(b"\n", 0, at)
        line = "" if first_line is None else f"on line {first_line + lines_before}, "
        raise DataFormatError(
            f"{where}: file must be UTF-8 text; got a NUL byte (b'\\x00') {line}at offset "
            f"{offset + at} (a UTF-16 file?): save it as UTF-8"
        )
    return text


def column_name(header: list[str] | None, col: int) -> str:
    """``column 2 ('b')``, or ``column 2`` in a file without a header."""
    return f"column {col + 1}" + (f" ({header[col]!r})" if header is not None else "")


def checked_rows(reader: Any, where: str, first_line: int | None = None) -> Iterator[list[str]]:
    """The rows of a csv reader, its errors as DataFormatError naming the file (and, given the
    line its text starts on, the line of a row whose cell is past the csv module's limit)."""
    read = 0  # the lines the rows given so far took
    try:
        for row in reader:
            read = reader.line_num
            yield row
    except csv.Error as exc:
        if first_line is not None and "field larger than field limit" in str(exc):
            # a quote left open: its cell runs on over the lines after it
            raise DataFormatError(
                f"{where}: cells must hold at most {csv.field_size_limit()} characters; got a "
                f"longer one in the row on line {first_line + read} (a quote left open?)"
            ) from exc
        if "new-line character seen in unquoted field" in str(exc):  # Python's advice is
            # for its own open(); old Mac line ends are what a user can change
            raise DataFormatError(
                f"{where}: lines must end in LF or CRLF; got a lone CR (old Mac line ends) in "
                "an unquoted field: save the file with Unix or Windows line ends"
            ) from exc
        raise DataFormatError(f"{where}: file must be valid CSV; got {exc}") from exc


class BlockParser:
    """Parses blocks of a file of ``n_columns`` columns (names ``header`` or None), the label
    at ``label_col`` (or None), the first block starting at byte ``offset`` of the file."""

    def __init__(
        self,
        header: list[str] | None,
        n_columns: int,
        label_col: int | None,
        where: str,
        engine: str,
        offset: int,
    ):
        self.header = header
        self.n_columns = n_columns
        self.label_col = label_col
        self.features = [c for c in range(n_columns) if c != label_col]
        self.where = where
        self.engine = engine
        self.offset = offset  # of the next block in the file, for the UTF-8 message

    def parse(
        self, block: bytearray, first_line: int, newlines: int
    ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
        """(cells (n, n_columns) float64 with 0 in the label column, labels (n,) or None, line
        numbers (n,))."""
        text = decode(block, self.where, self.offset, first_line=first_line)
        self.offset += len(block)
        if self.engine == "numpy" and not block.isspace():  # decode refused NUL bytes
            parsed = self._numpy(text, newlines + (not block.endswith(b"\n")), first_line)
            if parsed is not None:
                return parsed
        return self._python(text, first_line)

    def store(self, cells: np.ndarray, lines: np.ndarray, out: np.ndarray) -> None:
        """The feature columns of ``cells`` into ``out``; a float32 ``out`` refuses the first
        value it could not hold (and NaN or inf), by line and column."""
        col = self.label_col
        with np.errstate(over="ignore"):  # float64 -> float32 overflow: found below
            if col is None:
                out[...] = cells
            else:
                out[:, :col] = cells[:, :col]
                out[:, col:] = cells[:, col + 1 :]
        if out.dtype == cells.dtype or not out.size:
            return
        # min and max propagate NaN and show inf (overflow included) without a temporary
        if np.isfinite(out.min()) and np.isfinite(out.max()):
            return
        features = self.feature_cells(cells)
        bad = first_bad_value(features)
        assert bad is not None  # out holds a NaN or an infinity, from one of these values
        row, c = bad
        at = f"line {lines[row]}, {column_name(self.header, self.features[c])}"
        raise bad_value_error(self.where, features[row, c].item(), at)

    def feature_cells(self, cells: np.ndarray) -> np.ndarray:
        """The feature columns of a block's ``cells`` (a copy without the label column)."""
        return cells if self.label_col is None else np.delete(cells, self.label_col, axis=1)

    def _numpy(self, text: str, n_lines: int, first_line: int):
        """The block through NumPy's C reader, or None when it needs the csv module's rules."""
        lines = text.splitlines()
        if len(lines) != n_lines:
            return None  # a character that splitlines() breaks at and csv does not (\x0c ...)
        labels: list[str] = []

        def keep(cell: str) -> float:
            labels.append(cell)
            return 0.0

        try:
            # without usecols the C reader checks that every row has the same number of cells
            cells = np.loadtxt(
                lines,
                delimiter=",",
                quotechar='"',
                dtype=np.float64,
                ndmin=2,
                comments=None,
                # str cells for the labels on NumPy 1.x too, whose default ("bytes") gave the
                # converter Latin-1 bytes: a label "café" failed in np.array(labels, dtype=str)
                encoding=None,
                converters=None if self.label_col is None else {self.label_col: keep},
            )
        except ValueError:
            return None  # a ragged row, a line of spaces or a bad cell: the csv module names it
        if cells.shape[1] != self.n_columns:
            return None
        # annotated: NumPy 2.2's stubs (the last release for Python 3.10) type arange's result
        # as 1-d and flatnonzero's as n-d, and mypy took the first for the variable
        rows: np.ndarray
        if len(cells) == len(lines):
            rows = np.arange(len(lines))
        else:  # the C reader skipped blank lines, or joined a quoted field's lines (then: None)
            rows = np.flatnonzero(np.fromiter(map(bool, lines), bool, len(lines)))
            if len(rows) != len(cells):
                return None
        if '"' in lines[-1] and _ends_in_a_quoted_cell(lines[-1], 0):
            return None  # cut inside a quoted cell at the block's end: the csv module says so
        y = None if self.label_col is None else np.array(labels, dtype=str)
        return cells, y, first_line + rows

    def _python(self, text: str, first_line: int):
        """The block through the csv module and float(): names the first bad line or cell."""
        cells, lines = [], []
        reader = csv.reader(io.StringIO(text))
        like = "the header" if self.header is not None else "the first row"
        read = last = 0  # the lines the rows before this one took; where the last row began
        for row in checked_rows(reader, self.where, first_line):
            last = read
            start, end, read = first_line + read, first_line + reader.line_num - 1, reader.line_num
            if not row or (len(row) == 1 and not row[0].strip()):
                continue  # blank line
            if len(row) != self.n_columns:
                # a row over several lines is a quoted cell: named where its quote opens
                spans = f" (a quoted cell runs on from it to line {end}: a quote left open?)"
                raise DataFormatError(
                    f"{self.where}: every row must have {self.n_columns} columns like {like}; "
                    f"got {len(row)} on line {start}{spans if end > start else ''}"
                )
            cells.append(row)
            lines.append(end)
        values = np.zeros((len(cells), self.n_columns), dtype=np.float64)
        for i, row in enumerate(cells):
            for col in self.features:
                try:
                    values[i, col] = float(row[col])
                except ValueError:
                    raise DataFormatError(
                        f"{self.where}: features must be numbers; got {row[col]!r} on line "
                        f"{lines[i]}, {column_name(self.header, col)}"
                    ) from None
        y = None if self.label_col is None else np.array([r[self.label_col] for r in cells], str)
        parsed = (values, y, np.array(lines, dtype=np.int64))
        if '"' in text and _ends_in_a_quoted_cell(text, last):
            raise RowRunsOn(parsed, first_line + last)
        return parsed


def _ends_in_a_quoted_cell(text: str, last: int) -> bool:
    """Whether the row that begins at line ``last`` (from 0) of ``text`` runs to its end inside
    a quoted cell: the csv module takes such a cell as ended there, where strict parsing says
    "unexpected end of data". Only the last row is read again."""
    # lines ``last`` on, split from the end (the block's other lines are not split at all)
    tail = "\n".join(text.rsplit("\n", text.count("\n") + 1 - last)[1:]) if last else text
    try:
        for _ in csv.reader(io.StringIO(tail), strict=True):
            pass
    except csv.Error as exc:
        return "unexpected end of data" in str(exc)
    return False
