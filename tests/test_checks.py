"""softgrad.checks: the shared rules, where their callers do not already show every branch."""

from __future__ import annotations

import numpy as np
import pytest

from softgrad.checks import check_sample_weight


def test_sample_weights_come_back_as_floats_in_the_dtype_asked_for():
    assert check_sample_weight([1, 0, 2], (3,), "f").dtype == np.float64
    assert check_sample_weight(np.ones(3, np.float32), (3,), "f").dtype == np.float32
    w = check_sample_weight([True, False], (2,), "f", dtype=np.float32)
    assert w.dtype == np.float32 and w.tolist() == [1.0, 0.0]
    assert check_sample_weight(np.ones((2, 3)), None, "f").shape == (2, 3)  # no shape rule


def test_a_batch_may_weigh_zero_but_a_fit_may_not():
    assert check_sample_weight(np.zeros(4), (4,), "f").sum() == 0
    assert check_sample_weight(np.zeros(0), (0,), "f").size == 0
    with pytest.raises(ValueError, match=r"^fit: w must be finite, >= 0 and not all 0; got va"):
        check_sample_weight(np.zeros(4), (4,), "fit", "w", may_all_be_zero=False)
    with pytest.raises(ValueError, match=r"not all 0; got no weights$"):
        check_sample_weight(np.zeros(0), (0,), "fit", may_all_be_zero=False)
    # the sum is taken in float64: float32 weights near float32's maximum overflow their own
    big = np.full(4, 3e38, np.float32)
    assert check_sample_weight(big, (4,), "fit", may_all_be_zero=False) is not None


@pytest.mark.parametrize(
    ("weight", "error", "words"),
    [
        ([1e300, 1.0], ValueError, r"^fit: sample_weight must fit in float32 .* row 0"),
        (["1", "2"], TypeError, r"^fit: sample_weight must hold real numbers; got dtype <U1"),
        ([1 + 1j, 1], TypeError, "must hold real numbers; got dtype complex128"),
        ([[1.0, 2.0]], ValueError, r"must have shape \(2,\), one weight per sample; got shape"),
        ([1.0, np.nan], ValueError, "must be finite and >= 0; got values from nan to nan"),
    ],
)
def test_bad_sample_weights_are_named(weight, error, words):
    with pytest.raises(error, match=words):
        check_sample_weight(weight, (2,), "fit", dtype=np.float32)


# check_finite_rows: one pass in the common case (the BLAS's sum of squares for C-ordered
# float32/float64), exact whatever the layout, dtype or size of the values


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
@pytest.mark.parametrize("order", ["C", "F"])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_a_bad_value_is_found_in_any_layout_and_dtype(dtype, order, bad):
    from softgrad.checks import check_finite_rows

    x = np.ones((5, 4), dtype=dtype, order=order)
    x[3, 2] = bad
    with pytest.raises(ValueError, match=r"^fit: X must be finite; got NaN or inf in row 3$"):
        check_finite_rows(x, "fit")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_finite_values_whose_squares_overflow_are_finite(dtype):
    from softgrad.checks import check_finite_rows

    big = np.finfo(dtype).max / 2
    x = np.array([[big, -big], [1.0, 2.0]], dtype=dtype)
    with np.errstate(over="raise"):  # the squares' overflow is the check's own business
        check_finite_rows(x, "fit")  # no error and no warning: every value is finite


def test_the_row_is_counted_from_first_row():
    from softgrad.checks import check_finite_rows

    x = np.zeros((3, 2))
    x[1, 0] = np.nan
    with pytest.raises(ValueError, match=r"in row 1025$"):
        check_finite_rows(x, "predict", first_row=1024)


def test_the_first_entry_that_is_not_a_number_is_named_where_it_sits():
    import pandas as pd

    from softgrad import Model, Scaler
    from softgrad.nn import CrossEntropyLoss, Linear, Sequential
    from softgrad.optim import SGD
    from softgrad.training import fit

    frame = pd.DataFrame({"a": [0.1, 0.2], "b": [1, 2.5], "color": [3, "red"]})
    net = Sequential(Linear(3, 2, rng=0))
    named = r"; got dtype (object|'\|O'): column 'color' holds 'red' \(row 1\)$"
    with pytest.raises(TypeError, match=r"^fit: X must be a real numeric array" + named):
        fit(net, CrossEntropyLoss(), SGD(lr=0.1), frame, np.array([0, 1]), epochs=1)
    with pytest.raises(ValueError, match=r"^Model\.predict: X must be numeric" + named):
        Model(net).predict(frame)
    objects = np.array([[1, 2.5, 3], [4, 5, b"x"]], dtype=object)
    with pytest.raises(ValueError, match=r"got dtype '\|O': X\[1, 2\] is b'x'$"):
        Model(net).predict(objects)
    with pytest.raises(ValueError, match=r"dtype 'str32': X\[0\] is '1'$"):
        Scaler(0.0, 1.0).transform(np.array(["1", "2"]))
    with pytest.raises(ValueError, match=r"must be numeric; got dtype '<c16'$"):  # no one entry
        Model(net).predict(np.array([[1.0, 2, 3 + 1j]]))


def test_inherits_is_false_wherever_a_class_between_wrote_the_method():
    from softgrad.checks.overrides import inherits

    class Base:
        def step(self):
            return "base"

        def load(self):
            return "base"

    class Plain(Base):
        pass

    class Own(Plain):
        def load(self):
            return "own"

    class Mixin:
        def step(self):
            return "mixin"

    class Mixed(Mixin, Plain):  # the mixin's step comes first: the user's
        pass

    assert inherits(Plain(), Base, "step", "load")
    assert inherits(Own(), Base, "step") and not inherits(Own(), Base, "step", "load")
    assert not inherits(Mixed(), Base, "step") and inherits(Mixed(), Base, "load")
    assert not inherits(object(), Base, "step")  # not a Base at all
    assert inherits(Own(), Own, "load")  # the class that wrote it is its own base
