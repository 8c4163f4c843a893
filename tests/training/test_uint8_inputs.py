"""Training, validation and inference on uint8 rows read through a Scaler (ScaledRows) give what
the float-converted set gives, without ever holding the float set."""

from __future__ import annotations

import numpy as np
import pytest

from softgrad.datasets import load_digits
from softgrad.nn import CrossEntropyLoss, Sequential, build_mlp
from softgrad.optim import SGD, Adam
from softgrad.preprocessing import ScaledRows, Scaler
from softgrad.training import evaluate, fit, predict_logits, predict_proba


@pytest.fixture(scope="module")
def digits():
    ds = load_digits()
    assert ds.X_train.dtype == np.uint8
    return ds, ds.fit_scaler()


@pytest.fixture
def never_whole(monkeypatch):
    """Fail the test if anything turns a ScaledRows into one float array of all its rows."""

    def refuse(self, dtype=None, copy=None):
        raise AssertionError(f"the whole set was materialised: {self!r}")

    monkeypatch.setattr(ScaledRows, "__array__", refuse)


def _train(X, y, dtype, optimizer, **kwargs):
    model = build_mlp(64, [32], 10, rng=0, dtype=dtype)
    history = fit(model, CrossEntropyLoss(), optimizer, X, y, epochs=2, batch_size=64, rng=3,
                  **kwargs)  # fmt: skip
    return model, history


@pytest.mark.parametrize("make_optimizer", [lambda: SGD(lr=0.1, momentum=0.9), lambda: Adam()])
@pytest.mark.parametrize(
    "extra", [{}, {"validation_fraction": 0.2}, {"sample_weight": "ones-and-twos"}]
)
def test_float32_training_on_uint8_equals_training_on_floats(
    digits, make_optimizer, extra, never_whole
):
    ds, scaler = digits
    if extra.get("sample_weight") == "ones-and-twos":
        extra = {"sample_weight": 1.0 + (np.arange(len(ds.y_train)) % 2)}
    lazy = scaler.inputs(ds.X_train)
    assert isinstance(lazy, ScaledRows)
    a, history_a = _train(lazy, ds.y_train, np.float32, make_optimizer(), **extra)
    b, history_b = _train(scaler.transform(ds.X_train), ds.y_train, np.float32,
                          make_optimizer(), **extra)  # fmt: skip
    # every batch is the transform's rows bit for bit (the same two float32 roundings), and
    # the rest of the step is the same code: the same weights and history, bit for bit
    for (name, w_a), w_b in zip(a.named_params().items(), b.named_params().values(), strict=True):
        np.testing.assert_array_equal(w_a, w_b, err_msg=name)
    assert history_a.train_loss == history_b.train_loss
    assert history_a.val_loss == history_b.val_loss


def test_float64_training_on_uint8_equals_training_on_floats(digits, never_whole):
    ds, _ = digits
    # standardised: 1 / std is no power of two, so float32 and float64 arithmetic would differ
    scaler = Scaler.fit_standard(ds.X_train)
    lazy = scaler.inputs(ds.X_train, dtype=np.float64)
    a, history_a = _train(lazy, ds.y_train, np.float64, SGD(lr=0.01))
    b, history_b = _train(scaler.transform(ds.X_train), ds.y_train, np.float64, SGD(lr=0.01))
    # fit widens the transform's float32 rows for a float64 model; a ScaledRows reads the same
    # float32 rows widened: the same batches, so the same weights bit for bit
    for (name, w_a), w_b in zip(a.named_params().items(), b.named_params().values(), strict=True):
        np.testing.assert_array_equal(w_a, w_b, err_msg=name)
    assert history_a.train_loss == history_b.train_loss


def test_validation_data_as_scaled_rows(digits, never_whole):
    ds, scaler = digits
    test = (scaler.inputs(ds.X_test), ds.y_test)
    float_test = (scaler.transform(ds.X_test), ds.y_test)
    _, lazy = _train(scaler.inputs(ds.X_train), ds.y_train, np.float32, SGD(lr=0.1),
                     validation_data=test)  # fmt: skip
    _, eager = _train(scaler.transform(ds.X_train), ds.y_train, np.float32, SGD(lr=0.1),
                      validation_data=float_test)  # fmt: skip
    assert lazy.val_loss == eager.val_loss and lazy.val_acc == eager.val_acc


def test_raw_integer_validation_rows_beside_scaled_rows_are_refused(digits):
    ds, scaler = digits
    with pytest.raises(TypeError, match=r"X_val must be scaled like X.*raw uint8.*scaler\.inputs"):
        _train(scaler.inputs(ds.X_train), ds.y_train, np.float32, SGD(lr=0.1),
               validation_data=(ds.X_test, ds.y_test))  # fmt: skip


class _Spy(Sequential):
    """Records the largest batch it forwards and the dtype of what it is given."""

    max_rows = 0
    dtypes = frozenset()

    def forward(self, x):
        self.max_rows = max(self.max_rows, len(x))
        self.dtypes = self.dtypes | {x.dtype}
        return super().forward(x)


@pytest.mark.parametrize("batch_size", [1, 50, 1024])
def test_predict_on_uint8_equals_predict_on_floats(digits, batch_size, never_whole):
    ds, scaler = digits
    model = _Spy(*build_mlp(64, [32], 10, rng=0).layers)
    lazy, floats = scaler.inputs(ds.X_test), scaler.transform(ds.X_test)
    for predict in (predict_logits, predict_proba):
        np.testing.assert_array_equal(
            predict(model, lazy, batch_size=batch_size), predict(model, floats, batch_size)
        )
    assert evaluate(model, lazy, ds.y_test, batch_size=batch_size) == evaluate(
        model, floats, ds.y_test, batch_size=batch_size
    )
    # one batch of float rows at a time, in the model's dtype
    assert model.max_rows == min(batch_size, len(ds.y_test))
    assert model.dtypes == {np.dtype(np.float32)}


def test_an_empty_scaled_set_is_refused_by_fit(digits):
    ds, scaler = digits
    with pytest.raises(ValueError, match=r"fit: X must have at least one sample; got shape"):
        _train(scaler.inputs(ds.X_train[:0]), ds.y_train[:0], np.float32, SGD(lr=0.1))
