import json
import math
import re

import numpy as np
import pytest

from softgrad.errors import DivergenceError
from softgrad.nn import CrossEntropyLoss, build_mlp
from softgrad.optim import SGD, Adam, AdaptiveLR, ReduceLROnPlateau, StepLR
from softgrad.training import Callback, History, evaluate, fit


def _weights(model):
    return {name: value.copy() for name, value in model.named_params().items()}


def _history_without_time(history):
    d = history.to_dict()
    del d["epoch_time"]
    return d


def _run(X, y, seed, **kwargs):
    model = build_mlp(X.shape[1], [16], 3, dropout=0.1, rng=seed)
    optimizer = Adam(lr=0.01)
    history = fit(
        model,
        CrossEntropyLoss(),
        optimizer,
        X,
        y,
        epochs=4,
        batch_size=32,
        rng=seed,
        validation_fraction=0.2,
        lr_schedule=StepLR(optimizer, step_size=2, gamma=0.5),
        **kwargs,
    )
    return model, history


def test_same_seed_gives_bit_identical_weights_and_history(blobs):
    X, y = blobs
    model_a, history_a = _run(X, y, seed=3)
    model_b, history_b = _run(X, y, seed=3)
    for name, value in model_a.named_params().items():
        assert np.array_equal(value, model_b.named_params()[name]), name
    assert _history_without_time(history_a) == _history_without_time(history_b)
    _, history_c = _run(X, y, seed=4)
    assert history_c.train_loss != history_a.train_loss


def test_history_records_every_epoch(blobs):
    X, y = blobs
    _, history = _run(X, y, seed=0)
    assert history.epochs == 4
    for name in ("train_loss", "train_acc", "val_loss", "val_acc", "lr", "epoch_time"):
        assert len(getattr(history, name)) == 4, name
    assert history.lr == [0.01, 0.01, 0.005, 0.005]  # StepLR(2, 0.5) stepped after each epoch
    assert all(t > 0 for t in history.epoch_time)
    assert history.best_epoch == 1 + int(np.argmin(history.val_loss))
    assert not history.stopped_early and history.stop_reason is None
    json.dumps(history.to_dict(), allow_nan=False)


def test_fit_learns_and_keeps_float32(blobs):
    X, y = blobs
    model = build_mlp(5, [16], 3, rng=0)
    history = fit(model, CrossEntropyLoss(), SGD(lr=0.1, momentum=0.9), X, y, epochs=10, rng=0)
    assert history.train_loss[-1] < history.train_loss[0] / 2
    assert history.train_acc[-1] > 0.9
    assert all(value.dtype == np.float32 for value in model.named_params().values())


def _diverging_val_case():
    """Train set where the signal is x0 > 0; validation set with the labels flipped: the better
    the model fits the training set, the worse its validation loss."""
    gen = np.random.default_rng(0)
    X = gen.normal(size=(256, 2)).astype(np.float32)
    y = (X[:, 0] > 0).astype(int)
    X_val = gen.normal(size=(128, 2)).astype(np.float32)
    y_val = (X_val[:, 0] <= 0).astype(int)
    return X, y, X_val, y_val


class _Recorder(Callback):
    def __init__(self):
        self.weights = []

    def on_epoch_end(self, state):
        self.weights.append(_weights(state.model))


def test_early_stopping_restores_the_best_weights_in_place():
    X, y, X_val, y_val = _diverging_val_case()
    model = build_mlp(2, [8], 2, rng=1)
    live = model.named_params()
    recorder = _Recorder()
    history = fit(
        model,
        CrossEntropyLoss(),
        SGD(lr=0.5),
        X,
        y,
        epochs=50,
        batch_size=32,
        rng=0,
        validation_data=(X_val, y_val),
        early_stopping=True,
        patience=3,
        callbacks=[recorder],
    )
    assert history.stopped_early and history.stop_reason == "early_stopping"
    best = history.best_epoch
    assert history.val_loss[best - 1] == min(history.val_loss)
    assert history.epochs == best + 3  # three epochs without improvement, then stop
    assert history.val_loss[-1] > history.val_loss[best - 1]
    for name, value in model.named_params().items():
        assert value is live[name]  # copied into the live arrays, not rebound
        assert np.array_equal(value, recorder.weights[best - 1][name]), name
    assert not np.array_equal(recorder.weights[-1]["0.W"], recorder.weights[best - 1]["0.W"])


def test_restore_best_false_keeps_the_last_weights():
    X, y, X_val, y_val = _diverging_val_case()
    model = build_mlp(2, [8], 2, rng=1)
    recorder = _Recorder()
    fit(
        model,
        CrossEntropyLoss(),
        SGD(lr=0.5),
        X,
        y,
        epochs=50,
        batch_size=32,
        rng=0,
        validation_data=(X_val, y_val),
        early_stopping=True,
        patience=3,
        restore_best=False,
        callbacks=[recorder],
    )
    assert np.array_equal(model.named_params()["0.W"], recorder.weights[-1]["0.W"])


def test_min_delta_counts_small_gains_as_no_improvement(blobs):
    X, y = blobs
    model = build_mlp(5, [8], 3, rng=0)
    history = fit(
        model,
        CrossEntropyLoss(),
        SGD(lr=0.01),
        X,
        y,
        epochs=20,
        rng=0,
        early_stopping=True,
        patience=2,
        min_delta=100.0,
    )
    # no loss can fall 100 below the first: epoch 1 stays best, training stops at epoch 3
    assert history.best_epoch == 1 and history.epochs == 3
    assert history.val_loss == []  # monitored the training loss


def test_divergence_names_epoch_and_batch_and_keeps_finite_weights(blobs):
    X, y = blobs
    model = build_mlp(5, [16], 3, rng=0)
    initial = _weights(model)
    with pytest.raises(DivergenceError) as info:
        fit(model, CrossEntropyLoss(), SGD(lr=1e38), X * 1e3, y, epochs=5, batch_size=50, rng=0)
    err = info.value
    assert isinstance(err, FloatingPointError)
    assert err.epoch == 1 and err.batch >= 2
    message = str(err)
    assert f"epoch {err.epoch}, batch {err.batch}" in message
    assert "lower learning rate" in message
    for name, value in model.named_params().items():
        assert np.all(np.isfinite(value)), name
    # the first step overflowed the weights themselves: back to the start of the epoch
    assert "keeps the weights at the start of epoch 1" in message
    for name, value in model.named_params().items():
        assert np.array_equal(value, initial[name]), name
    assert isinstance(err.history, History)


def test_divergence_after_finite_steps_keeps_the_last_weights(blobs):
    X, y = blobs
    model = build_mlp(5, [16], 3, rng=0)
    seen = []

    class Watch(Callback):
        def on_batch_end(self, state):
            seen.append((state.epoch, state.batch, _weights(state.model)))

    class NaNAtCall(CrossEntropyLoss):
        # a loss that jumps from finite to NaN (an exploding finite loss is caught earlier, by
        # the rule in softgrad.training.divergence: tests/training/test_divergence.py)
        calls = 0

        def forward_backward(self, logits, target, sample_weight=None):
            # the training step's one loss call (loss, gradient, hits)
            NaNAtCall.calls += 1
            step = super().forward_backward(logits, target, sample_weight)
            return step._replace(loss=math.nan) if NaNAtCall.calls == 15 else step

    with pytest.raises(DivergenceError) as info:
        fit(
            model,
            NaNAtCall(),
            SGD(lr=0.1),
            X,
            y,
            epochs=50,
            batch_size=30,
            rng=0,
            callbacks=[Watch()],
        )
    err = info.value
    for name, value in model.named_params().items():
        assert np.all(np.isfinite(value)), name
    # the loss overflowed with finite weights: they are those of the last completed step
    assert f"keeps the weights after batch {err.batch - 1}" in str(err)
    epoch, batch, last = seen[-1]
    assert (epoch, batch + 1) == (err.epoch, err.batch)
    for name, value in model.named_params().items():
        assert np.array_equal(value, last[name]), name


class _Log:
    def __init__(self, stop_at_batch=None, stop_at_epoch=None):
        self.events = []
        self.stop_at_batch, self.stop_at_epoch = stop_at_batch, stop_at_epoch

    def on_train_begin(self, state):
        self.events.append(("train_begin", state.epoch))

    def on_epoch_begin(self, state):
        self.events.append(("epoch_begin", state.epoch))

    def on_batch_end(self, state):
        self.events.append(("batch", state.epoch, state.batch, state.logs["batch_size"]))
        return (state.epoch, state.batch) == self.stop_at_batch

    def on_epoch_end(self, state):
        self.events.append(("epoch_end", state.epoch, state.history.epochs))
        return state.epoch == self.stop_at_epoch

    def on_train_end(self, state):
        self.events.append(("train_end", state.epoch))


def test_callbacks_see_every_event_in_order(blobs):
    X, y = blobs
    log = _Log()
    fit(
        build_mlp(5, [4], 3, rng=0),
        CrossEntropyLoss(),
        SGD(lr=0.1),
        X[:70],
        y[:70],
        epochs=2,
        batch_size=32,
        rng=0,
        callbacks=[log],
    )
    epoch = [("batch", 1, 1, 32), ("batch", 1, 2, 32), ("batch", 1, 3, 6)]
    assert log.events == [
        ("train_begin", 0),
        ("epoch_begin", 1),
        *epoch,
        ("epoch_end", 1, 1),
        ("epoch_begin", 2),
        *[(e[0], 2, *e[2:]) for e in epoch],
        ("epoch_end", 2, 2),
        ("train_end", 2),
    ]


def test_epoch_end_callback_can_stop(blobs):
    X, y = blobs
    history = fit(
        build_mlp(5, [4], 3, rng=0),
        CrossEntropyLoss(),
        SGD(lr=0.1),
        X,
        y,
        epochs=10,
        rng=0,
        callbacks=[_Log(stop_at_epoch=3)],
    )
    assert history.epochs == 3 and history.stopped_early and history.stop_reason == "callback"


def test_batch_end_callback_stops_mid_epoch_and_records_it(blobs):
    X, y = blobs
    log = _Log(stop_at_batch=(2, 3))
    history = fit(
        build_mlp(5, [4], 3, rng=0),
        CrossEntropyLoss(),
        SGD(lr=0.1),
        X,
        y,
        epochs=10,
        batch_size=32,
        rng=0,
        callbacks=[log],
    )
    assert history.epochs == 2 and history.stop_reason == "callback"
    assert [e for e in log.events if e[0] == "batch"][-1] == ("batch", 2, 3, 32)
    assert log.events[-2:] == [("epoch_end", 2, 2), ("train_end", 2)]


def test_a_callback_without_hooks_is_rejected(blobs):
    X, y = blobs
    with pytest.raises(TypeError, match="callbacks must have at least one of the methods"):
        fit(build_mlp(5, [4], 3, rng=0), CrossEntropyLoss(), SGD(), X, y, callbacks=[object()])


@pytest.mark.parametrize("callbacks", [5, "progress", _Log()])
def test_callbacks_that_are_not_a_sequence_are_a_type_error_naming_them(blobs, callbacks):
    # a single callback, not in a list: was "'_Log' object is not iterable"
    X, y = blobs
    with pytest.raises(
        TypeError, match=r"^fit: callbacks must be a sequence of callbacks \(\[cb\]\)"
    ):
        fit(build_mlp(5, [4], 3, rng=0), CrossEntropyLoss(), SGD(), X, y, callbacks=callbacks)


def test_schedule_is_stepped_with_the_monitored_loss(blobs):
    X, y = blobs
    optimizer = SGD(lr=0.1)
    schedule = ReduceLROnPlateau(optimizer, factor=0.5, patience=0)
    seen = []
    original = schedule.step

    def step(metric=None):
        seen.append(metric)
        original(metric)

    schedule.step = step
    history = fit(
        build_mlp(5, [4], 3, rng=0),
        CrossEntropyLoss(),
        optimizer,
        X,
        y,
        epochs=3,
        rng=0,
        validation_fraction=0.25,
        lr_schedule=schedule,
    )
    assert seen == history.val_loss


def test_a_schedule_of_another_optimizer_is_refused_before_training(blobs):
    # it would set the rate of an optimizer that never steps: the run's rate never changed
    X, y = blobs
    model, optimizer = build_mlp(5, [4], 3, rng=0), SGD(lr=0.1)
    schedule = StepLR(SGD(lr=0.1), step_size=1)
    before = _weights(model)
    with pytest.raises(ValueError, match=r"^fit: lr_schedule must wrap the optimizer given to fit"):
        fit(model, CrossEntropyLoss(), optimizer, X, y, epochs=2, rng=0, lr_schedule=schedule)
    for name, value in before.items():
        assert np.array_equal(model.named_params()[name], value), name


@pytest.mark.parametrize(
    ("make", "error", "match"),
    [
        (
            lambda opt: 0.1,
            TypeError,
            r"^fit: lr_schedule must be a schedule with step\(metric\), such as "
            r"optim.StepLR\(optimizer, step_size=10\); got float$",
        ),
        (
            lambda opt: lambda epoch: 0.1 * 0.9**epoch,
            TypeError,
            r"^fit: lr_schedule must be a schedule with step\(metric\), .*; got function \(for "
            r"a function of the epoch: optim.LambdaLR\(optimizer, f\), f\(epoch\) a factor of "
            r"the optimizer's lr\)$",
        ),
        (
            lambda opt: ReduceLROnPlateau(opt, mode="max"),
            ValueError,
            r"^fit: lr_schedule must watch a loss \(mode='min'\).*got mode='max'$",
        ),
    ],
)
def test_a_schedule_fit_cannot_step_is_refused_before_training(blobs, make, error, match):
    X, y = blobs
    optimizer = SGD(lr=0.1)
    with pytest.raises(error, match=match):
        fit(
            build_mlp(5, [4], 3, rng=0),
            CrossEntropyLoss(),
            optimizer,
            X,
            y,
            lr_schedule=make(optimizer),
        )


def test_fit_stops_where_an_adaptive_schedule_says_scikit_learn_stops(blobs):
    # tol 100: every epoch after the first stalls. Epoch 2 counts 1, epoch 3 counts 2 > 1
    # with the rate already at the floor (1e-6): should_stop, and fit stops there
    X, y = blobs
    optimizer = SGD(lr=1e-6)
    schedule = AdaptiveLR(optimizer, tol=100.0, n_iter_no_change=1, min_lr=1e-6)
    kwargs = {"epochs": 10, "rng": 0, "lr_schedule": schedule}
    history = fit(build_mlp(5, [4], 3, rng=0), CrossEntropyLoss(), optimizer, X, y, **kwargs)
    assert schedule.should_stop
    assert (history.epochs, history.stop_reason) == (3, "early_stopping")


def test_fit_prints_nothing_and_restores_the_mode(blobs, capsys):
    X, y = blobs
    model = build_mlp(5, [4], 3, dropout=0.2, rng=0).eval()
    fit(model, CrossEntropyLoss(), SGD(lr=0.1), X, y, epochs=2, rng=0, validation_fraction=0.2)
    assert capsys.readouterr() == ("", "")
    assert not model.training and not any(layer.training for layer in model.layers)


def test_float32_input_is_not_copied():
    from softgrad.training.data import check_features

    X = np.ones((4, 3), dtype=np.float32)
    assert check_features(X, np.dtype(np.float32)) is X
    assert check_features(X.astype(np.float64), np.dtype(np.float32)).dtype == np.float32


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"epochs": 0}, ValueError, "epochs must be a positive int"),
        ({"batch_size": 0}, ValueError, "batch_size must be a positive int"),
        (
            {"validation_fraction": 0.2, "validation_data": ([[0.0] * 5], [0])},
            ValueError,
            "not both",
        ),
        ({"validation_data": ([[0.0] * 4], [0])}, ValueError, r"X_val must have shape \(N, 5\)"),
        ({"validation_data": ([[0.0] * 5],)}, ValueError, "must be a pair"),
        ({"sample_weight": np.zeros(300)}, ValueError, "not all 0"),
        ({"sample_weight": np.ones(3)}, ValueError, r"sample_weight must have shape \(300,\)"),
        ({"patience": 0}, ValueError, "patience must be a positive int"),
        (
            {"validation_fraction": 1.0},
            ValueError,
            r"fit: validation_fraction must be a float in \[0, 1\) \(0: no validation split\); "
            r"got 1.0",
        ),
        (
            {"validation_fraction": -0.1},
            ValueError,
            r"fit: validation_fraction must be a float in \[0, 1\) \(0: no validation split\); "
            r"got -0.1",
        ),
        (
            {"validation_fraction": 0.999},
            ValueError,
            "fit: validation_fraction must leave at least one training sample; got 0.999 of 300",
        ),
        (
            {"validation_fraction": "0.2"},
            TypeError,
            r"^fit: validation_fraction must be a float in \[0, 1\); got '0.2'$",
        ),
        (
            {"validation_fraction": True},
            TypeError,
            r"^fit: validation_fraction must be a float in \[0, 1\); got True$",
        ),
        # a truthy string is not a switch: "no" turned early stopping on
        ({"early_stopping": "no"}, TypeError, "^fit: early_stopping must be a bool; got 'no'$"),
        ({"restore_best": "no"}, TypeError, "^fit: restore_best must be a bool; got 'no'$"),
        ({"check_finite": "no"}, TypeError, "^fit: check_finite must be a bool; got 'no'$"),
        ({"min_delta": True}, TypeError, "^fit: min_delta must be a real number; got True$"),
        # inf: best - inf is never beaten, no epoch would count as the best
        (
            {"min_delta": math.inf},
            ValueError,
            "^fit: min_delta must be a finite number >= 0.0; got inf$",
        ),
        ({"min_delta": -0.1}, ValueError, r"^fit: min_delta must be >= 0.0; got -0.1$"),
    ],
)
def test_bad_arguments(blobs, kwargs, error, match):
    X, y = blobs
    with pytest.raises(error, match=match):
        fit(build_mlp(5, [4], 3, rng=0), CrossEntropyLoss(), SGD(), X, y, **kwargs)


def test_bad_data(blobs):
    X, y = blobs
    model, loss = build_mlp(5, [4], 3, rng=0), CrossEntropyLoss()
    with pytest.raises(ValueError, match=r"y must hold class indices in 0..2 \(the model's"):
        fit(model, loss, SGD(), X, y + 1)
    with pytest.raises(TypeError, match="y must hold integer class indices"):
        fit(model, loss, SGD(), X, y + 0.5)
    bad = X.copy()
    bad[3, 2] = np.nan
    with pytest.raises(ValueError, match="X must be finite"):
        fit(model, loss, SGD(), bad, y)
    with pytest.raises(ValueError, match=r"X must have shape \(N, D\)"):
        fit(model, loss, SGD(), X[0], y)
    with pytest.raises(
        ValueError, match=r"^fit: X must have 5 features \(the model's input size\); got 4$"
    ):
        fit(model, loss, SGD(), X[:, :4], y)
    with pytest.raises(ValueError, match=r"y must have shape \(300,\)"):
        fit(model, loss, SGD(), X, y[:-1])
    with pytest.raises(ValueError, match="reduction must be 'mean' or 'sum'"):
        fit(model, CrossEntropyLoss(reduction="none"), SGD(), X, y)


def test_sum_reduction_reports_the_mean_loss(blobs):
    X, y = blobs
    h_mean = fit(
        build_mlp(5, [4], 3, rng=0), CrossEntropyLoss(), SGD(lr=0.0), X, y, epochs=1, rng=0
    )
    h_sum = fit(
        build_mlp(5, [4], 3, rng=0),
        CrossEntropyLoss(reduction="sum"),
        SGD(lr=0.0),
        X,
        y,
        epochs=1,
        rng=0,
    )
    assert math.isclose(h_mean.train_loss[0], h_sum.train_loss[0], rel_tol=1e-6)


def test_digits_reach_95_percent_in_a_few_epochs():
    from sklearn.datasets import load_digits

    digits = load_digits()
    X = (digits.data / 16.0).astype(np.float32)
    y = digits.target
    gen = np.random.default_rng(0)
    order = gen.permutation(len(X))
    train, test = order[:1400], order[1400:]
    model = build_mlp(64, [100], 10, rng=0)
    fit(
        model, CrossEntropyLoss(), Adam(lr=3e-3), X[train], y[train], epochs=8, batch_size=32, rng=0
    )
    from softgrad.training import evaluate

    _, accuracy = evaluate(model, X[test], y[test])
    assert accuracy >= 0.95, accuracy


def test_fit_updates_a_packed_network_in_one_flat_pass(blobs):
    # the speed path (softgrad.optim.flat) is the one fit takes on a plain Sequential
    X, y = blobs
    model = build_mlp(5, [16], 3, rng=0)
    opt = SGD(lr=0.1, momentum=0.9)
    fit(model, CrossEntropyLoss(), opt, X, y, epochs=1, batch_size=64, rng=0)
    assert opt._flat is not None and opt._flat.store is model.named_params().store
    assert opt.state_dict()["step.0.W"] == 5  # 300 rows in batches of 64


def test_fit_reads_the_gradients_a_layer_assigns_anew_each_backward(blobs):
    # Layer.backward "assigns" grads[name]: a layer may put a fresh array there every step
    from softgrad.nn import Linear, ReLU, Sequential

    class FreshGrads(Linear):
        def backward(self, grad_y, input_grad=True):
            out = super().backward(grad_y, input_grad)
            self.grads = {k: v.copy() for k, v in self.grads.items()}
            return out

    X, y = blobs
    seen = []

    class Spy(SGD):
        def step(self, params, grads):
            seen.append(grads["2.W"].copy())
            super().step(params, grads)

    model = Sequential(Linear(5, 8, rng=0), ReLU(), FreshGrads(8, 3, rng=1))
    fit(model, CrossEntropyLoss(), Spy(lr=0.1), X, y, epochs=1, batch_size=100, rng=0)
    assert len(seen) == 3
    assert not np.array_equal(seen[0], seen[1]) and not np.array_equal(seen[1], seen[2])


def test_a_layer_that_assigns_fresh_arrays_during_fit_is_trained_on_them(blobs):
    # the store copies an array a layer put in place of its view back in (at named_grads()
    # and at the optimizer's step), so fit's flat update and its L2 term see the new values
    from softgrad.nn import Linear, ReLU, Sequential

    class FreshArrays(Linear):  # a new gradient dict each backward, a new bias array each forward
        def forward(self, x):
            self.params["b"] = self.params["b"].copy()
            return super().forward(x)

        def backward(self, grad_y, input_grad=True):
            out = super().backward(grad_y, input_grad)
            self.grads = {k: v.copy() for k, v in self.grads.items()}
            return out

    X, y = blobs
    weights = []
    for cls in (Linear, FreshArrays):
        model = Sequential(
            cls(X.shape[1], 8, rng=0, dtype=np.float64),
            ReLU(),
            Linear(8, 3, rng=1, dtype=np.float64),
        )
        opt = SGD(lr=0.1, momentum=0.9, fold_gradients=False)  # every step writes the gradients
        fit(model, CrossEntropyLoss(), opt, X, y, epochs=2, batch_size=32, rng=0, l2_penalty=0.01)
        assert opt._flat is not None  # trained on the flat path throughout
        weights.append(_weights(model))
    for name, value in weights[0].items():
        np.testing.assert_array_equal(weights[1][name], value, err_msg=name)


@pytest.mark.parametrize("name", ["epochs", "batch_size", "patience"])
def test_a_size_that_is_not_an_int_is_a_type_error_in_the_same_words(blobs, name):
    # softgrad.checks.check_positive_int: TypeError for the wrong type, ValueError below 1
    X, y = blobs
    model = build_mlp(X.shape[1], [4], 3, rng=0)
    with pytest.raises(TypeError, match=f"^fit: {name} must be a positive int; got 2.5$"):
        fit(model, CrossEntropyLoss(), SGD(lr=0.1), X, y, rng=0, **{name: 2.5})


@pytest.mark.parametrize("bad", [1e20, np.inf, np.nan, 1.5, -0.5])
def test_a_target_that_is_not_a_whole_number_is_named_by_its_index(blobs, bad):
    # 1e20 was cast to -2**63 with a RuntimeWarning and reported as such; inf warned in mod
    X, y = blobs
    y = y.astype(np.float64)
    y[7] = bad
    expected = f"fit: y must hold integer class indices; got {bad!r} at index 7"
    with pytest.raises(TypeError, match=re.escape(expected)):
        fit(build_mlp(5, [4], 3, rng=0), CrossEntropyLoss(), SGD(), X, y)


def test_nan_in_x_is_named_by_row_and_column(blobs):
    X, y = blobs
    X = X.copy()
    X[13, 2] = np.nan
    with pytest.raises(ValueError, match=r"^fit: X must be finite; got nan in row 13, column 2$"):
        fit(build_mlp(5, [4], 3, rng=0), CrossEntropyLoss(), SGD(), X, y)


def test_evaluate_takes_whole_float_targets_as_fit_does(blobs):
    X, y = blobs
    model = build_mlp(5, [4], 3, rng=0)
    assert evaluate(model, X, y.astype(np.float64)) == evaluate(model, X, y)
    y = y.astype(np.float64)
    y[4] = 0.5
    with pytest.raises(TypeError, match=r"^evaluate: y must hold integer class indices; got 0.5 "):
        evaluate(model, X, y)


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"enabled": "x"}, TypeError, "^EarlyStopping: enabled must be a bool; got 'x'$"),
        ({"patience": 0}, ValueError, "^EarlyStopping: patience must be a positive int; got 0$"),
        ({"min_delta": -1.0}, ValueError, "^EarlyStopping: min_delta must be"),
        ({"restore_best": 1}, TypeError, "^EarlyStopping: restore_best must be a bool"),
    ],
)
def test_early_stopping_built_by_hand_names_itself(kwargs, error, message):
    # it named fit and fit's argument early_stopping, which the caller had not called
    from softgrad.training import EarlyStopping

    with pytest.raises(error, match=message):
        EarlyStopping(**kwargs)
