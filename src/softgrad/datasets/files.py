"""User data: an .npz file, a .csv file, or a folder of IDX files, checked and split.

Formats
-------
``.npz``
    Arrays ``X`` (N, D) or (N, H, W) and ``y`` (N,); optionally ``X_test`` and ``y_test`` (both
    or neither) and ``class_names`` (C,) strings naming integer labels.
``.csv``
    A header line, then one sample per line, comma separated. The label column is the one named
    ``label``, ``target`` or ``y`` (case-insensitive, in that order of preference), else the last
    column. Every other column is a numeric feature, read block by block straight into a
    float32 array, what training reads (:func:`softgrad.datasets.csv.read_csv`: the features
    plus one block at the peak, progress reported through ``progress``); a value float32
    cannot hold is refused by line and column. A file in which float32 would round some
    column by more than 2**-16 of its range (a timestamp within a day, a reading of
    1e4 +- 2e-4) is read again as float64, twice the memory, so that its variation is kept
    (``read_csv``'s ``widen``); ``csv_dtype`` reads it in one dtype instead.
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
same split (both parts are views of the one loaded array); it needs some class with at least 2
samples. Features keep their dtype (a .csv's are float32, or float64 above); uint8 features
get ``scale`` 255 (pixels), others None (standardise).
"""

from __future__ import annotations

import functools
import os
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from softgrad.checks import check_path, counted
from softgrad.datasets.csv import LABEL_COLUMNS, Progress, read_csv
from softgrad.datasets.dataset import Dataset, check_class_names
from softgrad.datasets.features import check_values, chunk_rows
from softgrad.datasets.images import load_image_folder
from softgrad.datasets.labels import as_text, encode_labels
from softgrad.datasets.mnist import find_idx_folder, load_idx_folder
from softgrad.datasets.sniff import read_arrays
from softgrad.datasets.split import split_off_test
from softgrad.errors import DataFormatError, DatasetNotFoundError

__all__ = ["LABEL_COLUMNS", "SPLIT_SEED", "TEST_FRACTION", "load_file"]

TEST_FRACTION = 0.2
SPLIT_SEED = 0


def _partition(
    X: np.ndarray, train_idx: np.ndarray, test_idx: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """``(X[train_idx], X[test_idx])`` for ascending indices, as the front and the back of ``X``
    itself: the split's parts are views of the loaded array, never a second copy of the set.

    The test rows (the smaller part) are copied aside, the training rows moved to the front in
    place, and the test rows written after them.
    """
    X_test = X[test_idx]
    # train_idx[k] >= k, so moving chunks front to back never overwrites a row still to be moved
    step = chunk_rows(X)
    for start in range(0, len(train_idx), step):
        chunk = train_idx[start : start + step]
        X[start : start + len(chunk)] = X[chunk]
    n_train = len(train_idx)
    X[n_train : n_train + len(test_idx)] = X_test
    return X[:n_train], X[n_train : n_train + len(test_idx)]


def _check_features(
    X: np.ndarray,
    where: str,
    locate: Callable[[int, int], str],
    values: bool = True,
    within: Any = np.float32,
) -> None:
    """Reject non-numeric, empty or (when ``values``) non-finite features, or beyond the range
    of ``within`` (the dtype training computes in), naming the first bad cell.
    ``values=False``: every value was checked already (the CSV reader, block by block)."""
    if X.dtype.kind not in "biuf":
        raise DataFormatError(f"{where}: features must be numeric; got dtype {X.dtype.name!r}")
    if X.ndim < 2 or X.shape[0] == 0 or X.shape[1] == 0:
        raise DataFormatError(
            f"{where}: features must be (n_samples, n_features) with at least one sample and one "
            f"feature; got shape {X.shape}"
        )
    if values:
        check_values(X, where, locate, within)


def _finish(
    parts: dict[str, np.ndarray],
    where: str,
    name: str,
    class_names: list[str] | None,
    locate,
    values_checked: bool = False,
    hold_out: bool = True,
    test_arrays: bool = False,
    within: Any = np.float32,
) -> Dataset:
    """Check features (their values unless ``values_checked``), encode labels, split off a
    test set when there is none (``hold_out``; else every row is a training row and the test
    set is empty). ``test_arrays``: the file could have held a test set (a .npz file's X_test
    and y_test), which a refusal then suggests."""
    has_test = "X_test" in parts
    splits = ("train", "test") if has_test else ("train",)
    for split in splits:
        X, y = (parts["X"], parts["y"]) if split == "train" else (parts["X_test"], parts["y_test"])
        label = f"{where} ({split})" if has_test else where
        _check_features(X, label, functools.partial(locate, split), not values_checked, within)
        if y.shape != (len(X),):
            raise DataFormatError(
                f"{label}: labels must have shape ({len(X)},), one per sample; got {y.shape}"
            )
    if has_test and parts["X_test"].shape[1:] != parts["X"].shape[1:]:
        raise DataFormatError(
            f"{where}: X_test samples must have shape {parts['X'].shape[1:]} like X; "
            f"got {parts['X_test'].shape[1:]}"
        )
    if has_test and (parts["X"].dtype == np.uint8) != (parts["X_test"].dtype == np.uint8):
        # uint8 X is read as raw pixels (scaled by 1/255): X_test must be read alike
        raise DataFormatError(
            f"{where}: X_test must be uint8 pixels like X, or neither uint8; got X "
            f"{parts['X'].dtype} and X_test {parts['X_test'].dtype}"
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
    elif not hold_out:
        X_train, y_train = X, codes[0]
        X_test, y_test = X[:0], codes[0][:0]
    else:
        # with every class a single sample the test set could only hold unseen classes
        if np.bincount(codes[0]).max(initial=0) < 2:
            # a CSV's reader was told to give arrays X_test and y_test, which a CSV cannot hold
            hint = ", or give arrays X_test and y_test" if test_arrays else ""
            raise DataFormatError(
                f"{where}: data must have at least 2 samples of some class to hold out a test "
                f"set; got {counted(len(X), 'sample')} in {counted(len(class_names), 'class')} "
                f"(add rows{hint})"
            )
        train_idx, test_idx = split_off_test(
            codes[0], TEST_FRACTION, SPLIT_SEED, where, class_names
        )
        X_train, X_test = _partition(X, train_idx, test_idx)
        y_train, y_test = codes[0][train_idx], codes[0][test_idx]
    features = int(np.prod(X.shape[1:]))  # -1 cannot be inferred for an empty test set
    return Dataset(
        X_train.reshape(len(X_train), features),
        y_train,
        X_test.reshape(len(X_test), features),
        y_test,
        class_names,
        image_shape=image_shape,
        name=name,
        scale=scale,
    )


def _load_npz(path: Path, where: str, hold_out: bool, within: Any) -> Dataset:
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
        class_names = as_text(class_names).tolist()
        check_class_names(class_names, where, DataFormatError)

    def locate(split: str, row: int, col: int | None) -> str:
        array = ("X" if col is not None else "y") + ("" if split == "train" else "_test")
        return f"{array}[{row}]" if col is None else f"{array}[{row}, {col}] (flattened)"

    return _finish(
        parts,
        where,
        path.name,
        class_names,
        locate,
        hold_out=hold_out,
        test_arrays=True,
        within=within,
    )


def _load_csv(
    path: Path, where: str, progress: Progress | None, hold_out: bool, dtype: Any, within: Any
) -> Dataset:
    # float32: what training reads, so no float64 copy of the set is ever held, unless float32
    # would lose a column's variation (widen, when no dtype is asked for). The float32 reader
    # refuses NaN, inf and values float32 cannot hold on each block's float64 cells, by line
    # and column, so _finish does not scan the values again (its temporaries cost ~5 MB of
    # RSS); a float64 reading is checked there
    if dtype is None and within == np.float64:
        dtype = np.float64  # training in float64: float32 cells would round its features
    widen = dtype is None
    dtype = np.float32 if widen else _float_dtype(dtype, "csv_dtype", "None, float32 or float64")
    table = read_csv(path, where, dtype=dtype, progress=progress, widen=widen)
    if len(table.X) == 0:
        raise DataFormatError(f"{where}: file must hold at least one data row; got only a header")

    def locate(split: str, row: int, col: int | None) -> str:
        return table.locate(row, col)

    assert table.y is not None  # read_csv's default header and label: a label column
    parts = {"X": table.X, "y": table.y}
    checked = table.X.dtype == np.float32 or widen  # a widened file was read as float32 first
    dataset = _finish(parts, where, path.name, None, locate, checked, hold_out, within=within)
    names = [h.strip() for k, h in enumerate(table.header or []) if k != table.label_column]
    if len(set(names)) == len(names) == dataset.n_features:  # a repeated name: no names kept
        dataset.feature_names = names
    return dataset


def load_file(
    path: str | os.PathLike,
    *,
    progress: Progress | None = None,
    hold_out: bool = True,
    csv_dtype: Any = None,
    train_dtype: Any = np.float32,
) -> Dataset:
    """Load user data from an .npz file, a .csv file or a folder of IDX files.

    Parameters
    ----------
    path : str or PathLike
        See the module docstring for the three formats.
    progress : callable, optional
        Called as ``progress(bytes_read, file_size)`` while a .csv file is read (block by
        block, see :func:`softgrad.datasets.csv.read_csv`); the CLI draws it as a bar.
    hold_out : bool, default True
        Split a test set off a file without one; False keeps every sample a training sample
        and the test set empty (``softgrad evaluate --split all``, which scores them all: a
        file in which no class has 2 samples cannot be split).
    csv_dtype : None, float32 or float64
        The dtype of a .csv file's features. None (the default, what ``softgrad train``
        reads): float32, or float64 where float32 would lose a column's variation (module
        docstring). float32 or float64: that dtype, whatever the file holds (``softgrad
        evaluate`` reads a model's test files as its training read its features). Other
        formats keep their dtype either way.
    train_dtype : float32 or float64, default float32
        The dtype the features are computed in (``softgrad train --dtype``, an evaluated
        model's): a value beyond its range is refused. float64 also reads a .csv file's
        features as float64 where ``csv_dtype`` is None (float32 cells would round them).

    Returns
    -------
    Dataset
        Named after the file; the file's own test set, a stratified 20% split, or (without
        ``hold_out``) an empty one.

    Raises
    ------
    DatasetNotFoundError
        ``path`` does not exist (also a FileNotFoundError).
    DataFormatError
        Unknown extension; missing arrays; ragged rows; non-numeric, NaN or infinite features,
        or features beyond ``train_dtype``'s range (float32: |x| > 3.4e38), which training
        could not represent;
        an empty set; labels that are non-integral numbers, NaN or empty. The message names the
        file and the row and column.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     csv_path = pathlib.Path(folder) / "fruit.csv"
    ...     rows = "weight,colour,label\\n" + "1.0,0.5,apple\\n2.0,0.1,pear\\n" * 5
    ...     _ = csv_path.write_text(rows)
    ...     ds = load_file(csv_path)
    >>> ds.class_names, ds.X_train.shape, ds.X_test.shape
    (['apple', 'pear'], (8, 2), (2, 2))
    """
    path = Path(check_path(path, "load_file"))
    where = f"load_file: {str(path)!r}"
    within = _float_dtype(train_dtype, "train_dtype")
    if not path.exists():
        raise DatasetNotFoundError(f"{where}: no such file or folder")
    if path.is_dir():  # the four IDX files, else one sub-folder of PNG images per class
        has_classes = find_idx_folder(path) is None and any(p.is_dir() for p in path.iterdir())
        if not has_classes and find_idx_folder(path) is None:
            _refuse_folder(path, where)
        return load_image_folder(path, hold_out=hold_out) if has_classes else load_idx_folder(path)
    suffix = path.suffix.lower()
    if suffix == ".npz":
        return _load_npz(path, where, hold_out, within)
    if is_csv(path):
        return _load_csv(path, where, progress, hold_out, csv_dtype, within)
    raise DataFormatError(
        f"{where}: file must be an .npz, a .csv or a folder of IDX files; got suffix {suffix!r}"
    )


def _float_dtype(dtype: Any, argument: str, choices: str = "float32 or float64") -> np.dtype:
    """``load_file``'s ``argument`` (``train_dtype``, or ``csv_dtype`` other than None),
    checked: float32 or float64."""
    try:
        checked = np.dtype(dtype)
    except TypeError:
        checked = None
    if checked not in (np.float32, np.float64):
        raise ValueError(f"load_file: {argument} must be {choices}; got {dtype!r}")
    return checked


def is_csv(path: str | os.PathLike) -> bool:
    """Whether :func:`load_file` reads ``path`` as a CSV file (its features as float32, or
    float64 where float32 would lose a column's variation)."""
    return Path(path).suffix.lower() == ".csv"


# what a folder of images without class folders holds (the image loader itself reads PNG)
PICTURE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")


def _refuse_folder(path: Path, where: str) -> None:
    """A folder with neither the four IDX files nor class sub-folders, refused by what it holds:
    nothing, images without class folders, or some IDX files (load_idx_folder names those
    missing)."""
    entries = [p for p in path.iterdir() if not p.name.startswith(".")]
    kinds = " (the four IDX files, or one sub-folder of PNG images per class)"
    if not entries:
        raise DatasetNotFoundError(f"{where}: folder is empty; it must hold a data set{kinds}")
    images = sorted(p for p in entries if p.suffix.lower() in PICTURE_SUFFIXES)
    if images:
        raise DataFormatError(
            f"{where}: folder holds {counted(len(images), 'image')} but no class folders; put "
            f"each class's images in a sub-folder named after it ({path}/<class>/{images[0].name})"
        )
