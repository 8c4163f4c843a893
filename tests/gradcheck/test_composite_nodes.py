"""gradcheck on the user's composite nodes: the parameters of the nodes they hold (in
attributes, lists, tuples and dicts, softgrad layers among them) are found, checked and named
by their path, each once, cycles included."""

from __future__ import annotations

import numpy as np
import pytest

import softgrad
from softgrad.gradcheck import gradcheck

N, D = 4, 10
TWO_LAYER = ["x", "self.fc1.params['W']", "self.fc1.params['b']", "self.out.W", "self.out.b"]


def _float32_arrays(node):
    """Every float32 array of a gallery composite's sub-nodes, by path, copied."""
    found = {}
    for key, child in vars(node).items():
        for name, value in getattr(child, "params", {}).items():
            found[f"{key}.params[{name!r}]"] = value.copy()
        for name, value in vars(child).items() if hasattr(child, "__dict__") else ():
            if isinstance(value, np.ndarray) and value.dtype == np.float32:
                found[f"{key}.{name}"] = value.copy()
    return found


def test_a_right_composite_has_every_sub_node_parameter_checked(gallery, rng):
    node = gallery("composite_nodes", "TwoLayer")
    before = _float32_arrays(node)
    result = gradcheck(node, rng.standard_normal((N, D)), rng=rng)
    assert result.ok, str(result)
    assert [c.name for c in result.checks] == TWO_LAYER
    assert [c.shape for c in result.checks[1:]] == [(D, 3), (3,), (3, 2), (2,)]
    assert result.max_abs_err < 1e-7  # float64 throughout: the float32 sub-nodes converted
    after = _float32_arrays(node)  # the user's sub-nodes are left as they were
    assert after.keys() == before.keys() and len(after) == 4
    for key, value in before.items():
        assert after[key].dtype == np.float32 and np.array_equal(after[key], value), key
    assert not hasattr(node.out, "dW") and not node.fc1.grads["W"].any()


@pytest.mark.parametrize(
    ("name", "mistake", "said"),
    [
        (
            "TwoLayerDoubledDW",
            "constant_factor",
            "self.out.W: off by a constant factor: backward computes 2 times the right gradient",
        ),
        (
            "TwoLayerTransposedDW",
            "transposed_weight",
            "self.out.W: a weight or weight gradient transposed: backward computes the transpose "
            "of the gradient of self.out.W, shape (2, 3).\n  The gradient of self.out.W must have "
            "self.out.W's shape (3, 2)",
        ),
    ],
)
def test_a_wrong_gradient_inside_is_named_by_its_path(name, mistake, said, gallery, rng):
    result = gradcheck(gallery("composite_nodes", name), rng.standard_normal((N, D)), rng=rng)
    assert [c.name for c in result.checks] == TWO_LAYER
    assert result.failed() == ["self.out.W"], str(result)
    assert result.mistakes == (mistake,), str(result)
    assert result.diagnosis.startswith(said), result.diagnosis
    assert "dself" not in result.diagnosis  # "the gradient of self.out.W", never "dself.out.W"


def test_a_mistake_in_a_node_without_parameters_is_named_by_its_path(gallery, rng):
    result = gradcheck(gallery("composite_nodes", "SoftmaxRegressionDiagonal"), rng.random((N, D)))
    assert result.failed() == ["x", "self.linear.W", "self.linear.b"], str(result)
    # the Linear's backward is right: the wrong grad_y came from the softmax, checked alone
    assert result.diagnosis.startswith(
        "x and parameters wrong: a node that hands a wrong grad_y down "
        "makes every gradient below it wrong, however right the backward there. The nodes "
        "without parameters, which only x checks: self.softmax; each checked alone at the input "
        "forward gave it:\n"
        "  self.softmax: the softmax Jacobian reduced to its diagonal: backward computes "
        "g * s * (1 - s).\n"
    ), result.diagnosis
    assert (
        "\nthe composite's own gradients, which that makes wrong: no known mistake matches; "
        "wrong: x, self.linear.W, self.linear.b." in result.diagnosis
    ), result.diagnosis
    assert result.mistakes == ("softmax_diagonal",)
    alone = gradcheck(gallery("composite_nodes", "MySoftmaxDiagonal"), rng.random((N, 4)))
    assert alone.mistakes == ("softmax_diagonal",), str(alone)


def test_a_list_of_layers_is_checked_layer_by_layer(gallery, rng):
    x = rng.standard_normal((N, D))
    right = gradcheck(gallery("composite_nodes", "Stack"), x, rng=rng)
    names = ["x", "self.layers[0].W", "self.layers[0].b", "self.layers[2].W", "self.layers[2].b"]
    assert right.ok and [c.name for c in right.checks] == names, str(right)
    wrong = gradcheck(gallery("composite_nodes", "Stack", D, 4, 3, True), x, rng=rng)
    assert wrong.failed() == ["self.layers[2].W"] and wrong.mistakes == ("constant_factor",)
    assert wrong.diagnosis.startswith("self.layers[2].W: off by a constant factor"), str(wrong)
    assert "a node that hands a wrong grad_y down" not in wrong.diagnosis  # x is right


@pytest.mark.parametrize(
    ("name", "checked"),
    [
        (  # sub-nodes in a dict, and an activation in a tuple
            "EncoderDecoder",
            [
                "self.blocks['enc'].W",
                "self.blocks['enc'].b",
                "self.blocks['dec'].W",
                "self.blocks['dec'].b",
            ],
        ),
        (  # self.head.parent is the node itself: a cycle, visited once
            "WithParent",
            ["self.head.scale", "self.head.linear.W", "self.head.linear.b"],
        ),
        (  # a softgrad Sequential, through its own params dict, its layers not again
            "SequentialBody",
            ["self.body.params['0.W']", "self.body.params['0.b']", "self.head.W", "self.head.b"],
        ),
    ],
)
def test_sub_nodes_held_in_every_way_are_checked_once(name, checked, gallery, rng):
    result = gradcheck(gallery("composite_nodes", name), rng.standard_normal((N, D)), rng=rng)
    assert result.ok, str(result)
    assert [c.name for c in result.checks] == ["x", *checked]


def test_sub_nodes_nested_in_lists_and_namedtuples_are_checked_and_named(gallery, rng):
    x = rng.standard_normal((N, D))
    names = [
        "x",
        "self.pair.enc.W",
        "self.pair.enc.b",
        "self.stages[1][0].W",
        "self.stages[1][0].b",
    ]
    node = gallery("composite_nodes", "Stages")
    weights = node.pair.enc.W.copy()
    right = gradcheck(node, x, rng=rng)
    assert right.ok and [c.name for c in right.checks] == names, str(right)
    assert right.max_abs_err < 1e-7  # float64 throughout: the namedtuple's node converted too
    # on a copy: the user's node keeps its float32 weights and namedtuple
    assert type(node.pair) is type(node).Pair and node.pair.enc.W.dtype == np.float32
    assert np.array_equal(node.pair.enc.W, weights)
    wrong = gradcheck(gallery("composite_nodes", "Stages", D, 3, 2, True), x, rng=rng)
    assert wrong.failed() == ["self.stages[1][0].W"], str(wrong)
    assert wrong.diagnosis.startswith("self.stages[1][0].W: off by a constant factor"), str(wrong)


def test_a_composite_that_cannot_be_deep_copied_checks_its_sub_nodes_on_copies_of_them(
    gallery, rng
):
    node = gallery("composite_nodes", "LockedTwoLayer")
    weights = node.out.W
    result = gradcheck(node, rng.standard_normal((N, D)), rng=rng)
    assert result.ok, str(result)
    assert [c.name for c in result.checks] == ["x", "self.out.W", "self.out.b"]
    assert result.notes == (
        "LockedTwoLayer could not be deep-copied (TypeError: cannot pickle '_thread.lock' "
        "object); each evaluation ran on a deep copy that shares with LockedTwoLayer only what "
        "cannot be copied (self.lock): the rest, the nodes it holds included, was the copy's own",
    )
    # the sub-node is the user's own: its float32 weights are neither converted nor replaced
    assert node.out.W is weights and weights.dtype == np.float32


def test_the_report_of_many_parameters_stays_readable(gallery, rng):
    node = gallery("composite_nodes", "ScaleStack", 12, 5, 7)
    result = gradcheck(node, rng.standard_normal((N, 5)), rng=rng)
    assert [c.name for c in result.checks] == ["x"] + [f"self.layers[{i}].W" for i in range(12)]
    assert result.failed() == ["self.layers[7].W"], str(result)
    # the twelve right quantities are in the table, not listed again in the diagnosis
    assert result.diagnosis.startswith(
        "no known mistake matches; wrong: self.layers[7].W; right: the other 12 (see the table)."
    ), result.diagnosis
    constants = ", ".join(f"self.layers[{i}].offset" for i in range(12))
    assert result.notes == (
        "arrays without a gradient attribute (dP, d_P or grad_P) were taken as constants: "
        + constants,
    )
    text = str(result).splitlines()
    table = 1 + len(result.checks)  # its header and one row per check, after the title
    assert all(len(line) <= 100 for line in text[table + 1 :]), "\n".join(text)
    assert " ".join(" ".join(text[table + 1 :]).split()).startswith("note: " + result.notes[0])


class _TwoArraysCalledW:
    """params['W'] (3, 2) used by forward, and an attribute W (5,) of its own with dW."""

    def __init__(self):
        self.params = {"W": np.linspace(-1.0, 1.0, 6).reshape(3, 2)}
        self.grads = {}
        self.W = np.ones(5)

    def forward(self, x):
        self.x = x
        return x @ self.params["W"]

    def backward(self, grad_y):
        self.grads["W"] = self.x.T @ grad_y
        self.dW = np.zeros(5)
        return grad_y @ self.params["W"].T


def test_one_name_is_one_check_the_params_dict_first(rng):
    result = gradcheck(_TwoArraysCalledW(), rng.standard_normal((N, 3)), rng=rng)
    assert result.ok, str(result)
    assert [(c.name, c.shape) for c in result.checks] == [("x", (N, 3)), ("W", (3, 2))]


class _Pipeline:
    """The nodes given, run in turn, each held in an attribute of its own."""

    def __init__(self, **nodes):
        self.names = list(nodes)
        vars(self).update(nodes)

    def forward(self, x):
        for name in self.names:
            x = getattr(self, name).forward(x)
        return x

    def backward(self, grad_y):
        for name in reversed(self.names):
            grad_y = getattr(self, name).backward(grad_y)
        return grad_y


def test_a_sub_nodes_caches_are_told_apart_and_listed_by_path(gallery, rng):
    # self.probs.x and self.probs.out are preallocated, then replaced by forward
    linear = gallery("composite_nodes", "MyLinear", D, 4)
    node = _Pipeline(linear=linear, probs=gallery("stateful_nodes", "SoftmaxPreallocated", 4))
    result = gradcheck(node, rng.standard_normal((N, D)), rng=rng)
    assert result.ok and [c.name for c in result.checks] == ["x", "self.linear.W", "self.linear.b"]
    assert result.notes == (
        "arrays whose contents forward changes (replaced or filled in place) were taken as "
        "caches, not parameters: self.probs.x, self.probs.out",
    )


@pytest.mark.parametrize("share_grad", [False, True])
def test_tied_weights_are_checked_against_the_sum_of_their_uses(gallery, rng, share_grad):
    # one array in two sub-nodes: it was checked against the first node's dW alone, so a
    # right tied network failed
    node = gallery("composite_nodes", "TiedTwice", D, share_grad)
    result = gradcheck(node, rng.standard_normal((N, D)), rng=rng)
    assert result.ok, str(result)
    assert [c.name for c in result.checks] == ["x", "self.first.W", "self.first.b", "self.second.b"]
    shown = str(result)
    assert "self.first.W is also self.second.W (one array, tied)" in shown
    assert "self.first.dW + self.second.dW" in shown


def _sequential(gallery):
    nn = softgrad.nn
    return nn.Sequential(nn.Linear(D, 4, rng=1), nn.Tanh(), nn.Linear(4, 2, rng=2))


def _nested_sequential(gallery):
    nn = softgrad.nn
    return nn.Sequential(nn.Sequential(nn.Linear(D, 4, rng=1), nn.Tanh()), nn.Linear(4, 2, rng=2))


@pytest.mark.parametrize(
    ("build", "checked"),
    [
        (_sequential, ["0.W", "0.b", "2.W", "2.b"]),
        (_nested_sequential, ["0.0.W", "0.0.b", "1.W", "1.b"]),
        (
            lambda gallery: gallery("composite_nodes", "SequentialBody"),
            ["self.body.params['0.W']", "self.body.params['0.b']", "self.head.W", "self.head.b"],
        ),
    ],
)
def test_a_sequential_s_names_for_its_layers_arrays_are_no_tie(build, checked, gallery, rng):
    # params['0.W'] is the layer's own params['W'] under its qualified name: every parameter
    # was noted as "also self.layers[0].params['W'] (one array, tied)", nothing being tied
    result = gradcheck(build(gallery), rng.standard_normal((N, D)), rng=rng)
    assert result.ok, str(result)
    assert [c.name for c in result.checks] == ["x", *checked]
    assert result.notes == (), result.notes
    assert result.max_abs_err < 1e-7  # each gradient taken once: grads['0.W'], not a sum


def test_weights_tied_beside_a_sequential_are_still_noted_as_tied(gallery, rng):
    result = gradcheck(
        gallery("composite_nodes", "SequentialThenTiedPair"), rng.standard_normal((N, D))
    )
    assert result.ok, str(result)
    names = ["self.first.W", "self.first.b", "self.second.b"]
    names += ["self.body.params['0.W']", "self.body.params['0.b']"]
    assert [c.name for c in result.checks] == ["x", *names]
    assert result.notes == (
        "self.first.W is also self.second.W (one array, tied): its gradient was taken as the sum "
        "self.first.dW + self.second.dW",
    )


def test_a_tied_weight_missing_one_use_s_gradient_fails(gallery, rng):
    node = gallery("composite_nodes", "TiedOneUseOnly")
    result = gradcheck(node, rng.standard_normal((N, D)), rng=rng)
    assert not result.ok
    assert [c.name for c in result.checks if not c.ok] == ["self.first.W"]


def test_a_weight_and_its_transpose_kept_as_a_view_are_one_parameter(gallery, rng):
    # WT = W.T: copies made each its own array, so W's finite differences missed WT's use and a
    # right tied autoencoder failed
    x = rng.standard_normal((N, D))
    right = gradcheck(gallery("composite_nodes", "TransposeTied"), x, rng=rng)
    assert right.ok and [c.name for c in right.checks] == ["x", "W"], str(right)
    assert right.notes == (
        "W is viewed as WT (one memory, tied): its gradient was taken as dW; WT has no gradient "
        "attribute, left out of the sum",
    )
    wrong = gradcheck(gallery("composite_nodes", "TransposeTied", D, 3, True), x, rng=rng)
    assert wrong.failed() == ["W"], str(wrong)


def test_tied_layers_through_a_transposed_view_sum_both_uses(gallery, rng):
    x = rng.standard_normal((N, D))
    node = gallery("composite_nodes", "TransposeTiedLayers")
    weights = node.enc.W.copy()
    right = gradcheck(node, x, rng=rng)
    names = ["x", "self.enc.W", "self.enc.b", "self.dec.b"]
    assert right.ok and [c.name for c in right.checks] == names, str(right)
    assert right.max_abs_err < 1e-7  # float64: the float32 views converted, still one memory
    assert right.notes == (
        "self.enc.W is viewed as self.dec.W (one memory, tied): its gradient was taken as the "
        "sum self.enc.dW + self.dec.dW (a view's gradient laid onto the elements it views)",
    )
    # the user's node is untouched: float32, still a view, same values
    assert node.dec.W.dtype == np.float32 and node.dec.W.base is node.enc.W
    assert np.array_equal(node.enc.W, weights)
    wrong = gradcheck(gallery("composite_nodes", "TransposeTiedLayers", D, 3, True), x, rng=rng)
    assert wrong.failed() == ["self.enc.W"], str(wrong)


def test_parameters_kept_as_views_of_one_flat_vector_are_checked_as_it(gallery, rng):
    result = gradcheck(gallery("composite_nodes", "FlatParameters"), rng.standard_normal((N, D)))
    assert result.ok and [c.name for c in result.checks] == ["x", "theta"], str(result)
    # dW and db are views of dtheta: counted once, not added to it again
    assert result.max_abs_err < 1e-7
    assert result.notes == (
        "theta is viewed as W, b (one memory, tied): its gradient was taken as the sum dtheta + "
        "dW + db (a view's gradient laid onto the elements it views); dW, db share memory with a "
        "gradient before: counted once",
    )
