"""Batched inference: same numbers as one big batch, one batch of activations at a time."""

import warnings

import numpy as np
import pytest

from softgrad.functional import cross_entropy, softmax
from softgrad.nn import CrossEntropyLoss, Sequential, build_mlp
from softgrad.training import evaluate, predict_logits, predict_proba
from softgrad.training import predict as predict_module


class _Spy(Sequential):
    """A Sequential that records the largest batch it was asked to forward."""

    max_rows = 0

    def forward(self, x):
        self.max_rows = max(self.max_rows, len(x))
        return super().forward(x)


def _model(dropout=0.0):
    return _Spy(*build_mlp(5, [16], 4, dropout=dropout, rng=0).layers)


@pytest.mark.parametrize("batch_size", [1, 7, 64, 1024])
def test_predictions_in_batches_equal_one_big_batch(blobs, batch_size):
    X, _ = blobs
    model = _model()
    full = model.forward(X)
    model.max_rows = 0
    logits = predict_logits(model, X, batch_size=batch_size)
    assert model.max_rows == min(batch_size, len(X))
    assert logits.shape == (300, 4) and logits.dtype == np.float32
    np.testing.assert_allclose(logits, full, rtol=1e-6, atol=1e-6)
    probs = predict_proba(model, X, batch_size=batch_size)
    np.testing.assert_allclose(probs, softmax(full), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-6)


def test_evaluate_matches_the_formula(blobs):
    X, y = blobs
    y = y % 4
    model = _model()
    logits = model.forward(X)
    loss, acc = evaluate(model, X, y, batch_size=50)
    assert model.max_rows == 300  # only the reference forward above was big
    np.testing.assert_allclose(loss, cross_entropy(logits.astype(np.float64), y), rtol=1e-5)
    assert acc == np.mean(logits.argmax(axis=1) == y)
    w = np.random.default_rng(0).uniform(size=len(X))
    loss_w, acc_w = evaluate(model, X, y, CrossEntropyLoss(), batch_size=64, sample_weight=w)
    per_sample = cross_entropy(logits.astype(np.float64), y, reduction="none")
    np.testing.assert_allclose(loss_w, np.sum(w * per_sample) / w.sum(), rtol=1e-5)
    np.testing.assert_allclose(acc_w, np.sum(w * (logits.argmax(axis=1) == y)) / w.sum())


def test_inference_runs_in_eval_mode_and_restores_each_layer(blobs):
    X, y = blobs
    model = _model(dropout=0.5)
    model.layers[0].eval()  # a mixed state must come back as it was
    modes = [layer.training for layer in model.layers]
    a = predict_logits(model, X)
    b = predict_logits(model, X)
    assert np.array_equal(a, b)  # dropout off: deterministic
    evaluate(model, X, y % 4)
    predict_proba(model, X)
    assert [layer.training for layer in model.layers] == modes


def test_empty_input_gives_an_empty_result():
    model = _model()
    X = np.zeros((0, 5), dtype=np.float32)
    assert predict_logits(model, X).shape == (0, 4)
    assert predict_proba(model, X).shape == (0, 4)
    with pytest.raises(ValueError, match="at least one sample"):
        evaluate(model, X, np.zeros(0, dtype=int))


def test_bad_arguments():
    model = _model()
    with pytest.raises(ValueError, match=r"predict_logits: X must have shape \(N, D\)"):
        predict_logits(model, np.zeros(5))
    with pytest.raises(ValueError, match="batch_size must be a positive int"):
        predict_proba(model, np.zeros((2, 5)), batch_size=0)
    with pytest.raises(ValueError, match=r"evaluate: y must have shape \(2,\)"):
        evaluate(model, np.zeros((2, 5)), np.zeros(3, dtype=int))


def _public_forward_only(monkeypatch):
    """Run inference through ``model.forward`` at every batch, as before the forward plan."""
    monkeypatch.setattr(predict_module.ForwardPlan, "build", classmethod(lambda cls, *a: None))


@pytest.mark.parametrize("model_dtype", [np.float32, np.float64])
@pytest.mark.parametrize("x_dtype", [np.float32, np.float64, np.uint8])
@pytest.mark.parametrize("batch_size", [7, 64, 1024])
def test_a_plain_mlp_infers_through_its_plan_with_the_public_forwards_numbers(
    blobs, monkeypatch, model_dtype, x_dtype, batch_size
):
    X = blobs[0] * 10 if x_dtype == np.uint8 else blobs[0]
    X = np.abs(X).astype(x_dtype) if x_dtype == np.uint8 else X.astype(x_dtype)
    y = blobs[1] % 4
    model = build_mlp(5, [16, 8], 4, activation="tanh", rng=0, dtype=model_dtype)
    # the same calls on the same batches, into arrays allocated once: the same bits
    per_batch = [model.forward(X[s : s + batch_size]) for s in range(0, len(X), batch_size)]
    expected = np.concatenate(per_batch)
    assert np.array_equal(predict_logits(model, X, batch_size=batch_size), expected)
    probs = predict_proba(model, X, batch_size=batch_size)
    figures = evaluate(model, X, y, batch_size=batch_size)
    with monkeypatch.context() as patched:
        _public_forward_only(patched)
        assert np.array_equal(probs, predict_proba(model, X, batch_size=batch_size))
        assert figures == evaluate(model, X, y, batch_size=batch_size)
    assert probs.dtype == model_dtype


def test_the_plan_runs_only_for_a_plain_mlp(blobs, monkeypatch):
    X = blobs[0]
    calls = []
    forward = Sequential.forward
    monkeypatch.setattr(Sequential, "forward", lambda self, x: calls.append(1) or forward(self, x))
    predict_proba(build_mlp(5, [16], 4, rng=0), X, batch_size=64)
    assert calls == []  # the plan ran every batch
    predict_proba(build_mlp(5, [16], 4, dropout=0.5, rng=0), X, batch_size=64)
    assert len(calls) == 5  # a Dropout between the pairs: the public forward, batch by batch
    unfused = build_mlp(5, [16], 4, rng=0)
    unfused.fuse = False
    calls.clear()
    predict_logits(unfused, X[:10])
    assert calls == [1]


@pytest.mark.parametrize("fuse", [True, False])
def test_after_inference_backward_needs_a_forward_of_its_own(blobs, fuse):
    # inference drops the forward caches (test_inference_holds_one_batch): a backward right
    # after it is refused, not run on whichever batch inference saw last
    X = blobs[0]
    model = build_mlp(5, [16], 4, rng=0)
    model.fuse = fuse
    grad = np.random.default_rng(0).standard_normal((300 - 256, 4)).astype(np.float32)
    model.forward(X[256:])
    model.backward(grad)
    expected = {name: g.copy() for name, g in model.named_grads().items()}
    predict_logits(model, X, batch_size=128)
    with pytest.raises(RuntimeError, match="backward"):
        model.backward(grad)
    model.forward(X[256:])
    model.backward(grad)
    for name, g in model.named_grads().items():
        assert np.array_equal(g, expected[name]), name


def test_a_forward_replaced_on_the_instance_runs_at_every_batch(blobs):
    X = blobs[0]
    model = build_mlp(5, [16], 4, rng=0)
    calls = []
    model.forward = lambda x: calls.append(len(x)) or Sequential.forward(model, x)
    predict_proba(model, X, batch_size=128)
    evaluate(model, X, blobs[1] % 4, batch_size=256)
    assert calls == [128, 128, 44, 256, 44]


def test_a_final_softmax_or_log_softmax_is_not_applied_twice(blobs):
    from softgrad.nn import LogSoftmax, Softmax

    X, y = blobs
    body = build_mlp(5, [16], 3, rng=0, dtype=np.float64)
    logits = body.forward(X)
    expected_loss, expected_acc = evaluate(body, X, y)
    for head in (Softmax(), LogSoftmax()):
        network = Sequential(*body.layers, head)
        np.testing.assert_allclose(predict_proba(network, X), softmax(logits), rtol=1e-12)
        loss, acc = evaluate(network, X, y)  # cross-entropy of the logits, not of probs
        np.testing.assert_allclose(loss, expected_loss, rtol=1e-12)
        assert acc == expected_acc
    # a loss given is fed the network's own output: NLL of the LogSoftmax head
    from softgrad.nn import NLLLoss

    loss, _ = evaluate(Sequential(*body.layers, LogSoftmax()), X, y, NLLLoss())
    np.testing.assert_allclose(loss, expected_loss, rtol=1e-12)


def _bad_rows(X, bad):
    X = X.astype(np.float64)
    X[7, 2] = bad
    return X


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda X: X + 1j, r"X must be numeric; got dtype '<c8'"),  # the cast dropped 1j
        (lambda X: X.astype(str), "X must be numeric; got dtype '<U"),  # the cast parsed them
        (lambda X: X.astype(object), r"X must be numeric; got dtype '\|O'"),
        (lambda X: _bad_rows(X, np.nan), "X must be finite; got NaN or inf in row 7"),
        (lambda X: _bad_rows(X, -np.inf), "X must be finite; got NaN or inf in row 7"),
        (lambda X: X[:, :4], r"X must have 5 features \(the model's input size\); got shape"),
        (lambda X: X[:, :, None], r"X must have 5 features .*; got shape \(300, 5, 1\)"),
    ],
    ids=["complex", "strings", "objects", "nan", "inf", "4-features", "3-D"],
)
@pytest.mark.parametrize("function", [predict_logits, predict_proba, evaluate])
def test_bad_inputs_are_refused_naming_the_function_and_x(blobs, function, edit, message):
    X, y = blobs
    args = (y % 4,) if function is evaluate else ()
    with pytest.raises(ValueError, match=f"^{function.__name__}: {message}"):
        function(_model(), edit(X), *args, batch_size=50)


@pytest.mark.parametrize(
    ("y", "error", "message"),
    [
        (
            lambda y: np.where(np.arange(300) == 77, 0.5, y),  # whole floats are class indices
            TypeError,
            "y must hold integer class indices; got 0.5 at index 77",
        ),
        (
            lambda y: np.where(np.arange(300) == 120, 4, y),
            ValueError,
            "y must hold class indices 0..3 .*got 4 in row 120",
        ),
        (
            lambda y: np.where(np.arange(300) == 99, -1, y),
            ValueError,
            "y must hold .*got -1 in row 99",
        ),
    ],
    ids=["float", "too-big", "negative"],
)
def test_evaluate_names_the_bad_target_and_its_row(blobs, y, error, message):
    X, labels = blobs
    with pytest.raises(error, match=f"^evaluate: {message}"):
        evaluate(_model(), X, y(labels % 4), batch_size=50)


@pytest.mark.parametrize(
    "weights",
    [np.zeros(300), -np.ones(300), np.full(300, np.nan)],
    ids=["all-zero", "negative", "nan"],
)
def test_evaluate_refuses_sample_weights_it_cannot_divide_by(blobs, weights):
    X, y = blobs
    with pytest.raises(ValueError, match="evaluate: sample_weight must be finite, >= 0 and not"):
        evaluate(_model(), X, y % 4, sample_weight=weights)


@pytest.mark.parametrize("kind", ["dense", "csr"])
def test_predict_proba_refuses_the_first_row_whose_logits_overflow_instead_of_answering_nan(kind):
    # finite rows, but 0.1 * 3e38 * 4 features passes float32's 3.4e38 from row 2 on: the
    # softmax of inf - inf logits was a NaN row, with only a RuntimeWarning
    import scipy.sparse as sp

    from softgrad.errors import InputOverflowError

    model = build_mlp(4, [3], 2, rng=0)
    model[0].params["W"][...] = 0.1
    X = np.ones((5, 4), dtype=np.float32)
    X[2:] = 3e38
    X = sp.csr_matrix(X) if kind == "csr" else X
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # refused, not also warned about
        with pytest.raises(InputOverflowError) as info:
            predict_proba(model, X, batch_size=2)
    assert info.value.row == 2 and info.value.dtype == "float32"
    assert str(info.value).startswith(
        "predict_proba: X row 2 must give finite logits in the model's float32 arithmetic; "
        "its values (up to 3.0000000054977558e+38) times the weights overflow"
    )
    # the rows before it are answered as before
    np.testing.assert_allclose(predict_proba(model, X[:2]).sum(axis=1), 1.0, rtol=1e-6)
