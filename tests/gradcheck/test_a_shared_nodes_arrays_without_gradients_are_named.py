"""A node every copy shares with the user's object (one that cannot be copied) whose arrays
backward sets no gradient for is named in a note: its W went unsaid, where a node of the copy's
own has its constants named (a backward that forgot dW looked fine)."""

import numpy as np

from softgrad import gradcheck


class HandleLinear:
    """A Linear holding a device handle, which cannot be copied."""

    def __init__(self, rng, sets_dW):
        self.W = rng.standard_normal((4, 3))
        self.sets_dW = sets_dW

    def __deepcopy__(self, memo):
        raise TypeError("a device handle cannot be copied")

    __copy__ = __deepcopy__

    def forward(self, x):
        self.x = x
        return x @ self.W

    def backward(self, g):
        if self.sets_dW:
            self.dW = self.x.T @ g
        return g @ self.W.T


class Net:
    def __init__(self, rng, sets_dW):
        self.layers = [HandleLinear(rng, sets_dW)]

    def forward(self, x):
        return self.layers[0].forward(x)

    def backward(self, g):
        return self.layers[0].backward(g)


NOTE = (
    "arrays on the nodes shared with your object that backward set no gradient attribute "
    "(dP, d_P or grad_P) for were taken as constants or caches, and not checked: "
)


def test_a_shared_nodes_weight_without_a_gradient_is_named():
    rng = np.random.default_rng(0)
    result = gradcheck(Net(rng, sets_dW=False), rng.standard_normal((5, 4)), rng=rng)
    assert [c.name for c in result.checks] == ["x"]
    assert NOTE + "self.layers[0].W" in result.notes


def test_a_shared_nodes_weight_with_a_gradient_is_not_named_so():
    rng = np.random.default_rng(0)
    result = gradcheck(Net(rng, sets_dW=True), rng.standard_normal((5, 4)), rng=rng)
    assert not any(note.startswith(NOTE) for note in result.notes), result.notes
