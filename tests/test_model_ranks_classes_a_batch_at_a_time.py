"""Model.predict_top and Model.map_logits: what is computed from the logits batch by batch,
so that N * C logits or probabilities are never held (predict and evaluate of the CLI held
them: 2.5 GB for 300,000 rows of 1,000 classes)."""

from __future__ import annotations

import numpy as np
import pytest

from softgrad import nn
from softgrad.errors import InputOverflowError
from softgrad.model import Model
from softgrad.nn import build_mlp
from softgrad.preprocessing import Scaler


def _model(n_classes=7, dtype=np.float32):
    network = build_mlp(5, [9], n_classes, rng=0, dtype=dtype)
    scaler = Scaler(offset=np.full(5, 0.5), scale=np.full(5, 2.0))
    return Model(network, [f"c{j}" for j in range(n_classes)], scaler)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("k", [1, 2, 7])
def test_predict_top_ranks_the_probabilities_as_a_stable_sort(rng, dtype, k):
    model = _model(dtype=dtype)
    X = rng.normal(size=(23, 5)) * 3
    p, index = model.predict_top(X, k=k, batch_size=4)  # batches of 4 and a short one
    probs = model.predict_proba(X, batch_size=4)
    expected = np.argsort(-probs, axis=1, kind="stable")[:, :k]
    np.testing.assert_array_equal(index, expected)
    assert index.dtype == np.intp and p.dtype == dtype and p.shape == (23, k)
    eps = np.finfo(dtype).eps
    np.testing.assert_allclose(p, np.take_along_axis(probs, expected, axis=1), rtol=4 * eps)
    np.testing.assert_array_equal(model.classes[index[:, 0]], model.predict(X))


def test_predict_top_keeps_ties_in_class_order():
    # every weight zero: all classes equally likely, ranked in class order
    model = _model(n_classes=4)
    for name in model.network.named_params():
        model.network.named_params()[name][...] = 0.0
    p, index = model.predict_top(np.ones((2, 5)), k=3)
    np.testing.assert_array_equal(index, [[0, 1, 2], [0, 1, 2]])
    np.testing.assert_array_equal(p, np.full((2, 3), 0.25, dtype=np.float32))


@pytest.mark.parametrize(
    ("k", "error"),
    [(0, ValueError), (8, ValueError), (1.0, TypeError), (True, TypeError), ("2", TypeError)],
)
def test_predict_top_refuses_a_k_beyond_the_classes(k, error):
    with pytest.raises(error, match=r"^Model\.predict_top: k must be an integer in 1\.\.7"):
        _model().predict_top(np.ones((2, 5)), k=k)


def test_map_logits_hands_the_batches_in_order(rng):
    model = _model()
    X = rng.normal(size=(11, 5))
    seen = []

    def head(logits):
        seen.append(len(logits))
        return logits * 2

    out = model.map_logits(X, head, batch_size=4)
    assert seen == [4, 4, 3]
    np.testing.assert_array_equal(out, model.decision_function(X, batch_size=4) * 2)


def test_map_logits_refuses_a_row_that_overflows_before_its_head_sees_it():
    model = _model()
    X = np.zeros((6, 5))
    X[4] = 1e38  # finite, but scaled and times the weights past float32's range
    seen = []
    with pytest.raises(InputOverflowError, match=r"^ranks: X row 4 must give finite logits"):
        model.map_logits(X, lambda z: seen.append(len(z)) or z, batch_size=3, caller="ranks")
    assert seen == [3]  # the first batch only


def test_predict_top_names_the_class_predict_names():
    # ranked by rounded probabilities, logits [0, 1e-8] were a tie (softmax 0.5, 0.5) and named
    # class 0 where predict, ranking the logits, named class 1; an underflow to 0 tied a logit
    # of -200 with one of -300
    network = nn.Sequential(nn.Linear(1, 3, rng=0))
    network.named_params()["0.W"][...] = 0.0
    network.named_params()["0.b"][...] = [0.0, 1e-8, -300.0]
    model = Model(network, ["a", "b", "c"])
    p, index = model.predict_top(np.zeros((1, 1)), k=2)
    assert model.classes[index[0, 0]] == model.predict(np.zeros((1, 1)))[0] == "b"
    np.testing.assert_array_equal(index, [[1, 0]])
    np.testing.assert_array_equal(p, model.predict_proba(np.zeros((1, 1)))[:, [1, 0]])
    network.named_params()["0.b"][...] = [0.0, -300.0, -200.0]
    p, index = model.predict_top(np.zeros((1, 1)), k=3)
    np.testing.assert_array_equal(index, [[0, 2, 1]])


@pytest.mark.parametrize(
    ("head", "error", "match"),
    [
        (lambda z: z.max(), TypeError, r"an ndarray of the batch's 2 rows; got float32"),
        (lambda z: z[:1, 0], ValueError, r"an array of the batch's 2 rows; got shape \(1,\)"),
        (lambda z: list(z[:, 0]), TypeError, r"an ndarray of the batch's 2 rows; got list"),
        (lambda z: None, TypeError, r"an ndarray of the batch's 2 rows; got NoneType"),
        (
            lambda z: z.argmax(axis=1) if z[0, 0] > -1e9 and len(z) == 2 else z.max(axis=1),
            ValueError,
            r"rows of one shape and dtype for every batch; got float32 of shape \(\) a row after",
        ),
    ],
    ids=["scalar", "one-row", "list", "none", "ints-then-floats"],
)
def test_map_logits_refuses_a_head_result_that_is_not_its_batch_rows(head, error, match):
    with pytest.raises(error, match=r"^Model\.map_logits: head must return " + match):
        _model().map_logits(np.ones((3, 5)), head, batch_size=2)


def test_map_logits_refuses_a_head_that_is_not_callable():
    with pytest.raises(TypeError, match=r"^Model\.map_logits: head must be callable; got int"):
        _model().map_logits(np.ones((3, 5)), 3)
