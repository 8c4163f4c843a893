"""How ``softgrad evaluate`` shows per-class results: in full for a few classes, summed up for many.

Up to ``MAX_SHOWN_CLASSES`` (20) classes, the report holds the per-class table and the whole
confusion matrix: 20 columns of counts and the row labels fit a 100-column terminal for test
sets up to 9,999 samples per cell. Beyond that (a 1000-class model's matrix is a million cells,
7 MB of text) it holds a summary instead: the ``TOP`` most-confused pairs of classes and the
``TOP`` classes of lowest recall, and names the two ways to the full figures:
``--confusion FILE.csv`` (the matrix as CSV, :func:`write_confusion_csv`) and ``--json``.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Sequence

import numpy as np

from softgrad.atomic import atomic_write
from softgrad.cli.output import matrix, table

__all__ = [
    "MAX_SHOWN_CLASSES",
    "TOP",
    "confused_pairs",
    "per_class_report",
    "write_confusion_csv",
]

MAX_SHOWN_CLASSES = 20
TOP = 10


def confused_pairs(cm: np.ndarray, top: int = TOP) -> list[tuple[int, int, int]]:
    """The ``top`` largest off-diagonal cells as ``(true, predicted, count)``, largest first.

    Ties go to the lower (true, predicted) index; cells of 0 are never listed.

    Example
    -------
    >>> confused_pairs(np.array([[5, 2, 0], [3, 4, 3], [0, 1, 6]]), top=3)
    [(1, 0, 3), (1, 2, 3), (0, 1, 2)]
    """
    off = cm.astype(np.int64, copy=True)
    np.fill_diagonal(off, 0)
    flat = off.ravel()
    # a stable sort of the negated counts keeps ties in row-major order
    order = np.argsort(-flat, kind="stable")[:top]
    n = cm.shape[1]
    return [(int(k // n), int(k % n), int(flat[k])) for k in order if flat[k] > 0]


def per_class_report(
    names: Sequence[str],
    cm: np.ndarray,
    precision: np.ndarray,
    recall: np.ndarray,
    support: np.ndarray,
    confusion_file: str | None,
) -> str:
    """The per-class part of the report: full (few classes) or a summary (many), as text."""
    if len(names) <= MAX_SHOWN_CLASSES:
        return _full(names, cm, precision, recall, support)
    return _summary(names, cm, recall, support, confusion_file)


def _full(names, cm, precision, recall, support) -> str:
    rows = [
        [name, float(p), float(r), int(n)]
        for name, p, r, n in zip(names, precision, recall, support, strict=True)
    ]
    labels = [f"[{k}]" for k in range(len(names))]
    return "\n".join(
        [
            table(["class", "precision", "recall", "support"], rows, [False, True, True, True]),
            "",
            "confusion matrix (rows: true class; columns: predicted class, by the rows' [index])",
            matrix(
                cm,
                "{:d}",
                row_labels=[f"[{k}] {name}" for k, name in enumerate(names)],
                col_labels=labels,
            ),
        ]
    )


def _summary(names, cm, recall, support, confusion_file) -> str:
    pairs = confused_pairs(cm)
    pair_rows = [
        [names[t], names[p], count, count / max(int(support[t]), 1)] for t, p, count in pairs
    ]
    present = np.flatnonzero(support > 0)  # a class absent from the data has no recall
    worst = present[np.argsort(recall[present], kind="stable")[:TOP]]
    worst_rows = [[names[k], float(recall[k]), int(support[k])] for k in worst]
    where = (
        f"the full matrix is in {confusion_file}"
        if confusion_file and confusion_file.lower().endswith(".csv")
        else "for the full matrix and per-class table use --confusion FILE.csv or --json"
    )
    return "\n".join(
        [
            f"{len(names)} classes: more than {MAX_SHOWN_CLASSES}, so a summary ({where})",
            "",
            f"most-confused pairs (top {TOP})",
            table(
                ["true", "predicted", "count", "share of true"],
                pair_rows,
                [False, False, True, True],
            )
            if pair_rows
            else "(none: every sample was classified correctly)",
            "",
            f"lowest recall (worst {TOP} of the classes present)",
            table(["class", "recall", "support"], worst_rows, [False, True, True]),
        ]
    )


def write_confusion_csv(path: str | os.PathLike, cm: np.ndarray, names: Sequence[str]) -> None:
    """Write the confusion matrix as CSV, atomically: a header of the predicted classes, then one
    row per true class (its name, then its counts).

    Example
    -------
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "cm.csv"
    >>> write_confusion_csv(path, np.array([[3, 1], [0, 4]]), ["cat", "dog, big"])
    >>> print(path.read_text(), end="")
    true \\ predicted,cat,"dog, big"
    cat,3,1
    "dog, big",0,4
    """
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(["true \\ predicted", *names])
    for name, row in zip(names, cm.tolist(), strict=True):
        writer.writerow([name, *row])
    with atomic_write(path) as f:
        f.write(text.getvalue().encode("utf-8"))
