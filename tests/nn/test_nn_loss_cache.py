"""CrossEntropyLoss keeps what its backward needs (e = exp(logits - shift) and its row sums, from
the one softmax-cross-entropy kernel): one exp pass for loss and gradient, and the loss and the
gradient are bit-identical to softgrad.functional's cross_entropy / cross_entropy_grad, which
call the same kernel (the same code path on the same machine)."""

from __future__ import annotations

import numpy as np
import pytest

from softgrad import functional as F
from softgrad.nn import CrossEntropyLoss, build_mlp
from softgrad.optim import SGD, Adam
from softgrad.training import fit


def _logits(rng, shape, dtype, scale):
    # logits around a non-negative offset, as a network's: every row's sum of exp is >= 1, the
    # condition of the kernel's unshifted strategy (very negative or huge rows are tested below)
    return (rng.standard_normal(shape) * scale + abs(rng.standard_normal()) * scale).astype(dtype)


def _reference(logits, target, **options):
    return (
        float(F.cross_entropy(logits, target, **options)),
        F.cross_entropy_grad(logits, target, **options),
    )


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("shape", [(1, 2), (7, 3), (128, 10), (300, 37)])
@pytest.mark.parametrize("scale", [0.1, 3.0, 10.0])
def test_layer_loss_and_grad_are_bit_identical_to_functional(rng, dtype, reduction, shape, scale):
    logits = _logits(rng, shape, dtype, scale)
    target = rng.integers(0, shape[1], shape[0])
    layer = CrossEntropyLoss(reduction=reduction)
    loss = layer.forward(logits, target)
    grad = layer.backward()
    expected_loss, expected_grad = _reference(logits, target, reduction=reduction)
    assert loss == expected_loss, (loss, expected_loss)
    assert grad.dtype == expected_grad.dtype == dtype
    bad = np.argwhere(grad != expected_grad)
    assert bad.size == 0, f"first mismatch at {bad[0]}: {grad[tuple(bad[0])]!r} vs " + repr(
        expected_grad[tuple(bad[0])]
    )


def test_backward_scales_by_grad_y(rng):
    logits = _logits(rng, (16, 5), np.float32, 2.0)
    target = rng.integers(0, 5, 16)
    layer = CrossEntropyLoss()
    layer.forward(logits, target)
    expected = F.cross_entropy_grad(logits, target) * np.float32(2.5)
    np.testing.assert_array_equal(layer.backward(2.5), expected)


def test_backward_twice_gives_the_same_fresh_array(rng):
    logits = _logits(rng, (8, 4), np.float32, 1.0)
    target = rng.integers(0, 4, 8)
    layer = CrossEntropyLoss()
    layer.forward(logits, target)
    first = layer.backward()
    first[...] = 7.0  # the caller owns the returned array: the cache must not change
    np.testing.assert_array_equal(layer.backward(), F.cross_entropy_grad(logits, target))


def test_short_last_batch_after_full_batches(rng):
    layer = CrossEntropyLoss()
    for n_rows in (128, 128, 96, 128):
        logits = _logits(rng, (n_rows, 10), np.float32, 2.0)
        target = rng.integers(0, 10, n_rows)
        loss = layer.forward(logits, target)
        expected_loss, expected_grad = _reference(logits, target)
        assert loss == expected_loss
        np.testing.assert_array_equal(layer.backward(), expected_grad)


@pytest.mark.parametrize(
    "logits",
    [
        np.array([[1e4, 0.0, -1e4], [0.0, 1.0, 2.0]], dtype=np.float32),  # exp overflows
        np.full((3, 4), -200.0, dtype=np.float64),  # row sums below 1: needs the max shift
        np.array([[np.nan, 0.0], [0.0, 1.0]], dtype=np.float32),  # NaN stays in its row
        np.array([[np.inf, 0.0], [0.0, 1.0]], dtype=np.float64),
    ],
)
def test_rows_failing_the_unshifted_check_match_functional(logits):
    target = np.zeros(len(logits), dtype=np.int64)
    layer = CrossEntropyLoss()
    with np.errstate(all="ignore"):
        loss = layer.forward(logits, target)
        grad = layer.backward()
        expected_loss, expected_grad = _reference(logits, target)
    np.testing.assert_array_equal(loss, expected_loss)
    np.testing.assert_array_equal(grad, expected_grad)


@pytest.mark.parametrize(
    ("options", "make"),
    [
        ({"weight": [1.0, 2.0, 0.5]}, None),
        ({"ignore_index": 1}, None),
        ({"label_smoothing": 0.1}, None),
        ({"reduction": "none"}, None),
        ({}, lambda x: np.asfortranarray(x)),  # not C-contiguous
        ({}, lambda x: x.astype(np.float16)),
        ({"axis": 0}, lambda x: np.ascontiguousarray(x.T)),
    ],
)
def test_every_option_matches_functional(rng, options, make):
    logits = _logits(rng, (6, 3), np.float32, 1.0)
    if make is not None:
        logits = make(logits)
    target = rng.integers(0, 3, 6)
    layer = CrossEntropyLoss(**options)
    loss = layer.forward(logits, target)
    np.testing.assert_array_equal(loss, F.cross_entropy(logits, target, **options))
    np.testing.assert_array_equal(layer.backward(), F.cross_entropy_grad(logits, target, **options))


@pytest.mark.parametrize("bad", [3, -1])
def test_invalid_targets_raise_as_before(bad):
    layer = CrossEntropyLoss()
    expected = (
        rf"^CrossEntropyLoss: target must be class indices in \[0, 2\] \(or ignore_index\); "
        rf"got {bad} at index \(1,\)$"
    )
    with pytest.raises(ValueError, match=expected):
        layer.forward(np.zeros((2, 3), dtype=np.float32), np.array([0, bad]))


def test_backward_uses_the_cached_exponentials_not_the_logits(rng):
    # forward keeps e and its row sums: overwriting the logits afterwards (as a Sequential may
    # reuse its buffers) leaves the gradient of the forward's logits
    logits = _logits(rng, (16, 5), np.float32, 2.0)
    target = rng.integers(0, 5, 16)
    expected = F.cross_entropy_grad(logits, target)
    layer = CrossEntropyLoss()
    layer.forward(logits, target)
    logits[...] = 0.0
    np.testing.assert_array_equal(layer.backward(), expected)


@pytest.mark.parametrize("make_opt", [lambda: SGD(lr=0.1, momentum=0.9), lambda: Adam(lr=0.01)])
def test_training_twice_gives_bit_identical_weights(rng, make_opt):
    X = rng.random((300, 12), dtype=np.float32)
    y = rng.integers(0, 4, 300)

    def train():
        model = build_mlp(12, [16], 4, rng=3)
        history = fit(model, CrossEntropyLoss(), make_opt(), X, y, epochs=3, batch_size=32, rng=5)
        return model.named_params(), history.train_loss

    first_params, first_loss = train()
    second_params, second_loss = train()
    assert first_loss == second_loss
    for name, value in first_params.items():
        np.testing.assert_array_equal(value, second_params[name], err_msg=name)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_infinite_logits_give_their_limit_without_a_warning(dtype):
    # +inf logits make exp(logits) and its row sums inf: the check must catch that before any
    # inf - inf reaches the loss (pytest turns a RuntimeWarning into an error)
    logits = np.array([[np.inf, 0.0], [0.0, 1.0]], dtype=dtype)
    layer = CrossEntropyLoss()
    loss = layer.forward(logits, np.zeros(2, dtype=np.int64))
    assert loss == pytest.approx(0.5 * np.log1p(np.e))  # row 0: log(1) = 0 at its +inf target
    assert loss == pytest.approx(float(F.cross_entropy(logits, np.zeros(2, dtype=np.int64))))
