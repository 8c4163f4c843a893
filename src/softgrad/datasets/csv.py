"""Reading a numeric CSV table (an optional header, feature columns and an optional label
column) in bounded memory: the one CSV reader of softgrad (``load_file``, ``softgrad train`` and
``evaluate``, and ``softgrad predict``'s inputs).

The file is read in blocks of about ``BLOCK_BYTES``, each ending at a line end (and holding
whole quoted fields), into a feature array allocated once, in the dtype asked for: the peak is
the features plus one block's text, lines and parsed float64 cells. Read as float32 (what
training uses), a 5-decimal file's features take about 0.45x its size, and ``load_file``
peaks at about 0.7x on an 85 MB file (``tests/datasets/test_large_csv_memory.py`` bounds it);
reading the whole text and splitting it into Python strings took 14x. A float32 reading that
would blur a column (``widen``) is dropped and the file read again as float64.

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

from softgrad.datasets.csv_blocks import (
    BlockParser,
    RowRunsOn,
    checked_rows,
    column_name,
    decode,
)
from softgrad.errors import DataFormatError

__all__ = [
    "BLOCK_BYTES",
    "ENGINES",
    "HEADERS",
    "LABEL_COLUMNS",
    "WIDEN_ABOVE",
    "CsvTable",
    "read_csv",
]

LABEL_COLUMNS = ("label", "target", "y")
ENGINES = ("numpy", "python")
HEADERS = ("required", "auto")
# 256 KiB of text per block: its text, lines and float64 cells are about 1 MiB while it is
# read. Measured on the 85 MB files: 64 KiB to 8 MiB blocks read at the same speed per CPU
# second, and blocks of 1 MiB and more leave ~5 MB more of freed heap in the process's RSS
BLOCK_BYTES = 1 << 18
# read_csv(widen=True): float32 keeps every value of a column to within this share of the
# column's range, or the file is read again as float64. 2**-16: more than 16 bits across the
# range (an 8-bit image has 8); a timestamp in seconds rounds to 128 s in float32, which keeps
# a year of them (2e-6 of the range) and not a day (7e-4)
WIDEN_ABOVE = 2.0**-16

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
        n_columns = self.X.shape[1] + (self.label_column is not None)
        return [c for c in range(n_columns) if c != self.label_column]

    def locate(self, row: int, col: int | None = None) -> str:
        """Where row ``row`` of X (and its feature ``col``; None: its label) is in the file."""
        if col is None:
            # a label column is named in a header
            assert self.header is not None and self.label_column is not None
            label = self.header[self.label_column]
            return f"line {self.lines[row]} (label column {label!r})"
        return f"line {self.lines[row]}, {column_name(self.header, self.feature_columns[col])}"


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
    widen: bool = False,
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
        A first line whose every cell is a number is a row, not a header. ``"required"``: the
        first line must be the header (a line of numbers is refused). ``"auto"``: a file
        without a header has no label column, and an empty file gives an empty table.
    label : callable
        ``label(header)``: the index of the label column given the header's cells, or None for
        none (default :func:`label_column`: named ``label``/``target``/``y``, else the last).
    progress : callable, optional
        Called as ``progress(bytes_read, total_bytes)`` after each block; the CLI draws it.
        ``total_bytes`` is the file's size, and twice it once the file is read again
        (``widen``), whose second reading goes on from the first's end.
    widen : bool, default False
        With ``dtype`` float32: read the file again as float64 when float32 rounds some value
        of a feature column by more than ``WIDEN_ABOVE`` (2**-16) of that column's range
        (max - min), so that the column's variation survives: a timestamp within a day, a
        reading of 1e4 +- 2e-4. A column of one value never needs it.

    Returns
    -------
    CsvTable
        With no data rows (a header alone), X has shape (0, D).

    Raises
    ------
    DataFormatError
        An empty file, a blank header line, a first line of numbers (``header="required"``;
        but pandas' numbered columns ``0,1,...,n-1``, a header there) or
        of numbers and one word (a first sample whose label is a word, in either mode);
        a header of fewer than 2 columns when it must hold a label, or with a feature column
        without a name (pandas' row index); a row whose number of
        columns differs from the header's, or a feature cell that is not a number (both named
        by line, and column); a double quote left open (in the header, or one whose cell runs
        on over many lines), named by its line; text that is not UTF-8 or holds a NUL byte
        (naming the byte and its offset) or not valid CSV.

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
        if header == "required" and names is not None and label_col is not None and n_columns < 2:
            raise DataFormatError(
                f"{where}: header must name at least 2 columns (features and a label); "
                f"got {names!r}{_separator_hint(names)}"
            )
        _check_label_named_once(names, label_col, where)
        _check_features_named(names, label_col, where)
        reader = BlockParser(names, n_columns, label_col, where, engine, f.tell())
        rounding = _Rounding(len(reader.features)) if widen and dtype == np.float32 else None
        # every row takes at least n_columns bytes: the claim of a wide header is checked
        # against the file's real size before memory is reserved for it
        rows = min(_count_lines(f) + 1, (size - f.tell()) // max(n_columns, 1) + 1)
        X = np.empty((rows, len(reader.features)), dtype=dtype)
        lines = np.empty(rows, dtype=np.int64)
        labels, n = [], 0
        blocks = _Blocks(f, first_line)
        for block, line, newlines in blocks:
            offset = reader.offset
            try:
                cells, y_block, lines_block = reader.parse(block, line, newlines)
            except RowRunsOn as runs:
                # the block ended inside a quoted cell that an even count of quotes hid (a
                # quote that is text, 12", beside it): parse it again to its last row's end
                parsed = runs.parsed
                if blocks.finish_row(block):
                    reader.offset = offset
                    try:
                        parsed = reader.parse(block, line, blocks.newlines)
                    except RowRunsOn as again:  # the file's end, or the csv module's field limit
                        runs, parsed = again, again.parsed
                if blocks.at_end():
                    # the csv module reads the rest of the file into the cell; in the label
                    # column the row still had its columns, and one label held every line after
                    raise DataFormatError(
                        f"{where}: rows must close their quoted cells; got a double quote in the "
                        f"row on line {runs.line} that the file never closes: close it or "
                        "remove it"
                    ) from None
                cells, y_block, lines_block = parsed
            del block  # the text goes before the next block is read
            m = len(cells)
            reader.store(cells, lines_block, X[n : n + m])
            if rounding is not None:
                rounding.add(reader.feature_cells(cells), X[n : n + m])
            lines[n : n + m] = lines_block
            labels.append(y_block)
            n += m
            del cells
            if progress is not None:
                progress(f.tell(), size)
    if rounding is not None and rounding.loses():
        del X, lines, labels  # the float32 reading goes before the float64 one is made
        # the second reading goes on from the first: bytes_read runs on to twice the size
        second = None if progress is None else lambda done, total: progress(total + done, 2 * total)
        return read_csv(
            path,
            where,
            dtype=np.float64,
            engine=engine,
            header=header,
            label=label,
            progress=second,
        )
    # with a label column every block has its labels
    label_blocks = [block for block in labels if block is not None]
    y = None if label_col is None else np.concatenate(label_blocks or [np.array([], dtype=str)])
    # a leading slice of a C-contiguous array stays contiguous: no copy for the few rows spare
    return CsvTable(names, X[:n], y, lines[:n], label_col)


class _Rounding:
    """For each feature column of a file read as float32: the range of its values and the
    most that float32 rounded one of them (:func:`read_csv`'s ``widen``)."""

    def __init__(self, n_features: int):
        self.low = np.full(n_features, np.inf)
        self.high = np.full(n_features, -np.inf)
        self.error = np.zeros(n_features)

    def add(self, exact: np.ndarray, rounded: np.ndarray) -> None:
        """A block's float64 feature values and their float32 roundings."""
        if not len(exact):
            return
        np.minimum(self.low, exact.min(axis=0), out=self.low)
        np.maximum(self.high, exact.max(axis=0), out=self.high)
        error = np.abs(rounded.astype(np.float64) - exact).max(axis=0)
        np.maximum(self.error, error, out=self.error)

    def loses(self) -> bool:
        """Whether float32 rounded some column by more than ``WIDEN_ABOVE`` of its range."""
        spread = self.high - self.low
        return bool(np.any((spread > 0) & (self.error > WIDEN_ABOVE * spread)))


def _check_label_named_once(names: list[str] | None, label_col: int | None, where: str) -> None:
    """Refuse a header naming the label column (``label``, ``target``, ``y``) twice: the first
    was taken as the labels and the second read as a feature, refused by its text as a number
    (or trained on as one)."""
    if names is None or label_col is None:
        return
    name = names[label_col].strip().lower()
    same = [k + 1 for k, h in enumerate(names) if h.strip().lower() == name]
    if name in LABEL_COLUMNS and len(same) > 1:
        raise DataFormatError(
            f"{where}: header must name the label column once; got {names[label_col]!r} in "
            f"columns {', '.join(map(str, same))}: rename or drop the others"
        )


def _check_features_named(names: list[str] | None, label_col: int | None, where: str) -> None:
    """Refuse a header with a feature column without a name: pandas writes its row index so
    (``DataFrame.to_csv`` keeps the index unless ``index=False``), and trained on, the row
    number is a feature (one that tells the class where the file is sorted by it)."""
    if names is None:
        return
    blank = [k + 1 for k, h in enumerate(names) if k != label_col and not h.strip()]
    if blank:
        index = " (pandas writes its row index so: to_csv(..., index=False) leaves it out)"
        raise DataFormatError(
            f"{where}: header must name every column; column {blank[0]} has no name"
            f"{index if blank[0] == 1 else ''}: name it or drop it"
        )


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def _pandas_numbers(cells: list[str]) -> bool:
    """True for the cells ``0,1,...,n-1`` exactly (n >= 2): pandas' numbered columns."""
    return len(cells) >= 2 and [c.strip() for c in cells] == [str(k) for k in range(len(cells))]


def _a_sample_with_a_word(cells: list[str]) -> int | None:
    """The column of the one word in a line of numbers (``0.12,-0.3,0.64,yes``: the first sample
    of a file without a header, its label a word), or None: more or fewer words, a word that
    names the label column (``label,12,13,40``: pixels named by their index), or numbers that
    count the columns (``0,1,2,label``, pandas' numbered header, or from 1)."""
    words = [k for k, cell in enumerate(cells) if not _is_number(cell)]
    if len(cells) < 2 or len(words) != 1 or cells[words[0]].strip().lower() in LABEL_COLUMNS:
        return None
    numbers = [float(cell) for k, cell in enumerate(cells) if k != words[0]]
    counted = any(numbers == list(range(start, start + len(numbers))) for start in (0, 1))
    return None if counted else words[0]


def _read_header(f: BinaryIO, where: str, mode: str) -> tuple[list[str] | None, int, int]:
    """(the header's cells or None, the number of columns, the line number of the first data
    line); ``f`` is left at the first data line. ``"auto"`` skips blank lines first."""
    start, line = 0, 1
    raw = f.readline()
    while mode == "auto" and raw and not raw.strip():
        start, line, raw = f.tell(), line + 1, f.readline()
    lines = _HeaderLines(f, raw, start, line, where)
    cells = lines.first_row()
    raw = lines.taken()
    if mode == "auto" and not raw:
        return None, 0, line  # an empty file, or only blank lines: an empty table
    if cells is None or not any(h.strip() for h in cells):
        raise DataFormatError(f"{where}: file must start with a header line; got an empty file")
    word = _a_sample_with_a_word(cells)
    if word is not None:  # taken as the header, the first sample would be dropped
        raise DataFormatError(
            f"{where}: line {line} must be a header naming the columns; got a sample, numbers "
            f"and {cells[word].strip()!r} in column {word + 1}: add a header line such as "
            "x1,x2,label"
        )
    if mode == "required" and _pandas_numbers(cells):
        # DataFrame(np.c_[X, y]).to_csv(index=False) names its columns 0, 1, ...: a header
        return cells, len(cells), line + raw.count(b"\n")
    if all(_is_number(c) for c in cells):  # a line of numbers is a row, never a header
        if mode == "required":
            # taken as the header, the file's first sample was dropped without a word
            shown = ",".join(cells) if len(cells) <= 6 else ",".join(cells[:5]) + ",..."
            raise DataFormatError(
                f"{where}: line {line} must be a header naming the columns; got numbers only "
                f"({shown!r}): add a header line such as x1,x2,label"
            )
        # no header: the line is data (after the byte-order mark, at the start of the file)
        f.seek(start + (3 if start == 0 and raw.startswith(b"\xef\xbb\xbf") else 0))
        return None, len(cells), line
    return cells, len(cells), line + raw.count(b"\n")


class _HeaderLines:
    """The lines of a CSV file from its header line on, decoded for the csv module one at a time
    as it asks for them, so that it takes the header's row and nothing after it.

    A quote opens a quoted cell only at a cell's start (``size"`` is text), so only the csv
    module knows where the header's row ends. Joining the lines after it while the file's
    quotes were odd in number dropped the rows up to the next odd quote (a ``12"`` cell), and
    then held the whole rest of a file without one (1.7 GB for 93 MB). Read a line at a time,
    the header holds its own lines: one, or those of a quoted cell running on, which the csv
    module's field limit bounds. The quotes are counted once a line, their parity kept, so
    that a quote the file never closes is named by its line.
    """

    def __init__(self, f: BinaryIO, raw: bytes, start: int, line: int, where: str) -> None:
        self.f, self.where = f, where
        self.parts: list[bytes] = []
        self.offset, self.line = start, line
        self.quotes, self.opened = 0, line
        self.pending: bytes | None = raw
        self.ended = False

    def __iter__(self) -> _HeaderLines:
        return self

    def __next__(self) -> str:
        raw = self.f.readline() if self.pending is None else self.pending
        if not raw:
            self.ended = True
            raise StopIteration
        first = self.pending is not None
        self.pending = None
        text = decode(raw, self.where, self.offset, "utf-8-sig" if first else "utf-8", self.line)
        found = raw.count(b'"')
        if found % 2:  # the last quote of this line is the one left open, or the one closing
            self.opened = self.line
        self.quotes += found
        self.parts.append(raw)
        self.offset += len(raw)
        self.line += 1
        return text

    def first_row(self) -> list[str] | None:
        """The csv module's first row (None for no line); ``f`` is left after its lines. A
        quoted cell the file never closes (or does not close within the csv module's field
        limit) is refused by the line of its quote."""
        reader = csv.reader(self)
        try:
            cells = next(checked_rows(reader, self.where), None)
        except DataFormatError:
            if self.quotes % 2 == 0:
                raise
            cells, self.ended = None, True
        if self.ended and self.quotes % 2 and len(self.parts) > 1:
            raise DataFormatError(
                f"{self.where}: header must close its quoted cells; got a double quote on line "
                f"{self.opened} that the file never closes: close it or remove it"
            )
        return cells

    def taken(self) -> bytes:
        """The bytes of the lines the header's row took."""
        return b"".join(self.parts)


def _count_lines(f: BinaryIO) -> int:
    start = f.tell()
    count = sum(block.count(b"\n") for block in iter(lambda: f.read(BLOCK_BYTES), b""))
    f.seek(start)
    return count


class _Blocks:
    """Blocks of whole lines, ending where a row ends: (block, its first line, its newlines).

    A block is read into a bytearray that grows in place to the line end, so the text is held
    once, not once more for each concatenation. Its quotes are counted once (recounting after
    each line added was quadratic after a quote left open: 58 s for a 1 MB file). An even count
    ends it there, at no cost to a file without quotes; an odd one goes on to where the csv
    module ends the row that crosses its end (:func:`_finish_row`). An even count misses a
    quoted cell running past the end only beside a quote that is text in the same block
    (``12"``, then ``"two`` over two lines): the parser then finds its last row cut inside the
    cell (:class:`~softgrad.datasets.csv_blocks.RowRunsOn`), and :meth:`finish_row` extends
    the block (scanning every block that holds a quote cost 36% more time on a file of quoted
    labels; this costs a strict re-read of a block's last row where the block holds a quote).
    """

    def __init__(self, f: io.BufferedIOBase, first_line: int) -> None:
        self.f, self.line, self.newlines = f, first_line, 0

    def __iter__(self) -> Iterator[tuple[bytearray, int, int]]:
        f = self.f
        while True:
            block = bytearray(BLOCK_BYTES)
            del block[f.readinto(block) :]
            if not block:
                return
            block += f.readline()
            self.newlines = block.count(b"\n")
            if block.count(b'"') % 2:  # a quoted cell runs on past the end, or a quote is text
                self.newlines += _finish_row(f, block, self.newlines)
            yield block, self.line, self.newlines
            del block  # the caller has parsed it: do not hold it while the next one is read
            self.line += self.newlines

    def at_end(self) -> bool:
        """Whether the file has no byte after the block just yielded."""
        here = self.f.tell()
        end = not self.f.read(1)
        self.f.seek(here)
        return end

    def finish_row(self, block: bytearray) -> int:
        """Extend the block just yielded to where the csv module ends its last row; the
        newlines added (0: the file ends in the cell)."""
        added = _finish_row(self.f, block, self.newlines)
        self.newlines += added
        return added


def _finish_row(f: io.BufferedIOBase, block: bytearray, newlines: int) -> int:
    """Extend ``block`` (whole lines, ``newlines`` of them) by the lines of ``f`` that the csv
    module's row crossing its end takes, read one at a time as it asks; the newlines added.

    A quote opens a quoted cell only at a cell's start (``12"`` is text, to the csv module and
    to NumPy's reader alike), so an odd count of quotes does not say that a cell runs on.
    Extending the block while its quotes were odd held the whole rest of a file after one
    ``12"`` label without another odd quote: one 77 MB block, 409 MB (numpy engine) and 1.2 GB
    (python engine) to read it. The csv module reads the block once, with the parser's dialect;
    a quote left open stops at its field limit (or the file's end), and the parser, reading the
    same text, names the line where it opened.
    """
    if not block.endswith(b"\n"):
        return 0  # the file's end
    added = 0

    def lines() -> Iterator[str]:
        nonlocal added
        # split at line feeds only, as the parser's StringIO is; undecodable bytes pass as
        # themselves (the parser names them by their offset)
        for raw in io.BytesIO(block):
            yield raw.decode("utf-8", "surrogateescape")
        for raw in iter(f.readline, b""):
            block.extend(raw)
            added += raw.endswith(b"\n")
            yield raw.decode("utf-8", "surrogateescape")

    reader = csv.reader(lines())
    try:
        for _ in reader:
            if reader.line_num >= newlines:
                break
    except csv.Error:
        pass  # the parser reads the same text and names what is wrong
    return added


def _separator_hint(names: list[str]) -> str:
    """A hint for a one-column header that holds another separator: the columns of a file
    written with ';' or tabs (a spreadsheet's export in many locales) must be commas."""
    for sep, name in ((";", "semicolons"), ("\t", "tabs"), ("|", "bars")):
        if sep in names[0]:
            return f" (its columns are separated by {name}: they must be separated by commas)"
    return ""
