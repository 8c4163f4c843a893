"""gradcheck on a composite whose x and parameters all fail with no mistake named: each node
without parameters it holds is checked alone, at the input its forward gave it, and the mistake
found there is named by the node's path (on copies: the user's composite is left as it was)."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from softgrad.gradcheck import evidence, gradcheck

N, D = 4, 10
DIAGONAL = "the softmax Jacobian reduced to its diagonal: backward computes g * s * (1 - s)."


def test_a_softmax_after_a_linear_in_a_list_is_named_with_its_mistake(gallery, rng):
    result = gradcheck(gallery("composite_nodes", "StackSoftmaxDiagonal"), rng.random((N, D)))
    assert result.failed() == ["x", "self.layers[0].W", "self.layers[0].b"], str(result)
    assert result.mistakes == ("softmax_diagonal",), str(result)
    assert f"\n  self.layers[1]: {DIAGONAL}\n" in result.diagnosis, result.diagnosis
    [sub] = result.sub_nodes
    assert (sub.path, sub.ok, sub.mistakes, sub.calls) == (
        "self.layers[1]",
        False,
        ("softmax_diagonal",),
        1,
    )
    as_json = result.as_dict()["sub_nodes"]
    assert as_json == [
        {
            "path": "self.layers[1]",
            "ok": False,
            "mistakes": ["softmax_diagonal"],
            "diagnosis": sub.diagnosis,
            "calls": 1,
            "note": "",
        }
    ]
    assert sub.diagnosis.startswith(f"x: {DIAGONAL}")  # its own check's, as gradcheck says it


def test_nodes_held_in_attributes_are_checked_alone_and_the_right_ones_said_right(gallery, rng):
    node = gallery("composite_nodes", "TanhThenSoftmaxDiagonal")
    result = gradcheck(node, rng.standard_normal((N, D)))
    assert [(s.path, s.ok, s.mistakes) for s in result.sub_nodes] == [
        ("self.act", True, ()),
        ("self.softmax", False, ("softmax_diagonal",)),
    ], str(result)
    assert result.mistakes == ("softmax_diagonal",)
    assert (
        "each checked alone at the input forward gave it:\n  self.act: right alone\n"
        f"  self.softmax: {DIAGONAL}"
    ) in result.diagnosis, result.diagnosis


@pytest.mark.parametrize(
    ("name", "ok"), [("TwoLayer", True), ("Stack", True), ("TwoLayerDoubledDW", False)]
)
def test_no_node_is_checked_alone_unless_x_and_parameters_fail_unnamed(
    name, ok, gallery, rng, monkeypatch
):
    def refuse(*args):
        raise AssertionError("a node was checked alone")

    monkeypatch.setattr(evidence, "check_sub_nodes", refuse)
    result = gradcheck(gallery("composite_nodes", name), rng.standard_normal((N, D)), rng=rng)
    assert result.ok is ok, str(result)
    assert result.sub_nodes == () and result.as_dict()["sub_nodes"] == []
    assert "checked alone" not in str(result)


def test_a_node_called_twice_is_checked_once_and_said_to_be(gallery, rng):
    # one MyTanh at self.layers[1] and self.layers[3]: right alone, wrong used twice
    result = gradcheck(gallery("composite_nodes", "OneTanhTwice"), rng.standard_normal((N, D)))
    assert "x" in result.failed() and "self.layers[0].W" in result.failed(), str(result)
    assert [(s.path, s.ok, s.calls) for s in result.sub_nodes] == [("self.layers[1]", True, 2)]
    assert (
        "  self.layers[1]: right alone, but forward called it 2 times (checked at the first "
        "call's input): what forward keeps for backward in attributes (self.y) the last call "
        "overwrote"
    ) in result.diagnosis, result.diagnosis
    assert "each is right alone" not in result.diagnosis  # the second call is the cause
    assert result.mistakes == ()


def test_a_node_that_raises_alone_is_said_not_checked_and_the_others_still_are(gallery, rng):
    # Gate.forward raises unless its composite has set Gate.scale around the call
    result = gradcheck(gallery("composite_nodes", "GatedSoftmaxDiagonal"), rng.random((N, D)))
    gate, softmax = result.sub_nodes
    assert (gate.path, gate.ok, gate.mistakes) == ("self.gate", None, ()), str(result)
    assert gate.note == (
        "gradcheck: self.gate.forward raised RuntimeError: Gate.forward called outside its network"
    )
    assert (softmax.path, softmax.mistakes) == ("self.softmax", ("softmax_diagonal",))
    assert result.mistakes == ("softmax_diagonal",)
    assert (
        "  self.gate: not checked alone: gradcheck: self.gate.forward raised RuntimeError: "
        "Gate.forward called outside its network; check it alone yourself"
    ) in result.diagnosis, result.diagnosis


def _state(node):
    """Every node's attributes (arrays copied), and the nodes in self.layers, by identity."""
    nodes = getattr(node, "layers", None) or list(vars(node).values())
    return [(id(sub), {k: copy.deepcopy(v) for k, v in vars(sub).items()}) for sub in nodes]


@pytest.mark.parametrize("name", ["StackSoftmaxDiagonal", "TanhThenSoftmaxDiagonal"])
def test_the_users_composite_is_left_as_it_was_while_its_nodes_are_checked_alone(
    name, gallery, rng
):
    node = gallery("composite_nodes", name)
    before = _state(node)
    result = gradcheck(node, rng.standard_normal((N, D)))
    assert result.sub_nodes, str(result)  # they were checked alone
    after = _state(node)
    assert [i for i, _ in after] == [i for i, _ in before]
    for (_, was), (_, now) in zip(before, after, strict=True):
        assert "forward" not in now  # the wrapper went on copies only
        assert now.keys() == was.keys()  # no cache of a forward run on the user's nodes
        for key, value in was.items():
            if isinstance(value, np.ndarray):
                assert now[key].dtype == value.dtype and np.array_equal(now[key], value), key


def test_nodes_inside_a_node_without_parameters_are_checked_alone_as_their_own(gallery, rng):
    # self.layers[1] is checked alone as a copy taken when it was called: its own nodes there
    # run their own forward, not the watched copy's, and each node's calls are its own
    result = gradcheck(gallery("composite_nodes", "NestedSoftmaxDiagonal"), rng.random((N, D)))
    assert [(s.path, s.ok, s.mistakes, s.calls) for s in result.sub_nodes] == [
        ("self.layers[1]", False, (), 1),
        ("self.layers[1].layers[0]", True, (), 1),
        ("self.layers[1].layers[1]", False, ("softmax_diagonal",), 1),
    ], str(result)
    assert result.mistakes == ("softmax_diagonal",)
    assert f"\n  self.layers[1].layers[1]: {DIAGONAL}\n" in result.diagnosis, result.diagnosis


def test_a_node_called_past_its_forward_is_said_not_checked_and_why(gallery, rng):
    result = gradcheck(gallery("composite_nodes", "CalledPastForward"), rng.random((N, D)))
    [sub] = result.sub_nodes
    assert (sub.path, sub.ok) == ("self.softmax", None), str(result)
    assert sub.note.startswith("forward did not call it as node.forward(...) at this x")
    assert "__call__ = forward alias" in sub.note
    assert result.mistakes == ()
