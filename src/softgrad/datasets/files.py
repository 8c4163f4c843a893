"""User data: an .npz file, a .csv file, or a folder of IDX files, checked and split.

Formats
-------
``.npz``
    Arrays ``X`` (N, D) or (N, H, W) and ``y`` (N,); optionally ``X_test`` and ``y_test`` (both
    or neither) and ``class_names`` (C,) strings naming integer labels.
``.csv``
    A header line, then one sample per line, comma separated. The label column is the one named
    ``label``, ``target`` or ``y`` (case-insensitive, in that order of preference), else the last
    column. Every other column is a numeric feature.
folder
    The four MNIST file names (``train-images-idx3-ubyte`` ...), each optionally ``.gz``; or
    one sub-folder of PNG images per class (:func:`softgrad.datasets.images.load_image_folder`).

Labels are integers or strings. Integers that are exactly 0..C-1 (every value present, over the
training and test labels together) are used as they are, with ``class_names`` ``"0"`` ..
``"C-1"`` (or the .npz's own ``class_names``, which then must cover every label). Any other
integers (``{0, 5}``, 1-based ``{1, 2, 3}``, ``{-1, 1}``, ``{0, 10**9}``) are mapped to 0..C-1 in
numeric order, like strings, and ``class_names`` holds their values (``"0"``, ``"5"``); strings
are mapped in sorted order with ``class_names`` holding the strings. Nothing is sized by a
label's value, so a huge label costs no memory. Non-integral numbers, NaN and empty labels are
errors naming the sample. Without a test set of its own, the data is split with
:func:`stratified_split` (``ceil(TEST_FRACTION * N)`` samples with ``TEST_FRACTION`` = 0.2, shared
among the classes by largest remainder, seed ``SPLIT_SEED`` = 0), so the same file always gives the
same split; it needs some class with at least 2 samples. Features keep their dtype; uint8 features
get ``scale`` 255 (pixels), others None (standardise).
"""

from __future__ import annotations

import csv
import io
import os
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from softgrad.datasets.dataset import Dataset
from softgrad.datasets.images import load_image_folder
from softgrad.datasets.labels import encode_labels
from softgrad.datasets.mnist import find_idx_folder, load_idx_folder
from softgrad.datasets.sniff import read_arrays
from softgrad.datasets.split import stratified_split
from softgrad.errors import DataFormatError, DatasetNotFoundError

__all__ = ["LABEL_COLUMNS", "SPLIT_SEED", "TEST_FRACTION", "load_file"]

LABEL_COLUMNS = ("label", "target", "y")
TEST_FRACTION = 0.2
SPLIT_SEED = 0
_CHUNK_ROWS = 8192  # finiteness is checked in row chunks to keep the mask small
_FLOAT32_MAX = float(np.finfo(np.float32).max)


def _check_features(X: np.ndarray, where: str, locate: Callable[[int, int], str]) -> None:
    """Reject non-numeric, empty or non-finite features, naming the first bad cell."""
    if X.dtype.kind not in "biuf":
        raise DataFormatError(f"{where}: features must be numeric; got dtype {X.dtype.name!r}")
    if X.ndim < 2 or X.shape[0] == 0 or X.shape[1] == 0:
        raise DataFormatError(
            f"{where}: features must be (n_samples, n_features) with at least one sample and one "
            f"feature; got shape {X.shape}"
        )
    if X.dtype.kind != "f":
        return
    flat = X.reshape(len(X), -1)
    for start in range(0, len(flat), _CHUNK_ROWS):
        # NaN fails the comparison too: one pass finds NaN, inf and values float32 cannot hold
        with np.errstate(invalid="ignore"):
            bad = np.argwhere(~(np.abs(flat[start : start + _CHUNK_ROWS]) <= _FLOAT32_MAX))
        if bad.size:
            row, col = int(bad[0, 0]) + start, int(bad[0, 1])
            value = flat[row, col].item()
            if not np.isfinite(value):
                raise DataFormatError(
                    f"{where}: features must be finite; got {value!r} at {locate(row, col)}"
                )
            raise DataFormatError(
                f"{where}: features must be within float32's range (|x| <= {_FLOAT32_MAX:.4g}); "
                f"got {value!r} at {locate(row, col)}: softgrad trains in float32, rescale it"
            )


def _finish(
    parts: dict[str, np.ndarray], where: str, name: str, class_names: list[str] | None, locate
) -> Dataset:
    """Check features, encode labels, split off a test set when there is none."""
    has_test = "X_test" in parts
    splits = ("train", "test") if has_test else ("train",)
    for split in splits:
        X, y = (parts["X"], parts["y"]) if split == "train" else (parts["X_test"], parts["y_test"])
        label = f"{where} ({split})" if has_test else where
        _check_features(X, label, lambda r, c, s=split: locate(s, r, c))
        if y.shape != (len(X),):
            raise DataFormatError(
                f"{label}: labels must have shape ({len(X)},), one per sample; got {y.shape}"
            )
    if has_test and parts["X_test"].shape[1:] != parts["X"].shape[1:]:
        raise DataFormatError(
            f"{where}: X_test samples must have shape {parts['X'].shape[1:]} like X; "
            f"got {parts['X_test'].shape[1:]}"
        )
    raw_labels = [parts["y"], parts["y_test"]] if has_test else [parts["y"]]
    codes, class_names = encode_labels(
        raw_labels, where, lambda k, i: locate(splits[k], i, None), class_names
    )
    X = parts["X"]
    image_shape = X.shape[1:] if X.ndim == 3 else None
    scale = 255.0 if X.dtype == np.uint8 else None
    if has_test:
        X_train, y_train = X, codes[0]
        X_test, y_test = parts["X_test"], codes[1]
    else:
        # with every class a single sample the test set could only hold unseen classes
        if np.bincount(codes[0]).max(initial=0) < 2:
            raise DataFormatError(
                f"{where}: data must have at least 2 samples of some class to hold out a test "
                f"set; got {len(X)} samples in {len(class_names)} classes (add rows, or give "
                "X_test and y_test)"
            )
        train_idx, test_idx = stratified_split(codes[0], TEST_FRACTION, rng=SPLIT_SEED)
        X_train, y_train = X[train_idx], codes[0][train_idx]
        X_test, y_test = X[test_idx], codes[0][test_idx]
    return Dataset(
        X_train.reshape(len(X_train), -1),
        y_train,
        X_test.reshape(len(X_test), -1),
        y_test,
        class_names,
        image_shape=image_shape,
        name=name,
        scale=scale,
    )


def _load_npz(path: Path, where: str) -> Dataset:
    parts = read_arrays(
        path,
        where,
        DataFormatError,
        "an .npz archive of arrays X and y (np.savez)",
        keys=("X", "y", "X_test", "y_test", "class_names"),
    )
    if "X" not in parts or "y" not in parts or ("X_test" in parts) != ("y_test" in parts):
        with zipfile.ZipFile(path) as archive:  # read fine just now: name what it holds
            keys = {name.removesuffix(".npy") for name in archive.namelist()}
    if "X" not in parts or "y" not in parts:
        raise DataFormatError(f"{where}: file must hold arrays X and y; got {sorted(keys)}")
    if ("X_test" in parts) != ("y_test" in parts):
        raise DataFormatError(
            f"{where}: file must hold both X_test and y_test or neither; got {sorted(keys)}"
        )
    class_names = parts.pop("class_names", None)
    if class_names is not None:
        if class_names.ndim != 1 or class_names.dtype.kind not in "US":
            raise DataFormatError(
                f"{where}: class_names must be a 1-D array of strings; "
                f"got {class_names.dtype.name} of shape {class_names.shape}"
            )
        class_names = class_names.astype(str).tolist()

    def locate(split: str, row: int, col: int | None) -> str:
        array = ("X" if col is not None else "y") + ("" if split == "train" else "_test")
        return f"{array}[{row}]" if col is None else f"{array}[{row}, {col}] (flattened)"

    return _finish(parts, where, path.name, class_names, locate)


def _label_column(header: list[str]) -> int:
    lowered = [h.strip().lower() for h in header]
    for name in LABEL_COLUMNS:
        if name in lowered:
            return lowered.index(name)
    return len(header) - 1


def _read_csv(text: str, where: str) -> tuple[list[str], list[list[str]], list[int]]:
    """Header, rows (lists of cells) and the 1-based line number of each row."""
    reader = csv.reader(io.StringIO(text))
    header = next(reader, None)
    if header is None or not any(h.strip() for h in header):
        raise DataFormatError(f"{where}: file must start with a header line; got an empty file")
    if len(header) < 2:
        raise DataFormatError(
            f"{where}: header must name at least 2 columns (features and a label); got {header!r}"
        )
    rows, lines = [], []
    for row in reader:
        if not row or (len(row) == 1 and not row[0].strip()):
            continue  # blank line
        if len(row) != len(header):
            raise DataFormatError(
                f"{where}: every row must have {len(header)} columns like the header; "
                f"got {len(row)} on line {reader.line_num}"
            )
        rows.append(row)
        lines.append(reader.line_num)
    if not rows:
        raise DataFormatError(f"{where}: file must hold at least one data row; got only a header")
    return header, rows, lines


def _parse_features(text: str, rows: list[list[str]], columns: list[int], lines: list[int]):
    """Features as float64 (N, len(columns)); ValueError if a cell is not a number."""
    if '"' not in text:
        # no quoting: each row is its physical line, and numpy's C parser reads them ~3x faster
        # than converting a table of Python strings
        physical = text.split("\n")
        data = [physical[n - 1] for n in lines]
        return np.loadtxt(
            data, delimiter=",", usecols=columns, dtype=np.float64, ndmin=2, comments=None
        )
    return np.array([[row[c] for c in columns] for row in rows], dtype=np.float64)


def _first_bad_cell(rows, columns, header, where, lines) -> DataFormatError:
    for col in columns:  # error path only: find the first cell that is not a number
        for row, cells in enumerate(rows):
            try:
                np.float64(cells[col])
            except ValueError:
                return DataFormatError(
                    f"{where}: features must be numbers; got {cells[col]!r} on line {lines[row]}, "
                    f"column {col + 1} ({header[col]!r})"
                )
    return DataFormatError(f"{where}: features must be numbers")


def _load_csv(path: Path, where: str) -> Dataset:
    try:
        text = path.read_text(encoding="utf-8-sig")
        header, rows, lines = _read_csv(text, where)
    except UnicodeDecodeError as exc:
        raise DataFormatError(f"{where}: file must be UTF-8 text; got {exc.reason}") from exc
    except csv.Error as exc:
        raise DataFormatError(f"{where}: file must be valid CSV; got {exc}") from exc
    label_col = _label_column(header)
    feature_cols = [c for c in range(len(header)) if c != label_col]
    try:
        X = _parse_features(text, rows, feature_cols, lines)
    except ValueError:
        raise _first_bad_cell(rows, feature_cols, header, where, lines) from None
    y = np.array([row[label_col] for row in rows])

    def locate(split: str, row: int, col: int | None) -> str:
        if col is None:
            return f"line {lines[row]} (label column {header[label_col]!r})"
        return f"line {lines[row]}, column {feature_cols[col] + 1} ({header[feature_cols[col]]!r})"

    return _finish({"X": X, "y": y}, where, path.name, None, locate)


def load_file(path: str | os.PathLike) -> Dataset:
    """Load user data from an .npz file, a .csv file or a folder of IDX files.

    Parameters
    ----------
    path : str or PathLike
        See the module docstring for the three formats.

    Returns
    -------
    Dataset
        Named after the file; the file's own test set or a stratified 20% split.

    Raises
    ------
    DatasetNotFoundError
        ``path`` does not exist (also a FileNotFoundError).
    DataFormatError
        Unknown extension; missing arrays; ragged rows; non-numeric, NaN or infinite features,
        or features beyond float32's range (|x| > 3.4e38), which training could not represent;
        an empty set; labels that are non-integral numbers, NaN or empty. The message names the
        file and the row and column.

    Example
    -------
    >>> import tempfile, pathlib
    >>> csv_path = pathlib.Path(tempfile.mkdtemp()) / "fruit.csv"
    >>> _ = csv_path.write_text("weight,colour,label\\n" + "1.0,0.5,apple\\n2.0,0.1,pear\\n" * 5)
    >>> ds = load_file(csv_path)
    >>> ds.class_names, ds.X_train.shape, ds.X_test.shape
    (['apple', 'pear'], (8, 2), (2, 2))
    """
    path = Path(path)
    where = f"load_file: '{path}'"
    if not path.exists():
        raise DatasetNotFoundError(f"{where}: no such file or folder")
    if path.is_dir():  # the four IDX files, else one sub-folder of PNG images per class
        has_classes = find_idx_folder(path) is None and any(p.is_dir() for p in path.iterdir())
        return load_image_folder(path) if has_classes else load_idx_folder(path)
    suffix = path.suffix.lower()
    if suffix == ".npz":
        return _load_npz(path, where)
    if suffix == ".csv":
        return _load_csv(path, where)
    raise DataFormatError(
        f"{where}: file must be an .npz, a .csv or a folder of IDX files; got suffix {suffix!r}"
    )
