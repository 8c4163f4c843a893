"""A float16 network takes the rows a float32 one takes: integer and bool rows (refused in a
ScaledRows' words: "ScaledRows: dtype must be float32 or float64"), scaled uint8 rows, long
double rows at prediction (refused by the first Linear); an integer beyond float16's range is
named as such, not as an inf X did not hold."""

import numpy as np
import pytest

from softgrad import Scaler
from softgrad.nn import CrossEntropyLoss, build_mlp
from softgrad.optim import SGD
from softgrad.training import fit, predict_proba


def _data():
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, size=(64, 6)).astype(np.uint8), rng.integers(0, 3, size=64)


def _trained(X, y):
    net = build_mlp(6, [5], 3, rng=1, dtype=np.float16)
    fit(net, CrossEntropyLoss(), SGD(lr=1e-4), X, y, epochs=2, rng=0)
    return net


@pytest.mark.parametrize("kind", ["uint8", "int16", "int32", "bool"])
def test_integer_rows_train_as_their_float16_values(kind):
    X, y = _data()
    X = X > 99 if kind == "bool" else X.astype(kind)
    got, expected = _trained(X, y), _trained(X.astype(np.float16), y)
    for name, value in expected.named_params().items():
        np.testing.assert_array_equal(got.named_params()[name], value, err_msg=name)


def test_scaled_rows_train_as_their_values_scaled_in_float64():
    X, y = _data()
    scaler = Scaler.for_range(255)
    got = _trained(scaler.inputs(X), y)
    expected = _trained(scaler.transform(X, dtype=np.float64).astype(np.float16), y)
    for name, value in expected.named_params().items():
        np.testing.assert_array_equal(got.named_params()[name], value, err_msg=name)


@pytest.mark.parametrize("check_finite", [True, False])
def test_an_integer_beyond_float16_is_named(check_finite):
    X, y = _data()
    X = X.astype(np.int32)
    X[3, 2] = 70_000
    net = build_mlp(6, [5], 3, rng=1, dtype=np.float16)
    match = (
        r"^fit: X must fit in float16 \(\|x\| <= 6\.55e\+04\), the model's dtype; got 70000 in "
        r"row 3 \(rescale it, or use a float32 model\)$"
    )
    with pytest.raises(ValueError, match=match):
        fit(net, CrossEntropyLoss(), SGD(), X, y, epochs=1, rng=0, check_finite=check_finite)


def test_long_double_rows_predict_as_their_float64_values():
    X, y = _data()
    net = _trained(X, y)
    rows = X.astype(np.float64) / 255
    np.testing.assert_array_equal(
        predict_proba(net, rows.astype(np.longdouble)), predict_proba(net, rows)
    )


def test_int64_rows_train_a_float32_network_as_their_float32_values():
    # read a batch at a time, each value cast once (through float64, one beyond 2**53 would
    # be rounded twice into float32)
    X, y = _data()
    X = X.astype(np.int64) * (2**40) + 12345  # beyond float32's integers
    nets = []
    for rows in (X, X.astype(np.float32)):
        net = build_mlp(6, [5], 3, rng=1)
        fit(net, CrossEntropyLoss(), SGD(lr=1e-20), rows, y, epochs=1, rng=0)
        nets.append(net)
    for name, value in nets[1].named_params().items():
        np.testing.assert_array_equal(nets[0].named_params()[name], value, err_msg=name)
