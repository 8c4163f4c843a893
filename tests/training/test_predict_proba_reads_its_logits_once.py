"""predict_proba (and Model.predict_proba) read each batch's logits once: the softmax and the
logits' NaN/inf check in one pass (softmax_finite -> ops.softmax_rows_finite), with the same
probabilities as F.softmax and the same refusal of logits that overflowed, to +inf or to -inf
(which the softmax alone would hide as a probability of 0)."""

from __future__ import annotations

import numpy as np
import pytest

from softgrad import functional as F
from softgrad.errors import InputOverflowError
from softgrad.kernels import get_ops
from softgrad.nn import Linear, Sequential, build_mlp
from softgrad.training.inference_checks import softmax_finite
from softgrad.training.predict import predict_proba


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("bad", [None, np.nan, np.inf, -np.inf])
def test_softmax_finite_is_f_softmax_and_whether_the_logits_were_finite(dtype, bad, rng):
    logits = (rng.standard_normal((300, 10)) * 5).astype(dtype)
    if bad is not None:
        logits[123, 4] = bad
    with np.errstate(all="ignore"):
        probs, finite = softmax_finite(logits)
        expected = F.softmax(logits, axis=-1)
    assert finite is (bad is None)
    np.testing.assert_array_equal(probs, expected)


@pytest.mark.parametrize(
    "logits",
    [
        np.array([0.5, -np.inf, 2.0]),  # 1-D
        np.zeros((2, 3, 4), np.float32),  # 3-D
        np.asfortranarray(np.ones((4, 3), np.float32)),  # not C-contiguous
        np.ones((3, 2), np.float16),  # computed in float32 by F.softmax
        np.zeros((0, 3), np.float32),  # an empty batch
    ],
    ids=["1-D", "3-D", "F-order", "float16", "empty"],
)
def test_other_arrays_take_f_softmax_and_a_pass_of_their_own(logits):
    with np.errstate(all="ignore"):
        probs, finite = softmax_finite(logits)
        expected = F.softmax(logits, axis=-1)
    assert finite is bool(np.isfinite(logits).all())
    assert probs.dtype == expected.dtype
    np.testing.assert_array_equal(probs, expected)


@pytest.fixture
def fused_calls(monkeypatch):
    """The shapes of the logits each ops.softmax_rows_finite call read."""
    ops = get_ops()
    calls = []
    fused = ops.softmax_rows_finite

    def record(x, e):
        calls.append(x.shape)
        return fused(x, e)

    monkeypatch.setattr(ops, "softmax_rows_finite", record)
    return calls


def test_predict_proba_reads_each_batch_of_logits_in_one_call(fused_calls):
    model = build_mlp(6, [5], 3, rng=0)
    X = np.random.default_rng(0).standard_normal((22, 6)).astype(np.float32)
    probs = predict_proba(model, X, batch_size=8)
    assert fused_calls == [(8, 3), (8, 3), (6, 3)]
    np.testing.assert_array_equal(probs, F.softmax(model.forward(X), axis=-1))


def test_a_models_predict_proba_reads_them_in_one_call_too(fused_calls):
    from softgrad.model import Model
    from softgrad.preprocessing import Scaler

    model = Model(build_mlp(4, [8], 3, rng=2), ["a", "b", "c"], Scaler.for_range(1))
    X = np.random.default_rng(1).random((10, 4)).astype(np.float32)
    probs = model.predict_proba(X, batch_size=4)
    assert fused_calls == [(4, 3), (4, 3), (2, 3)]
    np.testing.assert_array_equal(probs, F.softmax(model.network.forward(X), axis=-1))


@pytest.mark.parametrize("sign", [1.0, -1.0], ids=["+inf", "-inf"])
def test_logits_that_overflow_to_either_infinity_are_refused(sign):
    # finite rows; from row 5 on one logit overflows float32: to +inf the softmax gives 1/k,
    # to -inf a 0 that looks like an answer
    model = Sequential(Linear(2, 3, rng=0))
    model[0].params["W"][...] = [[0.1, 0.2, sign * 1e30], [0.0, 0.0, 0.0]]
    model[0].params["b"][...] = 0.0
    X = np.ones((9, 2), np.float32)
    X[5:, 0] = 1e10
    with pytest.raises(InputOverflowError, match=r"X row 5 must give finite logits"):
        predict_proba(model, X, batch_size=4)
