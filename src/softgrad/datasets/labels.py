"""Turn user labels (integers, integral floats, numeric strings or class names) into 0..C-1."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from softgrad.checks import whole_numbers
from softgrad.errors import DataFormatError

__all__ = ["as_text", "encode_labels"]


_LABEL_KINDS = "biufUS"  # bool, integers, floats, strings (objects never load: no pickle)


def as_text(array: np.ndarray) -> np.ndarray:
    """A string array as str: bytes (an .npz's ``S`` dtype) decoded as UTF-8, any other byte
    escaped (``b"caf\\xff"`` is ``"caf\\\\xff"``), as the commands show a model's bytes classes;
    NumPy's own ``astype(str)`` decoded ASCII only and raised on ``b"caf\\xc3\\xa9"``.

    Example
    -------
    >>> as_text(np.array([b"caf\\xc3\\xa9", b"tea"])).tolist()
    ['café', 'tea']
    """
    if array.dtype.kind == "S":
        return np.char.decode(array, "utf-8", "backslashreplace")
    return array.astype(str)


def _as_integers(y: np.ndarray) -> np.ndarray | None:
    """``y`` as int64 when every entry is an integer (12, 12.0, "12"), else None."""
    if y.dtype.kind in "biu":
        if y.dtype.kind == "u" and y.size and int(y.max()) > np.iinfo(np.int64).max:
            return None
        return y.astype(np.int64)
    if y.dtype.kind in "US":
        y = as_text(y)
        try:
            return y.astype(np.int64)
        except (ValueError, OverflowError):
            try:
                y = y.astype(np.float64)
            except ValueError:
                return None
    if y.dtype.kind == "f":
        if not np.all(whole_numbers(y)):
            return None
        return y.astype(np.int64)
    return None


def _as_floats(y: np.ndarray) -> np.ndarray | None:
    """``y`` as float64 when every entry is a number, else None."""
    try:
        return y.astype(np.float64)
    except (ValueError, TypeError):
        return None


def _encode_integers(
    ints: list[np.ndarray],
    where: str,
    locate: Callable[[int, int], str],
    class_names: Sequence[str] | None,
) -> tuple[list[np.ndarray], list[str]]:
    """Integer labels: kept when they are 0..C-1 (or index ``class_names``), else mapped."""
    if class_names is not None:
        for k, codes in enumerate(ints):
            bad = np.flatnonzero((codes < 0) | (codes >= len(class_names)))
            if bad.size:
                i = int(bad[0])
                raise DataFormatError(
                    f"{where}: labels must be in 0..{len(class_names) - 1} to match "
                    f"class_names; got {codes[i]} at {locate(k, i)}"
                )
        return ints, [str(c) for c in class_names]
    # sort-based, so memory follows the number of samples, never the size of a label's value
    values = np.unique(np.concatenate(ints))
    if values.size and values[0] == 0 and values[-1] == values.size - 1:
        return ints, [str(k) for k in range(values.size)]
    return [np.searchsorted(values, c).astype(np.int64) for c in ints], [str(v) for v in values]


def encode_labels(
    parts: Sequence[np.ndarray],
    where: str,
    locate: Callable[[int, int], str],
    class_names: Sequence[str] | None = None,
) -> tuple[list[np.ndarray], list[str]]:
    """Encode one or more label arrays (train, test) with one shared class list.

    Parameters
    ----------
    parts : sequence of ndarray of shape (N_k,)
        Raw labels of each part, all of one kind.
    where : str
        Message prefix naming the file, e.g. ``"load_file: 'data.csv'"``.
    locate : callable (part, index) -> str
        Describes a sample for error messages (``"row 3 (line 4)"``).
    class_names : sequence of str, optional
        Names for integer labels; they must cover every label.

    Returns
    -------
    codes : list of ndarray of shape (N_k,), int64
        Labels in 0..C-1, one array per part.
    class_names : list of str, length C
        For integer labels that are exactly 0..C-1 (every value present), ``"0"`` .. ``"C-1"``
        (or the given names); for any other integers (``{0, 5}``, ``{1, 2, 3}``, ``{-1, 1}``)
        and for strings, the distinct values sorted (integers numerically, e.g. ``"-1"``,
        ``"1"``), so ``codes == k`` means ``class_names[k]``.

    Raises
    ------
    DataFormatError
        Non-integral numbers, NaN, empty strings; complex, datetime64, timedelta64 (or any
        other non-numeric, non-string) labels; with ``class_names``, integer labels outside
        0..len(class_names)-1; a label of a later part (the test set) that the first part (the
        training set) does not hold: no model trained on the first could predict it, and it
        would add an output that is never trained.

    Notes
    -----
    Nothing is sized by a label's value (``np.unique`` sorts; no ``bincount`` of raw labels),
    so a label of 10**9 costs what a label of 1 does.

    Example
    -------
    >>> codes, names = encode_labels([np.array([5, 0, 5, 10**9])], "f.npz: y", None)
    >>> codes[0], names
    (array([1, 0, 1, 2]), ['0', '5', '1000000000'])
    """
    codes, names = _encode(parts, where, locate, class_names)
    seen = np.zeros(len(names), dtype=bool)
    seen[codes[0]] = True
    for k, part in enumerate(codes[1:], start=1):
        unseen = np.flatnonzero(~seen[part])
        if unseen.size:
            i = int(unseen[0])
            raise DataFormatError(
                f"{where}: test labels must be classes of the training labels; got "
                f"{names[part[i]]!r} at {locate(k, i)}, which no training sample has (a class "
                "the model could never learn)"
            )
    return codes, names


def _encode(
    parts: Sequence[np.ndarray],
    where: str,
    locate: Callable[[int, int], str],
    class_names: Sequence[str] | None,
) -> tuple[list[np.ndarray], list[str]]:
    """:func:`encode_labels` without its check that the later parts hold no new class."""
    for y in parts:
        if y.dtype.kind not in _LABEL_KINDS:
            # complex, datetime64 and timedelta64 convert to float64 (dropping the imaginary
            # part, counting time units), so they would pass as numbers
            raise DataFormatError(
                f"{where}: labels must be integers, whole numbers or strings; got {y.dtype} "
                "(complex numbers, dates and durations are not class labels)"
            )
    for k, y in enumerate(parts):
        beyond = y > np.uint64(np.iinfo(np.int64).max) if y.dtype.kind == "u" else None
        if beyond is not None and beyond.any():
            # refused as floats ("whole numbers below 2**53"), which int64's 2**60 is not
            i = int(np.argmax(beyond))
            raise DataFormatError(
                f"{where}: labels must be integers below 2**63 (int64's range) or class names; "
                f"got {y[i].item()} at {locate(k, i)} (store them as strings to keep them "
                "as names)"
            )
    ints = [_as_integers(y) for y in parts]
    integers = [codes for codes in ints if codes is not None]
    if len(integers) == len(ints):
        return _encode_integers(integers, where, locate, class_names)
    floats = [_as_floats(y) for y in parts]
    numbers = [f for f in floats if f is not None]
    if len(numbers) == len(floats):
        # all numbers, but some are not integers (1.5, nan): not class labels
        k = next(k for k, codes in enumerate(ints) if codes is None)
        i = int(np.flatnonzero(~whole_numbers(numbers[k]))[0])
        raise DataFormatError(
            f"{where}: labels must be whole numbers (below 2**53 in size) or class names; "
            f"got {parts[k][i].item()!r} at {locate(k, i)}"
        )
    strings = [np.char.strip(as_text(y)) for y in parts]
    for k, y in enumerate(strings):
        empty = np.flatnonzero(y == "")
        if empty.size:
            raise DataFormatError(
                f"{where}: labels must not be empty; got '' at {locate(k, int(empty[0]))}"
            )
    names = np.unique(np.concatenate(strings))
    return [np.searchsorted(names, y).astype(np.int64) for y in strings], names.tolist()
