"""A callback that swaps a layer or casts the network (a new parameter store) between batches or
epochs: fit trains the network as it is now, as a second fit on the changed network would, and
never the arrays it started with. In a hand-written loop, dicts of two stores are refused."""

import numpy as np
import pytest

from softgrad.nn import CrossEntropyLoss, Linear, ReLU, Sequential, build_mlp
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


def _data(n=300):
    """Three classes from two features' signs: a network at lr 5 does worse than at 0.5."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(n, 5)).astype(np.float32)
    return X, (X[:, 0] > 0).astype(int) + (X[:, 1] > 0.5)


def _small():
    return build_mlp(5, [8], 3, rng=0)


def _flat(model):
    return np.concatenate([v.ravel().astype(np.float64) for v in model.named_params().values()])


class _WorseThenCast(Callback):
    """A rate that makes the later epochs worse, and a new store (astype) after epoch 2."""

    def __init__(self, change):
        self.change, self.after = change, {}

    def on_epoch_end(self, state):
        if state.epoch == 1:
            state.optimizer.lr = 5.0
        if state.epoch == 2:
            self.change(state.model)
        self.after[state.epoch] = _flat(state.model)


def test_early_stopping_restores_the_best_weights_into_the_network_as_it_is_now():
    # restore wrote the best weights into the store retired by astype: the live network kept
    # the last epoch's
    X, y = _data()
    model, watch = _small(), _WorseThenCast(lambda model: model.astype(np.float64))
    history = fit(model, CrossEntropyLoss(), SGD(lr=0.5), X, y, epochs=8, rng=0,
                  early_stopping=True, patience=3, callbacks=[watch])  # fmt: skip
    assert history.best_epoch is not None and history.best_epoch < history.epochs
    np.testing.assert_array_equal(_flat(model), watch.after[history.best_epoch])


def test_early_stopping_names_a_network_whose_shapes_changed_since_the_best_epoch():
    # the best epoch's weights cannot go back: a bare "could not broadcast" before
    X, y = _data()

    def wider(model):
        model.layers[0] = Linear(5, 16, rng=3)
        model.layers[2] = Linear(16, 3, rng=4)

    model, watch = _small(), _WorseThenCast(wider)
    with pytest.raises(ValueError) as caught:
        fit(model, CrossEntropyLoss(), SGD(lr=0.5), X, y, epochs=8, rng=0,
            early_stopping=True, patience=3, callbacks=[watch])  # fmt: skip
    assert str(caught.value) == (
        "EarlyStopping.restore: params must have the names and shapes of epoch 2's weights "
        "(restore_best); the network changed since in ['0.W', '0.b', '2.W']: it keeps its last "
        "weights"
    )
    np.testing.assert_array_equal(_flat(model), watch.after[max(watch.after)])


def test_a_reduction_fit_does_not_train_with_is_refused_when_a_callback_sets_it(blobs):
    # "none" gives no batch loss: a bare TypeError from the divergence check before
    X, y = blobs
    loss = CrossEntropyLoss()

    class NoReduction(Callback):
        batch_hook_reads_only = False

        def on_batch_end(self, state):
            if state.batch == 2:
                loss.reduction = "none"

    with pytest.raises(
        ValueError, match=r"^fit: loss reduction must be 'mean' or 'sum'; got 'none'$"
    ):
        fit(_net(), loss, SGD(lr=0.1), X, y, epochs=1, batch_size=32,
            callbacks=[NoReduction()])  # fmt: skip


@pytest.mark.parametrize("at", [3, 9], ids=["batches before", "right before"])
def test_a_diverged_epoch_says_which_weights_a_changed_network_keeps(at):
    # it said "the weights at the start of epoch 2", which no longer existed in the network
    from softgrad.errors import DivergenceError

    X, y = _data(320)  # 10 full batches: the change at batch 9, the divergence at 10
    kept = {}

    class CastAndBlowUp(Callback):
        batch_hook_reads_only = False

        def on_batch_end(self, state):
            if state.epoch == 2 and state.batch == at:
                state.model.astype(np.float64)
                state.model.layers[2].params["W"] *= 1e4
                kept["weights"] = _flat(state.model)

    model = _small()
    with pytest.raises(DivergenceError) as caught:
        fit(model, CrossEntropyLoss(), SGD(lr=0.01), X, y, epochs=3, batch_size=32, rng=0,
            callbacks=[CastAndBlowUp()])  # fmt: skip
    message = str(caught.value)
    if at == 3:  # steps ran on the new store: its weights as the callback left them go back
        assert message.endswith(
            "The model keeps the weights a callback gave it after batch 3 (changing the network)."
        )
    else:  # no step on the new store: the network keeps what the callback gave it
        assert message.endswith(
            "The model keeps the weights a callback gave it (changing the network) after its "
            "last step."
        )
    np.testing.assert_array_equal(_flat(model), kept["weights"])


def test_fit_refuses_an_optimizer_that_stepped_on_another_network(blobs):
    # its "2.*" state would be kept and saved, the model's "3.*" start afresh
    from softgrad.nn import Dropout

    X, y = blobs
    optimizer = Adam(lr=0.01)
    fit(_net(), CrossEntropyLoss(), optimizer, X, y, epochs=1, batch_size=32)
    other = Sequential(Linear(5, 16, rng=0), ReLU(), Dropout(0.0), Linear(16, 3, rng=1))
    before = _flat(other)
    with pytest.raises(ValueError) as caught:
        fit(other, CrossEntropyLoss(), optimizer, X, y, epochs=1, batch_size=32)
    assert str(caught.value) == (
        "fit: optimizer must hold no state of other parameters than the model's; it holds "
        "['2.W', '2.b'], which the model has not, and the model has ['3.W', '3.b'], which it "
        "has no state for (an optimizer used on another network? give a new one)"
    )
    np.testing.assert_array_equal(_flat(other), before)
    fit(_net(), CrossEntropyLoss(), optimizer, X, y, epochs=1, batch_size=32)  # its own: goes on


def test_fit_refuses_an_optimizer_holding_nan_as_load_state_dict_does(blobs):
    # a step by hand on a NaN gradient: every later step NaN (under MPI, the ranks loading
    # rank 0's state refused it alone, and rank 0 waited forever)
    X, y = blobs
    model, optimizer = _net(), SGD(lr=0.1, momentum=0.9)
    grads = {key: np.zeros_like(value) for key, value in model.named_params().items()}
    grads["0.b"][0] = np.nan
    optimizer.step(model.named_params(), grads)
    for value in model.named_params().values():
        value[...] = np.nan_to_num(value)
    with pytest.raises(ValueError, match=r"^fit: optimizer: momentum_buffer\.0\.b must hold no"):
        fit(model, CrossEntropyLoss(), optimizer, X, y, epochs=1, batch_size=32)
