"""The trusted step (softgrad.training.trusted_step): in an epoch where nothing that could change
training runs between batches, the full-size batches after a checked step skip the checks, and
training computes what the checked steps compute, bit for bit: the weights, the optimizer's
state and step counts, the history. Any batch hook that does not say it only reads, sample
weights, a subclass's own step or optimizer step, keep every step checked. Gradient folding
(SGD's gradients folded into its update, test_folded_step.py) is off in every SGD here
(fold_gradients=False): it trains to a rounding per step, not bit for bit."""

import itertools

import numpy as np
import pytest

from softgrad.coded_rows import CodedRows
from softgrad.nn import CrossEntropyLoss, LogisticLoss, build_mlp
from softgrad.optim import SGD, Adam, AdamW
from softgrad.preprocessing import ScaledRows, Scaler
from softgrad.training import Callback, fit, trusted_step
from softgrad.training.epoch_runner import EpochRunner

OPTIMIZERS = {
    "sgd momentum": lambda: SGD(lr=0.05, momentum=0.9, fold_gradients=False),
    "sgd nesterov decay": lambda: SGD(
        lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-3, fold_gradients=False
    ),
    "adam": lambda: Adam(lr=0.01),
    "adamw": lambda: AdamW(lr=0.01, weight_decay=0.01),
}


class _Calls(list):
    """The batches trusted steps ran; ``off()`` keeps every later step checked."""

    off = None


@pytest.fixture
def trusted_calls(monkeypatch):
    """The batch numbers trusted steps ran, in order (_Calls)."""
    calls = _Calls()
    real_call = trusted_step.TrustedStep.__call__

    def counted(self, idx, batch):
        calls.append(batch)
        return real_call(self, idx, batch)

    monkeypatch.setattr(trusted_step.TrustedStep, "__call__", counted)

    def off():
        monkeypatch.setattr(trusted_step.TrustedStep, "build", classmethod(lambda *a: None))

    calls.off = off
    return calls


def _train(X, y, make_opt, dtype=np.float32, trusted=True, calls=None, **kwargs):
    if not trusted:
        calls.off()
    model = build_mlp(X.shape[1], [16], 3, rng=0, dtype=dtype)
    opt = make_opt()
    loss = CrossEntropyLoss(reduction=kwargs.pop("reduction", "mean"))
    history = fit(model, loss, opt, X, y, epochs=3, batch_size=32, rng=1, **kwargs)
    return model, opt, history


def _same_training(a, b):
    (model_a, opt_a, hist_a), (model_b, opt_b, hist_b) = a, b
    pa, pb = model_a.named_params(), model_b.named_params()
    for key in pa:
        np.testing.assert_array_equal(pa[key], pb[key], err_msg=key)
    assert opt_a._steps == opt_b._steps
    for key, slots in opt_b._slots.items():
        for name, value in slots.items():
            np.testing.assert_array_equal(opt_a._slots[key][name], value, err_msg=(key, name))
    assert (hist_a.train_loss, hist_a.train_acc) == (hist_b.train_loss, hist_b.train_acc)


@pytest.mark.parametrize("name", list(OPTIMIZERS))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("options", [{}, {"l2_penalty": 1e-3}], ids=["plain", "l2 penalty"])
def test_trusted_steps_train_as_the_checked_ones_bit_for_bit(
    name, dtype, options, blobs, trusted_calls, kernel_lane
):
    X, y = blobs  # 300 rows: 9 full batches of 32 and a short one per epoch
    X = X.astype(dtype)
    trusted = _train(X, y, OPTIMIZERS[name], dtype, **options)
    # batches 2-9 of each epoch: the first is checked (and binds), the short last one too
    assert trusted_calls == list(range(2, 10)) * 3
    checked = _train(X, y, OPTIMIZERS[name], dtype, trusted=False, calls=trusted_calls, **options)
    assert len(trusted_calls) == 24  # none more
    _same_training(trusted, checked)


@pytest.mark.parametrize("name", ["sgd nesterov decay", "adam"])
def test_one_logistic_output_trains_as_its_checked_steps_bit_for_bit(name, blobs, trusted_calls):
    # scikit-learn's binary layout: one logistic output, its loss capped as the estimator's
    X, y = blobs
    runs = []
    for trusted in (True, False):
        if not trusted:
            trusted_calls.off()
        model, opt = build_mlp(5, [16], 1, rng=0), OPTIMIZERS[name]()
        loss = LogisticLoss(max_sample_loss=0.3)
        history = fit(model, loss, opt, X, y % 2, epochs=3, batch_size=32, rng=1, l2_penalty=1e-3)
        runs.append((model, opt, history))
        if trusted:
            assert trusted_calls == list(range(2, 10)) * 3
    _same_training(*runs)


def test_trusted_steps_gather_into_two_input_buffers_in_turns(blobs, monkeypatch, trusted_calls):
    # each batch goes where the last product did not just read (trusted_step's docstring); the
    # bit-for-bit tests above show the turns change nothing in what is computed
    from softgrad.training import epoch_runner

    X, y = blobs
    seen, bound = [], []
    real, real_bind = epoch_runner.gather_rows, trusted_step.bind_gather_rows

    def watched(rows, idx, out):  # the checked steps' gather
        seen.append(out.ctypes.data)
        return real(rows, idx, out)

    def bind_watched(rows, out):  # the trusted steps' gathers, one bound per buffer
        take = real_bind(rows, out)

        def run(idx):
            seen.append(out.ctypes.data)
            bound.append(out.ctypes.data)
            return take(idx)

        return run

    monkeypatch.setattr(epoch_runner, "gather_rows", watched)
    monkeypatch.setattr(trusted_step, "bind_gather_rows", bind_watched)
    _train(X, y, OPTIMIZERS["sgd momentum"], calls=trusted_calls)
    assert trusted_calls == list(range(2, 10)) * 3
    assert len(bound) == len(trusted_calls)  # every trusted batch through a bound gather
    full = seen[:9]  # epoch 1's full batches: the checked first one, then 8 trusted
    assert len(set(full)) == 2
    assert all(a != b for a, b in itertools.pairwise(full))


def test_no_trusted_step_where_the_plan_binds_none(blobs, trusted_calls):
    # a loss summed over the batch takes the plan's own step (no bound calls): all checked
    X, y = blobs
    _train(X, y, OPTIMIZERS["adam"], reduction="sum")
    assert trusted_calls == []


def test_stored_uint8_rows_gathered_and_scaled_train_the_same(blobs, trusted_calls):
    X, y = blobs
    pixels = np.clip(np.rint((X - X.min()) * 20), 0, 255).astype(np.uint8)
    rows = ScaledRows(pixels, Scaler.for_range(255))
    trusted = _train(rows, y, OPTIMIZERS["adam"])
    assert trusted_calls
    _same_training(trusted, _train(rows, y, OPTIMIZERS["adam"], trusted=False, calls=trusted_calls))


def test_coded_float_rows_train_the_same(blobs, trusted_calls):
    X, y = blobs
    levels = np.clip(np.rint((X - X.min()) * 20), 0, 255).astype(np.uint8)
    rows = CodedRows(levels, np.arange(256) / 255.0)  # float64 values: read in the model's dtype
    trusted = _train(rows, y, OPTIMIZERS["sgd nesterov decay"])
    assert trusted_calls
    checked = _train(rows, y, OPTIMIZERS["sgd nesterov decay"], trusted=False, calls=trusted_calls)
    _same_training(trusted, checked)
    # and the same training as on the floats the codes stand for
    _same_training(trusted, _train(levels / 255.0, y, OPTIMIZERS["sgd nesterov decay"]))


class _Reads(Callback):
    batch_hook_reads_only = True

    def __init__(self):
        self.losses = []

    def on_batch_end(self, state):
        self.losses.append(state.logs["loss"])


class _Changes(Callback):
    def on_batch_end(self, state):
        state.model[0].params["W"][0, 0] += 0.0  # it could change anything


def test_a_batch_hook_that_only_reads_keeps_the_trusted_steps(blobs, trusted_calls):
    X, y = blobs
    reads = _Reads()
    trusted = _train(X, y, OPTIMIZERS["sgd momentum"], callbacks=[reads])
    assert len(trusted_calls) == 24
    again = _Reads()
    checked = _train(
        X, y, OPTIMIZERS["sgd momentum"], trusted=False, calls=trusted_calls, callbacks=[again]
    )
    assert reads.losses == again.losses and len(reads.losses) == 30  # every batch heard
    _same_training(trusted, checked)


@pytest.mark.parametrize(
    "hook",
    [_Changes(), type("Plain", (), {"on_batch_end": lambda self, state: None})()],
    ids=["a Callback", "any object"],
)
def test_any_other_batch_hook_keeps_every_step_checked(hook, blobs, trusted_calls):
    X, y = blobs
    _train(X, y, OPTIMIZERS["adam"], callbacks=[_Reads(), hook])
    assert trusted_calls == []


def test_sample_weights_keep_every_step_checked(blobs, trusted_calls):
    X, y = blobs
    _train(X, y, OPTIMIZERS["adam"], sample_weight=np.ones(len(y)))
    assert trusted_calls == []


def test_an_optimizer_with_its_own_step_takes_it_at_every_batch(blobs, trusted_calls):
    class Clipped(SGD):
        steps = 0

        def step(self, params, grads):
            type(self).steps += 1
            super().step(params, grads)

    X, y = blobs
    _train(X, y, lambda: Clipped(lr=0.05))
    assert trusted_calls == [] and Clipped.steps == 30


@pytest.mark.parametrize("part", ["_step", "_gather", "_forward_loss", "_backward"])
def test_a_runner_with_its_own_step_or_part_of_it_takes_it_at_every_batch(
    part, blobs, trusted_calls
):
    def counted(self, *args):
        type(self).steps += 1
        return getattr(EpochRunner, part)(self, *args)

    Counting = type("Counting", (EpochRunner,), {"steps": 0, part: counted})

    X, y = blobs
    model = build_mlp(5, [16], 3, rng=0)
    runner = Counting(
        model, CrossEntropyLoss(), SGD(lr=0.05, fold_gradients=False), X, y, None, 32, 0.0
    )
    from softgrad.training.callbacks import CallbackList, TrainState

    runner.run(np.arange(len(y)), TrainState(epoch=1), CallbackList(()))
    assert trusted_calls == [] and Counting.steps == 10


def test_divergence_in_a_trusted_step_is_reported_as_in_a_checked_one(blobs, trusted_calls):
    from softgrad.errors import DivergenceError

    X, y = blobs
    X = X * 1e18  # the loss overflows within the first epoch, after a few full batches
    errors = []
    for trusted in (True, False):
        with pytest.raises(DivergenceError) as info:
            _train(
                X,
                y,
                lambda: SGD(lr=1e6, fold_gradients=False),
                trusted=trusted,
                calls=trusted_calls,
            )
        errors.append((str(info.value), info.value.epoch, info.value.batch))
    assert errors[0] == errors[1]
    assert errors[0][2] >= 2 and trusted_calls[-1] == errors[0][2]  # in a trusted step
