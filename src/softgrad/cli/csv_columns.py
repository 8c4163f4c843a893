"""Which columns of a CSV file ``predict`` and ``evaluate`` read as the model's features.

A model trained on a CSV file keeps the names of its feature columns (its metadata's
``feature_names``, the header without the label). ``predict`` reads a CSV file's columns by
those names, in any order, and skips at most one other column (the label of a file in the
training format); ``evaluate`` reorders a data file's feature columns by them. A model without
names (trained on arrays, images or the bundled data sets) reads the columns in order: a file
with exactly one column more than its features drops the one named label, target, y or class
(in that order), and a file as wide as its features drops none (a feature may be named y).

Before, ``predict`` dropped the first column named label, target, class or y, whatever the
model: a file of the model's features x, y lost its y, and a file in the training format whose
label came after a column named class lost that feature, predicting from the label.

A first line of numbers is a row (a file without a header), except the line 0, 1, ..., D - 1:
the names pandas gives the columns of a frame made without names, and writes as its header
(``DataFrame(X).to_csv(index=False)``). Read as a row, it added a sample and moved every row's
index by one.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from softgrad.datasets.csv import LABEL_COLUMNS
from softgrad.errors import DataFormatError, ModelFileError
from softgrad.model_inputs import column_order
from softgrad.model_inputs import quoted_names as _quoted

# training's label names (label, target, y), and class, which a file to predict may hold
LABEL_NAMES = (*LABEL_COLUMNS, "class")


def model_feature_names(model: Any, where: str) -> list[str] | None:
    """The model's feature column names (metadata ``feature_names``), or None without them."""
    names = (model.metadata or {}).get("feature_names")
    if names is None:
        return None
    n = model.n_features
    if not (
        isinstance(names, list)
        and all(isinstance(name, str) for name in names)
        and len(names) == n
        and len(set(names)) == n
    ):
        shown = repr(names) if len(repr(names)) <= 80 else repr(names)[:77] + "..."
        raise ModelFileError(
            f"{where}: the model's metadata 'feature_names' must be {n} distinct column names, "
            f"one per feature; got {shown}"
        )
    return names


class FeatureColumns:
    """``read_csv``'s ``label`` for ``predict``: the one column to skip, given the header's
    cells (see the module docstring), and :meth:`order` for the rows read."""

    def __init__(self, names: list[str] | None, n_features: int, where: str) -> None:
        self.names, self.n_features, self.where = names, n_features, where

    def __call__(self, header: list[str]) -> int | None:
        cells = [cell.strip() for cell in header]
        if self.names is None:
            if len(cells) != self.n_features + 1:
                return None
            lowered = [cell.lower() for cell in cells]
            return next((lowered.index(n) for n in LABEL_NAMES if n in lowered), None)
        missing = [name for name in self.names if name not in cells]
        if missing:
            raise DataFormatError(
                f"{self.where}: header must name the model's feature columns; missing "
                f"{_quoted(missing)} (the model was trained on {_quoted(self.names)})"
            )
        wanted = set(self.names)
        repeated = next((name for name in self.names if cells.count(name) > 1), None)
        if repeated is not None:
            raise DataFormatError(
                f"{self.where}: header must name each feature column once; got {repeated!r} "
                f"{cells.count(repeated)} times"
            )
        others = [k for k, cell in enumerate(cells) if cell not in wanted]
        if len(others) > 1:
            raise DataFormatError(
                f"{self.where}: columns must be the model's {len(self.names)} features and at "
                f"most one other (such as the label); got {len(others)} others: "
                f"{_quoted([cells[k] for k in others])} (drop all but one)"
            )
        return others[0] if others else None

    def order(self, table: Any) -> np.ndarray:
        """``table.X`` (a :class:`~softgrad.datasets.csv.CsvTable`) with its columns in the
        model's order, and without pandas' numbered header read as a first row."""
        X = table.X
        if table.header is None:
            numbered = len(X) and X.shape[1] > 1 and np.array_equal(X[0], np.arange(X.shape[1]))
            return X[1:] if numbered else X
        cells = [cell.strip() for k, cell in enumerate(table.header) if k != table.label_column]
        return reorder(X, self.names, cells, self.where)


def reorder(X: np.ndarray, names: list[str] | None, columns: list[str] | None, where: str):
    """``X``'s columns (named ``columns``) in the order of the model's ``names``; ``X`` itself
    when either is None or the order is the model's. Columns that are not the model's are
    refused naming them."""
    if names is None or columns is None:
        return X
    order = column_order(names, columns, where, DataFormatError)
    return X if order is None else X[:, order]
