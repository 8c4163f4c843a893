"""Estimator input handling: validation with sklearn's utilities, labels, weights, the split."""

from __future__ import annotations

import numbers

import numpy as np
from sklearn.model_selection import train_test_split
from sklearn.utils.class_weight import compute_class_weight
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import _check_sample_weight, validate_data

from softgrad.checks import check_fits_rows, first_few
from softgrad.scaling import SCALED_DTYPES
from softgrad.stored_rows import StoredRows
from softgrad.training.data import (
    cast_per_batch,
    cast_rows,
    coded_rows,
    converted_checked,
    plain_array,
)

WHERE = "MLPClassifier"


def float_array(X) -> bool:
    """Whether ``X`` is a NumPy array of floats, which the estimator handles without
    validate_data's conversion and scan: prediction reads it as it is, a batch at a time
    (:func:`check_X`), and fit codes or converts it itself (:func:`_floats`). Converted whole
    to the model's dtype first, the estimator's ``predict`` on the 10,000 Fashion-MNIST test
    images as float64 (h100, float32) took 20.0 ms, 9 of them in the copy and the scans over
    it before the network's 11.

    Example
    -------
    >>> float_array(np.zeros((2, 3))), float_array(np.zeros((2, 3), np.uint8))
    (True, False)
    """
    return plain_array(X) and X.dtype.kind == "f"


def integer_rows(X, dtype) -> bool:
    """Whether ``X`` is read cast to ``dtype`` a batch at a time (:func:`cast_per_batch`): a
    NumPy array of integers, or a pandas DataFrame whose columns are all NumPy integers (uint8
    pixels in a frame), which validate_data then hands over as its integers
    (:func:`_integers_read`). Converted to float32 by validate_data instead, a uint8 frame of
    Fashion-MNIST's 60,000 images cost 179 MiB in prediction and 359 in fit (that copy, then a
    C-ordered one of it), against 45 (the integers in C order) and a few batches.

    Example
    -------
    >>> import pandas as pd
    >>> integer_rows(pd.DataFrame({"a": [1, 2]}, dtype=np.uint8), np.float32)
    True
    >>> integer_rows(pd.DataFrame({"a": [1, 2], "b": [0.5, 1.0]}), np.float32)
    False
    """
    if cast_per_batch(X, dtype):
        return True
    return np.dtype(dtype) in SCALED_DTYPES and _frame_of(X, "iu")


def _frame_of(X, kinds: str) -> bool:
    """Whether ``X`` is a pandas DataFrame with columns, each of a NumPy dtype of one of
    ``kinds`` ("iu": integers; "fiu": numbers), whose values validate_data hands over as they
    are. A nullable Int64 column (pd.NA), a sparse or categorical one is not a NumPy dtype,
    and a Series is not 2-D: those validate_data converts."""
    dtypes = getattr(X, "dtypes", None)
    if not hasattr(X, "iloc") or getattr(X, "ndim", 0) != 2 or dtypes is None or not len(dtypes):
        return False
    return all(isinstance(d, np.dtype) and d.kind in kinds for d in dtypes)


def _integers_read(X: np.ndarray, dtype):
    """Validated integer rows as the network reads them: cast a batch at a time (a ScaledRows
    over X, which holds them in C order: X itself when it is), or, where that would copy
    integers wider than ``dtype`` (a DataFrame's int64 columns, handed over column by column,
    for a float32 model), converted once in C order, the smaller copy; integers always fit
    float32's range, and the cast is the same either way."""
    if X.flags.c_contiguous or X.dtype.itemsize <= np.dtype(dtype).itemsize:
        return cast_rows(X, dtype)
    return np.ascontiguousarray(X, dtype=dtype)


def check_X(est, X, dtype, reset: bool):
    """Validated 2-D input for prediction: a float array (or CSR matrix) in ``dtype``, with at
    most one copy; for an integer array (:func:`cast_per_batch`), a ScaledRows over X itself;
    for a float array (:func:`float_array`), X itself.

    validate_data converts to ``dtype`` first and then checks the values, so the NaN/inf scan
    reads the converted array (half the bytes of float64 input for a float32 model) and a
    float64 value beyond float32's range is refused, not turned into inf. Integer pixels are
    not converted at all: training and prediction cast each batch as they gather it (the cast
    of a batch is the batch of the cast, so the numbers are the same), and the float copy of
    the whole array, 4x the bytes of uint8 images in float32, is never made. Nor are float
    arrays: the network casts each batch, and checks it for NaN, inf and values beyond its
    dtype, naming the row (softgrad.training.predict_batches).
    """
    if integer_rows(X, dtype):  # dtype=None: validate_data keeps the integers as they are
        X = validate_data(est, X, accept_sparse="csr", dtype=None, reset=reset)
        return _integers_read(X, dtype)
    if float_array(X):
        return validate_data(
            est, X, accept_sparse="csr", dtype=None, ensure_all_finite=False, reset=reset
        )
    # validate_data's conversion would turn 1e300 into inf with a RuntimeWarning first
    check_fits_rows(X, dtype, type(est).__name__, "X")
    return validate_data(est, X, accept_sparse="csr", dtype=np.dtype(dtype), reset=reset)


def check_X_y(est, X, y, dtype, reset: bool, code: bool = True):
    """Validated (X, y): X as in :func:`check_X`, or, with ``code``, as uint8 codes where it
    can be (:func:`_floats`); y a 1-D array of class labels.

    ``code=False`` for rows the training reads once (``partial_fit``'s block: one epoch over
    it). The coding pass pays where the rows are read again and again, not there: coded,
    partial_fit on blocks of Fashion-MNIST's float64 pixels took 1.15x the call at 512 rows,
    1.13x at 2,048 and 1.09x at 16,384 (2-core Zen 4; per block size, the median call over
    the stream in six rounds alternating with the float copy, the median of the rounds'
    ratios), and the float copy it would spare lives for one call only."""
    shape: tuple[int, ...] | None = getattr(y, "shape", None)
    if shape is None:  # a list of label lists: its rows' length, as an array's shape
        first = y[0] if isinstance(y, (list, tuple)) and len(y) else None
        shape = (len(y), len(first)) if isinstance(first, (list, tuple, np.ndarray)) else ()
    if len(shape) == 2 and shape[1] > 1:
        raise ValueError(
            f"{WHERE}: y must be a 1-D array of class labels; got shape {shape!r} (multilabel "
            "and multi-output classification are not supported)"
        )
    if integer_rows(X, dtype):  # as in check_X
        X, y = validate_data(est, X, y, accept_sparse="csr", dtype=None, reset=reset)
        X = _integers_read(X, dtype)
    elif (read := _floats(est, X, y, dtype, reset, code)) is not None:
        X, y = read
    else:
        check_fits_rows(X, dtype, type(est).__name__, "X")  # as in check_X
        if _frame_of(X, "fiu"):
            # checked as they are, then converted once in C order, which fit trains on as it
            # is: converted by validate_data, a float64 frame was copied twice (pandas' astype,
            # column by column, then fit's C-ordered copy): 363 against 184 MiB at 60,000 x 784
            X, y = validate_data(est, X, y, dtype=None, reset=reset)
            check_fits_rows(X, dtype, type(est).__name__, "X")  # the frame's values, by row
            X = np.ascontiguousarray(X, dtype=dtype)
        else:
            X, y = validate_data(est, X, y, accept_sparse="csr", dtype=np.dtype(dtype), reset=reset)
    check_label_kinds(y, "y")
    check_classification_targets(y)
    return X, y


def _floats(est, X, y, dtype, reset: bool, code: bool):
    """``(rows, y)`` for a NumPy float array X, validated without validate_data's conversion
    and NaN/inf scan, or None (then :func:`check_X_y` runs them, and names what they find).

    With ``code``, X of another dtype than ``dtype`` of at most 256 distinct values (pixels
    scaled by ``X / 255.0``, float64) is coded where the lane codes, as ``fit`` codes it
    (``training.data.coded_rows``): the rows read exactly as ``X.astype(dtype)`` would, so the
    fit is the same, with a quarter of the float32 copy's memory, and on a grid such as
    ``k / 255`` a batch gathered in 20 us where the float32 copy's took 45. Other X is
    converted (X itself where it is of ``dtype`` already) and checked by one pass over that
    (``training.data.converted_checked``). A value not finite in ``dtype`` makes the coder
    decline and the check fail: None.
    """
    if not float_array(X) or X.ndim != 2:
        return None  # lists, pandas, np.matrix, sparse: validate_data converts them
    checked, y = validate_data(
        est, X, y, accept_sparse="csr", dtype=None, ensure_all_finite=False, reset=reset
    )
    rows = coded_rows(checked, dtype) if code else None
    if rows is not None:
        return rows, y
    converted, finite = converted_checked(checked, dtype)
    return (converted, y) if finite else None


def check_label_kinds(labels, name: str) -> None:
    """ValueError if an object array of labels mixes strings and numbers (they cannot be sorted).

    Example
    -------
    >>> try:
    ...     check_label_kinds(np.array(["cat", 1, 2], dtype=object), "y")
    ... except ValueError as err:
    ...     print(err)
    MLPClassifier: y must hold labels of one kind, all strings or all numbers;
    got str 'cat' and int 1 (convert them first, e.g. y.astype(str))
    """
    labels = np.asarray(labels)
    if labels.dtype != object:
        return  # NumPy gave the array one type: its labels sort
    first: dict[str, object] = {}
    for label in labels.ravel():
        kind = "str" if isinstance(label, (str, bytes)) else type(label).__name__
        if isinstance(label, numbers.Number):
            kind = "number"
        if kind not in first:
            first[kind] = label
            if len(first) > 1:
                a, b = first.values()
                raise ValueError(
                    f"{WHERE}: {name} must hold labels of one kind, all strings or all numbers; "
                    f"got {type(a).__name__} {a!r} and {type(b).__name__} {b!r} (convert them "
                    f"first, e.g. {name}.astype(str))"
                )


def encode_labels(y, classes) -> np.ndarray:
    """Indices of y's labels in the sorted ``classes``; ValueError naming unknown labels."""
    idx = np.searchsorted(classes, y)
    idx = np.clip(idx, 0, len(classes) - 1)
    picked, y = classes[idx], np.asarray(y)
    kinds = {picked.dtype.kind, y.dtype.kind}
    if kinds & set("US") and kinds & set("biuf"):
        # strings against numbers: none is known (NumPy 1.24 compared the two arrays as one
        # scalar, with a FutureWarning that a warnings filter turned into the error)
        unknown = np.ones(len(y), dtype=bool)
    else:
        unknown = picked != y
    if np.any(unknown):
        raise ValueError(
            f"{WHERE}: y must only hold labels in classes_ {first_few(classes.tolist(), 10)}; "
            f"got {first_few(np.unique(np.asarray(y)[unknown]).tolist(), 10)}"
        )
    return idx


def sample_weights(est, X, y, y_idx, classes, sample_weight, incremental: bool):
    """Per-sample weights: sample_weight times class_weight[y], or None when both are absent."""
    weight = None
    if sample_weight is not None:
        weight = _check_sample_weight(sample_weight, X, dtype=X.dtype, ensure_non_negative=True)
    if est.class_weight is None:
        return weight
    if est.class_weight == "balanced" and incremental:
        raise ValueError(
            f"{WHERE}: class_weight must be None or a dict for partial_fit; got 'balanced' "
            "(the class frequencies of a stream are unknown: pass a dict computed on all of y)"
        )
    _check_class_weight_values(est.class_weight)
    present = classes if incremental else np.unique(y)
    per_class = np.ones(len(classes))
    cw = compute_class_weight(est.class_weight, classes=present, y=y)
    per_class[np.searchsorted(classes, present)] = cw
    per_sample = per_class[y_idx].astype(X.dtype)
    per_sample = per_sample if weight is None else per_sample * weight
    if not np.any(per_sample):
        # training.fit would refuse these weights naming its own sample_weight argument
        raise ValueError(
            f"{WHERE}: class_weight must leave some sample of y a weight > 0; got "
            f"{est.class_weight!r} for the classes {np.unique(y).tolist()!r} of y"
        )
    return per_sample


def _check_class_weight_values(class_weight) -> None:
    """ValueError unless a dict class_weight maps each label to a finite real >= 0 (a negative
    weight would reward that class's errors; training.fit would name its sample_weight)."""
    if not isinstance(class_weight, dict):
        return
    for label, value in class_weight.items():
        # tested apart, so that value stays as given (numbers.Real's stubs refuse np.isfinite
        # and an int on the left of <=, which any Real takes)
        real = isinstance(value, numbers.Real)
        if not (real and np.isfinite(value) and value >= 0):
            raise ValueError(
                f"{WHERE}: class_weight must map each class to a finite weight >= 0; "
                f"got {value!r} for class {label!r}"
            )


def indicator(y_idx) -> np.ndarray:
    """sklearn's LabelBinarizer column of a binary problem, as bool of shape (N, 1)."""
    return (y_idx == 1)[:, None]


def split(est, X, y_idx, w, validation_data, random_state, dtype):
    """(train, val): train = (X, y_idx, w), val = (X_val, y_idx_val, w_val) or None.

    val comes from validation_data, else (early stopping) from sklearn's split of the data,
    drawn from ``random_state`` as sklearn's MLP draws it.
    """
    if validation_data is not None:
        X_val, y_val = validation_data
        X_val, y_val = check_X_y(est, X_val, y_val, dtype, reset=False)
        return (X, y_idx, w), (X_val, encode_labels(y_val, est.classes_), None)
    if not est.early_stopping:
        return (X, y_idx, w), None
    rows = X.data if isinstance(X, StoredRows) else X  # the stored rows are split, not floats
    parts = [rows, y_idx] if w is None else [rows, y_idx, w]
    halves = train_test_split(
        *parts,
        random_state=random_state,
        test_size=est.validation_fraction,
        # sklearn's MLP stratifies only binary problems (n_outputs_ == 1), on its label
        # indicator column: the same choice gives the same split
        stratify=indicator(y_idx) if len(est.classes_) == 2 else None,
    )
    X_train, X_val, y_idx, y_val = halves[:4]
    if isinstance(X, StoredRows):
        X_train, X_val = X.over(X_train), X.over(X_val)
    X = X_train
    w, w_val = (None, None) if w is None else halves[4:]
    if X_val.shape[0] < 2:
        raise ValueError(
            "MLPClassifier: the validation set must hold at least 2 samples; got "
            f"{X_val.shape[0]} (increase validation_fraction or use more data)"
        )
    return (X, y_idx, w), (X_val, y_val, w_val)


def unique_labels(labels) -> np.ndarray:
    """The sorted distinct labels, typed as sklearn's ``unique_labels`` types them: an object
    array (strings from pandas) gives an array of its values' own type, e.g. '<U3'.

    Example
    -------
    >>> unique_labels(np.array(["dog", "cat", "dog"], dtype=object))
    array(['cat', 'dog'], dtype='<U3')
    """
    classes = np.unique(labels)
    return np.asarray(classes.tolist()) if classes.dtype == object else classes


def stream_classes(est, classes):
    """partial_fit's ``classes`` as sorted distinct labels (None when a later call leaves them
    out): required on the first call, equal to ``classes_`` on a later one, and a 1-D
    array-like of labels of one kind without NaN (a list of lists, a set or a single label is
    refused by name, where it was flattened or taken for one class).

    Example
    -------
    >>> try:
    ...     stream_classes(object(), [[0, 1, 2]])
    ... except ValueError as err:
    ...     print(err)
    MLPClassifier.partial_fit: classes must be a 1-D array-like of labels; got [[0, 1, 2]]
    """
    where = f"{WHERE}.partial_fit"
    first = not hasattr(est, "classes_")
    if classes is None:
        if first:
            raise ValueError(f"{where}: classes must be given on the first call; got None")
        return None
    array = np.asarray(classes)
    if array.ndim != 1:
        raise ValueError(f"{where}: classes must be a 1-D array-like of labels; got {classes!r}")
    check_label_kinds(array, "classes")
    if any(label != label for label in array.tolist()):  # NaN is the one label unequal to itself
        raise ValueError(f"{where}: classes must not hold NaN; got {classes!r}")
    labels = unique_labels(array)
    if not first and not np.array_equal(labels, est.classes_):
        raise ValueError(
            f"{where}: classes must equal classes_ {est.classes_!r} of the first call; "
            f"got {classes!r}"
        )
    return labels


def set_classes(est, y, classes, first: bool, incremental: bool) -> None:
    """Set ``est.classes_`` (from y, or from partial_fit's ``classes`` checked by
    :func:`stream_classes`) and check y against it."""
    labels = unique_labels(y)
    if incremental and not hasattr(est, "classes_"):
        est.classes_ = classes
    elif first:
        est.classes_ = labels
    elif est.warm_start and not incremental and not np.array_equal(labels, est.classes_):
        raise ValueError(
            f"MLPClassifier: with warm_start, y must have the classes {est.classes_!r} of "
            f"the previous fit; got {labels!r}"
        )
    if len(est.classes_) < 2:
        raise ValueError(
            "MLPClassifier: y must hold at least 2 classes; got 1 class "
            f"({est.classes_.tolist()!r})"
        )
