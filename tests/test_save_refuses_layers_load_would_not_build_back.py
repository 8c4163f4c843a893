"""save writes only networks that load builds back as they were: load builds a Sequential and
each layer by its class name, so a layer of another class was written and then either refused
on load (a subclass) or built as softgrad's layer of that name (another computation)."""

import numpy as np
import pytest

import softgrad
from softgrad.nn import Layer, Linear, ReLU, Sequential


class Tanh(Layer):
    """The user's own layer that happens to share softgrad's name: it doubles its input."""

    def forward(self, x):
        return 2 * x

    def backward(self, grad_y, input_grad=True):
        return 2 * grad_y


class MyReLU(ReLU):
    pass


class MySequential(Sequential):
    pass


@pytest.mark.parametrize(
    ("network", "message"),
    [
        # loaded as softgrad's Tanh, it predicted other probabilities than the saved model
        (Sequential(Linear(3, 2, rng=0), Tanh()), r"layer 1 must be .*; got .*\.Tanh$"),
        # written, then refused by load ("'type' one of [...]; got ... 'MyReLU'")
        (Sequential(Linear(3, 2, rng=0), MyReLU()), r"layer 1 must be .*; got .*\.MyReLU$"),
        (
            Sequential(Linear(3, 4, rng=0), Sequential(MyReLU(), Linear(4, 2, rng=1))),
            r"layer 1\.0 must be one of softgrad's layers \['Dropout', .*\] \(load builds each "
            r"by its class name\); got .*\.MyReLU$",
        ),
        (MySequential(Linear(3, 2, rng=0)), r"network must be a softgrad Sequential"),
    ],
)
def test_save_refuses_a_layer_load_would_not_build_back(tmp_path, network, message):
    with pytest.raises(ValueError, match=r"^save: '.*m\.npz' not written: " + message):
        softgrad.Model(network, [0, 1]).save(tmp_path / "m.npz")
    assert not (tmp_path / "m.npz").exists()


def test_every_softgrad_layer_is_saved_and_built_back(tmp_path):
    from softgrad.nn import Dropout, Identity, LogSoftmax, Sigmoid, Softmax
    from softgrad.nn import Tanh as SoftgradTanh

    network = Sequential(
        Linear(3, 4, rng=0),
        SoftgradTanh(),
        Sequential(Sigmoid(), Dropout(0.5), Identity(), ReLU(inplace=True)),
        Linear(4, 2, rng=1),
        Softmax(),
        LogSoftmax(),
    )
    softgrad.save(network, tmp_path / "m.npz", classes=[0, 1])
    loaded = softgrad.load(tmp_path / "m.npz").network
    assert loaded.get_config() == network.get_config()
    x = np.linspace(-1, 1, 6, dtype=np.float32).reshape(2, 3)
    network.eval(), loaded.eval()
    np.testing.assert_array_equal(loaded.forward(x), network.forward(x))
