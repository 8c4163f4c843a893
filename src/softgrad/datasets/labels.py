"""Turn user labels (integers, integral floats, numeric strings or class names) into 0..C-1."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from softgrad.errors import DataFormatError

__all__ = ["encode_labels"]


def _as_integers(y: np.ndarray) -> np.ndarray | None:
    """``y`` as int64 when every entry is an integer (12, 12.0, "12"), else None."""
    if y.dtype.kind in "biu":
        return y.astype(np.int64)
    if y.dtype.kind in "US":
        try:
            return y.astype(np.int64)
        except ValueError:
            try:
                y = y.astype(np.float64)
            except ValueError:
                return None
    if y.dtype.kind == "f":
        with np.errstate(invalid="ignore"):
            if not np.all(np.isfinite(y) & (y == np.round(y))):
                return None
        return y.astype(np.int64)
    return None


def _as_floats(y: np.ndarray) -> np.ndarray | None:
    """``y`` as float64 when every entry is a number, else None."""
    try:
        return y.astype(np.float64)
    except (ValueError, TypeError):
        return None


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
        For integer labels ``"0"`` .. ``str(max)`` (or the given names); for string labels the
        distinct strings, sorted, so ``codes == k`` means ``class_names[k]``.

    Raises
    ------
    DataFormatError
        Negative integer labels, non-integral numbers, NaN, or more integer labels than names.
    """
    ints = [_as_integers(y) for y in parts]
    if all(codes is not None for codes in ints):
        for k, codes in enumerate(ints):
            if codes.size and codes.min() < 0:  # type: ignore[union-attr]
                i = int(np.argmin(codes))  # type: ignore[arg-type]
                raise DataFormatError(
                    f"{where}: labels must be integers 0..C-1 (or class names); "
                    f"got {codes[i]} at {locate(k, i)}"  # type: ignore[index]
                )
        n_classes = max(int(c.max()) + 1 for c in ints if c.size)  # type: ignore[union-attr]
        if class_names is None:
            return ints, [str(k) for k in range(n_classes)]  # type: ignore[return-value]
        if n_classes > len(class_names):
            raise DataFormatError(
                f"{where}: labels must be in 0..{len(class_names) - 1} to match class_names; "
                f"got {n_classes - 1}"
            )
        return ints, [str(c) for c in class_names]  # type: ignore[return-value]
    floats = [_as_floats(y) for y in parts]
    if all(f is not None for f in floats):
        # all numbers, but some are not integers (1.5, nan): not class labels
        k = next(k for k, codes in enumerate(ints) if codes is None)
        y = floats[k]
        with np.errstate(invalid="ignore"):
            i = int(np.flatnonzero(~(np.isfinite(y) & (y == np.round(y))))[0])  # type: ignore[operator]
        raise DataFormatError(
            f"{where}: labels must be integers 0..C-1 or class names; "
            f"got {parts[k][i].item()!r} at {locate(k, i)}"
        )
    strings = [np.char.strip(y.astype(str)) for y in parts]
    for k, y in enumerate(strings):
        empty = np.flatnonzero(y == "")
        if empty.size:
            raise DataFormatError(
                f"{where}: labels must not be empty; got '' at {locate(k, int(empty[0]))}"
            )
    names = np.unique(np.concatenate(strings))
    return [np.searchsorted(names, y).astype(np.int64) for y in strings], names.tolist()
