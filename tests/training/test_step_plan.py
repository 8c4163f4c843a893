"""The step plan (softgrad.training.step_plan) runs for a plain MLP under cross-entropy or, with
one output, under the logistic loss, computes what the layers' public forward and backward
compute, falls back for every other network or loss, and honours a callback that changes the
network or the loss between two batches."""

import numpy as np
import pytest

from softgrad.nn import (
    CrossEntropyLoss,
    Dropout,
    Linear,
    LogisticLoss,
    NLLLoss,
    ReLU,
    Sequential,
    build_mlp,
)
from softgrad.nn.loss import weighted_mean_step
from softgrad.optim import SGD, Adam
from softgrad.training import Callback, fit
from softgrad.training.epoch_runner import EpochRunner
from softgrad.training.step_plan import StepPlan


def _runner(model, loss, X, y, batch_size=32, sample_weight=None):
    return EpochRunner(model, loss, SGD(lr=0.1), X, y, sample_weight, batch_size, 0.0)


def _layers_only(monkeypatch):
    """Train through the public forward and backward (no plan), as before the plan existed."""
    monkeypatch.setattr(StepPlan, "build", classmethod(lambda cls, *a: None))


def _assert_trained_alike(dtype, planned, public, histories=None, same_accuracy=True):
    """A planned and a public run took the same products and kernel calls in the same order:
    a few roundings at most (50 of the dtype) on the weights and, given the two histories, on
    the loss curve, with the same accuracies."""
    tolerance = 50 * np.finfo(dtype).eps
    if histories is not None:
        planned_history, public_history = histories
        np.testing.assert_allclose(
            planned_history.train_loss, public_history.train_loss, rtol=tolerance
        )
        if same_accuracy:
            assert planned_history.train_acc == public_history.train_acc
    for key, value in public.named_params().items():
        np.testing.assert_allclose(
            planned.named_params()[key], value, rtol=tolerance, atol=tolerance
        )


def _train(blobs, dtype, optimizer, seed=3, epochs=3, callbacks=(), **model_options):
    X, y = blobs
    model = build_mlp(5, [16, 8], 3, rng=seed, dtype=dtype, **model_options)
    fit(
        model,
        CrossEntropyLoss(),
        optimizer,
        X.astype(dtype),
        y,
        epochs=epochs,
        batch_size=32,  # 300 samples: a short last batch of 12
        rng=seed,
        callbacks=callbacks,
    )
    return model


def test_a_plain_mlp_under_cross_entropy_gets_a_plan(blobs):
    X, y = blobs
    for hidden, activation in (([16], "relu"), ([16, 8], "tanh"), ([], "relu"), ([4], "sigmoid")):
        model = build_mlp(5, hidden, 3, activation=activation, rng=0)
        runner = _runner(model, CrossEntropyLoss(), X, y)
        assert isinstance(runner.plan, StepPlan), (hidden, activation)


@pytest.mark.parametrize(
    "what",
    ["dropout", "fuse=False", "label smoothing", "sum reduction", "nll",
     "float64 batches for float32 weights", "a softmax layer", "forward replaced",
     "backward replaced", "a layer's forward replaced", "a layer's backward replaced",
     "the loss's forward replaced", "the loss's forward_backward replaced"],
)  # fmt: skip
def test_every_other_network_or_loss_trains_without_a_plan(what, blobs):
    X, y = blobs
    model = build_mlp(5, [16], 3, rng=0)
    loss, weights, inputs = CrossEntropyLoss(), None, X
    if what == "dropout":
        model = build_mlp(5, [16], 3, rng=0, dropout=0.2)
    elif what == "fuse=False":
        model = Sequential(*model.layers, fuse=False)
    elif what == "label smoothing":
        loss = CrossEntropyLoss(label_smoothing=0.1)
    elif what == "sum reduction":
        loss = CrossEntropyLoss(reduction="sum")
    elif what == "nll":
        loss = NLLLoss()
    elif what == "float64 batches for float32 weights":
        inputs = X.astype(np.float64)
    elif what == "a softmax layer":
        from softgrad.nn import Softmax

        model = Sequential(*model.layers, Softmax())
    elif what.startswith("the loss's"):  # on the loss: it must run too
        name = what.split()[2]
        setattr(loss, name, getattr(loss, name))
    elif what.startswith("a layer's"):  # on a layer of a fused pair: it must run too
        name = what.split()[2]
        setattr(model.layers[1], name, getattr(model.layers[1], name))
    elif what.endswith("replaced"):  # a wrapper on the instance (a hook) must run
        name = what.split()[0]
        setattr(model, name, getattr(model, name))
    assert _runner(model, loss, inputs, y, sample_weight=weights).plan is None


@pytest.mark.parametrize("where", ["the network's forward", "a layer's backward"])
def test_a_method_replaced_by_a_callback_runs_from_the_next_batch(where, blobs):
    X, y = blobs
    model = build_mlp(5, [16], 3, rng=0)
    owner, name = (model, "forward") if where == "the network's forward" else (model[1], "backward")
    real, calls = getattr(type(owner), name), []

    def counted(arrays, *args, **kwargs):
        calls.append(len(arrays))
        return real(owner, arrays, *args, **kwargs)

    class Hook(Callback):
        def on_batch_end(self, state):
            if state.batch == 2:
                setattr(owner, name, counted)

    fit(model, CrossEntropyLoss(), SGD(lr=0.1), X, y, epochs=1, batch_size=32, callbacks=[Hook()])
    assert calls == [32] * 7 + [12]  # batches 3 to 10 of 300 samples


@pytest.mark.parametrize("name", ["forward", "backward", "forward_backward"])
def test_a_hook_on_the_loss_runs_at_every_batch_and_trains_alike(name, blobs):
    # the plan called the loss's kernels, and fit its forward_backward: a hook on the
    # instance's forward or backward never ran
    X, y = blobs
    histories = []
    for hooked in (True, False):
        model, loss, calls = build_mlp(5, [16], 3, rng=0), CrossEntropyLoss(), []
        if hooked:
            real = getattr(loss, name)

            def hook(*args, real=real, calls=calls, **kwargs):
                calls.append(name)
                return real(*args, **kwargs)

            setattr(loss, name, hook)
        histories.append(fit(model, loss, SGD(lr=0.1), X, y, epochs=2, batch_size=32, rng=0))
        assert len(calls) == (20 if hooked else 0)  # 10 batches of 300 samples an epoch
    np.testing.assert_allclose(histories[0].train_loss, histories[1].train_loss, rtol=1e-5)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("optimizer", [SGD, Adam])
def test_the_plan_trains_as_the_layers_public_methods_do(dtype, optimizer, blobs, monkeypatch):
    planned = _train(blobs, dtype, optimizer(lr=0.05))
    _layers_only(monkeypatch)
    public = _train(blobs, dtype, optimizer(lr=0.05))
    _assert_trained_alike(dtype, planned, public)


def test_the_layers_keep_what_their_backward_needs_after_a_planned_step(blobs):
    X, y = blobs
    X = X.astype(np.float64)
    model = build_mlp(5, [16], 3, rng=0, dtype=np.float64)
    plan = _runner(model, CrossEntropyLoss(), X, y).plan
    step = plan.forward_loss(X[:20], y[:20])
    np.testing.assert_allclose(
        step.grad,
        CrossEntropyLoss().forward_backward(model.forward(X[:20]), y[:20]).grad,
        rtol=1e-12,
    )
    plan.forward_loss(X[:20], y[:20])
    plan.backward(step.grad)
    planned = {key: value.copy() for key, value in model.named_grads().items()}
    # the public backward from what the plan's forward left in the layers: the same gradients
    model.backward(step.grad.copy(), input_grad=False)
    for key, value in model.named_grads().items():
        np.testing.assert_allclose(value, planned[key], rtol=1e-12, atol=1e-15)


class _SwapWeights(Callback):
    """After batch 2 of epoch 1, replace the first layer's weight array by a new one."""

    def __init__(self, model):
        self.model = model

    def on_batch_end(self, state):
        if state.epoch == 1 and state.batch == 2:
            layer = self.model.layers[0]
            layer.params["W"] = np.full_like(layer.params["W"], 0.01)


class _SmoothLabels(Callback):
    """After batch 3 of epoch 1, switch the loss to label smoothing (no plan covers it)."""

    def __init__(self, loss):
        self.loss = loss

    def on_batch_end(self, state):
        if state.epoch == 1 and state.batch == 3:
            self.loss.label_smoothing = 0.2


class _SwapActivation(Callback):
    """After batch 1 of epoch 1, put a Tanh where the first ReLU was."""

    def __init__(self, model):
        self.model = model

    def on_batch_end(self, state):
        if state.epoch == 1 and state.batch == 1:
            from softgrad.nn import Tanh

            self.model.layers[1] = Tanh()


@pytest.mark.parametrize("change", ["weights", "loss", "activation"])
def test_a_callback_changing_the_network_or_loss_between_batches_is_honoured(
    change, blobs, monkeypatch
):
    def run():
        X, y = blobs
        model = build_mlp(5, [16], 3, rng=1, dtype=np.float64)
        loss = CrossEntropyLoss()
        callback = {
            "weights": _SwapWeights,
            "activation": _SwapActivation,
            "loss": lambda _: _SmoothLabels(loss),
        }[change](model)
        history = fit(
            model, loss, SGD(lr=0.1), X.astype(np.float64), y, epochs=2, batch_size=32,
            rng=0, callbacks=[callback],
        )  # fmt: skip
        return model, history

    planned, planned_history = run()
    _layers_only(monkeypatch)
    public, public_history = run()
    np.testing.assert_allclose(planned_history.train_loss, public_history.train_loss, rtol=1e-12)
    for key, value in public.named_params().items():
        np.testing.assert_allclose(planned.named_params()[key], value, rtol=1e-12, atol=1e-14)


def test_a_plan_is_built_only_for_the_shapes_it_was_given():
    model = Sequential(Linear(4, 6, rng=0), ReLU(), Linear(6, 6, rng=1), Dropout(0.5), Linear(6, 2))
    assert StepPlan.build(model, CrossEntropyLoss(), np.float32, 8) is None
    model = Sequential(Linear(4, 6, rng=0), ReLU(), Linear(6, 2, rng=1))
    plan = StepPlan.build(model, CrossEntropyLoss(), np.float32, 8)
    assert [stage[2].shape for stage in plan.stages] == [(8, 6), (8, 2)]
    assert plan.grad_ins[0] is None  # the first layer computes no input gradient
    assert plan.grad_ins[1].shape == (8, 6)


def _binary(blobs):
    """The blobs as a two-class problem: class 0 against the rest."""
    X, y = blobs
    return X, (y > 0).astype(np.intp)


def _train_binary(blobs, dtype, optimizer, label_smoothing=0.0, seed=3, epochs=3):
    X, y = _binary(blobs)
    model = build_mlp(5, [16, 8], 1, rng=seed, dtype=dtype)
    history = fit(
        model,
        LogisticLoss(label_smoothing=label_smoothing),
        optimizer,
        X.astype(dtype),
        y,
        epochs=epochs,
        batch_size=32,  # 300 samples: a short last batch of 12
        rng=seed,
    )
    return model, history


def test_one_logistic_output_under_the_mean_logistic_loss_gets_a_plan(blobs):
    X, y = _binary(blobs)
    for loss in (LogisticLoss(), LogisticLoss(label_smoothing=0.1)):
        plan = _runner(build_mlp(5, [16], 1, rng=0), loss, X, y).plan
        assert isinstance(plan, StepPlan)
        assert [buffer.shape for buffer in plan.loss_buffers] == [(32, 1), (32, 1), (32,)]
    for loss in (LogisticLoss(reduction="sum"), LogisticLoss(reduction="none")):
        assert _runner(build_mlp(5, [16], 1, rng=0), loss, X, y).plan is None
    # several logistic outputs take probability targets: no plan
    assert StepPlan.build(build_mlp(5, [16], 3, rng=0), LogisticLoss(), np.float32, 8) is None
    weights = np.ones(len(X), np.float32)
    plan = _runner(build_mlp(5, [16], 1, rng=0), LogisticLoss(), X, y, 32, weights).plan
    assert isinstance(plan, StepPlan) and plan.sample_weight is weights


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("label_smoothing", [0.0, 0.2])
def test_the_logistic_fused_step_is_the_public_forward_and_backward(dtype, label_smoothing, rng):
    logits = rng.normal(scale=3.0, size=(20, 1)).astype(dtype)
    logits[0, 0] = 0.0  # class 0 where the logit is not > 0
    target = rng.integers(0, 2, size=20)
    loss = LogisticLoss(label_smoothing=label_smoothing)
    buffers = [np.full((20, 1), np.nan, dtype) for _ in range(3)] + [np.empty(20, bool)]
    step = loss._fused_step(logits, target, None, *buffers)
    # the same row methods in the same order: equal bit for bit
    public = LogisticLoss(label_smoothing=label_smoothing)
    assert step.loss == public.forward(logits, target)
    assert step.grad is buffers[0] and step.grad.dtype == dtype
    np.testing.assert_array_equal(step.grad, public.backward())
    assert step.correct == np.count_nonzero((logits[:, 0] > 0) == target)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("label_smoothing", [0.0, 0.2])
def test_the_weighted_logistic_fused_step_is_the_weighted_mean_of_the_public_losses(
    dtype, label_smoothing, rng
):
    logits = rng.normal(scale=3.0, size=(20, 1)).astype(dtype)
    target = rng.integers(0, 2, size=20)
    weights = rng.uniform(0.0, 2.0, size=20).astype(dtype)
    weights[:3] = 0.0
    loss = LogisticLoss(label_smoothing=label_smoothing)
    buffers = [np.full((20, 1), np.nan, dtype) for _ in range(3)] + [np.empty(20, bool)]
    step = loss._fused_step(logits, target, weights, *buffers)
    # what a step without the plan takes: the per-sample losses' weighted mean, bit for bit
    per_sample = LogisticLoss(reduction="none", label_smoothing=label_smoothing)
    hits = (logits[:, 0] > 0) == target
    public = weighted_mean_step(per_sample, logits, target, weights, hits)
    assert step.loss == public.loss
    assert step.correct == public.correct == float(np.dot(weights, hits))
    assert step.grad is buffers[0]
    np.testing.assert_array_equal(step.grad, public.grad)
    assert not step.grad[:3].any()  # weight 0: no pull
    weightless = loss._fused_step(logits, target, np.zeros(20, dtype), *buffers)
    assert weightless == (0.0, None, 0.0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("optimizer", [SGD, Adam])
def test_the_plan_trains_one_weighted_logistic_output_as_the_public_methods_do(
    dtype, optimizer, blobs, monkeypatch
):
    X, y = _binary(blobs)
    weights = np.random.default_rng(5).uniform(0.0, 2.0, size=len(X)).astype(dtype)
    weights[32:64] = 0.0  # the second batch of every epoch weighs nothing

    def trained():
        model = build_mlp(5, [16, 8], 1, rng=3, dtype=dtype)
        history = fit(
            model,
            LogisticLoss(label_smoothing=0.1),
            optimizer(lr=0.05),
            X.astype(dtype),
            y,
            epochs=3,
            batch_size=32,
            shuffle=False,
            rng=3,
            sample_weight=weights,
            l2_penalty=1e-3,
        )
        return model, history

    planned_weights = []
    fused_step = LogisticLoss._fused_step

    def counted(self, *args):
        planned_weights.append(args[2])
        return fused_step(self, *args)

    monkeypatch.setattr(LogisticLoss, "_fused_step", counted)
    planned, planned_history = trained()
    # every batch of every epoch went through the plan, with its weights
    assert sum(len(batch) for batch in planned_weights) == 3 * len(X)
    _layers_only(monkeypatch)
    public, public_history = trained()
    _assert_trained_alike(dtype, planned, public, (planned_history, public_history))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("optimizer", [SGD, Adam])
@pytest.mark.parametrize("label_smoothing", [0.0, 0.1])
def test_the_plan_trains_one_logistic_output_as_the_public_methods_do(
    dtype, optimizer, label_smoothing, blobs, monkeypatch
):
    planned, planned_history = _train_binary(blobs, dtype, optimizer(lr=0.05), label_smoothing)
    _layers_only(monkeypatch)
    public, public_history = _train_binary(blobs, dtype, optimizer(lr=0.05), label_smoothing)
    _assert_trained_alike(dtype, planned, public, (planned_history, public_history))


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")  # 5 epochs
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_binary_estimator_fits_as_before_the_plan(dtype, blobs, monkeypatch):
    from softgrad.sklearn import MLPClassifier

    X, y = _binary(blobs)
    planned_steps = []
    fused_step = LogisticLoss._fused_step

    def counted(self, *args):
        planned_steps.append(len(args[1]))
        return fused_step(self, *args)

    monkeypatch.setattr(LogisticLoss, "_fused_step", counted)

    def fitted():
        return MLPClassifier(
            hidden_layer_sizes=(16,), max_iter=5, random_state=0, dtype=dtype, alpha=1e-3
        ).fit(X.astype(dtype), y)

    planned = fitted()
    assert sum(planned_steps) == 5 * len(X)  # every sample of every epoch went through the plan
    _layers_only(monkeypatch)
    public = fitted()
    tolerance = 50 * np.finfo(dtype).eps
    np.testing.assert_allclose(planned.loss_curve_, public.loss_curve_, rtol=tolerance)
    for mine, theirs in zip(
        planned.coefs_ + planned.intercepts_, public.coefs_ + public.intercepts_, strict=True
    ):
        np.testing.assert_allclose(mine, theirs, rtol=tolerance, atol=tolerance)
    np.testing.assert_array_equal(planned.predict(X), public.predict(X))


def _train_weighted(blobs, dtype, optimizer, l2_penalty=0.0, loss=None):
    X, y = blobs
    weights = np.random.default_rng(5).uniform(0.0, 2.0, size=len(X)).astype(dtype)
    weights[32:64] = 0.0  # the second batch of every epoch weighs nothing
    if loss is not None and loss.ignore_index is not None:
        y = y.copy()
        y[::7] = loss.ignore_index
        y[64:96] = loss.ignore_index  # the third batch of every epoch counts in no loss
    model = build_mlp(5, [16, 8], 3, rng=3, dtype=dtype)
    history = fit(
        model,
        CrossEntropyLoss() if loss is None else loss,
        optimizer,
        X.astype(dtype),
        y,
        epochs=3,
        batch_size=32,  # 300 samples: a short last batch of 12
        shuffle=False,
        rng=3,
        sample_weight=weights,
        l2_penalty=l2_penalty,
    )
    return model, history


def test_a_plain_mlp_under_weighted_cross_entropy_gets_a_plan(blobs):
    X, y = blobs
    weights = np.ones(len(X), np.float32)
    plan = _runner(build_mlp(5, [16], 3, rng=0), CrossEntropyLoss(), X, y, 32, weights).plan
    assert isinstance(plan, StepPlan) and plan.sample_weight is weights


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("optimizer", [SGD, Adam])
def test_the_plan_trains_with_sample_weights_as_the_public_methods_do(
    dtype, optimizer, blobs, monkeypatch
):
    planned, planned_history = _train_weighted(blobs, dtype, optimizer(lr=0.05), 1e-3)
    _layers_only(monkeypatch)
    public, public_history = _train_weighted(blobs, dtype, optimizer(lr=0.05), 1e-3)
    _assert_trained_alike(
        dtype, planned, public, (planned_history, public_history), same_accuracy=False
    )


@pytest.mark.parametrize("ignore_index", [0, -100])
@pytest.mark.parametrize("max_sample_loss", [None, 0.5])
def test_sample_weights_with_ignore_index_get_a_plan(ignore_index, max_sample_loss, blobs):
    # the pair trained through the public methods until the loss cap's check read an ignored
    # target of -100 as a class (fix-loss8)
    X, y = blobs
    weights = np.ones(len(X), np.float32)
    loss = CrossEntropyLoss(ignore_index=ignore_index, max_sample_loss=max_sample_loss)
    plan = _runner(build_mlp(5, [16], 3, rng=0), loss, X, y, 32, weights).plan
    assert isinstance(plan, StepPlan) and plan.sample_weight is weights


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("ignore_index", [0, -100])
@pytest.mark.parametrize("max_sample_loss", [None, 0.5])  # 0.5: some samples pass it
def test_the_plan_trains_with_sample_weights_and_ignore_index_as_the_public_methods_do(
    dtype, ignore_index, max_sample_loss, blobs, monkeypatch
):
    def train():
        loss = CrossEntropyLoss(ignore_index=ignore_index, max_sample_loss=max_sample_loss)
        return _train_weighted(blobs, dtype, Adam(lr=0.05), 1e-3, loss)

    planned, planned_history = train()
    _layers_only(monkeypatch)
    public, public_history = train()
    _assert_trained_alike(
        dtype, planned, public, (planned_history, public_history), same_accuracy=False
    )


def test_a_planned_batch_that_weighs_nothing_moves_no_weight(blobs):
    X, y = blobs
    model = build_mlp(5, [16], 3, rng=0)
    weights = np.zeros(len(X), np.float32)
    runner = _runner(model, CrossEntropyLoss(), X, y, 32, weights)
    assert runner.plan is not None
    before = {key: value.copy() for key, value in model.named_params().items()}
    assert runner._weighted_step(np.arange(32), 1, 1) == (0.0, 0.0, 0.0, 0.0)
    for key, value in model.named_params().items():
        np.testing.assert_array_equal(value, before[key])
