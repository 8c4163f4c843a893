"""The divergence rule: a NaN/inf loss, or an exploding finite one, stops fit with a clear error."""

from __future__ import annotations

import math

import numpy as np
import pytest

from softgrad.errors import DivergenceError
from softgrad.nn import CrossEntropyLoss, build_mlp
from softgrad.optim import SGD, Adam
from softgrad.training import fit
from softgrad.training.checkpoint import load_checkpoint
from softgrad.training.divergence import LIMIT_FACTOR, MIN_SAMPLES, DivergenceMonitor


def _weights(model):
    return {name: value.copy() for name, value in model.named_params().items()}


# --- the rule itself -------------------------------------------------------------------------


def test_reference_is_the_first_loss_floored_at_log_c():
    monitor = DivergenceMonitor()
    monitor.start_epoch(n_samples=10_000)
    assert monitor.check(0.01, 64, 64, n_classes=10) is None
    assert monitor.reference == math.log(10) and monitor.limit == LIMIT_FACTOR * math.log(10)
    started_high = DivergenceMonitor()
    started_high.start_epoch(10_000)
    started_high.check(7.0, 64, 64, n_classes=10)
    assert started_high.reference == 7.0


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_a_non_finite_loss_diverges_at_once(bad):
    monitor = DivergenceMonitor()
    monitor.start_epoch(10_000)
    assert monitor.check(2.0, 64, 64, 10) is None
    assert "must be finite" in monitor.check(bad, 64, 64, 10)


def test_an_exploding_finite_loss_diverges_once_enough_samples_are_seen():
    monitor = DivergenceMonitor()
    monitor.start_epoch(n_samples=10_000)
    assert monitor.check(2.0, 32, 32, n_classes=10) is None
    # one confidently wrong sample in a batch of 1 does not decide alone: the mean must
    # cover MIN_SAMPLES first, and by then it is back under the limit
    assert monitor.check(3000.0, 1, 1, 10) is None
    assert monitor.exploding()
    for _ in range(MIN_SAMPLES // 32):
        assert monitor.check(2.0, 32, 32, 10) is None
    assert not monitor.exploding()
    # a run whose every batch explodes is caught as soon as MIN_SAMPLES are seen
    monitor.start_epoch(n_samples=10_000)
    reasons = [monitor.check(1e6, 32, 32, 10) for _ in range(MIN_SAMPLES // 32)]
    assert reasons[:-1] == [None] * (len(reasons) - 1)
    assert "must stay below" in reasons[-1] and f"{monitor.limit:.2f}" in reasons[-1]


def test_a_short_epoch_is_judged_on_all_its_samples():
    monitor = DivergenceMonitor()
    monitor.start_epoch(n_samples=40)
    assert monitor.check(2.0, 20, 20, 3) is None
    assert monitor.check(1e4, 20, 20, 3) is not None  # 40 samples: the whole epoch


def test_each_epoch_has_its_own_mean():
    monitor = DivergenceMonitor()
    monitor.start_epoch(64)
    assert monitor.check(2.0, 64, 64, 10) is None
    monitor.start_epoch(64)
    assert monitor.check(LIMIT_FACTOR * 2.2, 64, 64, 10) is None  # below 20 x max(2.0, 2.30)
    monitor.start_epoch(64)
    assert monitor.check(LIMIT_FACTOR * 2.4, 64, 64, 10) is not None


def test_sample_weights_weight_the_mean():
    monitor = DivergenceMonitor()
    monitor.start_epoch(2)
    assert monitor.check(2.0, 0.5, 1, 2) is None
    # weight 0.0001 on the huge loss keeps the weighted mean under 20 x 2.0
    assert monitor.check(300.0, 0.0001, 1, 2) is None


# --- fit with an exploding finite loss -------------------------------------------------------


EXPLODED = "the mean training loss of the epoch so far must stay below"
OVERFLOWED = "the training loss must be finite; got inf"


@pytest.mark.parametrize(
    ("make_optimizer", "activation", "rule"),
    [
        # the epoch mean is judged after 512 samples or the whole epoch (300 here): a step of
        # 1e6 reaches inf before that, by batch 5; sigmoid and tanh keep the loss finite
        (lambda: SGD(lr=1e6), "relu", OVERFLOWED),
        (lambda: SGD(lr=1e30), "sigmoid", EXPLODED),
        (lambda: Adam(1e4), "tanh", EXPLODED),
    ],
    ids=["sgd-1e6", "sgd-1e30-sigmoid", "adam-1e4"],
)
def test_fit_stops_an_exploding_finite_loss(blobs, make_optimizer, activation, rule):
    X, y = blobs
    model = build_mlp(5, [16], 3, activation=activation, rng=0)
    initial = _weights(model)
    with pytest.raises(DivergenceError) as info:
        fit(model, CrossEntropyLoss(), make_optimizer(), X, y, epochs=5, batch_size=32, rng=0)
    err = info.value
    message = str(err)
    assert err.epoch == 1 and f"epoch 1, batch {err.batch}" in message
    assert "lower learning rate" in message
    # the rule that fired, for callers that word their own message (the estimator)
    assert err.reason.startswith(rule), err.reason
    assert f"fit: {err.reason} at epoch 1" in message
    # the run's steps are all suspect: the model is back at the start of the epoch
    assert "keeps the weights at the start of epoch 1" in message
    for name, value in model.named_params().items():
        np.testing.assert_array_equal(value, initial[name], err_msg=name)
    assert err.history.epochs == 0


def test_the_digits_example_of_the_issue_is_caught_with_a_finite_loss():
    from softgrad.datasets import load_data

    data = load_data("digits")
    scaler = data.fit_scaler()
    model = build_mlp(64, [100], 10, rng=0)
    with pytest.raises(DivergenceError, match="must stay below") as info:
        fit(
            model,
            CrossEntropyLoss(),
            SGD(lr=1e6),
            scaler.transform(data.X_train),
            data.y_train,
            epochs=3,
            batch_size=64,
            rng=0,
        )
    assert info.value.epoch == 1


@pytest.mark.parametrize(
    "make_optimizer",
    [lambda: SGD(lr=0.5), lambda: SGD(lr=0.01, momentum=0.9), lambda: Adam(1e-2)],
    ids=["sgd-0.5", "momentum", "adam"],
)
@pytest.mark.parametrize("batch_size", [1, 7, 300])
def test_healthy_runs_never_trip_the_rule(blobs, make_optimizer, batch_size):
    X, y = blobs
    model = build_mlp(5, [16], 3, rng=0)
    history = fit(
        model, CrossEntropyLoss(), make_optimizer(), X, y, epochs=4, batch_size=batch_size, rng=0
    )
    assert history.epochs == 4


def test_a_diverged_epoch_leaves_the_previous_checkpoint(blobs, tmp_path):
    X, y = blobs
    model = build_mlp(5, [16], 3, rng=0)
    ckpt = tmp_path / "ck.npz"

    class Boost:
        # two healthy epochs, then a learning rate that explodes the loss
        def on_epoch_end(self, state):
            if state.epoch == 2:
                state.optimizer.lr = 1e6

    with pytest.raises(DivergenceError) as info:
        fit(
            model,
            CrossEntropyLoss(),
            SGD(lr=0.1),
            X,
            y,
            epochs=5,
            batch_size=32,
            rng=0,
            checkpoint=ckpt,
            callbacks=[Boost()],
        )
    assert info.value.epoch == 3
    saved = load_checkpoint(ckpt)
    assert saved.epoch == 2  # the diverged epoch wrote nothing
    for name, value in model.named_params().items():
        np.testing.assert_array_equal(value, saved.params[name], err_msg=name)
