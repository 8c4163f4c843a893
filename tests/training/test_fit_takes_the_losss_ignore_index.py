"""fit takes the targets its loss takes: a target equal to the loss's ignore_index, even one
outside the classes (torch's -100), in y, in y_val and through validation_fraction's split.
The loss accepted it on every other route (functional, forward/backward, forward_backward,
evaluate) while fit refused it as a class index out of range."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_array_equal

from softgrad.nn import CrossEntropyLoss, build_mlp
from softgrad.optim import SGD
from softgrad.training import fit


def _data(ignored):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 3))
    y = rng.integers(0, 4, 60)
    y[::5] = ignored
    return X, y


def _fit(ignore_index, X, y, **kwargs):
    model = build_mlp(3, [5], 4, rng=0, dtype=np.float64)
    loss = CrossEntropyLoss(ignore_index=ignore_index)
    history = fit(model, loss, SGD(lr=0.1), X, y, epochs=2, rng=0, **kwargs)
    return model, history


@pytest.mark.parametrize(
    "kwargs",
    [{}, {"validation_fraction": 0.2}, {"validation_data": "first ten"}],
    ids=["plain", "validation_fraction", "validation_data"],
)
def test_an_ignore_index_outside_the_classes_trains_as_one_inside_them(kwargs):
    # the same samples ignored, as -100 or as 4 (a value past the model's 4 outputs, which
    # fit also took for an index out of range): the same run, bit for bit
    results = []
    for ignored in (-100, 4):
        X, y = _data(ignored)
        if "validation_data" in kwargs:
            kwargs = {"validation_data": (X[:10], y[:10])}
        model, history = _fit(ignored, X, y, **kwargs)
        results.append((model.named_params(), history))
    (params, history), (params_4, history_4) = results
    for name, value in params.items():
        assert_array_equal(value, params_4[name], err_msg=name)
    assert history.train_loss == history_4.train_loss
    assert history.val_loss == history_4.val_loss


def test_a_target_out_of_range_that_is_not_ignored_is_still_refused():
    X, y = _data(-100)
    y[3] = 7
    message = r"y must hold class indices in 0\.\.3 \(the model's outputs\) or the loss's "
    with pytest.raises(ValueError, match=message + r"ignore_index -100; got \[0, 7\]"):
        _fit(-100, X, y)
    X, y = _data(-100)
    with pytest.raises(ValueError, match=r"y_val must hold class indices .* got \[-1, 3\]"):
        _fit(-100, X, y, validation_data=(X[:10], np.where(y[:10] == -100, -1, y[:10])))


def test_every_target_ignored_trains_nothing_and_fails_nothing():
    X, y = _data(-100)
    y[:] = -100
    model = build_mlp(3, [5], 4, rng=0, dtype=np.float64)
    before = {k: v.copy() for k, v in model.named_params().items()}
    history = fit(model, CrossEntropyLoss(ignore_index=-100), SGD(lr=0.1), X, y, epochs=1)
    assert history.train_loss == [0.0]
    for name, value in model.named_params().items():
        assert_array_equal(value, before[name], err_msg=name)
