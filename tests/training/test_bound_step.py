"""The bound step (softgrad.training.bound_step): a full-size batch of a planned run takes the
calls its plan bound once, computing what the plan's own step computes bit for bit (the same
kernels in the same order on the same lane), and the plan's own step runs whenever the bound
calls would not be its step (a short batch, a loss setting, another lane, a bad target)."""

import numpy as np
import pytest

from softgrad.kernels import registry
from softgrad.kernels.numpy_ops import NumpyOps
from softgrad.nn import (
    CrossEntropyLoss,
    Identity,
    Linear,
    LogisticLoss,
    ReLU,
    Sequential,
    Sigmoid,
    Tanh,
    build_mlp,
)
from softgrad.optim import SGD
from softgrad.training import fit
from softgrad.training.bound_step import BoundStep
from softgrad.training.epoch_runner import EpochRunner

ACTIVATIONS = {"relu": ReLU, "tanh": Tanh, "sigmoid": Sigmoid, "identity": Identity}


def _network(activation, dtype, bias=True, seed=0):
    rng = np.random.default_rng(seed)
    return Sequential(
        Linear(5, 16, bias=bias, rng=rng, dtype=dtype),
        ACTIVATIONS[activation](),
        Linear(16, 8, bias=bias, rng=rng, dtype=dtype),
        ACTIVATIONS[activation](),
        Linear(8, 3, bias=bias, rng=rng, dtype=dtype),
    )


def _runner(model, X, y, loss=None, batch_size=32):
    loss = CrossEntropyLoss() if loss is None else loss
    return EpochRunner(model, loss, SGD(lr=0.1), X, y, None, batch_size, 0.0)


def _step(plan, x, t):
    """The plan's forward_loss and backward; the loss, hits, dL/dlogits and gradients."""
    step = plan.forward_loss(x, t)
    grad = step.grad.copy()
    plan.backward(step.grad)
    grads = {k: v.copy() for k, v in plan.model.named_grads().items()}
    return step.loss, step.correct, grad, grads


@pytest.mark.parametrize("activation", list(ACTIVATIONS))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("bias", [True, False])
def test_the_bound_step_is_the_plan_s_step_bit_for_bit(activation, dtype, bias, kernel_lane, blobs):
    X, y = blobs
    model = _network(activation, dtype, bias)
    runner = _runner(model, X.astype(dtype), y)
    plan = runner.plan
    assert isinstance(plan.bound, BoundStep)
    x, t = runner._gather(np.arange(40, 72))
    assert x is runner.x_buf and t is runner.t_buf  # a full batch: the bound buffers
    bound = _step(plan, x, t)
    assert plan._bound_ran
    kept = [layer._x for layer in model.layers[::2]], [a._y for a in model.layers[1::2]]
    # the same rows through the plan's own step (a view of the buffers is not bound)
    planned = _step(plan, x[:], t[:])
    assert not plan._bound_ran
    assert bound[:2] == planned[:2]
    np.testing.assert_array_equal(bound[2], planned[2])
    assert bound[3].keys() == planned[3].keys()
    for key, value in planned[3].items():
        np.testing.assert_array_equal(bound[3][key], value, err_msg=key)
    # every layer kept the arrays its public backward reads, as after the plan's own step
    for layer, x_kept in zip(model.layers[::2], kept[0], strict=True):
        assert np.shares_memory(x_kept, layer._x) and x_kept.shape == layer._x.shape
    for act, y_kept in zip(model.layers[1::2], kept[1], strict=True):
        np.testing.assert_array_equal(y_kept, act._y)


def test_full_batches_take_the_bound_step_and_the_short_last_one_the_plan(blobs, monkeypatch):
    X, y = blobs  # 300 samples, batches of 32: 9 full and one of 12
    calls = []
    original = BoundStep.forward_loss

    def counted(self):
        calls.append(self.x.shape[0])
        return original(self)

    monkeypatch.setattr(BoundStep, "forward_loss", counted)
    model = build_mlp(5, [16], 3, rng=0)
    fit(model, CrossEntropyLoss(), SGD(lr=0.1), X, y, epochs=2, batch_size=32, rng=0)
    assert calls == [32] * 18


@pytest.mark.parametrize("cap", [None, 0.3])  # 0.3: some samples' losses pass it
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_one_logistic_output_takes_the_bound_step_bit_for_bit(cap, dtype, blobs, kernel_lane):
    # scikit-learn's binary layout (the estimator's, capped): the plan's own call, bound
    X, y = blobs
    model = build_mlp(5, [16], 1, rng=0, dtype=dtype)
    runner = _runner(model, X.astype(dtype), y % 2, LogisticLoss(max_sample_loss=cap))
    plan = runner.plan
    assert isinstance(plan.bound, BoundStep)
    x, t = runner._gather(np.arange(40, 72))
    bound = _step(plan, x, t)
    assert plan._bound_ran
    planned = _step(plan, x[:], t[:])
    assert not plan._bound_ran
    assert bound[:2] == planned[:2]
    np.testing.assert_array_equal(bound[2], planned[2])
    for key, value in planned[3].items():
        np.testing.assert_array_equal(bound[3][key], value, err_msg=key)


@pytest.mark.parametrize("cap", [0.5, 50.0])  # 0.5: some samples' losses pass it
def test_a_capped_loss_takes_the_bound_step_and_reports_the_capped_mean(cap, blobs):
    # the estimator's loss (scikit-learn reports each sample's loss as at most -log(eps))
    X, y = blobs
    capped = _runner(build_mlp(5, [16], 3, rng=0), X, y, CrossEntropyLoss(max_sample_loss=cap))
    x, t = capped._gather(np.arange(32))
    bound = capped.plan.forward_loss(x, t)
    assert capped.plan._bound_ran
    loss, correct, grad = bound.loss, bound.correct, bound.grad.copy()
    planned = capped.plan.forward_loss(x[:], t[:])  # other arrays: the plan's own step
    assert not capped.plan._bound_ran
    assert (loss, correct) == (planned.loss, planned.correct)
    np.testing.assert_array_equal(grad, planned.grad)
    plain = _runner(build_mlp(5, [16], 3, rng=0), X, y, CrossEntropyLoss())
    uncapped = plain.plan.forward_loss(*plain._gather(np.arange(32)))
    np.testing.assert_array_equal(grad, uncapped.grad)  # the cap leaves the gradient alone
    assert loss <= cap and (loss < uncapped.loss if cap < 1 else loss == uncapped.loss)


@pytest.mark.parametrize("change", ["ignore_index", "lane"])
def test_a_change_the_bound_calls_do_not_cover_runs_the_plan_s_step(change, blobs, monkeypatch):
    X, y = blobs
    loss = CrossEntropyLoss()
    runner = _runner(build_mlp(5, [16], 3, rng=0), X, y, loss)
    plan = runner.plan
    x, t = runner._gather(np.arange(32))
    plan.forward_loss(x, t)
    assert plan._bound_ran
    if change == "lane":  # set_kernels between two batches: the new lane's routines run
        monkeypatch.setattr(registry, "_active", {"ops": NumpyOps()})
    else:
        setattr(loss, change, 0 if change == "ignore_index" else 5.0)
    assert plan.ready() and not plan.bound.usable()
    plan.forward_loss(x, t)
    assert not plan._bound_ran


def test_a_target_outside_the_classes_is_refused_as_the_plan_refuses_it(blobs):
    X, y = blobs
    runner = _runner(build_mlp(5, [16], 3, rng=0), X, y)
    x, t = runner._gather(np.arange(32))
    t[5] = 7
    with pytest.raises(Exception) as bound:
        runner.plan.forward_loss(x, t)
    with pytest.raises(Exception) as planned:
        runner.plan.forward_loss(x[:], t[:])
    assert type(bound.value) is type(planned.value) is ValueError
    assert (
        str(bound.value)
        == str(planned.value)
        == (
            "CrossEntropyLoss: target must be class indices in [0, 2] (or ignore_index); "
            "got 7 at index (5,)"
        )
    )


def test_no_bound_step_where_the_plan_s_step_alone_applies(blobs):
    X, y = blobs
    weights = np.ones(len(y), np.float32)
    weighted = EpochRunner(
        build_mlp(5, [16], 3, rng=0), CrossEntropyLoss(), SGD(lr=0.1), X, y, weights, 32, 0.0
    )
    assert weighted.plan is not None and weighted.plan.bound is None
    as_float64 = _runner(build_mlp(5, [16], 3, rng=0), X.astype(np.float64), y)
    assert as_float64.plan is None  # float32 weights, float64 batches: no plan at all
