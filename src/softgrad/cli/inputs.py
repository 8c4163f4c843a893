"""Reading ``softgrad predict``'s inputs: .npy/.npz/.csv rows and image files."""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from softgrad.checks import check_feature_count, check_finite_rows
from softgrad.cli import checks
from softgrad.cli.images import IMAGE_SUFFIXES, load_image
from softgrad.errors import DataFormatError, InputOverflowError

ARRAY_SUFFIXES = (".npy", ".npz", ".csv")


def _from_array_file(path: Path) -> np.ndarray:
    """The array of a .npy file, or the array X (or the only array) of a .npz file."""
    from softgrad.datasets.sniff import read_arrays

    where = f"predict: {str(path)!r}"
    arrays = read_arrays(
        path,
        where,
        DataFormatError,
        "a .npy array or an .npz archive (np.save, np.savez)",
        npy=True,
    )
    if "" in arrays:
        return arrays[""]
    if "X" in arrays:
        return arrays["X"]
    if len(arrays) == 1:
        return next(iter(arrays.values()))
    raise DataFormatError(
        f"{where}: file must hold an array named X (or exactly one array); got {sorted(arrays)!r}"
    )


def _from_csv(path: Path, model: Any) -> np.ndarray:
    """The rows of a .csv file, read by the one CSV reader of softgrad: the model's feature
    columns, by name where the model has their names, else in order
    (:mod:`softgrad.cli.csv_columns`). The header is optional (a first line of numbers is a
    row). Errors name the file, and the line and column of a bad cell, of NaN or inf, or of
    a value float32 cannot hold where the features are read as float32
    (:func:`softgrad.datasets.csv.read_csv`).

    Read in :func:`csv_dtype`, as ``softgrad evaluate`` reads the file: as the model's
    training read its features. Read as float64, a model trained on float32 features saw
    digits below float32's step (a timestamp's seconds) that training never saw, and
    ``predict`` answered 701 of 1,500 rows of a feature of 1e4 +- 2e-4 otherwise than
    ``evaluate`` scored them; read as float32, a float64 model trained in Python lost them
    (710 of 1,500). The dtype is the model's, never the file's: decided by what float32
    keeps of each column of the file, a row's answer depended on the other rows beside it.
    """
    from softgrad.cli.csv_columns import FeatureColumns, model_feature_names
    from softgrad.datasets.csv import read_csv
    from softgrad.datasets.features import check_values

    where = f"predict: {str(path)!r}"
    columns = FeatureColumns(model_feature_names(model, "predict"), model.n_features, where)
    table = read_csv(path, where, header="auto", label=columns, dtype=csv_dtype(model))
    if table.X.dtype == np.float64:  # the float32 reader refused NaN and inf, block by block
        check_values(table.X, where, table.locate, within=np.float64)
    return columns.order(table)


def csv_dtype(model: Any) -> type:
    """The dtype in which ``evaluate`` and ``predict`` read ``model``'s CSV inputs: as its
    training read its features. A model ``softgrad train`` trained on a CSV file records it
    (its metadata's ``csv_dtype``: float32, or float64 where float32 would have lost a
    column's variation; float32 for a model file written before it was recorded); any other
    model reads float64, which it scales in float64 where the features need it."""
    from softgrad.datasets.files import is_csv

    metadata = model.metadata or {}
    spec = metadata.get("data_spec")
    if not (isinstance(spec, str) and is_csv(spec)):
        return np.float64
    return np.float64 if metadata.get("csv_dtype") == "float64" else np.float32


def _as_rows(array: np.ndarray, path: Path, n_features: int) -> np.ndarray:
    array = np.asarray(array)
    # what is wrong with the contents comes before their shape: a header-only .csv is empty,
    # not "(0,)" wide, and strings are not numbers whatever their count
    if array.size == 0:
        raise DataFormatError(f"predict: {str(path)!r} holds no samples")
    if array.dtype.kind not in "biuf":
        raise DataFormatError(
            f"predict: {str(path)!r}: samples must be numeric; got dtype {str(array.dtype)!r} "
            f"(first value {array.flat[0].item()!r})"
        )
    if array.ndim == 1 and array.size == n_features:
        array = array[None, :]
    elif array.ndim >= 3 and int(np.prod(array.shape[1:])) == n_features:
        array = array.reshape(array.shape[0], -1)  # a stack of images
    check_feature_count(array, n_features, f"predict: {str(path)!r}", "samples")
    return array  # NaN and inf: refused batch by batch as the model reads them (finite_rows)


class RowNames(Sequence[str]):
    """The name of each sample ``softgrad predict`` reads: an image's path as given, an array
    file's row as ``path[row]``; made when asked for, not held as one string per row (60,000
    of them took 4 MB, and as many again once quoted for the table).

    Example
    -------
    >>> names = RowNames()
    >>> names.add("a.npy", 2, indexed=True)
    >>> names.add("cat.png", 1, indexed=False)
    >>> list(names), names[1], len(names)
    (['a.npy[0]', 'a.npy[1]', 'cat.png'], 'a.npy[1]', 3)
    """

    def __init__(self) -> None:
        self._files: list[tuple[str, int, bool]] = []  # (path as given, rows, indexed)
        self._ends: list[int] = []  # the row after each file's last

    def add(self, text: str, n_rows: int, indexed: bool) -> None:
        """The next ``n_rows`` samples come from ``text`` (each named ``text[k]`` if
        ``indexed``; an image, one sample, is named ``text``)."""
        self._files.append((text, n_rows, indexed))
        self._ends.append(len(self) + n_rows)

    def __len__(self) -> int:
        return self._ends[-1] if self._ends else 0

    def __getitem__(self, row: Any) -> Any:
        if isinstance(row, slice):
            return [self[k] for k in range(*row.indices(len(self)))]
        if row < 0:
            row += len(self)
        if not 0 <= row < len(self):
            raise IndexError(f"RowNames: row must be in 0..{len(self) - 1}; got {row}")
        file = bisect.bisect_right(self._ends, row)
        text, n_rows, indexed = self._files[file]
        return f"{text}[{row - (self._ends[file] - n_rows)}]" if indexed else text

    def __iter__(self) -> Iterator[str]:
        for text, n_rows, indexed in self._files:
            if indexed:
                yield from (f"{text}[{k}]" for k in range(n_rows))
            else:
                yield text

    def files(self) -> Iterator[tuple[str, slice]]:
        """Each file's path as given and its rows."""
        for (text, n_rows, _), end in zip(self._files, self._ends, strict=True):
            yield text, slice(end - n_rows, end)

    def widest(self, width: Callable[[str], int]) -> int:
        """The largest ``width(name)`` over every name, measured on one name a file: a file's
        names differ only in their row number, whose last is the longest (0 if none)."""
        return max((width(self[end - 1]) for end in self._ends), default=0)


def read_inputs(
    paths: list[str], model: Any, invert: str = "auto"
) -> tuple[list[np.ndarray], RowNames, list[str]]:
    """All samples of ``paths`` as raw rows, a label per sample, and notes for the user.

    Returns ``(parts, names, notes)``: the rows, in the model's raw input units, as arrays of
    shape (n, D), each file's as stored (uint8 images stay uint8, 1/8 of float64) and each run
    of image files stacked into one (float32); ``names[k]`` is row k's file (with ``[row]`` for
    array files, :class:`RowNames`), counted over the parts in turn; ``notes`` mention
    inverted images. Every file is read and its shape checked here; its values are checked
    as the model reads them, one batch at a time (NaN and inf, and values that overflow in
    the model: :func:`parts_by_rows` with :func:`refuse_nonfinite`), not in a pass of their
    own first. Files are not joined: the joined copy held every row twice.
    """
    parts, images, names = [], [], RowNames()
    notes: list[str] = []
    for text in paths:
        path = checks.input_file(text, "INPUT")
        suffix = path.suffix.lower()
        if suffix in IMAGE_SUFFIXES:
            images.append(_image_row(path, model, invert, notes))
            names.add(text, 1, indexed=False)
            continue
        if suffix in (".npy", ".npz"):
            array = _from_array_file(path)
        elif suffix == ".csv":
            array = _from_csv(path, model)
        else:
            raise checks.UsageError(
                f"predict: INPUT must end in one of {', '.join(ARRAY_SUFFIXES + IMAGE_SUFFIXES)}; "
                f"got {text!r}"
            )
        if images:
            parts.append(np.stack(images))
            images = []
        X = _as_rows(array, path, model.n_features)
        parts.append(X)
        names.add(text, X.shape[0], indexed=True)
    if images:
        parts.append(np.stack(images))
    return parts, names, notes


def _image_row(path: Path, model: Any, invert: str, notes: list[str]) -> np.ndarray:
    if model.image_shape is None:
        raise ValueError(
            f"predict: {str(path)!r} is an image, but this model was not trained on images; "
            "give rows in a .npy, .npz or .csv file"
        )
    metadata = model.metadata or {}
    input_max = metadata.get("input_max") or 255.0
    input_min = metadata.get("input_min") or 0.0
    # a model file from before the record was trained on light-on-dark images
    background = metadata.get("image_background") or "dark"
    row, inverted = load_image(
        path, model.image_shape, float(input_max), invert, background, float(input_min)
    )
    if inverted and invert == "auto":
        kinds = {"dark": "light-on-dark", "light": "dark-on-light"}
        other = "light" if background == "dark" else "dark"
        notes.append(
            f"{str(path)!r} is {kinds[other]}; inverted it to match the {kinds[background]} "
            "training images (use --invert no to keep it)"
        )
    return row


def refuse_nonfinite(names: RowNames, X: np.ndarray, start: int = 0) -> None:
    """Refuse the first NaN or inf of ``X``, the rows ``start ..`` of ``names``, named by its
    file and its row there (``predict: x.npy: features must be finite; got NaN or inf in row
    3``)."""
    for text, rows in names.files():
        if start <= rows.start < start + len(X):
            part = X[rows.start - start : rows.stop - start]
            check_finite_rows(part, f"predict: {Path(text)}", "features")


def parts_by_rows(
    model: Any,
    parts: list[np.ndarray],
    row_name: Callable[[int], str],
    refuse: Callable[[np.ndarray, int], None],
    head: Callable[[np.ndarray, int], np.ndarray],
) -> np.ndarray:
    """:func:`finite_rows` of each part in turn, joined: ``head(logits, first)`` of each batch
    of logits, whose first row is row ``first`` over all parts, so the N * C logits are never
    held (predict kept them, and a copy joining the parts: 2.5 GB for 300,000 rows of 1,000
    classes, to print one class a row). Rows are named and numbered over all parts
    (``row_name(row)``); ``refuse(part, start)`` raises the caller's error for a NaN or inf in
    ``part``, whose first row is row ``start``."""
    results, start = [], 0
    for X in parts:
        results.append(
            finite_rows(
                model,
                X,
                *_part_calls(X, start, row_name, refuse, head),
            )
        )
        start += len(X)
    return results[0] if len(results) == 1 else np.concatenate(results)


def _part_calls(
    X: np.ndarray,
    start: int,
    row_name: Callable[[int], str],
    refuse: Callable[[np.ndarray, int], None],
    head: Callable[[np.ndarray, int], np.ndarray],
) -> tuple[Callable[[int], str], Callable[[], None], Callable[[np.ndarray, int], np.ndarray]]:
    """The calls :func:`finite_rows` makes for the part ``X`` whose first row is row ``start``
    over all parts: ``row_name``, ``refuse`` and ``head`` of the rows over all parts."""
    return (
        lambda row: row_name(start + row),
        lambda: refuse(X, start),
        lambda logits, first: head(logits, start + first),
    )


def finite_rows(
    model: Any,
    X: np.ndarray,
    row_name: Callable[[int], str],
    refuse: Callable[[], None],
    head: Callable[[np.ndarray, int], np.ndarray],
) -> np.ndarray:
    """``head(logits, first)`` of each batch of the model's logits for ``X`` (its first row
    being row ``first`` of X), joined, refusing rows whose values overflow in its arithmetic.

    Finite inputs can still overflow: 1e308 in a float64 file is inf in a float32 model, and a
    large value times the weights can pass float32's 3.4e38. The forward pass runs once, with
    NumPy's warnings off; a row with a non-finite logit is refused with one line naming it
    (``row_name(row)``, e.g. ``predict: x.npy[3]``). Softmax and cross-entropy of the finite
    logits cannot warn, so heads take probabilities and losses from them.

    The model refuses NaN and inf batch by batch as it reads them; ``refuse``, called then,
    raises the caller's own error for them (:func:`refuse_nonfinite`): X is read for them in
    full only when it holds one.

    Example
    -------
    >>> from softgrad.model import Model
    >>> from softgrad.nn import build_mlp
    >>> model = Model(build_mlp(2, [3], 2, rng=0), np.array(["a", "b"]))
    >>> def name(row):
    ...     return f"x.npy[{row}]"
    >>> def top(logits, first):
    ...     return logits.argmax(axis=1)
    >>> finite_rows(model, np.zeros((2, 2)), name, lambda: None, top).shape
    (2,)
    >>> finite_rows(model, np.array([[0.0, 0.0], [1e308, 0.0]]), name, lambda: None, top)
    Traceback (most recent call last):
    ...
    softgrad.errors.DataFormatError: x.npy[1]: values must stay finite in the model's float32 arithmetic; values up to 1e+308 times the weights overflow (give values in the range of the training data)
    """  # noqa: E501
    seen = 0

    def counted(logits: np.ndarray) -> np.ndarray:  # the batches come in order
        nonlocal seen
        seen += len(logits)
        return head(logits, seen - len(logits))

    try:
        return model.map_logits(X, counted, caller="Model.decision_function")
    except InputOverflowError as err:
        row = err.row
        biggest = np.abs(X[row]).max().item()
        raise DataFormatError(
            f"{row_name(row)}: values must stay finite in the model's {err.dtype} "
            f"arithmetic; values up to {biggest!r} times the weights overflow (give values "
            "in the range of the training data)"
        ) from None
    except ValueError:  # NaN or inf in X, which the model names as "X"
        refuse()
        raise
