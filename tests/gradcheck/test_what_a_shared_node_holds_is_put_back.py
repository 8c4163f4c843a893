"""gradcheck on a composite that cannot be deep-copied, whose copies share a node that cannot
be copied at all with the user's object: what the check's forward sets or changes on that node
is put back afterwards, in its ``__slots__`` as in its ``__dict__``, and in the arrays it holds
in tuples and nested containers. A node the copies reach through an object that cannot be
copied (a registry holding a lock) is the user's own in every copy: it is said to be shared, not
the copy's own, and it is put back too."""

from __future__ import annotations

import threading

import numpy as np

from softgrad.gradcheck import gradcheck

SHARED_NOTE = (
    "the nodes Net holds that cannot be copied (self.act) are shared with Net: their parameters "
    "were not checked, and their attributes were restored afterwards"
)

UNCHECKED = (
    "The nodes with parameters that every copy shares with your object, whose parameters were "
    "not checked (the notes say why), which only x checks: {}; check each alone yourself"
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


class Linear:
    def __init__(self, rng, shape=(3, 2)):
        self.W = rng.standard_normal(shape)

    def forward(self, x):
        self.x = x
        return x @ self.W

    def backward(self, g):
        self.dW = self.x.T @ g
        return g @ self.W.T


class Registry:
    """Refuses to be copied (it holds a lock) and points at the composite's node."""

    def __init__(self):
        self.lock = threading.Lock()
        self.nodes = {}
        self.hits = [np.zeros(1)]

    def __deepcopy__(self, memo):
        raise TypeError("registry is a singleton")


class Registered:
    def __init__(self, rng):
        self.fc = Linear(rng)
        self.registry = Registry()
        self.registry.nodes["fc"] = self.fc

    def forward(self, x):
        self.registry.hits[0] += 1
        return self.registry.nodes["fc"].forward(x)

    def backward(self, g):
        return self.registry.nodes["fc"].backward(g)


class WrongTanh:
    def forward(self, x):
        self.y = np.tanh(x)
        return self.y

    def backward(self, g):
        return g * (1 - self.y)  # not 1 - y**2


class RegisteredWrong(Registered):
    """first (its copies' own) -> fc -> act (both reached through the registry)."""

    def __init__(self, rng):
        super().__init__(rng)
        self.first = Linear(rng, (3, 3))
        self.act = WrongTanh()
        self.registry.nodes["act"] = self.act

    def forward(self, x):
        return self.registry.nodes["act"].forward(super().forward(self.first.forward(x)))

    def backward(self, g):
        return self.first.backward(super().backward(self.registry.nodes["act"].backward(g)))


def test_a_node_reached_through_an_object_that_cannot_be_copied_is_said_shared_and_put_back(rng):
    net = Registered(rng)
    W, nodes = net.fc.W.copy(), net.registry.nodes
    result = gradcheck(net, rng.standard_normal((4, 3)), rng=rng)
    # the copies' forward runs the user's fc through the registry: it is shared, not "the
    # copy's own", and its W is not checked (nor taken as a constant of the copy's)
    assert result.ok, str(result)
    assert [c.name for c in result.checks] == ["x"]
    assert result.notes == (
        "Registered could not be deep-copied (TypeError: registry is a singleton); each "
        "evaluation ran on a deep copy that shares with Registered what cannot be copied "
        "(self.registry) and the nodes reachable through it (self.registry.nodes['fc']), which "
        "are Registered's own in every copy: their parameters were not checked, and their "
        "attributes were restored afterwards; the rest was the copy's own",
    )
    assert not hasattr(net.fc, "dW") and not hasattr(net.fc, "x")
    np.testing.assert_array_equal(net.fc.W, W)
    assert net.registry.nodes is nodes and nodes == {"fc": net.fc}
    np.testing.assert_array_equal(net.registry.hits[0], [0.0])


def test_a_wrong_node_reached_through_an_object_that_cannot_be_copied_says_why_not_checked(rng):
    net = RegisteredWrong(rng)
    result = gradcheck(net, rng.standard_normal((4, 3)), rng=rng)
    assert result.failed() == ["x", "self.first.W"], str(result)
    assert "(self.registry.nodes['fc'], self.registry.nodes['act'])" in result.notes[0]
    reached = "it is reached through an object that cannot be copied, so every copy shares it"
    assert [(s.path, s.ok, s.note) for s in result.sub_nodes] == [
        ("self.act", None, f"{reached} with your object"),
    ]
    # self.fc holds W: it is listed as what it is (shared, its W not checked), not among the
    # nodes without parameters, and not checked alone as one
    assert "The nodes without parameters, which only x checks: self.act;" in result.diagnosis
    assert UNCHECKED.format("self.fc") in result.diagnosis, result.diagnosis
    assert not hasattr(net.act, "y") and not hasattr(net.fc, "dW")


class NoCopyLinear(_NoCopy, Linear):
    """A node with weights that cannot be copied at all."""


class SharedLinearThenWrongTanh:
    """first (its copies' own) -> fc (shared: it cannot be copied) -> act (its copies' own)."""

    def __init__(self, rng):
        self.lock = threading.Lock()
        self.first = Linear(rng, (3, 3))
        self.fc = NoCopyLinear(rng)
        self.act = WrongTanh()

    def forward(self, x):
        return self.act.forward(self.fc.forward(self.first.forward(x)))

    def backward(self, g):
        return self.first.backward(self.fc.backward(self.act.backward(g)))


def test_a_shared_node_with_weights_that_cannot_be_copied_is_not_said_parameter_free(rng):
    net = SharedLinearThenWrongTanh(rng)
    result = gradcheck(net, rng.standard_normal((4, 3)), rng=rng)
    assert result.failed() == ["x", "self.first.W"], str(result)
    assert "(self.fc) are shared with SharedLinearThenWrongTanh" in result.notes[1], result.notes
    assert UNCHECKED.format("self.fc") in result.diagnosis, result.diagnosis
    assert "The nodes without parameters, which only x checks: self.act;" in result.diagnosis
    # act is the copy's own: checked alone, its mistake is named
    assert [(s.path, s.ok) for s in result.sub_nodes] == [("self.act", False)], result.sub_nodes
    assert not hasattr(net.fc, "dW") and not hasattr(net.fc, "x")


class Owned:
    """A registry that cannot be copied points back at the composite (``registry.owner``); its
    forward runs ``fc`` directly, or (``through``) as ``self.registry.owner.fc``, which in every
    copy is the user's fc."""

    def __init__(self, rng, through):
        self.fc = Linear(rng)
        self.registry = Registry()
        self.registry.owner = self
        self.through = through

    def _fc(self):
        return self.registry.owner.fc if self.through else self.fc

    def forward(self, x):
        return self._fc().forward(x)

    def backward(self, g):
        return self._fc().backward(g)


BACK = (
    "But self.registry.owner is Owned itself in every copy, not the copy: what forward reaches "
    "through it is Owned's own (Owned and its nodes were restored afterwards)"
)


def test_a_shared_object_pointing_back_at_the_composite_is_named_in_the_note(rng):
    net = Owned(rng, through=False)
    result = gradcheck(net, rng.standard_normal((4, 3)), rng=rng)
    # forward runs the copy's own fc: its W is checked, and the note names the way back
    assert result.ok and result.failed() == [], str(result)
    assert [c.name for c in result.checks] == ["x", "self.fc.W"]
    assert result.notes[0].endswith(f"the nodes it holds included, was the copy's own. {BACK}")
    assert len(result.notes) == 1, result.notes


def test_nodes_forward_runs_through_a_reference_back_to_the_composite_are_said_and_put_back(rng):
    net = Owned(rng, through=True)
    W = net.fc.W.copy()
    result = gradcheck(net, rng.standard_normal((4, 3)), rng=rng)
    # forward ran the user's fc, not the copy's: its W is not checked (nor called a constant of
    # the copy's), the note says so, and the user's fc is as it was
    assert result.ok, str(result)
    assert [c.name for c in result.checks] == ["x"]
    assert result.notes == (
        "Owned could not be deep-copied (TypeError: registry is a singleton); each evaluation ran "
        "on a deep copy that shares with Owned only what cannot be copied (self.registry): the "
        f"rest, the nodes it holds included, was the copy's own. {BACK}",
        "forward ran Owned's own self.fc through self.registry.owner, which is Owned itself in "
        "every copy, not the copy (they changed during the check): their parameters were not "
        "checked, and their attributes were restored afterwards",
    )
    assert sorted(vars(net.fc)) == ["W"]
    np.testing.assert_array_equal(net.fc.W, W)
    assert net.registry.owner is net


class WrongNoCopyLinear(NoCopyLinear):
    def backward(self, g):
        self.dW = self.x.T @ g
        return g[:, ::-1] @ self.W.T  # grad_y with its columns swapped


class LinearThenSharedWrongLinear:
    """first (its copies' own) -> fc (shared, wrong): no node without parameters."""

    def __init__(self, rng):
        self.lock = threading.Lock()
        self.first = Linear(rng, (3, 3))
        self.fc = WrongNoCopyLinear(rng)

    def forward(self, x):
        return self.fc.forward(self.first.forward(x))

    def backward(self, g):
        return self.first.backward(self.fc.backward(g))


def test_a_shared_node_with_weights_is_named_when_the_composite_has_no_parameter_free_node(rng):
    result = gradcheck(LinearThenSharedWrongLinear(rng), rng.standard_normal((4, 3)), rng=rng)
    assert set(result.failed()) >= {"x", "self.first.W"}, str(result)
    assert result.diagnosis.endswith(
        UNCHECKED.format("self.fc")
        + " (gradcheck(node, x) at an x of its input's shape), where its mistake is named"
    ), result.diagnosis
    assert "The nodes without parameters" not in result.diagnosis
    assert result.sub_nodes == ()
