"""gradcheck on a composite that cannot be deep-copied, whose copies share a node that cannot
be copied at all with the user's object: what the check's forward sets or changes on that node
is put back afterwards, in its ``__slots__`` as in its ``__dict__``, and in the arrays it holds
in tuples and nested containers."""

from __future__ import annotations

import threading

import numpy as np

from softgrad.gradcheck import gradcheck

SHARED_NOTE = (
    "the nodes Net holds that cannot be copied (self.act) are shared with Net: their parameters "
    "were not checked, and their attributes were restored afterwards"
)


class _NoCopy:
    def __deepcopy__(self, memo):
        raise TypeError("no deepcopy")

    def __reduce_ex__(self, protocol):
        raise TypeError("no copy")


class SlotsTanh(_NoCopy):
    __slots__ = ("calls", "y")

    def __init__(self):
        self.calls = 0

    def forward(self, x):
        self.calls += 1
        self.y = np.tanh(x)
        return self.y

    def backward(self, g):
        return g * (1 - self.y**2)


class CountingTanh(_NoCopy):
    """Counts its calls in arrays held in a tuple, and in a dict in a list in a tuple."""

    def __init__(self):
        self.stats = (np.zeros(1), [{"calls": np.zeros(2)}])

    def forward(self, x):
        self.stats[0][0] += 1
        self.stats[1][0]["calls"] += 1
        self.y = np.tanh(x)
        return self.y

    def backward(self, g):
        return g * (1 - self.y**2)


class Net:
    def __init__(self, act):
        self.lock = threading.Lock()
        self.act = act

    def forward(self, x):
        return self.act.forward(x)

    def backward(self, g):
        return self.act.backward(g)


def test_a_shared_node_with_slots_has_its_slots_put_back(rng):
    net = Net(SlotsTanh())
    result = gradcheck(net, rng.standard_normal((2, 3)), rng=rng)
    assert result.ok, str(result)
    assert net.act.calls == 0 and not hasattr(net.act, "y")
    assert SHARED_NOTE in result.notes, result.notes


def test_arrays_a_shared_node_holds_in_tuples_and_nested_containers_are_put_back(rng):
    net = Net(CountingTanh())
    first, nested = net.act.stats[0], net.act.stats[1][0]["calls"]
    result = gradcheck(net, rng.standard_normal((2, 3)), rng=rng)
    assert result.ok, str(result)
    assert net.act.stats[0] is first and net.act.stats[1][0]["calls"] is nested
    np.testing.assert_array_equal(first, [0.0])
    np.testing.assert_array_equal(nested, [0.0, 0.0])
    assert not hasattr(net.act, "y")
    assert SHARED_NOTE in result.notes, result.notes
