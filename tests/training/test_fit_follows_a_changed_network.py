"""A callback that swaps a layer or casts the network (a new parameter store) between batches or
epochs: fit trains the network as it is now, as a second fit on the changed network would, and
never the arrays it started with. In a hand-written loop, dicts of two stores are refused."""

import numpy as np
import pytest

from softgrad.nn import CrossEntropyLoss, Linear, ReLU, Sequential
from softgrad.optim import SGD, Adam
from softgrad.training import Callback, fit

OPTIMIZERS = {"sgd": lambda: SGD(lr=0.1, momentum=0.9), "adam": lambda: Adam(lr=0.01)}


def _net():
    return Sequential(Linear(5, 16, rng=0), ReLU(), Linear(16, 3, rng=1))


def _change(model, how):
    if how == "swap":
        model.layers[0] = Linear(5, 16, rng=5)
    else:
        model.astype(np.float64)


class _ChangeAfterEpoch(Callback):
    def __init__(self, how):
        self.how = how

    def on_epoch_end(self, state):
        if state.epoch == 1:
            _change(state.model, self.how)


@pytest.mark.parametrize("how", ["swap", "astype"])
@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_a_network_changed_after_an_epoch_trains_as_a_second_fit_would(how, name, blobs):
    X, y = blobs
    kwargs = {"batch_size": 32, "shuffle": False}
    changed, opt = _net(), OPTIMIZERS[name]()
    callbacks = [_ChangeAfterEpoch(how)]
    history = fit(changed, CrossEntropyLoss(), opt, X, y, epochs=3, callbacks=callbacks, **kwargs)
    by_hand, again = _net(), OPTIMIZERS[name]()
    fit(by_hand, CrossEntropyLoss(), again, X, y, epochs=1, **kwargs)
    _change(by_hand, how)
    second = fit(by_hand, CrossEntropyLoss(), again, X, y, epochs=2, **kwargs)
    dtype = by_hand.named_params()["0.W"].dtype
    tolerance = 100 * np.finfo(np.float32).eps  # the same steps (float32 before the cast)
    np.testing.assert_allclose(history.train_loss[1:], second.train_loss, rtol=tolerance)
    for key, value in by_hand.named_params().items():
        got = changed.named_params()[key]
        assert got.dtype == dtype
        np.testing.assert_allclose(got, value, rtol=tolerance, atol=tolerance, err_msg=key)


class _SwapMidEpoch(Callback):
    batch_hook_reads_only = False

    def __init__(self):
        self.swapped = None

    def on_batch_end(self, state):
        if state.epoch == 1 and state.batch == 3:
            state.model.layers[0] = Linear(5, 16, rng=5)
            self.swapped = state.model.layers[0].params["W"].copy()


@pytest.mark.parametrize("weighted", [False, True])
def test_a_layer_swapped_between_two_batches_trains_from_the_next_one(weighted, blobs):
    X, y = blobs
    model, swap = _net(), _SwapMidEpoch()
    weights = np.ones(len(y)) if weighted else None
    history = fit(model, CrossEntropyLoss(), SGD(lr=0.1, momentum=0.9), X, y, epochs=2,
                  batch_size=32, rng=0, callbacks=[swap], sample_weight=weights,
                  l2_penalty=0.1)  # fmt: skip
    now = model.layers[0].params["W"]
    assert np.abs(now - swap.swapped).max() > 1e-2  # it trained: it was left alone before
    assert history.train_loss[1] < history.train_loss[0]


def test_dicts_of_two_stores_are_refused_by_the_step(rng):
    model = _net()
    params = model.named_params()
    model.layers[0] = Linear(5, 16, rng=7)  # a new store: params above is stale
    before = {key: value.copy() for key, value in model.named_params().items()}
    model.forward(rng.standard_normal((4, 5)).astype(np.float32))
    model.backward(np.ones((4, 3), np.float32), input_grad=False)
    with pytest.raises(RuntimeError, match=r"^SGD\.step: params and grads must be one network's"):
        SGD(lr=0.1).step(params, model.named_grads())
    for key, value in model.named_params().items():
        np.testing.assert_array_equal(value, before[key])
