"""Inference in batches: logits and probabilities without materialising more than one batch of
activations, in evaluation mode.

:func:`predict_batches` is softgrad's one batched-inference loop: :func:`predict_logits`,
:func:`predict_proba`, :class:`softgrad.model.Model` (which scales each batch on the way in) and
the scikit-learn estimator all run through it; :func:`softgrad.training.evaluation.evaluate`
runs the same batches, forward and inputs check. Its forward is the model's own, which for a
Sequential is the fused one (``Sequential(fuse=True)``, the default: each Linear and the
activation after it as the product plus one bias-and-activation kernel call). For a plain MLP
(the step plan's networks) the same calls run into arrays allocated once per call
(:class:`~softgrad.training.step_plan.ForwardPlan`) instead of fresh ones at every batch.
"""

from __future__ import annotations

import contextlib
import functools
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from softgrad.checks import check_fits_rows
from softgrad.kernels.registry import OneLane
from softgrad.nn.activations import LogSoftmax, Softmax
from softgrad.nn.sequential import Sequential
from softgrad.training.data import batch_inputs
from softgrad.training.inference_checks import (
    LOGISTIC_FIX,
    check_class_outputs,
    check_inputs,
    finite_batch,
    finite_logits_head,
    input_dtype,
    softmax_finite,
)
from softgrad.training.step_plan import ForwardPlan

# rows of one inference batch by default, wherever a model predicts or is scored (the
# estimator's prediction too). The 10,000 Fashion-MNIST test images at h100, float32 (2-core
# Zen 4, medians of 15 interleaved rounds): float64 rows 12.8 / 12.3 / 12.4 / 13.4 ms in
# batches of 512 / 1,024 / 2,048 / 4,096 rows (two float batches, 3.2 and 6.4 MB, stay in
# cache for the product), float32 rows 10.9 / 10.6 / 10.5 / 10.9 ms
INFERENCE_BATCH = 1024


class _Hold:
    """One mode a module (a layer, or a container's own flag) is held in by
    :func:`model_mode`: the calls still inside, and the module's mode to put back when the
    last one leaves."""

    def __init__(self, module: Any, training: bool) -> None:
        self.module, self.training, self.calls = module, training, 0
        self.saved = module.training


# the holds of each module (by id, the module kept in its holds), innermost last, under a lock:
# inference calls from several threads share one network's layers. Per module, not per
# network: a network ending in Softmax is run as a new slice of it at every call (its
# logits_network), whose layers are the network's own
_HOLDS: dict[int, list[_Hold]] = {}
_HOLDS_LOCK = threading.Lock()

# each batched call holds its thread's lane (stateless: the hold is the calling thread's)
_ONE_LANE = OneLane()


def _modules(model: Any) -> list[Any]:
    """``model`` and every layer in it at every depth (a nested Sequential's own layers too),
    those that have a mode (a ``training`` attribute)."""
    found, stack = [], [model]
    while stack:
        module = stack.pop()
        if hasattr(module, "training"):
            found.append(module)
        stack.extend(reversed(list(getattr(module, "layers", ()))))
    return found


def _set_mode(module: Any, mode: Any) -> None:
    """A layer's mode through its own ``train``; a container's own flag only (its ``train``
    would set its layers', which are held, and put back, each by itself)."""
    if hasattr(module, "layers"):
        module.training = mode
    else:
        module.train(mode)


def _release(holds: list[_Hold]) -> None:
    """Leave ``holds`` (under the lock): each one the last call leaves gives its module back
    its mode; the first error doing so is raised once every hold is released."""
    error = None
    for hold in holds:
        hold.calls -= 1
        if hold.calls:
            continue
        stack = _HOLDS[id(hold.module)]
        stack.remove(hold)
        if not stack:
            del _HOLDS[id(hold.module)]
        try:
            _set_mode(hold.module, hold.saved)
        except Exception as exc:  # a layer's own train() refusing: the others still restored
            error = error or exc
    if error is not None:
        raise error


@contextmanager
def model_mode(model: Any, training: bool, where: str = "model_mode") -> Iterator[None]:
    """Put ``model`` in training or evaluation mode for the block, then restore every layer's
    own previous mode, at every depth (a model whose layers had mixed modes gets them back as
    they were; a nested Sequential's were all set to its own).

    Calls in the same mode share it, layer by layer: inference from several threads on one
    network puts each layer in evaluation mode when the first call begins and back when the
    last one ends. Each call saved and restored the modes itself, so a call that ended
    switched Dropout back on under another one still running (wrong predictions), and the
    network could stay in evaluation mode for good. A call in the other mode inside one
    (``evaluate`` in a callback of ``fit``) sets its own and puts the held one back when it
    ends."""
    if not callable(getattr(model, "train", None)):
        # a softgrad.Model (softgrad.load's) failed here with "'Model' object has no attribute
        # 'train'"
        hint = ""
        if hasattr(model, "network") and hasattr(model, "scale"):
            hint = (
                " (a softgrad.Model predicts by itself: model.predict_proba(X); or pass "
                "model.network with model.scale(X))"
            )
        raise TypeError(
            f"{where}: model must be a softgrad network (a Sequential or a Layer); got "
            f"{type(model).__name__}{hint}"
        )
    training = bool(training)
    taken: list[_Hold] = []
    with _HOLDS_LOCK:
        try:
            for module in _modules(model):
                stack = _HOLDS.setdefault(id(module), [])
                top = stack[-1] if stack else None
                if top is not None and top.module is module and top.training == training:
                    top.calls += 1
                    taken.append(top)
                    continue
                hold = _Hold(module, training)
                hold.calls += 1
                stack.append(hold)
                taken.append(hold)
                _set_mode(module, training)
        except BaseException:  # a layer's train() refused: nothing is left held or switched
            with contextlib.suppress(Exception):  # its refusal is the error to raise
                _release(taken)
            raise
    try:
        yield
    finally:
        with _HOLDS_LOCK:
            _release(taken)


def eval_mode(model: Any, where: str = "eval_mode") -> Any:
    """``model_mode(model, False, where)``: evaluation mode for the block (Dropout off)."""
    return model_mode(model, False, where)


def logits_network(model: Any) -> Any:
    """The part of ``model`` that produces logits: ``model[:-1]`` (sharing its layers) when its
    last layer is a Softmax or LogSoftmax over the class axis (-1 or 1 of the (N, C) output),
    else ``model`` itself.

    Such a head turns the logits into probabilities or log-probabilities; the inference
    functions apply their own (softmax for ``predict_proba``) to the logits, never to its output
    (softmax of probabilities is flatter than the probabilities: [0.9, 0.1] -> [0.69, 0.31]).
    A Softmax over another axis (the batch) is part of the network, not a head.

    Example
    -------
    >>> from softgrad.nn import Linear, LogSoftmax, Sequential
    >>> len(logits_network(Sequential(Linear(2, 3, rng=0), LogSoftmax())))
    1
    """
    return model if softmax_head(model) is None else model[:-1]


def softmax_head(model: Any) -> Any:
    """The last layer of ``model`` when it is a Softmax or LogSoftmax over the class axis (-1
    or 1 of the (N, C) output), the head :func:`logits_network` leaves out; else None."""
    if not isinstance(model, Sequential) or not model.layers:
        return None
    head = model.layers[-1]
    return head if isinstance(head, (Softmax, LogSoftmax)) and head.axis in (-1, 1) else None


class BatchForward:
    """``model.forward`` of each batch of one inference call, through a
    :class:`~softgrad.training.step_plan.ForwardPlan` where the model is a plain MLP: its
    arrays are allocated once for the call, not at every batch. Its logits are valid until the
    next batch.

    With ``finite`` (the name for error messages), each batch's input is refused if it holds
    NaN or inf (:func:`~softgrad.training.inference_checks.finite_batch`, naming the row of
    X). Where the plan runs a call of more rows than the first layer has units, and no row of
    the first weight matrix is all zeros, the check reads the first product ``x @ W1``
    instead of ``x`` (the 10,000 Fashion-MNIST test images at h100: 100 numbers a row, in
    cache, instead of 784 from memory), in the pass that adds its bias and applies the
    activation (``bias_activation_finite``; a pass of its own cost 100-160 us a batch of
    1,024 rows on a 2-core Zen 1, since both BLAS threads had just written the product), and
    reads ``x`` only when the product was not finite.
    With ``fits`` (the network's dtype, which :func:`check_inputs` leaves to be checked
    here) a batch cast to it is also refused, naming the row of X, if a value in it is
    beyond that dtype's range (``check_fits_rows``: 1e300 in float64 rows is inf in
    float32), before its finite check: where the product is read, the cast's inf shows
    there too and the batch is read only then. Float64 rows for a float32 network are thus
    read once, a batch at a time, instead of by a ``min`` and a ``max`` over the whole of X
    first (``predict_proba`` on the 10,000 Fashion-MNIST test images as float64 at h100:
    18.7 ms, 4.7 of them in those two passes).
    Exact on any BLAS: a NaN or inf in column j of a row meets row j of W1, which holds a
    nonzero weight, and the product of the two is NaN or inf, which no sum makes finite again
    (a zero weight gives NaN too where the BLAS multiplies it; one may skip it). A product
    that overflows from finite rows reads ``x``, finds it finite, and goes on as before.

    Used as a context manager, it drops the model's forward caches (``_clear_cache``), which
    only ``backward`` reads, when the block ends: the first Linear kept the last batch, a
    view of X, alive after the call. With ``copies`` (each batch a copy made for the call: a
    Model's scaled rows, a ScaledRows or CSR batch) they are dropped after each batch too:
    the cache held the previous copy while the next was made. Views of an ndarray X cost
    nothing to keep, and dropping after each batch cost the float path ~1% (0.05-0.13 ms of
    predict_proba's ~8 on the 10,000 Fashion-MNIST test images).
    """

    def __init__(
        self,
        model: Any,
        n_samples: int,
        batch_size: int,
        finite: str | None = None,
        copies: bool = False,
        fits: Any = None,
    ) -> None:
        self.model = model
        self.plan = ForwardPlan.build(model, max(1, min(n_samples, batch_size)))
        self.finite = finite
        self.fits = None if fits is None else np.dtype(fits)
        self.after_product = (
            finite is not None and self.plan is not None and _product_shows(self.plan, n_samples)
        )
        self.forget = getattr(model, "_clear_cache", None)
        self.copies = copies

    def __enter__(self) -> BatchForward:
        # every batch on the lane the call started on (a set_kernels in another thread meanwhile
        # would mix the lanes' roundings within one result); the hold is the thread's
        _ONE_LANE.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            if self.forget is not None:
                self.forget()
        finally:
            _ONE_LANE.__exit__(*exc)

    def __call__(
        self, batch: np.ndarray, rows: slice | None = None, raw: np.ndarray | None = None
    ) -> np.ndarray:
        """The logits of ``batch``, the rows ``rows`` of X. ``raw``: the rows as given, when
        ``batch`` is their scaled copy (a Model's); the finite check names what it holds
        (scaling keeps NaN and inf, and may overflow finite rows into inf, which is no NaN
        or inf in X)."""
        logits = self._forward(batch, rows, raw)
        if self.copies and self.forget is not None:
            # inference needs no backward: the first layer's cache held this copy alive while
            # the next one was made
            self.forget()
        return logits

    def _forward(self, batch: np.ndarray, rows: slice | None, raw: np.ndarray | None) -> np.ndarray:
        plan = self.plan
        planned = plan is not None and plan.takes(batch) and plan.ready()
        finite = self.finite
        if finite is not None:
            assert rows is not None  # every caller that checks a batch names its rows
            given = batch if raw is None else raw
            if plan is not None and planned and self.after_product:
                # the product reads X unchecked: an inf times a zero raises the invalid flag,
                # which NumPy would warn of before the check names the row (a zero weight
                # does it on any BLAS; OpenBLAS's SkylakeX kernel does it with every weight
                # nonzero, its Haswell one does not); the cast of 1e300 to float32 raises
                # the overflow flag
                with np.errstate(invalid="ignore", over="ignore", under="ignore"):
                    check = _input_check(batch, given, rows, finite, self.fits)
                    return plan.forward(batch, check)
            # before the forward: inf in the batch would warn there
            check_batch(batch, given, rows, finite, self.fits)
        if plan is not None and planned:
            return plan.forward(batch)
        if batch.dtype.kind == "f" and batch.dtype.itemsize > 8:
            # long double rows, which the plan casts and the layers refuse (a float16 network
            # has no plan): as float64, which every layer takes
            batch = batch.astype(np.float64)
        return self.model.forward(batch)


def _product_shows(plan: ForwardPlan, n_samples: int) -> bool:
    """Whether the first product of ``plan`` shows every non-finite input (BatchForward), and
    reading it pays: more rows than units, each row of W1 with a nonzero weight."""
    W = plan.stages[0][0].params["W"]
    return n_samples > W.shape[1] and bool((W != 0).any(axis=1).all())


def check_batch(
    batch: np.ndarray, given: np.ndarray, rows: slice, where: str, fits: np.dtype | None
) -> None:
    """Refuse the batch ``rows`` of X, naming the row: a value of ``batch`` beyond ``fits``
    (the network's dtype it is cast to; None: no such check here), then NaN or inf in
    ``given``, the rows as X holds them (``batch`` itself, or what a Model scaled)."""
    if fits is not None:
        check_fits_rows(batch, fits, where, first_row=rows.start)
    finite_batch(given, rows, where)


def _input_check(
    batch: np.ndarray, given: np.ndarray, rows: slice, where: str, fits: np.dtype | None
) -> Callable[[], None]:
    """What :class:`BatchForward` runs when ``batch``'s first product was not finite (the
    plan reads that in its bias + activation pass): the batch is read only then, and
    refused, naming its row, if it holds NaN, inf or a value its cast made inf
    (:func:`check_batch`; else finite rows overflowed, which the logits' check names)."""
    return functools.partial(check_batch, batch, given, rows, where, fits)


def batch_slices(n_samples: int, batch_size: int) -> Iterator[slice]:
    # one (empty) batch for N == 0, so the output still gets its class axis
    for start in range(0, max(n_samples, 1), batch_size):
        yield slice(start, start + batch_size)


def predict_batches(
    model: Any,
    X: Any,
    batch_size: int = INFERENCE_BATCH,
    *,
    prepare: Callable[[np.ndarray], np.ndarray] | None = None,
    head: Callable[[np.ndarray], np.ndarray] | None = None,
    where: str = "predict_batches",
    check_finite: bool | None = None,
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
        For a plain MLP the logits are an array of the call's, reused by the next batch: a
        head returns its result and keeps no reference to them.
    where : str
        Name used in error messages.
    check_finite : bool, optional
        Refuse NaN and inf in an ndarray ``X``, one batch at a time, naming the row of ``X``
        (:class:`BatchForward`), and without ``prepare`` values beyond the model's dtype in
        the same pass (without this check, those are looked for over the whole ``X`` first).
        Default: without ``prepare`` only, since a ``prepare`` may make them finite (an
        imputation); a Model, whose scaling keeps them, passes True.

    Returns
    -------
    ndarray of shape (N, ...)
        The heads of all batches, written into one array allocated at the first batch. Only one
        batch of hidden activations exists at any time. N == 0 runs one empty batch, so the
        result still has its class axis.

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
    checked = model if prepare is None else None
    X = check_inputs(X, batch_size, where, checked)
    if check_finite is None:
        check_finite = prepare is None
    finite = where if check_finite and isinstance(X, np.ndarray) else None
    fits = input_dtype(checked)
    if finite is None and fits is not None:  # no batch is checked: the whole X, first
        check_fits_rows(X, fits, where)
    return _run_batches(model, X, batch_size, prepare, head, finite, fits, where)


def _run_batches(
    model: Any,
    X: Any,
    batch_size: int,
    prepare: Callable[[np.ndarray], np.ndarray] | None,
    head: Callable[[np.ndarray], np.ndarray] | None,
    finite: str | None = None,
    fits: np.dtype | None = None,
    where: str = "predict_batches",
) -> np.ndarray:
    """:func:`predict_batches` on ``X`` already checked by :func:`check_inputs`; ``finite``:
    the name under which each batch's finite check runs (:func:`check_inputs` leaves it here),
    or None when ``X`` needs none here; ``fits``: the dtype each batch must fit, checked with
    its finite check (:func:`check_inputs` leaves it here too). Each head's result is checked
    (:func:`_head_result`), named by ``where``."""
    out = None
    copies = prepare is not None or not isinstance(X, np.ndarray)
    forward = BatchForward(model, X.shape[0], batch_size, finite, copies, fits)
    with eval_mode(model, where), forward:
        for rows in batch_slices(X.shape[0], batch_size):
            # in a function of its own: the batch is gone before the next one is made
            n_rows = min(rows.stop, X.shape[0]) - rows.start
            result = _batch_result(forward, X, rows, prepare, head)
            result = _head_result(result, n_rows, out, where)
            if out is None:
                out = np.empty((X.shape[0], *result.shape[1:]), dtype=result.dtype)
            out[rows] = result
    assert out is not None  # batch_slices gives one batch at least (an empty one for N == 0)
    return out


def _head_result(result: Any, n_rows: int, out: np.ndarray | None, where: str) -> np.ndarray:
    """A head's result for a batch of ``n_rows`` rows, refused unless it is an array of them,
    of the shape and dtype of the first batch's (``out``, None for the first): a scalar was
    broadcast over the batch, a float cut to the first batch's ints, without a word."""
    if not isinstance(result, np.ndarray):
        raise TypeError(
            f"{where}: head must return an ndarray of the batch's {n_rows} rows; got "
            f"{type(result).__name__}"
        )
    if result.ndim == 0 or result.shape[0] != n_rows:
        raise ValueError(
            f"{where}: head must return an array of the batch's {n_rows} rows; got shape "
            f"{result.shape}"
        )
    if out is not None and (result.shape[1:] != out.shape[1:] or result.dtype != out.dtype):
        raise ValueError(
            f"{where}: head must return rows of one shape and dtype for every batch; got "
            f"{result.dtype} of shape {result.shape[1:]} a row after {out.dtype} of shape "
            f"{out.shape[1:]}"
        )
    return result


def _batch_result(
    forward: BatchForward,
    X: Any,
    rows: slice,
    prepare: Callable[[np.ndarray], np.ndarray] | None,
    head: Callable[[np.ndarray], np.ndarray] | None,
) -> np.ndarray:
    """``head(forward(prepare(X[rows])))`` of one batch (:func:`_run_batches`)."""
    raw = batch_inputs(X, rows)  # a CSR batch densified, a ScaledRows one scaled
    batch = raw if prepare is None else prepare(raw)
    result = forward(batch, rows, raw)
    return result if head is None else head(result)


def predict_logits(model: Any, X: Any, batch_size: int = INFERENCE_BATCH) -> np.ndarray:
    """The model's outputs (logits) for ``X``, computed ``batch_size`` rows at a time.

    Parameters
    ----------
    model : Sequential
        Put in evaluation mode for the call (Dropout off); each layer's mode is restored after.
    X : ndarray of shape (N, D)
        Preprocessed inputs (cast to the model's dtype one batch at a time).
    batch_size : int, default 1024

    Returns
    -------
    logits : ndarray of shape (N, C)
        In the model's dtype. Only one batch of hidden activations exists at any time.

    Examples
    --------
    >>> from softgrad.nn import Linear, Sequential
    >>> model = Sequential(Linear(2, 3, rng=0, dtype=np.float64))
    >>> X = np.arange(10.0).reshape(5, 2)
    >>> np.array_equal(predict_logits(model, X, batch_size=2), model.forward(X))
    True
    """
    return predict_batches(model, X, batch_size, where="predict_logits")


def predict_proba(model: Any, X: Any, batch_size: int = INFERENCE_BATCH) -> np.ndarray:
    """Class probabilities ``softmax(logits)`` for ``X``, computed in batches.

    Parameters
    ----------
    model : Sequential producing logits
    X : ndarray of shape (N, D)
    batch_size : int, default 1024

    Returns
    -------
    probs : ndarray of shape (N, C)
        Rows sum to 1. A final Softmax or LogSoftmax layer of ``model`` is not applied twice:
        the probabilities are the softmax of its input (:func:`logits_network`).

    Raises
    ------
    InputOverflowError
        For the first row whose logits are not finite (finite input can overflow in the
        model's dtype), where a softmax would answer NaN.

    Examples
    --------
    >>> from softgrad.nn import Linear, Sequential
    >>> model = Sequential(Linear(2, 3, rng=0))
    >>> probs = predict_proba(model, np.ones((4, 2), dtype=np.float32), batch_size=3)
    >>> probs.shape, probs.dtype, np.allclose(probs.sum(axis=1), 1.0)
    ((4, 3), dtype('float32'), True)
    """
    check_class_outputs(model, "predict_proba", LOGISTIC_FIX)
    X = check_inputs(X, batch_size, "predict_proba", model)
    head = finite_logits_head(X, "predict_proba", checked=softmax_finite)
    finite = "predict_proba" if isinstance(X, np.ndarray) else None
    fits = input_dtype(model)  # checked with the finite check: ndarray rows
    with np.errstate(over="ignore", invalid="ignore", under="ignore"):  # refused by the head
        return _run_batches(
            logits_network(model), X, batch_size, None, head, finite, fits, "predict_proba"
        )
