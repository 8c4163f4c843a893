"""Reading a numeric CSV table (a header, feature columns and one label column) in bounded memory.

The file is read in blocks of about ``BLOCK_BYTES``, each ending at a line end (and holding
whole quoted fields), into a feature array allocated once: the peak is the float64 features
plus one block and its parsed copy, about 1x the file's size for short numbers, where reading
the whole text and splitting it into Python strings took 14x.

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

from softgrad.errors import DataFormatError

__all__ = ["BLOCK_BYTES", "ENGINES", "LABEL_COLUMNS", "CsvTable", "read_csv"]

LABEL_COLUMNS = ("label", "target", "y")
ENGINES = ("numpy", "python")
BLOCK_BYTES = 1 << 23  # 8 MiB of text per block: the parsed block is a few times that, briefly

Progress = Callable[[int, int], None]


@dataclass
class CsvTable:
    """A CSV file's contents.

    Attributes
    ----------
    header : list of str
        The column names, as written.
    X : ndarray of shape (N, D), float64
        The feature columns, in the file's order.
    y : ndarray of shape (N,), str
        The label column's cells, as written.
    lines : ndarray of shape (N,), int64
        The 1-based line number of each row (blank lines are skipped).
    label_column : int
        Index of the label column in ``header``.
    """

    header: list[str]
    X: np.ndarray
    y: np.ndarray
    lines: np.ndarray
    label_column: int

    @property
    def feature_columns(self) -> list[int]:
        """Indices in ``header`` of the columns of ``X``."""
        return [c for c in range(len(self.header)) if c != self.label_column]


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
    progress: Progress | None = None,
) -> CsvTable:
    """Read a CSV file of numeric features and one label column.

    Parameters
    ----------
    path : str or PathLike
        A UTF-8 file (a byte-order mark is allowed): a header line, then one sample per line.
    where : str
        Message prefix naming the file, e.g. ``"load_file: 'data.csv'"``.
    engine : {"numpy", "python"}
        Which reader parses the blocks (see the module docstring); both give the same table.
    progress : callable, optional
        Called as ``progress(bytes_read, file_size)`` after each block; the CLI draws it.

    Returns
    -------
    CsvTable

    Raises
    ------
    DataFormatError
        An empty file or blank header line; a header of fewer than 2 columns; no data rows; a
        row whose number of columns differs from the header's, or a feature cell that is not a
        number (both named by line, and column); text that is not UTF-8 or not valid CSV.

    Example
    -------
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "t.csv"
    >>> _ = path.write_text("a,label,b\\n1,x,2\\n\\n3,y,4\\n")
    >>> table = read_csv(path, "example")
    >>> table.X.tolist(), table.y.tolist(), table.lines.tolist(), table.label_column
    ([[1.0, 2.0], [3.0, 4.0]], ['x', 'y'], [2, 4], 1)
    """
    if engine not in ENGINES:
        raise ValueError(f"read_csv: engine must be one of {ENGINES}; got {engine!r}")
    path = Path(path)
    size = path.stat().st_size
    with open(path, "rb") as f:
        header, first_line = _read_header(f, where)
        label_col = label_column(header)
        reader = _Blocks(header, label_col, where, engine)
        rows = _count_lines(f) + 1  # an upper bound: every line left could be a row
        X = np.empty((rows, len(header) - 1), dtype=np.float64)
        lines = np.empty(rows, dtype=np.int64)
        labels, n = [], 0
        for block, line, newlines in _blocks(f, first_line):
            cells, y_block, lines_block = reader.parse(block, line, newlines)
            m = len(cells)
            np.take(cells, reader.features, axis=1, out=X[n : n + m])
            lines[n : n + m] = lines_block
            labels.append(y_block)
            n += m
            if progress is not None:
                progress(f.tell(), size)
    if n == 0:
        raise DataFormatError(f"{where}: file must hold at least one data row; got only a header")
    # a leading slice of a C-contiguous array stays contiguous: no copy for the few rows spare
    return CsvTable(header, X[:n], np.concatenate(labels), lines[:n], label_col)


def _decode(data: bytes, where: str, encoding: str = "utf-8") -> str:
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        raise DataFormatError(f"{where}: file must be UTF-8 text; got {exc.reason}") from exc


def _read_header(f: BinaryIO, where: str) -> tuple[list[str], int]:
    """The header's cells and the line number after it; ``f`` is left at the first data line."""
    raw = f.readline()
    while raw.count(b'"') % 2:  # a quoted header cell runs on to the next line
        more = f.readline()
        if not more:
            break
        raw += more
    text = _decode(raw, where, "utf-8-sig")
    header = next(_checked(csv.reader(io.StringIO(text)), where), None)
    if header is None or not any(h.strip() for h in header):
        raise DataFormatError(f"{where}: file must start with a header line; got an empty file")
    if len(header) < 2:
        raise DataFormatError(
            f"{where}: header must name at least 2 columns (features and a label); got {header!r}"
        )
    return header, raw.count(b"\n") + 1


def _count_lines(f: BinaryIO) -> int:
    start = f.tell()
    count = sum(block.count(b"\n") for block in iter(lambda: f.read(BLOCK_BYTES), b""))
    f.seek(start)
    return count


def _blocks(f: BinaryIO, first_line: int) -> Iterator[tuple[bytes, int, int]]:
    """Blocks of whole lines (and whole quoted fields): (block, its first line, its newlines)."""
    line = first_line
    while block := f.read(BLOCK_BYTES):
        block += f.readline()
        while b'"' in block and block.count(b'"') % 2:  # a quoted field runs on past the end
            more = f.readline()
            if not more:
                break
            block += more
        newlines = block.count(b"\n")
        yield block, line, newlines
        line += newlines


def _checked(reader: Iterator[list[str]], where: str) -> Iterator[list[str]]:
    """The rows of a csv reader, its errors as DataFormatError naming the file."""
    try:
        yield from reader
    except csv.Error as exc:
        raise DataFormatError(f"{where}: file must be valid CSV; got {exc}") from exc


class _Blocks:
    """Parses blocks of a file with columns ``header``, the label at ``label_col``."""

    def __init__(self, header: list[str], label_col: int, where: str, engine: str):
        self.header = header
        self.n_columns = len(header)
        self.label_col = label_col
        self.features = [c for c in range(self.n_columns) if c != label_col]
        self.where = where
        self.engine = engine

    def parse(
        self, block: bytes, first_line: int, newlines: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(cells (n, n_columns) with 0 in the label column, labels (n,), line numbers (n,))."""
        text = _decode(block, self.where)
        # the csv module refuses NUL bytes, which NumPy's reader would keep inside a label
        if self.engine == "numpy" and not block.isspace() and b"\0" not in block:
            parsed = self._numpy(text, newlines + (not block.endswith(b"\n")), first_line)
            if parsed is not None:
                return parsed
        return self._python(text, first_line)

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
                converters={self.label_col: keep},
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
        return cells, np.array(labels, dtype=str), first_line + rows

    def _python(self, text: str, first_line: int):
        """The block through the csv module and float(): names the first bad line or cell."""
        cells, lines = [], []
        reader = csv.reader(io.StringIO(text))
        for row in _checked(reader, self.where):
            if not row or (len(row) == 1 and not row[0].strip()):
                continue  # blank line
            if len(row) != self.n_columns:
                raise DataFormatError(
                    f"{self.where}: every row must have {self.n_columns} columns like the header; "
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
                        f"{lines[i]}, column {col + 1} ({self.header[col]!r})"
                    ) from None
        y = np.array([row[self.label_col] for row in cells], dtype=str)
        return values, y, np.array(lines, dtype=np.int64)
