"""What a :class:`softgrad.model.Model` is given, checked: its class labels, the raw feature rows
it predicts on (the logits those rows give are checked by
:func:`softgrad.training.inference_checks.finite_logits_head`).

Each check raises the error a user of ``Model`` sees, prefixed by the method that was called
(``"Model.predict: X must be ..."``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from softgrad.checks import check_feature_count, check_finite_rows, check_real_array
from softgrad.model_checks import (
    axis_problem,
    batch_axis_layer,
    classes_problem,
    declared_shapes,
    first_break,
)
from softgrad.model_file_meta import as_image_shape
from softgrad.preprocessing import ScaledRows, Scaler
from softgrad.stored_rows import StoredRows
from softgrad.training.data import issparse

__all__ = ["check_rows", "model_classes", "model_image_shape", "network_sizes"]


def network_sizes(network: Any) -> tuple[int | None, int | None]:
    """(input size, output size) from the first and last weight matrix ``*.W``, if any.

    A softgrad Sequential whose Linear layers do not chain (``Linear(4, 5)`` then
    ``Linear(7, 3)``) is refused: every prediction failed, in NumPy's matmul error. So is one
    with a Softmax or LogSoftmax over the batch (axis 0): a sample's answer would depend on the
    rows predicted with it, and on the batch size (:func:`softgrad.model_checks.batch_axis_layer`).
    """
    from softgrad.nn import Sequential

    if isinstance(network, Sequential):
        config = network.get_config()
        gap = first_break(declared_shapes(config, "Model"))
        if gap is not None:
            before, after, width, n_in = gap
            raise ValueError(
                f"Model: network's layer {after} in_features must be {width}, the "
                f"out_features of layer {before} before it; got {n_in}"
            )
        found = batch_axis_layer(config, "Model")
        if found is not None:
            raise ValueError(f"Model: network's {axis_problem(*found)}")
    weights = [array for name, array in network.named_params().items() if name.endswith("W")]
    if not weights:
        return None, None
    return int(weights[0].shape[0]), int(weights[-1].shape[-1])


def model_classes(classes: Any) -> np.ndarray:
    """``classes`` as a Model holds them: a 1-D array of distinct int64 integers or strings."""
    array = np.asarray(classes)
    if array.dtype.kind == "O":
        # as NumPy reads the same values from a list (a pandas column of str: str); an object
        # array of anything else (None, ints beyond int64) used to become their str() silently
        array = np.array(array.tolist())
    problem = classes_problem(array)  # labels are stored as int64: 2**63 became -2**63
    if problem is not None:
        raise ValueError(f"Model: classes {problem}")
    return array.astype(np.int64) if array.dtype.kind in "biu" else array


def model_image_shape(image_shape: Any) -> tuple[int, int] | None:
    """``image_shape`` as a Model holds it (:func:`~softgrad.model_file_meta.as_image_shape`)."""
    return as_image_shape(image_shape, "Model", "the grey images the model reads as flattened rows")


def quoted_names(names: list[str], most: int = 4) -> str:
    """``'a', 'b', 'c', 'd' and 2 more``: names as a message lists them."""
    shown = ", ".join(repr(n) for n in names[:most])
    return shown + (f" and {len(names) - most} more" if len(names) > most else "")


def column_order(
    names: list[str], columns: list[str], where: str, error: type[Exception]
) -> list[int] | None:
    """Where each of the model's feature ``names`` is among a table's ``columns`` (a DataFrame
    in ``Model``, a CSV file's header in ``softgrad predict`` and ``evaluate``), or None when
    they are in the model's order; ``error`` names the missing names and the other columns."""
    if columns == names:
        return None
    missing = [n for n in names if n not in columns]
    extra = [c for c in columns if c not in names]
    if missing or extra:
        missing_text, extra_text = quoted_names(missing) or "none", quoted_names(extra) or "none"
        raise error(
            f"{where}: feature columns must be the model's; missing {missing_text}, not the "
            f"model's {extra_text} (the model was trained on {quoted_names(names)})"
        )
    return [columns.index(name) for name in names]


def check_rows(
    X: Any,
    where: str,
    *,
    scaler: Scaler | None,
    image_shape: tuple[int, ...] | None,
    n_features: int | None,
    finite: bool = True,
) -> np.ndarray | StoredRows:
    """Raw feature rows as an (N, D) array of finite real numbers, ready for the model's scaler.

    Images of ``image_shape`` (N, H, W) are flattened; a :class:`ScaledRows` of the model's own
    ``scaler`` gives its raw rows (the model scales them once), other stored rows (a
    :class:`~softgrad.coded_rows.CodedRows`) their float rows. Stored rows for a model without
    a scaler come back as they are (batched inference reads a batch at a time; their stored
    values are not checked for NaN and inf, as ``predict_proba`` does not check them, but
    logits they make non-finite are refused by row); a sparse matrix, ragged rows, another
    shape or another feature count are refused. ``finite=False`` leaves NaN and inf to the
    caller (the Model's batched inference checks each batch as it runs).
    """
    if issparse(X):  # np.asarray made it a 0-d object array: "X must be numeric"
        raise TypeError(
            f"{where}: X must be a dense array (N, D); got a SciPy sparse matrix (pass X.toarray())"
        )
    if isinstance(X, StoredRows) and scaler is None:
        # rows the network reads as they are, read a batch at a time by predict_batches:
        # np.asarray made a float copy of all of them (Fashion-MNIST: 188 MB for 47 of uint8)
        if n_features is not None:
            check_feature_count(X, n_features, where)
        return X
    if isinstance(X, ScaledRows):
        # its rows read already scaled: the model's scaler would scale them a second time
        if X.scaler != scaler:
            raise ValueError(
                f"{where}: X must be raw features, or a ScaledRows of the model's own "
                f"scaler {scaler!r}; got a ScaledRows of {X.scaler!r}"
            )
        X = X.data  # the raw rows, which the model scales itself
    X = check_real_array(X, where)  # names ragged rows' first short one, a frame's text column
    if X.ndim == 3 and image_shape is not None and X.shape[1:] == image_shape:
        X = X.reshape(len(X), int(np.prod(image_shape)))  # -1 cannot size N == 0
    if X.ndim != 2:
        raise ValueError(
            f"{where}: X must be 2-D (n_samples, n_features); got shape {X.shape}"
            + ("; for one sample use X.reshape(1, -1)" if X.ndim == 1 else "")
        )
    if n_features is not None:
        check_feature_count(X, n_features, where)
    if finite:
        check_finite_rows(X, where)
    return X
