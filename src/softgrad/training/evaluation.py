"""Mean loss and accuracy of a model on labelled data, computed in batches in eval mode.

The batches, their forward and the check of ``X`` are those of
:mod:`softgrad.training.predict`; this module adds what scoring needs: the targets, their
weights, and the sums over batches.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from softgrad import functional as F
from softgrad.checks import check_sample_weight
from softgrad.nn.loss import ignored_misses, per_sample_losses
from softgrad.training.data import (
    batch_inputs,
    class_indices,
    counted_weight,
    mean_divisor,
    per_sample_loss,
    predicted_classes,
)
from softgrad.training.inference_checks import (
    check_class_outputs,
    check_inputs,
    input_dtype,
    weight_matrices,
)
from softgrad.training.predict import (
    INFERENCE_BATCH,
    BatchForward,
    batch_slices,
    eval_mode,
    logits_network,
)

__all__ = ["evaluate"]


def _check_targets(y: Any, n_samples: int, model: Any) -> np.ndarray:
    """evaluate's ``y``: one target per row; for the default cross-entropy (``model`` given),
    class indices 0..C-1 (checked here, naming the row: the loss sees one batch at a time)."""
    y = np.asarray(y)
    if y.shape != (n_samples,):
        raise ValueError(f"evaluate: y must have shape ({n_samples},); got shape {y.shape}")
    if model is None:
        return y
    y = class_indices(y, "evaluate")  # whole floats too, as fit takes them
    check_class_outputs(model, "evaluate", "pass loss=nn.LogisticLoss() for its targets 0 and 1")
    weights = weight_matrices(model)
    if weights and y.size:
        n_classes = weights[-1].shape[1]
        bad = np.flatnonzero((y < 0) | (y >= n_classes))
        if bad.size:
            raise ValueError(
                f"evaluate: y must hold class indices 0..{n_classes - 1} (the model's outputs); "
                f"got {y[bad[0]].item()!r} in row {int(bad[0])}"
            )
    return y


def evaluate(
    model: Any,
    X: Any,
    y: Any,
    loss: Any = None,
    batch_size: int = INFERENCE_BATCH,
    sample_weight: Any = None,
) -> tuple[float, float]:
    """Mean loss and accuracy of ``model`` on ``(X, y)``, computed in batches in eval mode.

    Parameters
    ----------
    model : Sequential producing logits
    X : ndarray of shape (N, D)
    y : ndarray of int of shape (N,)
        Class indices 0..C-1.
    loss : loss layer, optional
        Any layer with a ``reduction`` attribute, given the model's outputs, whose forward
        returns one loss per sample, shape (N,), when it is "none" (a TypeError names the
        loss and the shape otherwise: a forward that ignores it): its per-sample
        losses summed and divided as its own 'mean' divides them (by the count, or for class
        weights or ``ignore_index`` by the targets' class weights, as in training); a loss of
        reduction "sum" by the count (or the sample weights' sum), as training reports its
        loss per sample. Default:
        softmax cross-entropy on the logits (the input of a final Softmax or LogSoftmax layer,
        :func:`logits_network`).
    batch_size : int, default 1024
    sample_weight : ndarray of shape (N,), optional
        Weights for both figures: ``loss = sum(w_i l_i) / sum(w_i cw[y_i])`` (cw the loss's
        class weights, 1 without them; a target the loss ignores left out of the sum below),
        ``accuracy = sum(w_i [pred_i == y_i]) / sum(w_i)`` (class weights do not enter it).

    Returns
    -------
    loss : float
    accuracy : float
        Over the samples whose target the loss counts: a target the loss ignores (its
        ``ignore_index``) is neither a hit nor counted, ``accuracy = sum(w_i [pred_i == y_i])
        / sum(w_i)`` over the other samples (w_i = 1 without weights), as in training. A class
        weight of 0 does not exclude a sample. NaN when every target is ignored (or every
        counted sample weighs 0), as for an epoch with nothing to count.

    Examples
    --------
    >>> from softgrad.nn import Linear, Sequential
    >>> model = Sequential(Linear(2, 2, bias=False, rng=0, dtype=np.float64))
    >>> model.layers[0].params["W"][...] = np.eye(2)
    >>> X, y = np.array([[0.0, 0.0], [2.0, 0.0]]), np.array([0, 1])
    >>> loss, acc = evaluate(model, X, y)  # logits [0, 0] and [2, 0]; both predict class 0
    >>> round(loss, 4), acc  # (log 2 + log(e^2 + 1)) / 2 = (0.6931 + 2.1269) / 2
    (1.41, 0.5)
    """
    return evaluation_figures(*evaluation_sums(model, X, y, loss, batch_size, sample_weight))


def evaluation_figures(
    loss_sum: float, hits: float, loss_total: float, counted: float
) -> tuple[float, float]:
    """(loss, accuracy) from :func:`evaluation_sums`' sums (one process's, or summed over the
    ranks): a loss of 0 when its divisor is 0 (every target ignored, as the loss's own mean),
    an accuracy of NaN when nothing was counted."""
    loss = loss_sum / loss_total if loss_total > 0 else 0.0
    return loss, (hits / counted if counted > 0 else math.nan)


def evaluation_sums(
    model: Any,
    X: Any,
    y: Any,
    loss: Any,
    batch_size: int = INFERENCE_BATCH,
    sample_weight: Any = None,
) -> tuple[float, float, float, float]:
    """:func:`evaluate`'s figures as sums (float64): (loss sum, hits, what the loss is divided
    by, what the hits are divided by), for a caller that adds them up over shards first.

    The hits divisor is the samples' count or weight, less those whose target the loss ignores
    (:func:`~softgrad.training.data.counted_weight`).

    The loss divisor is the loss's own 'mean' divisor, as in training
    (:func:`~softgrad.training.data.mean_divisor`): sum_i w_i * cw[y_i] over the targets the
    loss does not ignore (w_i = 1 without sample weights, cw = 1 without class weights), so
    the validation loss is on the training loss's scale, and unit weights score as no
    weights. A divisor of 0 (every target ignored) gives a loss of 0, as the loss's own mean
    does. For a loss of reduction "sum", the samples' count or weight, as training divides
    its sums to report them (EpochRunner's ``loss_is_sum``).
    """
    # NaN and inf are refused batch by batch (BatchForward), after y and sample_weight
    X = check_inputs(X, batch_size, "evaluate", model)
    if X.shape[0] == 0:
        raise ValueError(f"evaluate: X must have at least one sample; got shape {X.shape}")
    # a loss given checks its own targets (LogisticLoss: 0 and 1)
    y = _check_targets(y, X.shape[0], model if loss is None else None)
    if sample_weight is not None:  # its figures are sums divided by the weights' sum
        sample_weight = check_sample_weight(
            sample_weight, (X.shape[0],), "evaluate", dtype=np.float64, may_all_be_zero=False
        )
    per_sample = None if loss is None else per_sample_loss(loss, "evaluate")
    loss_sum = hits = loss_total = counted = 0.0
    ignored = getattr(loss, "ignore_index", None) is not None  # else every sample counts
    network = logits_network(model) if per_sample is None else model
    finite = "evaluate" if isinstance(X, np.ndarray) else None
    copies = not isinstance(X, np.ndarray)  # a ScaledRows or CSR batch: a copy made here
    with (
        eval_mode(network, "evaluate"),
        BatchForward(
            network, X.shape[0], batch_size, finite, copies, input_dtype(model)
        ) as forward,
    ):
        for rows in batch_slices(X.shape[0], batch_size):
            logits = forward(batch_inputs(X, rows), rows)
            if per_sample is None:
                losses = F.cross_entropy(logits, y[rows], reduction="none")
            else:
                losses = per_sample_losses(per_sample, logits, y[rows], y[rows].shape, "evaluate")
            hit = ignored_misses(predicted_classes(logits) == y[rows], y[rows], loss)
            w = None if sample_weight is None else sample_weight[rows]
            if w is None:
                loss_sum += float(np.sum(losses, dtype=np.float64))
                hits += float(np.count_nonzero(hit))
            else:
                loss_sum += float(np.dot(w, losses))
                hits += float(np.dot(w, hit))
            if per_sample is not None:  # after its forward has checked the targets
                loss_total += mean_divisor(loss, y[rows], w)
            if ignored:
                counted += counted_weight(loss, y[rows], w, 0.0)
    total = float(X.shape[0]) if sample_weight is None else float(sample_weight.sum())
    # the default cross-entropy (no class weights, nothing ignored), or a sum reported per
    # sample as training reports it
    if per_sample is None or getattr(loss, "reduction", None) == "sum":
        loss_total = total
    return loss_sum, hits, loss_total, counted if ignored else total
