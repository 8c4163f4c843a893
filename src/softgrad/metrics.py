"""Classification metrics on integer labels 0..C-1: accuracy, confusion matrix, precision and
recall per class, log loss. Vectorised (one ``np.bincount`` for the confusion matrix), no
Python loop over samples or classes; conventions follow :mod:`sklearn.metrics`.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np

from softgrad.kernels import get_ops

__all__ = ["TopK", "accuracy", "confusion_matrix", "log_loss", "precision_recall", "top_k"]


class TopK(NamedTuple):
    """What :func:`top_k` and :meth:`softgrad.Model.predict_top` return: the values first and
    then their columns, in the order and under the names of ``torch.topk``'s result, so that
    ``values, indices = ...`` unpacks alike."""

    values: np.ndarray
    indices: np.ndarray


def _labels(where: str, what: str, labels: Any) -> np.ndarray:
    """``labels`` as a 1-D integer ndarray (TypeError for other dtypes, ValueError for shape)."""
    array = np.asarray(labels)
    if array.size == 0:  # [] is float64 to NumPy; the emptiness is reported by the caller
        array = array.astype(np.int64)
    if array.dtype.kind not in "iu":
        raise TypeError(
            f"{where}: {what} must hold integer class labels 0..C-1; got dtype {array.dtype}"
        )
    if array.ndim != 1:
        raise ValueError(f"{where}: {what} must be 1-D (N,); got shape {array.shape}")
    return array


def _pair(where: str, y_true: Any, y_pred: Any) -> tuple[np.ndarray, np.ndarray]:
    true = _labels(where, "y_true", y_true)
    pred = _labels(where, "y_pred", y_pred)
    if true.shape != pred.shape:
        raise ValueError(
            f"{where}: y_pred must have the length of y_true ({true.size}); got {pred.size}"
        )
    if true.size == 0:
        raise ValueError(f"{where}: y_true must hold at least one sample; got 0")
    return true, pred


def accuracy(y_true: Any, y_pred: Any) -> float:
    """Fraction of samples whose predicted label equals the true one.

    Parameters
    ----------
    y_true, y_pred : array-like of int, shape (N,)

    Returns
    -------
    float
        ``mean(y_true == y_pred)``, in [0, 1].

    Examples
    --------
    >>> from softgrad.metrics import accuracy
    >>> accuracy([0, 1, 2, 2], [0, 2, 2, 2])
    0.75
    """
    true, pred = _pair("accuracy", y_true, y_pred)
    return float(np.count_nonzero(true == pred) / true.size)


def confusion_matrix(y_true: Any, y_pred: Any, n_classes: int) -> np.ndarray:
    """Counts of (true, predicted) label pairs.

    Parameters
    ----------
    y_true, y_pred : array-like of int, shape (N,)
        Labels in 0..n_classes-1.
    n_classes : int
        C, >= 1.

    Returns
    -------
    ndarray of int64, shape (C, C)
        ``cm[i, j]`` = number of samples of class i predicted as j (rows true, columns
        predicted, as sklearn's).

    Raises
    ------
    ValueError
        A label is outside 0..n_classes-1.

    Examples
    --------
    >>> from softgrad.metrics import confusion_matrix
    >>> confusion_matrix([0, 1, 2, 2], [0, 2, 2, 2], n_classes=3)
    array([[1, 0, 0],
           [0, 0, 1],
           [0, 0, 2]])
    """
    where = "confusion_matrix"
    if isinstance(n_classes, (bool, np.bool_)) or not isinstance(n_classes, (int, np.integer)):
        raise TypeError(f"{where}: n_classes must be an int; got {n_classes!r}")
    if n_classes < 1:
        raise ValueError(f"{where}: n_classes must be >= 1; got {n_classes!r}")
    most = math.isqrt(np.iinfo(np.int64).max)  # the flat (true, pred) index is an int64
    if n_classes > most:
        raise ValueError(
            f"{where}: n_classes must be at most {most} (the matrix holds C * C counts); "
            f"got {n_classes!r}"
        )
    true, pred = _pair(where, y_true, y_pred)
    for what, labels in (("y_true", true), ("y_pred", pred)):
        low, high = labels.min(), labels.max()
        if low < 0 or high >= n_classes:
            bad = low if low < 0 else high
            raise ValueError(
                f"{where}: {what} labels must be in 0..{n_classes - 1}; got {int(bad)}"
            )
    n_classes = int(n_classes)
    # one pass: pair (i, j) -> flat index i * C + j, counted by bincount; both in int64 (the
    # labels are in 0..C-1 by now): uint64 mixed with int64 promotes to float64, which
    # bincount refuses
    flat = true.astype(np.int64) * n_classes + pred.astype(np.int64)
    counts = np.bincount(flat, minlength=n_classes * n_classes)
    return counts.reshape(n_classes, n_classes).astype(np.int64, copy=False)


def precision_recall(cm: Any) -> tuple[np.ndarray, np.ndarray]:
    """Per-class precision and recall from a confusion matrix.

    ``precision[j] = cm[j, j] / sum(cm[:, j])`` (of the samples predicted j, the share that
    are j) and ``recall[i] = cm[i, i] / sum(cm[i, :])`` (of the samples of class i, the share
    predicted i).

    Parameters
    ----------
    cm : array-like of int, shape (C, C)
        Rows true, columns predicted (:func:`confusion_matrix`).

    Returns
    -------
    precision, recall : ndarray of float64, shape (C,)

    Notes
    -----
    Undefined values are 0: precision of a class never predicted, recall of a class absent
    from y_true (sklearn's ``zero_division=0``, without its warning).

    Examples
    --------
    >>> from softgrad.metrics import precision_recall
    >>> precision, recall = precision_recall([[1, 0, 0], [0, 0, 1], [0, 0, 2]])
    >>> precision
    array([1.        , 0.        , 0.66666667])
    >>> recall
    array([1., 0., 1.])
    """
    matrix = np.asarray(cm)
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1] or matrix.shape[0] == 0:
        raise ValueError(
            f"precision_recall: cm must be a square (C, C) matrix; got shape {matrix.shape}"
        )
    if matrix.dtype.kind not in "iuf":  # None, 'x', objects: no min or max to report
        raise ValueError(
            f"precision_recall: cm must be a matrix of counts; got dtype {matrix.dtype}"
        )
    # NaN is not >= 0; inf is, and inf / inf was a NaN precision
    if not np.all((matrix >= 0) & np.isfinite(matrix)):
        low, high = matrix.min().item(), matrix.max().item()
        raise ValueError(
            "precision_recall: cm must hold finite counts >= 0; "
            f"got dtype {matrix.dtype} with min {low!r} and max {high!r}"
        )
    diagonal = np.diagonal(matrix).astype(np.float64)
    predicted = matrix.sum(axis=0, dtype=np.float64)
    actual = matrix.sum(axis=1, dtype=np.float64)
    precision = np.divide(diagonal, predicted, out=np.zeros_like(diagonal), where=predicted > 0)
    recall = np.divide(diagonal, actual, out=np.zeros_like(diagonal), where=actual > 0)
    return precision, recall


def log_loss(y_true: Any, probs: Any) -> float:
    """Mean negative log-likelihood of the true class: ``-mean(log(probs[n, y_true[n]]))``.

    Parameters
    ----------
    y_true : array-like of int, shape (N,)
        Labels in 0..C-1.
    probs : array-like of float, shape (N, C)
        Class probabilities in [0, 1], each row summing to 1 (the output of ``predict_proba``).

    Returns
    -------
    float

    Notes
    -----
    Probabilities are clipped to ``[eps, 1 - eps]`` with eps the machine epsilon of their
    dtype, so a confident mistake costs ``-log(eps)`` rather than infinity (as
    ``sklearn.metrics.log_loss``). Rows must sum to 1 within ``sqrt(eps)``.

    Examples
    --------
    >>> from softgrad.metrics import log_loss
    >>> round(log_loss([0, 1], [[0.5, 0.5], [0.25, 0.75]]), 6)  # -(log 0.5 + log 0.75) / 2
    0.490415
    """
    where = "log_loss"
    true = _labels(where, "y_true", y_true)
    p = np.asarray(probs)
    if p.dtype.kind != "f":
        p = p.astype(np.float64)
    if p.ndim != 2 or p.shape[0] != true.size or true.size == 0:
        raise ValueError(
            f"{where}: probs must have shape (N, C) with N = len(y_true) "
            f"= {true.size} >= 1; got {p.shape}"
        )
    if true.min() < 0 or true.max() >= p.shape[1]:
        raise ValueError(
            f"{where}: y_true labels must be in 0..{p.shape[1] - 1}; "
            f"got range {int(true.min())}..{int(true.max())}"
        )
    eps = np.finfo(p.dtype).eps
    # NaN fails every comparison, so only finite rows of values in [0, 1] pass ([1.5, -0.5]
    # sums to 1, and its clipped -0.5 cost -log(eps) as if it were a probability)
    in_range = np.all((p >= 0) & (p <= 1))
    if not in_range or not np.allclose(p.sum(axis=1), 1.0, rtol=0, atol=float(eps) ** 0.5):
        raise ValueError(
            f"{where}: probs must be finite rows of values in [0, 1] summing to 1 (pass "
            "probabilities, not logits)"
        )
    picked = np.take_along_axis(p, true[:, None], axis=1)[:, 0]
    return float(-np.mean(get_ops().log_clipped(picked, eps, 1 - eps)[0]))


def checked_k(k: Any, limit: int, where: str, of: str) -> int:
    """``k`` of a top-k call as an int: TypeError unless it is an integer (bool is not),
    ValueError unless it is in 1..``limit`` (how many ``of`` there are to rank)."""
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)):
        raise TypeError(f"{where}: k must be an integer in 1..{limit} ({of}); got {k!r}")
    if not 1 <= k <= limit:
        raise ValueError(f"{where}: k must be an integer in 1..{limit} ({of}); got {k!r}")
    return int(k)


def top_k(scores: Any, k: int) -> TopK:
    """The ``k`` highest scores of each row and their columns, highest first, ties in column
    order: what ``np.argsort(-scores, axis=1, kind="stable")[:, :k]`` gives, in O(N * C)
    rather than a sort of every row (at C = 1,000 the sort took 100 ms per 1,024 rows, this
    about 1 ms; for k = 1 it is ``argmax``, whose first maximum is the stable order's).

    Parameters
    ----------
    scores : array_like of shape (N, C)
        Real scores (probabilities, logits), not NaN; +-inf rank as the highest and lowest.
    k : int, 1 <= k <= C

    Returns
    -------
    TopK
        A named tuple, as ``torch.topk``'s:

        values : ndarray of shape (N, k)
            The k highest scores of each row, in ``scores``' dtype.
        indices : ndarray of shape (N, k), intp
            Their columns.

    Examples
    --------
    >>> values, indices = top_k(np.array([[0.1, 0.4, 0.1, 0.4], [0.7, 0.1, 0.1, 0.1]]), 2)
    >>> values
    array([[0.4, 0.4],
           [0.7, 0.1]])
    >>> indices
    array([[1, 3],
           [0, 1]])
    """
    scores = np.asarray(scores)
    if scores.dtype.kind not in "biuf":
        raise TypeError(f"top_k: scores must be real numbers; got dtype {scores.dtype}")
    if scores.ndim != 2:
        raise ValueError(f"top_k: scores must be 2-D (N, C); got shape {scores.shape}")
    n_rows, n_cols = scores.shape
    if n_cols == 0:
        raise ValueError(
            f"top_k: scores must have at least one column to rank; got shape {scores.shape}"
        )
    k = checked_k(k, n_cols, "top_k", "the columns")
    if scores.dtype.kind == "f":
        nan_rows = np.flatnonzero(np.isnan(scores).any(axis=1))
        if nan_rows.size:  # argmax and a sort place NaN differently: no order to give
            raise ValueError(f"top_k: scores must not be NaN; got NaN in row {nan_rows[0]}")
    if k == 1:
        index = np.argmax(scores, axis=1)[:, None]
    else:
        # the k-th highest score of each row; every higher one is taken, and of the scores
        # equal to it the first ones in column order, as many as are still missing
        kth = np.partition(scores, n_cols - k, axis=1)[:, n_cols - k : n_cols - k + 1]
        taken = scores > kth
        tied = scores == kth
        missing = k - np.count_nonzero(taken, axis=1)
        surplus = np.flatnonzero(np.count_nonzero(tied, axis=1) > missing)
        if surplus.size:  # more scores equal to the k-th than places left: the first ones
            firsts = np.cumsum(tied[surplus], axis=1) <= missing[surplus, None]
            tied[surplus] &= firsts
        taken |= tied
        index = np.nonzero(taken)[1].reshape(n_rows, k)  # row by row, in column order
        # highest first, the equal ones in column order: a stable ascending sort of the
        # columns taken last to first, read backwards (never negated: -(-128) is -128 in
        # int8, and an unsigned integer has no negative)
        backwards = np.take_along_axis(scores, index[:, ::-1], axis=1)
        order = np.argsort(backwards, axis=1, kind="stable")[:, ::-1]
        index = np.take_along_axis(index[:, ::-1], order, axis=1)
    return TopK(np.take_along_axis(scores, index, axis=1), index)
