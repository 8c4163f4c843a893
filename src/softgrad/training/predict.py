"""Inference in batches: logits, probabilities and (loss, accuracy) without materialising
more than one batch of activations.

:func:`predict_batches` is softgrad's one batched-inference loop: :func:`predict_logits`,
:func:`predict_proba`, :class:`softgrad.model.Model` (which scales each batch on the way in) and
the scikit-learn estimator all run through it. Its forward is the model's own, which for a
Sequential is the fused one (``Sequential(fuse=True)``, the default: each Linear and the
activation after it as the product plus one bias-and-activation kernel call).

Large inference runs its batches on several threads at once, one BLAS thread each
(:mod:`softgrad.training.row_threads`), where the network is a plain MLP: a Sequential with
``fuse=True`` made of Linear layers, each alone or with the ReLU, Tanh, Sigmoid or Identity
after it (``fused_pairs``), float32 or float64. Those layers then run through
``Linear._output_rows``, which keeps nothing for backward, so two batches can go through the
network at once. With ``threads=None`` (the default of every function here but
:func:`predict_batches`) the threads are as many as NumPy's BLAS uses
(:func:`~softgrad.kernels.blas_threads.blas_threads`), from ``THREADED_MIN_MACS``
multiply-adds in the call and two batches; ``threads=1`` keeps the loop on the calling
thread. Measured on 2 cores (BENCHMARKS.md, inference): the 10,000 Fashion-MNIST test
images through 784-100-10 in batches of 1,024 went from XX to XX ms.

A result does not depend on which thread computed a batch. It can differ from the one-thread
loop's in the last bits, since BLAS on one thread may order a product's sums differently than
on two: within the dtype's rounding, never more.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from softgrad import functional as F
from softgrad.checks import check_fits_rows, check_positive_int
from softgrad.kernels import FUSED_DTYPES
from softgrad.training.data import as_inputs, batch_inputs, per_sample_loss, predicted_classes
from softgrad.training.row_threads import map_chunks

# below this many multiply-adds in a call (rows x weights), inference stays on the calling
# thread: starting the threads and setting BLAS to one thread costs about 0.1 ms
THREADED_MIN_MACS = 1 << 24


@contextmanager
def model_mode(model: Any, training: bool) -> Iterator[None]:
    """Put ``model`` in training or evaluation mode for the block, then restore every layer's
    own previous mode (a model whose layers had mixed modes gets them back as they were)."""
    layers = list(getattr(model, "layers", ()))
    modes = [getattr(layer, "training", True) for layer in layers]
    own_mode = getattr(model, "training", None)
    model.train(training)
    try:
        yield
    finally:
        for layer, mode in zip(layers, modes, strict=True):
            layer.train(mode)
        if own_mode is not None:
            model.training = own_mode


def eval_mode(model: Any) -> Any:
    """``model_mode(model, False)``: evaluation mode for the block (Dropout off)."""
    return model_mode(model, False)


def _check_inputs(X: Any, batch_size: Any, where: str, model: Any = None) -> np.ndarray:
    """X as inference reads it, checked; with ``model``, its rows must also fit the dtype of
    the network's parameters, to which each batch is cast (1e300 is inf in float32)."""
    X = as_inputs(X)
    if X.ndim < 2:
        raise ValueError(f"{where}: X must have shape (N, D); got shape {X.shape}")
    check_positive_int(batch_size, where, "batch_size")
    params = model.named_params() if hasattr(model, "named_params") else {}
    for value in params.values():  # the first parameter's dtype: the one a batch meets
        check_fits_rows(X, value.dtype, where)
        break
    return X


def _batches(n_samples: int, batch_size: int) -> list[slice]:
    # one (empty) batch for N == 0, so the output still gets its class axis
    return [slice(start, start + batch_size) for start in range(0, max(n_samples, 1), batch_size)]


def _plain_forward(model: Any, n_features: int) -> Callable[[np.ndarray], np.ndarray] | None:
    """``model.forward`` for inference as a function that keeps nothing in the layers, for a
    plain MLP (module docstring) taking ``n_features`` inputs; None for any other network."""
    from softgrad.nn import Linear, Sequential

    if type(model) is not Sequential or not model.fuse:
        return None
    layers, pairs = tuple(model.layers), model.fused_pairs
    steps = []
    index = 0
    while index < len(layers):
        layer = layers[index]
        if type(layer) is not Linear or layer.params["W"].dtype not in FUSED_DTYPES:
            return None
        kind = layers[index + 1].kernel if index in pairs else None
        steps.append((layer, kind))
        index += 1 if kind is None else 2
    if not steps or steps[0][0].in_features != n_features:
        return None  # the model's own forward raises its error
    dtype = steps[0][0].params["W"].dtype  # a Sequential's parameters share one dtype

    def forward(x: np.ndarray) -> np.ndarray:
        x = x if x.dtype == dtype else x.astype(dtype)  # as Linear.forward casts its input
        for linear, kind in steps:
            x = linear._output_rows(x, kind, None)
        return x

    return forward


def _inference_route(
    model: Any, X: Any, n_batches: int, threads: int | None, where: str
) -> tuple[Callable[[np.ndarray], np.ndarray], int]:
    """The forward to run each batch through and on how many threads (module docstring)."""
    if threads is not None:
        check_positive_int(threads, where, "threads")
    forward = _plain_forward(model, X.shape[1]) if X.ndim == 2 and n_batches > 1 else None
    if forward is None or threads == 1:
        return model.forward, 1
    if threads is None:
        weights = sum(value.size for value in model.named_params().values())
        if X.shape[0] * weights < THREADED_MIN_MACS:
            return model.forward, 1
        from softgrad.kernels.blas_threads import blas_threads

        threads = blas_threads()
    threads = min(threads, n_batches)
    return (forward, threads) if threads > 1 else (model.forward, 1)


def predict_batches(
    model: Any,
    X: Any,
    batch_size: int = 1024,
    *,
    prepare: Callable[[np.ndarray], np.ndarray] | None = None,
    head: Callable[..., np.ndarray] | None = None,
    where: str = "predict_batches",
    threads: int | None = 1,
    head_rows: bool = False,
) -> np.ndarray:
    """``head(model.forward(prepare(X[rows])))`` for each batch of rows, into one array.

    Parameters
    ----------
    model : Sequential
        Put in evaluation mode for the call (Dropout off); each layer's mode is restored after.
    X : ndarray, CSR matrix or ScaledRows of shape (N, D)
        A CSR batch is densified, a ScaledRows batch (uint8 rows) gathered and scaled, one
        batch at a time.
    batch_size : int, default 1024
        Rows per forward pass.
    prepare : callable, optional
        Applied to each batch of ``X`` before the network (a Model's input scaling).
    head : callable, optional
        Applied to each batch of logits (softmax, argmax ...). Default: the logits themselves.
    where : str
        Name used in error messages.
    threads : int or None, default 1
        Batches computed at once (module docstring): None for as many as NumPy's BLAS uses,
        where the network and the call are large enough. With more than one, ``prepare`` and
        ``head`` are called from several threads, each on its own batch and in no fixed
        order: they must not depend on the order of the calls.
    head_rows : bool, default False
        Call ``head(result, rows)``, ``rows`` the slice of X the batch holds.

    Returns
    -------
    ndarray of shape (N, ...)
        The heads of all batches, written into one array allocated at the first batch
        finished. One batch of hidden activations exists at any time on each thread. N == 0
        runs one empty batch, so the result still has its class axis. A batch that raises
        stops the call with that error: the first in order of the batches that raise.

    Example
    -------
    >>> from softgrad.nn import Linear, Sequential
    >>> model = Sequential(Linear(2, 3, rng=0, dtype=np.float64))
    >>> X = np.arange(10.0).reshape(5, 2)
    >>> top = predict_batches(model, X, batch_size=2, head=lambda z: z.argmax(axis=1))
    >>> np.array_equal(top, model.forward(X).argmax(axis=1))
    True
    """
    # with ``prepare`` the batches are the caller's to convert (a Model scales them first)
    X = _check_inputs(X, batch_size, where, model if prepare is None else None)
    batches = _batches(X.shape[0], batch_size)
    forward, threads = _inference_route(model, X, len(batches), threads, where)
    out: list[np.ndarray] = []  # the output, made by the first batch finished
    made = threading.Lock()

    def run(index: int) -> None:
        rows = batches[index]
        batch = batch_inputs(X, rows)  # a CSR batch densified, a ScaledRows one scaled
        if prepare is not None:
            batch = prepare(batch)
        result = forward(batch)
        if head is not None:
            result = head(result, rows) if head_rows else head(result)
        with made:
            if not out:
                out.append(np.empty((X.shape[0], *result.shape[1:]), dtype=result.dtype))
        out[0][rows] = result

    with eval_mode(model):
        map_chunks(len(batches), run, threads)
    return out[0]


def predict_logits(
    model: Any, X: Any, batch_size: int = 1024, *, threads: int | None = None
) -> np.ndarray:
    """The model's outputs (logits) for ``X``, computed ``batch_size`` rows at a time.

    Parameters
    ----------
    model : Sequential
        Put in evaluation mode for the call (Dropout off); each layer's mode is restored after.
    X : ndarray of shape (N, D)
        Preprocessed inputs (cast to the model's dtype one batch at a time).
    batch_size : int, default 1024
    threads : int or None, default None
        Batches computed at once: None for as many as NumPy's BLAS uses, where the network
        and X are large enough; 1 for the calling thread only (module docstring).

    Returns
    -------
    logits : ndarray of shape (N, C)
        In the model's dtype. Only one batch of hidden activations exists at any time.

    Example
    -------
    >>> from softgrad.nn import Linear, Sequential
    >>> model = Sequential(Linear(2, 3, rng=0, dtype=np.float64))
    >>> X = np.arange(10.0).reshape(5, 2)
    >>> np.array_equal(predict_logits(model, X, batch_size=2), model.forward(X))
    True
    """
    return predict_batches(model, X, batch_size, where="predict_logits", threads=threads)


def _softmax_rows(logits: np.ndarray) -> np.ndarray:
    return F.softmax(logits, axis=-1)


def predict_proba(
    model: Any, X: Any, batch_size: int = 1024, *, threads: int | None = None
) -> np.ndarray:
    """Class probabilities ``softmax(logits)`` for ``X``, computed in batches.

    Parameters
    ----------
    model : Sequential producing logits
    X : ndarray of shape (N, D)
    batch_size : int, default 1024
    threads : int or None, default None
        As in :func:`predict_logits`.

    Returns
    -------
    probs : ndarray of shape (N, C)
        Rows sum to 1.

    Example
    -------
    >>> from softgrad.nn import Linear, Sequential
    >>> model = Sequential(Linear(2, 3, rng=0))
    >>> probs = predict_proba(model, np.ones((4, 2), dtype=np.float32), batch_size=3)
    >>> probs.shape, probs.dtype, np.allclose(probs.sum(axis=1), 1.0)
    ((4, 3), dtype('float32'), True)
    """
    return predict_batches(
        model, X, batch_size, head=_softmax_rows, where="predict_proba", threads=threads
    )


def evaluate(
    model: Any,
    X: Any,
    y: Any,
    loss: Any = None,
    batch_size: int = 1024,
    sample_weight: Any = None,
    *,
    threads: int | None = None,
) -> tuple[float, float]:
    """Mean loss and accuracy of ``model`` on ``(X, y)``, computed in batches in eval mode.

    Parameters
    ----------
    model : Sequential producing logits
    X : ndarray of shape (N, D)
    y : ndarray of int of shape (N,)
        Class indices 0..C-1.
    loss : loss layer, optional
        Any layer with a ``reduction`` attribute (its per-sample losses are averaged). Default:
        softmax cross-entropy on the logits.
    batch_size : int, default 1024
    sample_weight : ndarray of shape (N,), optional
        Weights for both figures: ``loss = sum(w_i l_i) / sum(w_i)``, ``accuracy =
        sum(w_i [pred_i == y_i]) / sum(w_i)``.
    threads : int or None, default None
        As in :func:`predict_logits`. The batches' sums are added in the order of the
        batches, whichever thread computed them.

    Returns
    -------
    loss : float
    accuracy : float

    Example
    -------
    >>> from softgrad.nn import Linear, Sequential
    >>> model = Sequential(Linear(2, 2, bias=False, rng=0, dtype=np.float64))
    >>> model.layers[0].params["W"][...] = np.eye(2)
    >>> X, y = np.array([[0.0, 0.0], [2.0, 0.0]]), np.array([0, 1])
    >>> loss, acc = evaluate(model, X, y)  # logits [0, 0] and [2, 0]; both predict class 0
    >>> round(loss, 4), acc  # (log 2 + log(e^2 + 1)) / 2 = (0.6931 + 2.1269) / 2
    (1.41, 0.5)
    """
    X = _check_inputs(X, batch_size, "evaluate", model)
    y = np.asarray(y)
    if X.shape[0] == 0:
        raise ValueError(f"evaluate: X must have at least one sample; got shape {X.shape}")
    if y.shape != X.shape[:1]:
        raise ValueError(f"evaluate: y must have shape ({X.shape[0]},); got shape {y.shape}")
    if sample_weight is not None:
        sample_weight = np.asarray(sample_weight, dtype=np.float64)
        if sample_weight.shape != y.shape:
            raise ValueError(
                f"evaluate: sample_weight must have shape ({X.shape[0]},); got shape "
                f"{sample_weight.shape}"
            )
    per_sample = None if loss is None else per_sample_loss(loss, "evaluate")
    batches = _batches(X.shape[0], batch_size)
    forward, threads = _inference_route(model, X, len(batches), threads, "evaluate")

    def run(index: int) -> tuple[float, float]:
        rows = batches[index]
        logits = forward(batch_inputs(X, rows))
        if per_sample is None:
            losses = F.cross_entropy(logits, y[rows], reduction="none")
        else:  # a copy per batch: a loss layer keeps what its forward saw
            losses = copy.copy(per_sample).forward(logits, y[rows])
        hit = predicted_classes(logits) == y[rows]
        if sample_weight is None:
            return float(np.sum(losses, dtype=np.float64)), float(np.count_nonzero(hit))
        return float(np.dot(sample_weight[rows], losses)), float(np.dot(sample_weight[rows], hit))

    loss_sum = hits = 0.0
    with eval_mode(model):
        for batch_loss, batch_hits in map_chunks(len(batches), run, threads):
            loss_sum += batch_loss
            hits += batch_hits
    total = float(X.shape[0]) if sample_weight is None else float(sample_weight.sum())
    return loss_sum / total, hits / total
