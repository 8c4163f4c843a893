"""gradcheck on a composite that cannot be deep-copied (it holds a lock): its copies still hold
copies of its nodes of their own, so neither it nor any node it holds is modified, its nodes'
parameters are checked (tied weights still tied), its nodes without parameters are checked alone,
and only a node that cannot be copied at all is shared with it, and said to be."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from softgrad.gradcheck import gradcheck

N, D, C = 4, 10, 4
DIAGONAL = "the softmax Jacobian reduced to its diagonal: backward computes g * s * (1 - s)."


def _state(value, seen=None):
    """Everything ``value`` holds, all the way down: arrays by dtype, shape and bytes, objects
    by type, identity and attributes (a lock by identity alone)."""
    seen = set() if seen is None else seen
    if isinstance(value, np.ndarray):
        return ("array", value.dtype.str, value.shape, value.tobytes())
    if isinstance(value, (list, tuple)):
        return (type(value).__name__, id(value), [_state(v, seen) for v in value])
    if isinstance(value, dict):
        return ("dict", id(value), {k: _state(v, seen) for k, v in value.items()})
    if hasattr(value, "__dict__") and not isinstance(value, type):
        if id(value) in seen:
            return ("seen", id(value))
        seen.add(id(value))
        attrs = {k: _state(v, seen) for k, v in vars(value).items()}
        return (type(value).__name__, id(value), attrs)
    return ("value", id(value))


@pytest.mark.parametrize(
    ("mistake", "failed"),
    [
        (None, []),
        ("linear", ["self.layers[0].W"]),
        ("softmax", ["x", "self.layers[0].W", "self.layers[0].b"]),
    ],
)
def test_the_composite_and_every_node_it_holds_are_left_as_they_were(mistake, failed, gallery, rng):
    node = gallery("locked_composites", "LockedStack", D, C, mistake)
    before = _state(node)
    result = gradcheck(node, rng.standard_normal((N, D)), rng=rng)
    assert not node.layers[0].dW.any() and not hasattr(node.layers[1], "s")
    assert _state(node) == before  # no cache (self.x, self.s) set, no dW accumulated
    assert result.failed() == failed, str(result)
    assert [c.name for c in result.checks][:3] == ["x", "self.layers[0].W", "self.layers[0].b"]
    assert isinstance(node.lock, type(threading.Lock())) and not node.lock.locked()


def test_a_wrong_node_without_parameters_is_named_by_its_path_and_mistake(gallery, rng):
    node = gallery("locked_composites", "LockedStack", D, C, "softmax")
    result = gradcheck(node, rng.random((N, D)), rng=rng)
    assert result.mistakes == ("softmax_diagonal",), str(result)
    assert f"\n  self.layers[1]: {DIAGONAL}\n" in result.diagnosis, result.diagnosis
    [sub] = result.sub_nodes
    assert (sub.path, sub.ok, sub.mistakes, sub.calls) == (
        "self.layers[1]",
        False,
        ("softmax_diagonal",),
        1,
    )


def test_tied_weights_across_its_nodes_stay_tied_in_its_copies(gallery, rng):
    node = gallery("locked_composites", "LockedTied", D)
    before = _state(node)
    result = gradcheck(node, rng.standard_normal((N, D)), rng=rng)
    # a copy that untied them would move only first's W: the right sum of gradients would fail
    assert result.ok, str(result)
    assert [c.name for c in result.checks] == ["x", "self.first.W", "self.first.b", "self.second.b"]
    assert result.max_abs_err < 1e-7
    assert any("self.second.W" in note for note in result.notes), result.notes
    assert _state(node) == before and node.second.W is node.first.W


def test_a_node_that_cannot_be_copied_at_all_is_said_to_be_shared(gallery, rng):
    node = gallery("locked_composites", "LockedWithHandle", D, C)
    before = _state(node)
    result = gradcheck(node, rng.standard_normal((N, D)), rng=rng)
    assert result.ok, str(result)
    assert [c.name for c in result.checks] == ["x", "self.layers[0].W", "self.layers[0].b"]
    assert result.notes == (
        "LockedWithHandle could not be deep-copied (TypeError: cannot pickle '_thread.lock' "
        "object); each evaluation ran on a deep copy that shares with LockedWithHandle only what "
        "cannot be copied (self.lock, self.layers[1]): the rest, the nodes it holds included, "
        "was the copy's own",
        "the nodes LockedWithHandle holds that cannot be copied (self.layers[1]) are shared with "
        "LockedWithHandle: their parameters were not checked, and their attributes were "
        "restored afterwards",
    )
    # its cache set by the check's forward was taken off again
    assert _state(node) == before and not hasattr(node.layers[1], "y")


def test_a_wrong_node_that_cannot_be_copied_is_said_not_to_be_checked_alone_and_why(gallery, rng):
    node = gallery("locked_composites", "LockedStack", D, C, "handle")
    before = _state(node)
    result = gradcheck(node, rng.random((N, D)), rng=rng)
    assert result.failed() == ["x", "self.layers[0].W", "self.layers[0].b"], str(result)
    [sub] = result.sub_nodes
    assert (sub.path, sub.ok, sub.note) == (
        "self.layers[1]",
        None,
        "it cannot be copied, so every copy shares it with your object",
    )
    assert "  self.layers[1]: not checked alone: it cannot be copied" in result.diagnosis
    assert _state(node) == before and not hasattr(node.layers[1], "s")


class Child:
    """A Linear that keeps a reference to the composite holding it."""

    def __init__(self, rng, parent):
        self.W = rng.standard_normal((3, 2))
        self.parent = parent

    def forward(self, x):
        self.x = x
        return x @ self.W

    def backward(self, g):
        self.dW = self.x.T @ g
        return g @ self.W.T


class RefusingParent:
    """Its own class refuses deepcopy, and its node points back at it."""

    def __init__(self, rng):
        self.fc = Child(rng, self)

    def __deepcopy__(self, memo):
        raise TypeError("no deepcopy of RefusingParent")

    def forward(self, x):
        assert self.fc.parent is self  # the copy's node points at the copy
        return self.fc.forward(x)

    def backward(self, g):
        return self.fc.backward(g)


def test_a_node_pointing_back_at_a_composite_whose_class_refuses_points_at_the_copy(rng):
    net = RefusingParent(rng)
    result = gradcheck(net, rng.standard_normal((4, 3)), rng=rng)
    assert result.ok, str(result)
    assert [c.name for c in result.checks] == ["x", "self.fc.W"]
    assert net.fc.parent is net and sorted(vars(net.fc)) == ["W", "parent"]
