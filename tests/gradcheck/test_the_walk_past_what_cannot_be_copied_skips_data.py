"""The walk for the nodes a composite reaches through an object that cannot be copied enters
containers and plain objects, not what holds data (arrays, array-likes, numbers, strings) or
logging's objects: a registry holding a logger, a DataFrame and a dict of 100,000 numbers
shares and restores the registry, not the logger's manager, every logger of the process or the
frame's internals, and still finds a node held among the numbers."""

from __future__ import annotations

import logging
import threading

import numpy as np

from softgrad.gradcheck import gradcheck
from softgrad.gradcheck.partial_copies import PartialCopier


class Linear:
    def __init__(self, rng):
        self.W = rng.standard_normal((3, 2))

    def forward(self, x):
        self.x = x
        return x @ self.W

    def backward(self, g):
        self.dW = self.x.T @ g
        return g @ self.W.T


class Frame:
    """An array-like, as a pandas DataFrame is: it holds data, in attributes of its own."""

    def __init__(self):
        self._block = {"values": np.zeros((4, 2))}

    def __array__(self, dtype=None, copy=None):
        return self._block["values"]


class Registry:
    def __init__(self, fc):
        self.lock = threading.Lock()
        self.logger = logging.getLogger("softgrad.tests.registry")
        self.frame = Frame()
        self.table = {f"k{i}": i for i in range(100_000)}
        self.table["fc"] = fc

    def __deepcopy__(self, memo):
        raise TypeError("registry is a singleton")


class Net:
    def __init__(self, rng):
        self.fc = Linear(rng)
        self.registry = Registry(self.fc)

    def forward(self, x):
        return self.registry.table["fc"].forward(x)

    def backward(self, g):
        return self.registry.table["fc"].backward(g)


def test_the_walk_does_not_enter_loggers_or_array_likes(rng):
    net = Net(rng)
    copier = PartialCopier(net, "Net")
    # the registry alone is restored afterwards: not the logger, its manager or the frame
    assert copier.behind == [net.registry], [type(b).__name__ for b in copier.behind]
    assert [(path, node) for path, node in copier.reached] == [
        ((("attr", "registry"), ("attr", "table"), ("item", "fc")), net.fc)
    ]


def test_a_node_among_100000_numbers_is_still_found_and_shared(rng):
    net = Net(rng)
    result = gradcheck(net, rng.standard_normal((4, 3)), rng=rng)
    assert result.ok, str(result)
    assert [c.name for c in result.checks] == ["x"]
    assert "the nodes reachable through it (self.registry.table['fc'])" in result.notes[0]
    assert sorted(vars(net.fc)) == ["W"] and len(net.registry.table) == 100_001
