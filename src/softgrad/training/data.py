"""The arrays handed to :func:`fit`: validated once so the batch loop can trust them, and read
in batches (rows gathered from a dense array or densified from a CSR matrix, the loss's
per-sample copy, predicted classes from the logits).

Sparse input is handled here and only here: a CSR matrix stays sparse, and each batch of its
rows becomes a dense array (:func:`gather_rows`, :func:`batch_inputs`) before the model sees it.
So are stored rows read on the fly (:class:`softgrad.stored_rows.StoredRows`: uint8 images
scaled by a ScaledRows, float rows coded by a CodedRows): they stay in their stored form, and
each batch is gathered and read in one kernel pass (``gather_rows_scaled``,
``gather_rows_table``) into the float batch buffer.
"""

from __future__ import annotations

import copy
import functools
import sys
from typing import Any, cast

import numpy as np

from softgrad.checks import (
    as_array,
    check_fits_rows,
    check_sample_weight,
    first_non_number,
    whole_numbers,
)
from softgrad.checks.samples import all_finite
from softgrad.coded_rows import CodedRows
from softgrad.kernels import get_ops
from softgrad.nn.loss import StepLoss, target_weights
from softgrad.preprocessing import ScaledRows, Scaler
from softgrad.scaling import SCALED_DTYPES
from softgrad.stored_rows import StoredRows


def issparse(X: Any) -> bool:
    """``scipy.sparse.issparse(X)``, without importing SciPy into a process that never did:
    a sparse matrix exists only once ``scipy.sparse`` is imported, and importing it took 0.1 s
    of a 1.1 s ``softgrad train`` on the digits."""
    module = sys.modules.get("scipy.sparse")
    return module is not None and module.issparse(X)


def plain_array(X: Any) -> bool:
    """Whether ``X`` is a NumPy array itself (or a memmap), read as it is; lists, pandas
    objects, ``np.matrix`` and sparse matrices are converted first."""
    return type(X) is np.ndarray or isinstance(X, np.memmap)


def cast_per_batch(X: Any, dtype: Any) -> bool:
    """Whether the network reads ``X`` cast to ``dtype`` one batch at a time (an identity
    :class:`~softgrad.preprocessing.ScaledRows` over it), not converted whole first: a NumPy
    array of integers, into float32 or float64 (the dtypes ScaledRows reads). An identity
    ScaledRows casts each value once into ``dtype`` (``work_dtype``), as ``X.astype(dtype)``
    does, so the rows are the converted copy's bit for bit, at any integer width.

    Example
    -------
    >>> cast_per_batch(np.zeros((2, 3), np.uint8), np.float64), cast_per_batch(
    ...     np.zeros((2, 3), np.int64), np.float32), cast_per_batch(np.zeros((2, 3)), np.float32)
    (True, True, False)
    >>> cast_per_batch(np.zeros((2, 3), np.uint8), np.float16)  # converted whole, checked
    False
    """
    if not plain_array(X) or np.dtype(dtype) not in SCALED_DTYPES:
        return False
    return X.dtype.kind in "iu"


def cast_rows(X: np.ndarray, dtype: Any) -> ScaledRows:
    """Integer rows (:func:`cast_per_batch`) read as ``X.astype(dtype)``, a batch at a time."""
    return ScaledRows(X, Scaler(), dtype)


def coded_rows(X: np.ndarray, dtype: Any) -> CodedRows | None:
    """Float rows of another dtype than the model's, which would be converted whole, coded
    where they can be (``X / 255.0`` in float64 for a float32 model): a byte a value instead
    of four, read bit for bit as the converted copy; None for rows of the model's dtype (read
    as they are: codes would add memory) and where :meth:`CodedRows.encode` declines (more
    than 256 values, a value not finite in ``dtype``, another layout, the NumPy lane)."""
    return None if X.dtype == np.dtype(dtype) else CodedRows.encode(X, dtype)


def converted_checked(X: np.ndarray, dtype: Any) -> tuple[np.ndarray, bool]:
    """``(rows, finite)``: ``X`` as a C-contiguous array of ``dtype`` (X itself where it is
    one), and whether every value of it is finite, from one pass over it (the BLAS's sum of
    squares, ``all_finite``). A value beyond ``dtype`` (1e300 in float32) is inf there: the
    caller then searches X for it and names its row. Standardised float64 Fashion-MNIST into
    float32, in memory touched before: 37-44 ms, where a ``min`` and a ``max`` of X, the
    conversion and a ``min`` and a ``max`` of the copy took 66-75 (six of each, in turns)."""
    with np.errstate(over="ignore"):  # the overflow is found in the result, not warned of
        converted = np.ascontiguousarray(X, dtype=dtype)
    return converted, all_finite(converted)


def check_features(X: Any, dtype: np.dtype, what: str = "X", check_finite: bool = True) -> Any:
    """``X`` as a C-contiguous (N, D) array of ``dtype``: copied only if it is not one already.

    A scipy sparse matrix becomes a CSR matrix of ``dtype`` (its batches are densified).
    ``check_finite=False`` skips the scan for NaN/inf (one pass over X). Stored rows (a
    ScaledRows, a CodedRows) stay lazy, read in ``dtype`` (their stored integers, scaler and
    values are finite already), and so does an array of integers (:func:`cast_per_batch`:
    uint8 pixels given as they are), which is read through an identity ScaledRows, never
    converted whole: Fashion-MNIST's 60,000 uint8 images made a 188 MB float32 copy. Float
    rows of another dtype, which would be converted, are coded where they can be
    (:func:`coded_rows`).
    """
    if isinstance(X, StoredRows):
        if len(X) == 0:
            raise ValueError(f"fit: {what} must have at least one sample; got shape {X.shape}")
        if not isinstance(X, ScaledRows) or np.dtype(dtype) in SCALED_DTYPES:
            return X.astype(dtype)
        # ScaledRows reads float32 and float64 only: a float16 model's rows are scaled in
        # float64, whole, then converted and checked as any float rows (it refused them)
        X = X.astype(np.float64).floats()
    if issparse(X):
        return _check_sparse(X, dtype, what, check_finite)
    given, X = X, as_array(X, "fit", what)  # a masked array refused, not read unmasked
    if X.ndim != 2:
        raise ValueError(f"fit: {what} must have shape (N, D); got shape {X.shape}")
    if len(X) == 0:
        raise ValueError(f"fit: {what} must have at least one sample; got shape {X.shape}")
    if X.dtype == np.bool_:  # 0/1 features (one-hot columns), as Model and the estimator take
        X = X.view(np.uint8)  # the same bytes, cast a batch at a time as other integers are
    if not (np.issubdtype(X.dtype, np.number) and not np.issubdtype(X.dtype, np.complexfloating)):
        raise TypeError(
            f"fit: {what} must be a real numeric array; got dtype {X.dtype}"
            + first_non_number(given, X, what)
        )
    if cast_per_batch(X, dtype):  # integers are finite and fit every float dtype
        return cast_rows(X, dtype)
    coded = coded_rows(X, dtype)
    if coded is not None:  # every value finite in dtype: the coder refuses any other
        return coded
    if not check_finite:
        check_fits_rows(X, dtype, "fit", what)  # 1e300 is inf in float32: refused, not cast
        return np.ascontiguousarray(X, dtype=dtype)
    converted, finite = converted_checked(X, dtype)
    if finite:
        return converted
    check_fits_rows(X, dtype, "fit", what)  # names a value beyond dtype by its row
    # else NaN or inf in X: named by its row and column, as evaluate and predict name it
    rows = converted.reshape(len(converted), -1)
    row = int(np.flatnonzero(~np.isfinite(rows).all(axis=1))[0])
    column = int(np.flatnonzero(~np.isfinite(rows[row]))[0])
    raise ValueError(
        f"fit: {what} must be finite; got {rows[row, column].item()!r} in row {row}, column "
        f"{column}"
    )


def class_indices(y: np.ndarray, where: str, what: str = "y") -> np.ndarray:
    """``y``'s class indices: integers as they are, whole floats (finite, below 2**53 in size)
    as intp; TypeError for anything else, naming the first entry that is not a whole number
    (1e20 was cast to -2**63 and reported as such, with a RuntimeWarning, and inf by its dtype).
    """
    if y.dtype.kind in "iu":
        return y
    if y.dtype.kind == "f":
        whole = whole_numbers(y)
        if whole.all():
            return y.astype(np.intp)
        i = int(np.flatnonzero(~whole)[0])
        raise TypeError(
            f"{where}: {what} must hold integer class indices; got {y[i].item()!r} at index {i}"
        )
    raise TypeError(f"{where}: {what} must hold integer class indices; got dtype {y.dtype}")


def check_target(
    y: Any, n_samples: int, n_classes: int | None, what: str = "y", ignore_index: Any = None
) -> np.ndarray:
    """``y`` as an (N,) intp array of class indices in 0..C-1, or the loss's ``ignore_index``
    (which may lie outside them, as torch's -100 does: the loss accepts it on every route)."""
    y = np.asarray(y)
    if y.shape != (n_samples,):
        raise ValueError(f"fit: {what} must have shape ({n_samples},); got shape {y.shape}")
    y = class_indices(y, "fit", what)
    kept = y if ignore_index is None else y[y != ignore_index]
    if not kept.size:  # every target ignored: a loss and gradient of 0, as the loss's own
        return y.astype(np.intp, copy=False)
    low, high = int(kept.min()), int(kept.max())
    if low < 0 or (n_classes is not None and high >= n_classes):
        expected = "0..C-1" if n_classes is None else f"0..{n_classes - 1} (the model's outputs)"
        if ignore_index is not None:
            expected += f" or the loss's ignore_index {ignore_index}"
        raise ValueError(f"fit: {what} must hold class indices in {expected}; got [{low}, {high}]")
    return y.astype(np.intp, copy=False)


def check_weight(
    sample_weight: Any, n_samples: int, dtype: np.dtype, what: str = "sample_weight"
) -> np.ndarray | None:
    """``sample_weight`` as an (N,) array of finite weights >= 0 with a positive sum, in
    ``dtype``, or None."""
    if sample_weight is None:
        return None
    return check_sample_weight(
        sample_weight, (n_samples,), "fit", what, dtype=dtype, may_all_be_zero=False
    )


def check_validation(
    validation_data: Any, X: Any, n_classes: int | None, ignore_index: Any = None
) -> tuple[Any, np.ndarray, np.ndarray | None]:
    """fit's ``validation_data`` as ``(X_val, y_val, w_val)``, checked like X, y, sample_weight
    (``ignore_index``: the loss's, which y_val may hold as y may)."""
    if not (isinstance(validation_data, (tuple, list)) and len(validation_data) in (2, 3)):
        raise ValueError(
            "fit: validation_data must be a pair (X_val, y_val) or a triple (X_val, y_val, "
            f"sample_weight_val); got {type(validation_data)!r}"
        )
    raw = getattr(validation_data[0], "dtype", None)
    if _scaled(X) and raw is not None and np.dtype(raw).kind in "iu":
        # X is read scaled: raw integer X_val would be read unscaled, a silent mismatch
        raise TypeError(
            f"fit: X_val must be scaled like X (a ScaledRows); got raw {np.dtype(raw).name} "
            "rows: pass scaler.inputs(X_val) with X's scaler"
        )
    X_val = check_features(validation_data[0], X.dtype, "X_val")
    if X_val.shape[1:] != X.shape[1:]:
        raise ValueError(
            f"fit: X_val must have shape (N, {X.shape[1]}) like X; got shape {X_val.shape}"
        )
    y_val = check_target(validation_data[1], X_val.shape[0], n_classes, "y_val", ignore_index)
    w_val = None
    if len(validation_data) == 3:
        w_val = check_weight(validation_data[2], X_val.shape[0], X.dtype, "sample_weight_val")
    return X_val, y_val, w_val


def _scaled(X: Any) -> bool:
    """Whether ``X`` is read through a Scaler that changes it (an identity ScaledRows is raw
    integer rows read as they are, :func:`cast_rows`)."""
    return isinstance(X, ScaledRows) and X.scaler != Scaler()


def n_classes(model: Any) -> int | None:
    """Classes the model's outputs stand for: its width, or 2 for one logistic output."""
    width = output_width(model)
    return 2 if width == 1 else width


def input_width(model: Any) -> int | None:
    """Number of inputs of the model's first layer when it declares them (``in_features``, a
    Linear's; a nested Sequential's first layer), else None: a layer of the user's own may
    take inputs of any width."""
    layers = list(getattr(model, "layers", ()))
    if not layers:
        return None
    first = layers[0]
    width = getattr(first, "in_features", None)
    if isinstance(width, (int, np.integer)):
        return int(width)
    return input_width(first)


def output_width(model: Any) -> int | None:
    """Number of outputs of the model's last Linear-like layer (None if it cannot tell)."""
    for layer in reversed(list(getattr(model, "layers", ()))):
        width = getattr(layer, "out_features", None)
        if isinstance(width, (int, np.integer)):
            return int(width)
    return None


def _check_sparse(X: Any, dtype: np.dtype, what: str, check_finite: bool) -> Any:
    if X.ndim != 2 or X.shape[0] == 0:
        raise ValueError(f"fit: {what} must have shape (N, D) and N >= 1; got shape {X.shape}")
    sparse = sys.modules["scipy.sparse"]  # loaded: X is one of its matrices (issparse)
    X = sparse.csr_matrix(X, dtype=dtype)
    try:  # once: the batch gather trusts every column index (a compiled pass, unchecked)
        X.check_format(full_check=True)
    except ValueError as err:
        raise ValueError(
            f"fit: {what} must be a valid CSR matrix; got one SciPy's check refuses ({err})"
        ) from None
    if check_finite and X.nnz and not np.all(np.isfinite(X.data)):
        raise ValueError(f"fit: {what} must be finite; got a non-finite stored value")
    return X


def gather_rows(X: Any, idx: np.ndarray, out: np.ndarray) -> np.ndarray:
    """``X[idx]`` written into ``out`` (shape (len(idx), D)): a CSR batch is densified there,
    stored rows (ScaledRows, CodedRows) are read there (one kernel pass)."""
    if isinstance(X, np.ndarray):
        return get_ops().gather_rows(X, idx, out)  # idx is valid: rows of a permutation
    if isinstance(X, StoredRows):
        return X.take(idx, out)
    return get_ops().gather_sparse_rows(X, idx, out)  # a CSR matrix checked by fit


def bind_gather_rows(X: Any, out: np.ndarray) -> Any:
    """:func:`gather_rows` into ``out`` bound to everything but the rows: ``call(idx)`` (the
    lane's bound gather, or stored rows' ``bind_take``: their checks made once), for the
    batches of an epoch gathered into one buffer."""
    if isinstance(X, np.ndarray):
        return get_ops().bind_gather_rows(X, out)
    if isinstance(X, StoredRows):
        return X.bind_take(out)
    return functools.partial(gather_rows, X, out=out)


def dense_rows(X: Any, rows: slice | np.ndarray) -> Any:
    """``X[rows]`` (a validation split): a CSR matrix's rows are densified, stored rows stay
    stored (a smaller ScaledRows or CodedRows), an array's are ``X[rows]``."""
    return X[rows].toarray() if issparse(X) else X[rows]


def as_inputs(X: Any, where: str) -> Any:
    """``X`` as inference reads it: a CSR matrix or stored rows as they are, else an ndarray
    (nested lists of unequal lengths are named: :func:`softgrad.checks.as_array`)."""
    return X if issparse(X) or isinstance(X, StoredRows) else as_array(X, where)


def batch_inputs(X: Any, rows: slice) -> np.ndarray:
    """The rows ``X[rows]`` as a dense float batch for the network: a CSR batch is densified,
    stored rows' batch read (one batch of floats, never the whole set)."""
    if isinstance(X, StoredRows):
        return X.rows(rows)
    return dense_rows(X, rows)


def predicted_classes(logits: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """The class each row of logits predicts: the argmax, or for a single output column (a
    logistic output, the binary classifier) class 1 where the logit is > 0.

    Examples
    --------
    >>> predicted_classes(np.array([[0.1, 2.0], [3.0, -1.0]])), predicted_classes(
    ...     np.array([[0.5], [-0.5]]))
    (array([1, 0]), array([1, 0]))
    """
    if logits.shape[-1] == 1:
        positive = np.greater(logits[..., 0], 0)
        if out is None:
            return positive.astype(np.intp)
        np.copyto(out, positive)
        return out
    return np.argmax(logits, axis=-1, out=out)


def loss_reduction(loss: Any) -> str:
    """The loss's reduction as fit trains it, "mean" or "sum" (one without a ``reduction``
    averages); ValueError for any other (reduction "none" gives no batch loss to step on),
    whether given so or set by a callback during the run."""
    reduction = getattr(loss, "reduction", "mean")
    if reduction not in ("mean", "sum"):
        raise ValueError(f"fit: loss reduction must be 'mean' or 'sum'; got {reduction!r}")
    return reduction


def mean_divisor(loss: Any, target: np.ndarray, sample_weight: np.ndarray | None = None) -> float:
    """What the loss's 'mean' divides the (weighted) sum of ``target``'s per-sample losses by:
    sum_n w_n * cw[y_n] over the targets the loss does not ignore (its ``ignore_index``), cw
    the loss's class weights (1 without them) and w_n the sample weights (1 without them).

    Without sample weights this is PyTorch's rule (the count, or the sum of the targets' class
    weights); without class weights or ``ignore_index`` it is the weights' sum
    (scikit-learn's). So unit sample weights divide as no weights do, and an integer weight
    as that many copies of its sample. Read from the loss as it is now (a callback may change
    it). Probability targets (float) count one each (times their sample weight). The rule is
    :func:`softgrad.nn.loss.target_weights`'.

    Examples
    --------
    >>> from softgrad.nn import CrossEntropyLoss
    >>> t = np.array([0, 2, 2, 1])
    >>> mean_divisor(CrossEntropyLoss(), t), mean_divisor(CrossEntropyLoss(ignore_index=2), t)
    (4.0, 2.0)
    >>> mean_divisor(CrossEntropyLoss(weight=[1.0, 2.0, 0.5]), t)
    4.0
    >>> mean_divisor(CrossEntropyLoss(weight=[1.0, 2.0, 0.5]), t, np.array([1.0, 2.0, 0.0, 3.0]))
    8.0
    """
    counts = target_weights(loss, target)
    if sample_weight is None:
        return float(len(target) if counts is None else np.sum(counts))
    weights = np.asarray(sample_weight, dtype=np.float64).reshape(-1)
    return float(np.sum(weights) if counts is None else np.dot(weights, counts.reshape(-1)))


def counted_weight(
    loss: Any, target: np.ndarray, sample_weight: np.ndarray | None, weight: float
) -> float:
    """What accuracy divides the hits of ``target``'s samples by: ``weight`` (their count, or
    their sample weights' sum), less the samples whose target the loss ignores (its
    ``ignore_index``: never a hit, :func:`softgrad.nn.loss.ignored_misses`, so not counted
    either). A class
    weight of 0 does not exclude a sample. Without ``ignore_index`` this is ``weight`` itself,
    with no pass over the targets.

    Examples
    --------
    >>> from softgrad.nn import CrossEntropyLoss
    >>> t = np.array([0, 2, 2, 1])
    >>> counted_weight(CrossEntropyLoss(), t, None, 4.0)
    4.0
    >>> loss = CrossEntropyLoss(ignore_index=2)
    >>> counted_weight(loss, t, None, 4.0), counted_weight(loss, t, np.array([1, 2, 3, .5]), 6.5)
    (2.0, 1.5)
    """
    ignore = getattr(loss, "ignore_index", None)
    if ignore is None or np.ndim(target) != 1:
        return weight
    kept = np.not_equal(target, ignore)
    if sample_weight is None:
        return float(np.count_nonzero(kept))
    # the sum the weighted hits are (np.dot(sample_weight, hits)): hits <= counted exactly
    return float(np.dot(sample_weight, kept))


def step_loss(step: StepLoss) -> float:
    """A training step's loss, a number: the loss's reduction is "mean" or "sum" (the checks
    above refuse "none", whose StepLoss holds one loss per sample)."""
    return cast(float, step.loss)


def per_sample_loss(loss: Any, where: str) -> Any:
    """A shallow copy of the loss layer with ``reduction="none"`` (the caller's is untouched);
    its forward's losses are checked where they are read (:func:`softgrad.nn.loss.
    per_sample_losses`)."""
    if getattr(loss, "reduction", None) is None:
        raise TypeError(
            f"{where}: loss must have a 'reduction' attribute to give one loss per sample "
            f"(as CrossEntropyLoss does with reduction='none'); got {type(loss).__name__} "
            "without one (add reduction = 'mean', and have forward return one loss per sample "
            "when it is 'none')"
        )
    per_sample = copy.copy(loss)
    per_sample.reduction = "none"
    return per_sample
