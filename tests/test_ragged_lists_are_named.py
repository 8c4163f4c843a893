"""check_real_array: nested lists of unequal lengths are refused naming the first odd entry."""

from __future__ import annotations

import numpy as np
import pytest

from softgrad.checks import check_real_array

PREFIX = "predict: X must be a rectangular array of numbers; got nested lists of unequal lengths: "


@pytest.mark.parametrize(
    ("x", "named"),
    [
        ([[1, 2], [3]], "X[1] is a list of 1 where X[0] is a list of 2"),
        ([[1, 2], (3, 4, 5)], "X[1] is a list of 3 where X[0] is a list of 2"),
        ([1, [2]], "X[1] is a list of 1 where X[0] is a number"),
        ([[1, 2], [3, [4, 5]]], "X[1][1] is a list of 2 where X[0][0] is a number"),
        ([[[1, 2], [3, 4]], [[5, 6], [7]]], "X[1][1] is a list of 1 where X[0][0] is a list of 2"),
        ([np.zeros(2), np.zeros(3)], "X[1] is a list of 3 where X[0] is a list of 2"),
    ],
)
def test_the_first_entry_of_another_length_is_named(x, named):
    with pytest.raises(ValueError) as caught:
        check_real_array(x, "predict")
    assert str(caught.value) == PREFIX + named


def test_rectangular_lists_still_convert():
    np.testing.assert_array_equal(check_real_array([[1, 2], (3, 4)], "predict"), [[1, 2], [3, 4]])


def test_inference_names_ragged_rows_before_anything_else():
    # training.predict_proba converted X itself first and passed on NumPy's "inhomogeneous"
    from softgrad.nn import build_mlp
    from softgrad.training import evaluate, predict_proba

    model = build_mlp(2, [3], 2, rng=0)
    for where, call in (
        ("predict_proba", lambda: predict_proba(model, [[1, 2], [3]])),
        ("evaluate", lambda: evaluate(model, [[1, 2], [3]], [0, 1])),
    ):
        with pytest.raises(ValueError) as caught:
            call()
        assert str(caught.value) == PREFIX.replace("predict", where) + (
            "X[1] is a list of 1 where X[0] is a list of 2"
        )
