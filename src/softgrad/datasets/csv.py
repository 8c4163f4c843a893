"""Reading a numeric CSV table (an optional header, feature columns and an optional label
column) in bounded memory: the one CSV reader of softgrad (``load_file``, ``softgrad train`` and
``evaluate``, and ``softgrad predict``'s inputs).

The file is read in blocks of about ``BLOCK_BYTES``, each ending at a line end (and holding
whole quoted fields), into a feature array allocated once, in the dtype asked for: the peak is
the features plus one block's text, lines and parsed float64 cells. Read as float32 (what
training uses), a 5-decimal file's features take about 0.45x its size, and the reading about
0.6x at the peak (``tests/datasets/test_csv_loader_memory.py``); reading the whole text and
splitting it into Python strings took 14x.

Two engines read a block, and give the same table:

``"numpy"`` (the default)
    NumPy's C reader (``np.loadtxt``, quoted fields included) parses every cell: the features
    as float64, the label cells through a converter that keeps them as written. Without
    ``usecols`` it checks that every row has as many cells as the first. A block it refuses (a
    ragged row, a line of spaces, a bad cell, a quoted field over several lines) is read again
    by the ``"python"`` engine, which names the bad line and column or reads what NumPy's
    stricter reader refused.
``"python"``
    The standard library's ``csv`` module and ``float()`` per cell: the reference behaviour, and
    the one that names the first bad cell by its line and column. Slower and about 14x the
    block's size in memory while a block is read.

pandas' C engine and pyarrow.csv were measured against the NumPy engine on this machine and
were not faster on wide files and used 2.5x-7x the file's size (BENCHMARKS.md, "CSV loading"),
so they are not used.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np

from softgrad.datasets.features import bad_value_error, first_bad_value
from softgrad.errors import DataFormatError

__all__ = ["BLOCK_BYTES", "ENGINES", "HEADERS", "LABEL_COLUMNS", "CsvTable", "read_csv"]

LABEL_COLUMNS = ("label", "target", "y")
ENGINES = ("numpy", "python")
HEADERS = ("required", "auto")
# 1 MiB of text per block: its text, lines and float64 cells are a few MiB while it is read;
# 8 MiB blocks read no faster (BENCHMARKS.md, "CSV loading")
BLOCK_BYTES = 1 << 20

Progress = Callable[[int, int], None]


@dataclass
class CsvTable:
    """A CSV file's contents.

    Attributes
    ----------
    header : list of str, or None
        The column names, as written; None for a file without a header (``header="auto"``).
    X : ndarray of shape (N, D), float64 or float32
        The feature columns, in the file's order.
    y : ndarray of shape (N,), str, or None
        The label column's cells, as written; None when there is no label column.
    lines : ndarray of shape (N,), int64
        The 1-based line number of each row (blank lines are skipped).
    label_column : int or None
        Index of the label column among the file's columns, or None.
    """

    header: list[str] | None
    X: np.ndarray
    y: np.ndarray | None
    lines: np.ndarray
    label_column: int | None

    @property
    def feature_columns(self) -> list[int]:
        """Indices among the file's columns of the columns of ``X``."""
        return [c for c in range(self.X.shape[1] + (self.label_column is not None))
                if c != self.label_column]  # fmt: skip

    def locate(self, row: int, col: int | None = None) -> str:
        """Where row ``row`` of X (and its feature ``col``; None: its label) is in the file."""
        if col is None:
            return f"line {self.lines[row]} (label column {_name(self.header, self.label_column)})"
        return f"line {self.lines[row]}, {_column(self.header, self.feature_columns[col])}"


def _name(header: list[str] | None, col: int) -> str:
    return repr(header[col]) if header is not None else str(col + 1)


def _column(header: list[str] | None, col: int) -> str:
    """``column 2 ('b')``, or ``column 2`` in a file without a header."""
    return f"column {col + 1}" + (f" ({header[col]!r})" if header is not None else "")


def label_column(header: list[str]) -> int:
    """The column named ``label``, ``target`` or ``y`` (in that order, any case), else the last."""
    lowered = [h.strip().lower() for h in header]
    for name in LABEL_COLUMNS:
        if name in lowered:
            return lowered.index(name)
    return len(header) - 1


def read_csv(
    path: str | os.PathLike,
    where: str,
    *,
    engine: str = "numpy",
    dtype: type | np.dtype = np.float64,
    header: str = "required",
    label: Callable[[list[str]], int | None] = label_column,
    progress: Progress | None = None,
) -> CsvTable:
    """Read a CSV file of numeric features and (usually) one label column.

    Parameters
    ----------
    path : str or PathLike
        UTF-8 text (a byte-order mark is allowed): a header line, then one sample per line.
    where : str
        Message prefix naming the file, e.g. ``"load_file: 'data.csv'"``.
    engine : {"numpy", "python"}
        Which reader parses the blocks (see the module docstring); both give the same table.
    dtype : float64 or float32
        The features' dtype. float32 refuses, by line and column, a value that float32 cannot
        hold and NaN or inf (what training refuses), checked on each block's float64 cells.
    header : {"required", "auto"}
        ``"required"``: the first line is the header. ``"auto"``: the first line is a header
        unless every cell of it is a number; a file without one has no label column, and an
        empty file gives an empty table.
    label : callable
        ``label(header)``: the index of the label column given the header's cells, or None for
        none (default :func:`label_column`: named ``label``/``target``/``y``, else the last).
    progress : callable, optional
        Called as ``progress(bytes_read, file_size)`` after each block; the CLI draws it.

    Returns
    -------
    CsvTable
        With no data rows (a header alone), X has shape (0, D).

    Raises
    ------
    DataFormatError
        An empty file or blank header line (``header="required"``); a header of fewer than 2
        columns when it must hold a label; a row whose number of columns differs from the
        header's, or a feature cell that is not a number (both named by line, and column); text
        that is not UTF-8 (naming the byte and its offset) or not valid CSV.

    Notes
    -----
    Memory is reserved for at most as many rows as the file's size allows: a row of D columns
    takes at least D bytes (its commas and line end), so a header claiming a million columns
    over a small file reserves at most one value (4 bytes in float32) per byte of the file.

    Example
    -------
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "t.csv"
    >>> _ = path.write_text("a,label,b\\n1,x,2\\n\\n3,y,4\\n")
    >>> table = read_csv(path, "example")
    >>> table.X.tolist(), table.y.tolist(), table.lines.tolist(), table.label_column
    ([[1.0, 2.0], [3.0, 4.0]], ['x', 'y'], [2, 4], 1)
    >>> _ = path.write_text("1,2\\n3,4\\n")
    >>> read_csv(path, "example", header="auto", dtype=np.float32).X
    array([[1., 2.],
           [3., 4.]], dtype=float32)
    """
    if engine not in ENGINES:
        raise ValueError(f"read_csv: engine must be one of {ENGINES}; got {engine!r}")
    if header not in HEADERS:
        raise ValueError(f"read_csv: header must be one of {HEADERS}; got {header!r}")
    dtype = np.dtype(dtype)
    if dtype not in (np.float32, np.float64):
        raise ValueError(f"read_csv: dtype must be float32 or float64; got {dtype.name!r}")
    path = Path(path)
    size = path.stat().st_size
    with open(path, "rb") as f:
        names, n_columns, first_line = _read_header(f, where, header)
        label_col = None if names is None else label(names)
        if header == "required" and label_col is not None and n_columns < 2:
            raise DataFormatError(
                f"{where}: header must name at least 2 columns (features and a label); "
                f"got {names!r}"
            )
        reader = _Blocks(names, n_columns, label_col, where, engine)
        reader.offset = f.tell()
        # every row takes at least n_columns bytes: the claim of a wide header is checked
        # against the file's real size before memory is reserved for it
        rows = min(_count_lines(f) + 1, (size - f.tell()) // max(n_columns, 1) + 1)
        X = np.empty((rows, len(reader.features)), dtype=dtype)
        lines = np.empty(rows, dtype=np.int64)
        labels, n = [], 0
        for block, line, newlines in _blocks(f, first_line):
            cells, y_block, lines_block = reader.parse(block, line, newlines)
            del block  # the text goes before the next block is read
            m = len(cells)
            reader.store(cells, lines_block, X[n : n + m])
            lines[n : n + m] = lines_block
            labels.append(y_block)
            n += m
            del cells
            if progress is not None:
                progress(f.tell(), size)
    y = None if label_col is None else np.concatenate(labels or [np.array([], dtype=str)])
    # a leading slice of a C-contiguous array stays contiguous: no copy for the few rows spare
    return CsvTable(names, X[:n], y, lines[:n], label_col)


def _decode(data: bytes | bytearray, where: str, offset: int, encoding: str = "utf-8") -> str:
    """``data`` (found at byte ``offset`` of the file) as text, or an error naming the byte."""
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        bad = bytes(data[exc.start : exc.start + 1])
        raise DataFormatError(
            f"{where}: file must be UTF-8 text; got byte {bad!r} at offset {offset + exc.start} "
            f"({exc.reason}): save it as UTF-8"
        ) from None


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def _read_header(f: BinaryIO, where: str, mode: str) -> tuple[list[str] | None, int, int]:
    """(the header's cells or None, the number of columns, the line number of the first data
    line); ``f`` is left at the first data line. ``"auto"`` skips blank lines first."""
    start, line = 0, 1
    raw = f.readline()
    while mode == "auto" and raw and not raw.strip():
        start, line, raw = f.tell(), line + 1, f.readline()
    while raw.count(b'"') % 2:  # a quoted header cell runs on to the next line
        more = f.readline()
        if not more:
            break
        raw += more
    text = _decode(raw, where, start, "utf-8-sig")
    cells = next(_checked(csv.reader(io.StringIO(text)), where), None)
    if mode == "auto" and not raw:
        return None, 0, line  # an empty file, or only blank lines: an empty table
    if cells is None or not any(h.strip() for h in cells):
        raise DataFormatError(f"{where}: file must start with a header line; got an empty file")
    if mode == "auto" and all(_is_number(c) for c in cells):
        # no header: the line is data (after the byte-order mark, at the start of the file)
        f.seek(start + (3 if start == 0 and raw.startswith(b"\xef\xbb\xbf") else 0))
        return None, len(cells), line
    return cells, len(cells), line + raw.count(b"\n")


def _count_lines(f: BinaryIO) -> int:
    start = f.tell()
    count = sum(block.count(b"\n") for block in iter(lambda: f.read(BLOCK_BYTES), b""))
    f.seek(start)
    return count


def _blocks(f: BinaryIO, first_line: int) -> Iterator[tuple[bytearray, int, int]]:
    """Blocks of whole lines (and whole quoted fields): (block, its first line, its newlines).

    A block is read into a bytearray that grows in place to the line end, so the text is held
    once, not once more for each concatenation.
    """
    line = first_line
    while True:
        block = bytearray(BLOCK_BYTES)
        del block[f.readinto(block) :]
        if not block:
            return
        block += f.readline()
        while b'"' in block and block.count(b'"') % 2:  # a quoted field runs on past the end
            more = f.readline()
            if not more:
                break
            block += more
        newlines = block.count(b"\n")
        yield block, line, newlines
        del block  # the caller has parsed it: do not hold it while the next one is read
        line += newlines


def _checked(reader: Iterator[list[str]], where: str) -> Iterator[list[str]]:
    """The rows of a csv reader, its errors as DataFormatError naming the file."""
    try:
        yield from reader
    except csv.Error as exc:
        raise DataFormatError(f"{where}: file must be valid CSV; got {exc}") from exc


class _Blocks:
    """Parses blocks of a file of ``n_columns`` columns (names ``header`` or None), the label
    at ``label_col`` (or None)."""

    def __init__(
        self,
        header: list[str] | None,
        n_columns: int,
        label_col: int | None,
        where: str,
        engine: str,
    ):
        self.header = header
        self.n_columns = n_columns
        self.label_col = label_col
        self.features = [c for c in range(n_columns) if c != label_col]
        self.where = where
        self.engine = engine
        self.offset = 0  # of the next block in the file, for the UTF-8 message

    def parse(
        self, block: bytearray, first_line: int, newlines: int
    ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
        """(cells (n, n_columns) float64 with 0 in the label column, labels (n,) or None, line
        numbers (n,))."""
        text = _decode(block, self.where, self.offset)
        self.offset += len(block)
        # the csv module refuses NUL bytes, which NumPy's reader would keep inside a label
        if self.engine == "numpy" and not block.isspace() and b"\0" not in block:
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
        features = cells if col is None else np.delete(cells, col, axis=1)
        row, c = first_bad_value(features)
        at = f"line {lines[row]}, {_column(self.header, self.features[c])}"
        raise bad_value_error(self.where, features[row, c].item(), at)

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
                converters=None if self.label_col is None else {self.label_col: keep},
            )
        except ValueError:
            return None  # a ragged row, a line of spaces or a bad cell: the csv module names it
        if cells.shape[1] != self.n_columns:
            return None
        if len(cells) == len(lines):
            rows = np.arange(len(lines))
        else:  # the C reader skipped blank lines, or joined a quoted field's lines (then: None)
            rows = np.flatnonzero(np.fromiter(map(bool, lines), bool, len(lines)))
            if len(rows) != len(cells):
                return None
        y = None if self.label_col is None else np.array(labels, dtype=str)
        return cells, y, first_line + rows

    def _python(self, text: str, first_line: int):
        """The block through the csv module and float(): names the first bad line or cell."""
        cells, lines = [], []
        reader = csv.reader(io.StringIO(text))
        like = "the header" if self.header is not None else "the first row"
        for row in _checked(reader, self.where):
            if not row or (len(row) == 1 and not row[0].strip()):
                continue  # blank line
            if len(row) != self.n_columns:
                raise DataFormatError(
                    f"{self.where}: every row must have {self.n_columns} columns like {like}; "
                    f"got {len(row)} on line {first_line + reader.line_num - 1}"
                )
            cells.append(row)
            lines.append(first_line + reader.line_num - 1)
        values = np.zeros((len(cells), self.n_columns), dtype=np.float64)
        for i, row in enumerate(cells):
            for col in self.features:
                try:
                    values[i, col] = float(row[col])
                except ValueError:
                    raise DataFormatError(
                        f"{self.where}: features must be numbers; got {row[col]!r} on line "
                        f"{lines[i]}, {_column(self.header, col)}"
                    ) from None
        y = None if self.label_col is None else np.array([r[self.label_col] for r in cells], str)
        return values, y, np.array(lines, dtype=np.int64)
