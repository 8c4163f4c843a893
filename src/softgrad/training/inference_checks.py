"""What batched inference checks: the inputs before the first batch (:func:`check_inputs`) and the
logits of each batch (:func:`finite_logits_head`), shared by
:mod:`softgrad.training.predict`, :mod:`softgrad.training.evaluation` and
:class:`softgrad.model.Model`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from softgrad import functional as F
from softgrad.checks import (
    check_finite_rows,
    check_positive_int,
    check_real_array,
)
from softgrad.checks.samples import all_finite
from softgrad.errors import InputOverflowError
from softgrad.kernels import FUSED_DTYPES, get_ops
from softgrad.training.data import as_inputs, batch_inputs

__all__ = [
    "check_inputs",
    "finite_batch",
    "finite_logits_head",
    "input_dtype",
    "softmax_finite",
    "weight_matrices",
]


def weight_matrices(model: Any) -> list[np.ndarray]:
    """The model's weight matrices ``*.W`` in order (none for a model without parameters)."""
    params = model.named_params() if hasattr(model, "named_params") else {}
    return [value for name, value in params.items() if name.endswith("W") and value.ndim == 2]


# what to do with a one-output network where one output per class is needed
LOGISTIC_FIX = "predict_logits gives its logit z, and sigmoid(z) is the probability of class 1"


def check_class_outputs(model: Any, where: str, fix: str) -> None:
    """ValueError for a network of one output, a logistic unit (trained with LogisticLoss),
    where one output per class is needed: a softmax over its one logit is 1 for every row, so
    predict_proba answered 1.0 and predict class 0 whatever the input. ``fix``: what to do."""
    weights = weight_matrices(model)
    if weights and weights[-1].shape[1] == 1:
        raise ValueError(
            f"{where}: model must give one output per class; got 1 output, a logistic unit "
            f"(trained with LogisticLoss): {fix}"
        )


def input_dtype(model: Any) -> np.dtype | None:
    """The dtype a batch is cast to on its way into ``model`` (its first weight matrix's), or
    None for a model without one (then none is checked)."""
    weights = weight_matrices(model) if model is not None else []
    return weights[0].dtype if weights else None


def check_inputs(
    X: Any,
    batch_size: Any,
    where: str,
    model: Any = None,
) -> np.ndarray:
    """X as inference reads it, checked: an array of real numbers (a complex, string or object
    array is refused, not cast: the cast dropped imaginary parts and parsed strings) of at least
    2 dimensions. With ``model``, its rows must also have the model's input size (the rows of
    its first weight matrix). The finite check is the caller's, who runs :func:`finite_batch`
    on each batch: read there, a batch is in cache for the product that reads it next, instead
    of a pass over the whole of ``X`` first (1.5 of the 6.2 ms that ``predict_proba`` took on
    the 10,000 Fashion-MNIST test images). So is the check that the rows fit the dtype of the
    network's parameters (BatchForward's ``fits``): on float64 rows for a float32 model it is a
    ``min`` and a ``max`` over the whole of ``X`` (4.7 of the 18.7 ms of ``predict_proba`` on
    the float64 test images)."""
    X = as_inputs(X, where)
    if isinstance(X, np.ndarray):
        X = check_real_array(X, where)
    if X.ndim < 2:
        raise ValueError(f"{where}: X must have shape (N, D); got shape {X.shape}")
    check_positive_int(batch_size, where, "batch_size")
    weights = weight_matrices(model) if model is not None else []
    if weights:
        n_features = weights[0].shape[0]
        if X.shape[-1] != n_features:
            raise ValueError(
                f"{where}: X must have {n_features} features (the model's input size); "
                f"got shape {X.shape}"
            )
    return X


def finite_batch(batch: np.ndarray, rows: slice, where: str) -> None:
    """Refuse NaN or inf in ``batch`` (the rows ``rows`` of an ndarray X), naming the row of
    X: inference's finite check, one batch at a time (:func:`check_inputs` leaves it here)."""
    check_finite_rows(batch, where, first_row=rows.start)


def finite_logits_head(
    X: Any,
    where: str,
    head: Callable[[np.ndarray], np.ndarray] | None = None,
    checked: Callable[[np.ndarray], tuple[np.ndarray, bool]] | None = None,
) -> Callable[[np.ndarray], np.ndarray]:
    """A ``head`` for :func:`predict_batches` over ``X``: ``head(logits)``, after refusing the
    first row whose logits are not finite. Give ``head``, or ``checked``: a head that also
    tells whether the logits were finite, ``(result, finite)``, from the pass that reads them
    (:func:`softmax_finite`), so the logits are not read a second time.

    Finite input can still overflow in the model's dtype (1e300 in float32, or a large value
    times the weights): its row is refused with an :class:`~softgrad.errors.InputOverflowError`
    naming it, rather than answered with NaN. The batches must come in order, as
    :func:`predict_batches` runs them.

    Example
    -------
    >>> from softgrad.nn import Linear, Sequential
    >>> from softgrad import functional as F
    >>> from softgrad.training.predict import predict_batches
    >>> model = Sequential(Linear(1, 2, rng=0))
    >>> model[0].params["W"][...] = 10.0
    >>> X = np.array([[1.0], [1e38]], dtype=np.float32)
    >>> with np.errstate(over="ignore", invalid="ignore"):
    ...     predict_batches(model, X, 1, head=finite_logits_head(X, "demo", F.softmax))
    Traceback (most recent call last):
    ...
    softgrad.errors.InputOverflowError: demo: X row 1 must give finite logits in the model's float32 arithmetic; its values (up to 9.99999968e+37) times the weights overflow (give values in the range of the training data)
    """  # noqa: E501
    done = 0

    def finite_head(logits: np.ndarray) -> np.ndarray:
        nonlocal done
        # one pass (the BLAS's sum of squares) over finite logits, the usual case, or none
        # beside the head's own (checked); the rows are scanned only when it fails (1,024 x 10
        # float32 logits: 41 -> 11 us a batch on a 2-core AVX2 EPYC)
        if checked is not None:
            result, finite = checked(logits)
        else:
            result, finite = logits, all_finite(logits)
        if not finite:
            bad = ~np.isfinite(logits).all(axis=tuple(range(1, logits.ndim)))
            row = done + int(np.flatnonzero(bad)[0])
            # the row as X holds it, made dense (a CSR row densified, a ScaledRows row scaled)
            biggest = np.abs(batch_inputs(X, slice(row, row + 1))).max().item()
            raise InputOverflowError(
                f"{where}: X row {row} must give finite logits in the model's "
                f"{logits.dtype.name} arithmetic; its values (up to {biggest!r}) times the "
                "weights overflow (give values in the range of the training data)",
                row,
                logits.dtype.name,
            )
        done += len(logits)
        return result if head is None else head(result)

    return finite_head


def softmax_finite(logits: np.ndarray) -> tuple[np.ndarray, bool]:
    """``(F.softmax(logits, axis=-1), whether every logit is finite)``: for (N, C) rows of
    float32 or float64, one kernel call that reads the logits once (``softmax_rows_finite``;
    the same probabilities, bit for bit), else the softmax and one pass of its own.

    Example
    -------
    >>> probs, finite = softmax_finite(np.array([[0.0, np.log(3.0)], [-np.inf, 1.0]]))
    >>> probs.round(3).tolist(), finite
    ([[0.25, 0.75], [0.0, 1.0]], False)
    """
    if (
        type(logits) is np.ndarray
        and logits.ndim == 2
        and logits.size
        and logits.dtype in FUSED_DTYPES
        and logits.flags.c_contiguous
    ):
        probs = np.empty_like(logits)
        return probs, get_ops().softmax_rows_finite(logits, probs)
    return F.softmax(logits, axis=-1), all_finite(logits)
