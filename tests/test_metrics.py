"""softgrad.metrics against sklearn.metrics, plus hand-made cases and argument checks."""

from __future__ import annotations

import numpy as np
import pytest
import sklearn.metrics as skm
from hypothesis import given
from hypothesis import strategies as st

from softgrad.metrics import TopK, accuracy, confusion_matrix, log_loss, precision_recall, top_k


@st.composite
def label_pairs(draw):
    n_classes = draw(st.integers(2, 7))  # sklearn warns on a 1 x 1 matrix: see below
    n = draw(st.integers(1, 60))
    labels = st.lists(st.integers(0, n_classes - 1), min_size=n, max_size=n)
    return np.array(draw(labels)), np.array(draw(labels)), n_classes


@given(label_pairs())
def test_accuracy_matches_sklearn(pair):
    y_true, y_pred, _ = pair
    assert accuracy(y_true, y_pred) == skm.accuracy_score(y_true, y_pred)


@given(label_pairs())
def test_confusion_matrix_matches_sklearn(pair):
    y_true, y_pred, n_classes = pair
    cm = confusion_matrix(y_true, y_pred, n_classes)
    expected = skm.confusion_matrix(y_true, y_pred, labels=np.arange(n_classes))
    np.testing.assert_array_equal(cm, expected)
    assert cm.dtype == np.int64 and cm.sum() == y_true.size


@given(label_pairs())
def test_precision_recall_match_sklearn_with_zero_division_0(pair):
    y_true, y_pred, n_classes = pair
    precision, recall = precision_recall(confusion_matrix(y_true, y_pred, n_classes))
    labels = np.arange(n_classes)
    np.testing.assert_allclose(
        precision,
        skm.precision_score(y_true, y_pred, labels=labels, average=None, zero_division=0),
        rtol=1e-15,
    )
    np.testing.assert_allclose(
        recall,
        skm.recall_score(y_true, y_pred, labels=labels, average=None, zero_division=0),
        rtol=1e-15,
    )


def test_single_class():
    cm = confusion_matrix([0, 0, 0], [0, 0, 0], n_classes=1)
    np.testing.assert_array_equal(cm, [[3]])
    assert [a.tolist() for a in precision_recall(cm)] == [[1.0], [1.0]]


def test_precision_recall_undefined_are_zero():
    # class 1 never predicted (precision 0/0) and absent from y_true (recall 0/0);
    # class 2: predicted twice, right once -> precision 0.5, recall 1/1
    cm = confusion_matrix([0, 0, 2], [0, 2, 2], n_classes=3)
    precision, recall = precision_recall(cm)
    np.testing.assert_array_equal(precision, [1.0, 0.0, 0.5])
    np.testing.assert_array_equal(recall, [0.5, 0.0, 1.0])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_log_loss_matches_sklearn(dtype, rng):
    logits = rng.standard_normal((50, 4)) * 3
    probs = np.exp(logits - logits.max(axis=1, keepdims=True))
    probs = (probs / probs.sum(axis=1, keepdims=True)).astype(dtype)
    y = rng.integers(0, 4, size=50)
    expected = skm.log_loss(y, probs, labels=np.arange(4))
    rtol = 1e-6 if dtype == np.float32 else 1e-13
    assert log_loss(y, probs) == pytest.approx(expected, rel=rtol)


def test_log_loss_clips_certain_mistakes():
    # p = 0 for the true class costs -log(eps), eps = 2.22e-16 for float64 (about 36.04)
    got = log_loss([0], np.array([[0.0, 1.0]]))
    assert got == pytest.approx(-np.log(np.finfo(np.float64).eps), rel=1e-15)
    assert got == pytest.approx(skm.log_loss([0], [[0.0, 1.0]], labels=[0, 1]), rel=1e-15)


def test_large_input_is_vectorised():
    rng = np.random.default_rng(0)
    y_true = rng.integers(0, 10, 200_000)
    y_pred = np.where(rng.random(200_000) < 0.9, y_true, rng.integers(0, 10, 200_000))
    cm = confusion_matrix(y_true, y_pred, 10)
    assert cm.sum() == 200_000
    assert np.trace(cm) / 200_000 == accuracy(y_true, y_pred)


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (
            lambda: accuracy([0, 1], [0]),
            ValueError,
            r"accuracy: y_pred must have the length of y_true \(2\); got 1",
        ),
        (lambda: accuracy([], []), ValueError, "y_true must hold at least one sample; got 0"),
        (
            lambda: accuracy([0.0, 1.0], [0, 1]),
            TypeError,
            "accuracy: y_true must hold integer class labels 0..C-1; got dtype float64",
        ),
        (lambda: accuracy([[0, 1]], [[0, 1]]), ValueError, r"must be 1-D \(N,\)"),
        (
            lambda: confusion_matrix([0, 3], [0, 1], 3),
            ValueError,
            "confusion_matrix: y_true labels must be in 0..2; got 3",
        ),
        (
            lambda: confusion_matrix([0, 1], [-1, 1], 3),
            ValueError,
            "y_pred labels must be in 0..2; got -1",
        ),
        (lambda: confusion_matrix([0], [0], 0), ValueError, "n_classes must be >= 1; got 0"),
        (lambda: confusion_matrix([0], [0], 2.0), TypeError, "n_classes must be an int"),
        (
            lambda: precision_recall(np.ones((2, 3))),
            ValueError,
            r"cm must be a square \(C, C\) matrix; got shape \(2, 3\)",
        ),
        (
            lambda: precision_recall([[1, -1], [0, 1]]),
            ValueError,
            "cm must hold finite counts >= 0",
        ),
        (lambda: log_loss([0, 1], [[0.5, 0.5]]), ValueError, r"probs must have shape \(N, C\)"),
        (
            lambda: log_loss([0, 2], [[0.5, 0.5], [0.5, 0.5]]),
            ValueError,
            "y_true labels must be in 0..1",
        ),
        (lambda: log_loss([0], [[2.0, -1.5]]), ValueError, "pass probabilities, not logits"),
        (lambda: log_loss([0], [[np.nan, 1.0]]), ValueError, "finite rows of values in"),
        # sums to 1, but -0.5 is no probability: its clipped value was scored as one
        (lambda: log_loss([1], [[1.5, -0.5]]), ValueError, r"values in \[0, 1\] summing to 1"),
        (
            lambda: precision_recall([[np.nan, 1], [0, 1]]),
            ValueError,
            "cm must hold finite counts >= 0",
        ),
        # inf / inf was a NaN precision, with a RuntimeWarning
        (
            lambda: precision_recall([[np.inf, 0], [0, 1]]),
            ValueError,
            r"cm must hold finite counts >= 0; got dtype float64 with min 0.0 and max inf",
        ),
        # the message's own min and max raised a raw TypeError, UFuncTypeError or AttributeError
        (
            lambda: precision_recall([[None, 1], [1, 1]]),
            ValueError,
            r"^precision_recall: cm must be a matrix of counts; got dtype object$",
        ),
        (
            lambda: precision_recall([[1, 2], [3, "x"]]),
            ValueError,
            r"^precision_recall: cm must be a matrix of counts; got dtype <U21$",
        ),
        (
            lambda: precision_recall(np.array([[1, 2], [3, 4]], dtype=object)),
            ValueError,
            "cm must be a matrix of counts; got dtype object",
        ),
        # C * C counts overflowed int64: "Python int too large to convert to C long"
        (
            lambda: confusion_matrix([0], [0], 10**12),
            ValueError,
            r"confusion_matrix: n_classes must be at most 3037000499 \(the matrix holds C \* C "
            r"counts\); got 1000000000000",
        ),
    ],
)
def test_bad_arguments(call, error, match):
    with pytest.raises(error, match=match):
        call()


@pytest.mark.parametrize(
    ("true_dtype", "pred_dtype"),
    [(np.uint64, np.uint64), (np.int64, np.uint64), (np.uint32, np.int8), (">i8", "<u2")],
)
def test_confusion_matrix_takes_every_integer_dtype(true_dtype, pred_dtype):
    # uint64 with int64 promotes to float64, which np.bincount refused with a cast error
    y_true, y_pred = np.array([0, 1, 2, 2]), np.array([0, 2, 2, 1])
    expected = skm.confusion_matrix(y_true, y_pred, labels=[0, 1, 2])
    cm = confusion_matrix(y_true.astype(true_dtype), y_pred.astype(pred_dtype), 3)
    np.testing.assert_array_equal(cm, expected)


@st.composite
def _scores_and_k(draw):
    """Rows of few distinct values (ties everywhere), of any length, and a k that fits."""
    n_rows = draw(st.integers(0, 6))
    n_cols = draw(st.integers(1, 9))
    values = st.sampled_from([-np.inf, -1.0, 0.0, 0.5, 0.5, 2.0, np.inf])
    row = st.lists(values, min_size=n_cols, max_size=n_cols)
    rows = draw(st.lists(row, min_size=n_rows, max_size=n_rows))
    scores = np.array(rows, dtype=np.float64).reshape(n_rows, n_cols)
    return scores, draw(st.integers(1, n_cols))


@given(_scores_and_k(), st.sampled_from([np.float32, np.float64, np.int64, np.uint8]))
def test_top_k_is_the_stable_sort_of_every_row(case, dtype):
    scores, k = case
    if np.dtype(dtype).kind in "iu":  # whole numbers: the infinities become the extremes
        scores = np.nan_to_num(scores * 2, posinf=100, neginf=0 if dtype is np.uint8 else -100)
    scores = scores.astype(dtype)
    values, index = top_k(scores, k)
    # the order a full sort gives: highest first, ties in column order
    expected = np.argsort(-scores.astype(np.float64), axis=1, kind="stable")[:, :k]
    np.testing.assert_array_equal(index, expected)
    np.testing.assert_array_equal(values, np.take_along_axis(scores, expected, axis=1))
    assert index.shape == values.shape == (len(scores), k)
    assert values.dtype == scores.dtype


@pytest.mark.oracle
@pytest.mark.parametrize("k", [1, 3])
def test_top_k_unpacks_as_torch_topk(rng, k):
    import torch

    scores = rng.permutation(20).reshape(4, 5).astype(np.float32)  # no ties: one answer
    got = top_k(scores, k)
    expected = torch.topk(torch.from_numpy(scores), k, dim=1)
    assert isinstance(got, TopK) and got._fields == ("values", "indices")
    values, indices = got
    np.testing.assert_array_equal(values, expected.values.numpy())
    np.testing.assert_array_equal(indices, expected.indices.numpy())
    np.testing.assert_array_equal(got.indices, expected[1].numpy())


@pytest.mark.parametrize(
    ("scores", "order"),
    [
        # never negated: -(-128) is -128 in int8, and 2**64 - 1 read as int64 is -1
        (np.array([[-128, 0, -1, 127]], dtype=np.int8), [3, 1, 2, 0]),
        (np.array([[np.iinfo(np.int64).min, 5, -3]]), [1, 2, 0]),
        (np.array([[2**63 + 5, 1, 2**64 - 1]], dtype=np.uint64), [2, 0, 1]),
        (np.array([[True, False, True, False]]), [0, 2, 1, 3]),
    ],
    ids=["int8", "int64", "uint64", "bool"],
)
def test_top_k_ranks_integers_at_the_ends_of_their_range(scores, order):
    for k in range(1, scores.shape[1] + 1):
        values, index = top_k(scores, k)
        np.testing.assert_array_equal(index, [order[:k]])
        np.testing.assert_array_equal(values, scores[:, order[:k]])
        assert values.dtype == scores.dtype


@pytest.mark.parametrize(
    ("scores", "k", "error", "match"),
    [
        (np.zeros((2, 3)), 0, ValueError, r"k must be an integer in 1\.\.3 \(the columns\); got 0"),
        (np.zeros((2, 3)), 4, ValueError, r"k must be an integer in 1\.\.3"),
        (np.zeros((2, 3)), 1.0, TypeError, r"k must be an integer in 1\.\.3 .*got 1\.0"),
        (np.zeros((2, 3)), True, TypeError, r"k must be an integer"),
        (np.zeros((2, 3)), None, TypeError, r"k must be an integer in 1\.\.3 .*got None"),
        # no column to rank: the scores are wrong, not k (it said "1..0 (the columns)")
        (np.zeros((3, 0)), 1, ValueError, r"scores must have at least one column to rank"),
        (np.zeros(3), 1, ValueError, r"scores must be 2-D \(N, C\); got shape \(3,\)"),
        (
            np.array([[0.0, 1.0], [np.nan, 1.0]]),
            2,
            ValueError,
            "scores must not be NaN; got NaN in row 1",
        ),
        (np.zeros((1, 2), dtype=complex), 1, TypeError, "scores must be real numbers"),
    ],
)
def test_top_k_refuses_what_has_no_order(scores, k, error, match):
    with pytest.raises(error, match=f"^top_k: {match}"):
        top_k(scores, k)
