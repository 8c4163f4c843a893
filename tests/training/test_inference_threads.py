"""Inference on several threads: the same batches, one BLAS thread each, errors in order."""

from __future__ import annotations

import itertools
import multiprocessing
import threading

import numpy as np
import pytest

from softgrad import Model
from softgrad.errors import InputOverflowError
from softgrad.kernels.blas_threads import blas_threads, one_blas_thread
from softgrad.nn import (
    CrossEntropyLoss,
    Dropout,
    Identity,
    Linear,
    ReLU,
    Sequential,
    Sigmoid,
    Softmax,
    Tanh,
)
from softgrad.training import evaluate, predict_logits, predict_proba
from softgrad.training import predict as predict_module
from softgrad.training.predict import predict_batches
from softgrad.training.row_threads import map_chunks


def _mlp(dtype=np.float32, activations=(ReLU, Tanh), last=Linear):
    sizes = [20, 32, 24, 5]
    layers = []
    for index, (d_in, d_out) in enumerate(itertools.pairwise(sizes)):
        layers.append(Linear(d_in, d_out, rng=index, dtype=dtype))
        if index < len(activations):
            layers.append(activations[index]())
    if last is not Linear:
        layers.append(last())
    return Sequential(*layers)


def _inputs(n=1000, dtype=np.float32, seed=0):
    return np.random.default_rng(seed).normal(size=(n, 20)).astype(dtype)


def _order_bound(model, X):
    """How far two orders of the products' sums can take the logits apart: each product of K
    terms within K roundings of exact (both orders), carried through the layers with
    activations that move a difference by at most its size (ReLU, tanh, identity)."""
    eps = float(np.finfo(model.layers[0].params["W"].dtype).eps)
    magnitude, error = np.abs(X.astype(np.float64)), np.zeros(X.shape)
    for layer in model.layers:
        if isinstance(layer, Linear):
            W = np.abs(layer.params["W"].astype(np.float64))
            b = np.abs(layer.params["b"].astype(np.float64))
            rounding = 2 * (W.shape[0] + 1) * eps * (magnitude @ W + b)
            error = error @ W + rounding
            magnitude = magnitude @ W + b + error
    return error


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_threaded_logits_match_the_loop_within_the_order_of_the_sums(dtype):
    model, X = _mlp(dtype), _inputs(dtype=dtype)
    loop = predict_logits(model, X, batch_size=128, threads=1)
    threaded = predict_logits(model, X, batch_size=128, threads=2)
    assert threaded.dtype == loop.dtype == dtype and threaded.shape == (1000, 5)
    assert np.all(np.abs(threaded - loop) <= _order_bound(model, X))


@pytest.mark.parametrize(
    "activations", [(ReLU, Tanh), (Sigmoid, Identity), (Tanh,)], ids=["relu-tanh", "sig-id", "one"]
)
def test_a_batch_is_the_same_bits_on_any_thread(activations):
    """The threads run each batch as the loop does on one BLAS thread: the same bits."""
    model, X = _mlp(activations=activations), _inputs()
    with one_blas_thread():
        loop = predict_proba(model, X, batch_size=100, threads=1)
    for threads in (2, 3):
        assert np.array_equal(predict_proba(model, X, batch_size=100, threads=threads), loop)


def test_the_threads_keep_nothing_in_the_layers():
    """A plain MLP goes through the layers' stateless rows; anything else through forward."""
    model, X = _mlp(), _inputs()
    predict_proba(model, X, batch_size=100, threads=2)
    assert all(layer._x is None for layer in model.layers if isinstance(layer, Linear))
    predict_proba(model, X, batch_size=100, threads=1)  # the loop: model.forward
    assert model.layers[0]._x is not None


@pytest.mark.parametrize(
    "model",
    [
        _mlp(last=Softmax),
        Sequential(Linear(20, 8, rng=0), Dropout(0.5), ReLU(), Linear(8, 5, rng=1)),
        Sequential(Linear(20, 8, rng=0), ReLU(), Linear(8, 5, rng=1), fuse=False),
        _mlp(np.float16),
    ],
    ids=["softmax-layer", "dropout", "unfused", "float16"],
)
def test_other_networks_run_their_own_forward_on_the_calling_thread(model):
    caller = threading.get_ident()
    seen = set()
    forward = model.forward

    def spy(x):
        seen.add(threading.get_ident())
        return forward(x)

    model.forward = spy
    predict_logits(model, _inputs(), batch_size=100, threads=2)
    assert seen == {caller}


def test_blas_runs_one_thread_inside_and_gets_its_count_back():
    before = blas_threads()
    counts = map_chunks(6, lambda index: blas_threads(), threads=2)
    assert counts == [1] * 6
    assert blas_threads() == before
    with pytest.raises(KeyError):
        map_chunks(4, lambda index: {}[index], threads=2)
    assert blas_threads() == before


def test_results_come_in_order_and_every_chunk_runs_once():
    calls = []
    assert map_chunks(50, lambda index: calls.append(index) or index * index, threads=3) == [
        index * index for index in range(50)
    ]
    assert sorted(calls) == list(range(50))


def test_the_first_failing_chunk_in_order_is_raised_and_those_before_it_ran():
    ran = set()

    def chunk(index):
        ran.add(index)
        if index in (3, 7, 8):
            raise ValueError(f"chunk {index}")
        return index

    for _ in range(20):  # whichever thread fails first, the error is chunk 3's
        ran.clear()
        with pytest.raises(ValueError, match="chunk 3"):
            map_chunks(12, chunk, threads=3)
        assert {0, 1, 2, 3} <= ran


def test_the_caller_context_holds_in_every_chunk():
    with np.errstate(over="raise", invalid="ignore"):
        states = map_chunks(8, lambda index: np.geterr(), threads=2)
    assert all(state["over"] == "raise" and state["invalid"] == "ignore" for state in states)


def test_overlapping_callers_each_get_their_own_results_and_blas_comes_back():
    before = blas_threads()
    models = [_mlp(), _mlp(np.float64)]
    inputs = [_inputs(seed=1), _inputs(dtype=np.float64, seed=2)]
    pairs = list(zip(models, inputs, strict=True))
    expected = [predict_proba(m, X, batch_size=64, threads=1) for m, X in pairs]
    results = [None, None]

    def predict(k):
        for _ in range(5):
            results[k] = predict_proba(models[k], inputs[k], batch_size=64, threads=2)

    callers = [threading.Thread(target=predict, args=(k,)) for k in range(2)]
    for caller in callers:
        caller.start()
    for caller in callers:
        caller.join()
    for result, model, X, loop in zip(results, models, inputs, expected, strict=True):
        assert np.all(np.abs(result - loop) <= _order_bound(model, X))
    assert blas_threads() == before


def test_threaded_evaluate_adds_the_batches_in_order():
    model, X = _mlp(np.float64), _inputs(dtype=np.float64)
    y = np.random.default_rng(3).integers(0, 5, len(X))
    w = np.random.default_rng(4).uniform(size=len(X))
    with one_blas_thread():  # the same products: the same sums in the same order
        loop = evaluate(model, X, y, CrossEntropyLoss(), 100, w, threads=1)
    assert evaluate(model, X, y, CrossEntropyLoss(), 100, w, threads=3) == loop
    with one_blas_thread():
        loop = evaluate(model, X, y, batch_size=100, threads=1)
    assert evaluate(model, X, y, batch_size=100, threads=2) == loop


def test_the_model_file_face_names_the_first_overflowing_row_on_threads(monkeypatch):
    monkeypatch.setattr(predict_module, "THREADED_MIN_MACS", 0)
    X = _inputs().astype(np.float64)
    X[[500, 700, 900]] = 3e38  # within float32, its logits are not: three batches, 500 first
    model = Model(_mlp())
    with pytest.raises(InputOverflowError, match="X row 500 ") as caught:
        model.predict_proba(X, batch_size=100)
    assert caught.value.row == 500


def test_threads_must_be_a_positive_integer():
    with pytest.raises(ValueError, match="predict_proba: threads must be a positive int; got 0"):
        predict_proba(_mlp(), _inputs(), threads=0)


def test_a_small_call_stays_on_the_calling_thread(monkeypatch):
    calls = []
    monkeypatch.setattr(
        predict_module,
        "map_chunks",
        lambda n, fn, threads: calls.append(threads) or [fn(index) for index in range(n)],
    )
    predict_proba(_mlp(), _inputs(100), batch_size=10)  # 100 rows x 1,500 weights
    assert calls == [1]
    predict_batches(_mlp(), _inputs(), batch_size=100)  # predict_batches: one thread unless told
    assert calls == [1, 1]


def _predict_in_child(queue, model, X):
    queue.put(predict_proba(model, X, batch_size=100, threads=2))


def test_a_forked_child_starts_its_own_threads():
    model, X = _mlp(), _inputs()
    parent = predict_proba(model, X, batch_size=100, threads=2)  # the pool exists now
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=_predict_in_child, args=(queue, model, X))
    child.start()
    result = queue.get(timeout=120)
    child.join(timeout=120)
    assert child.exitcode == 0
    assert np.array_equal(result, parent)
